import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import mqtt, { MqttClient, IClientOptions } from 'mqtt';
import { startBroker, RunningBroker, BrokerOptions } from '../../../lib/broker';
import { freePort } from '../../support/ports';
import { tempDir } from '../../support/tmp';
import { refusedConnection } from '../../support/mqtt';
import { waitFor } from '../../support/wait';

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

function collect(client: MqttClient): Received[] {
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  return got;
}

describe('embedded broker (aedes)', function () {
  this.timeout(20000);
  const clients: MqttClient[] = [];
  let broker: RunningBroker | undefined;
  let tmp: { dir: string; cleanup(): void };

  async function start(opts: BrokerOptions = {}): Promise<RunningBroker> {
    broker = await startBroker({ port: 0, persistence: 'memory', ...opts });
    return broker;
  }
  async function client(opts: IClientOptions = {}): Promise<MqttClient> {
    const c = await connect(broker!.url!, opts);
    clients.push(c);
    return c;
  }

  beforeEach(() => {
    tmp = tempDir('psfabric-broker-');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
    await broker?.close();
    broker = undefined;
    tmp.cleanup();
  });

  it('delivers QoS 0, 1 and 2 with the granted QoS', async () => {
    await start();
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('fabric/v1/test/+', { qos: 2 });
    const pub = await client();
    await pub.publishAsync('fabric/v1/test/q0', 'zero', { qos: 0 });
    await pub.publishAsync('fabric/v1/test/q1', 'one', { qos: 1 });
    await pub.publishAsync('fabric/v1/test/q2', 'two', { qos: 2 });
    await waitFor(() => got.length === 3, 'three messages');
    const byTopic = Object.fromEntries(got.map((m) => [m.topic, m]));
    assert.deepEqual([byTopic['fabric/v1/test/q0'].qos, byTopic['fabric/v1/test/q1'].qos, byTopic['fabric/v1/test/q2'].qos], [0, 1, 2]);
    assert.equal(byTopic['fabric/v1/test/q2'].payload, 'two');
    assert.ok(broker!.stats.messagesIn >= 3 && broker!.stats.messagesOut >= 3);
  });

  it('keeps retained messages for later subscribers', async () => {
    await start();
    const pub = await client();
    await pub.publishAsync('fabric/v1/status/last', 'retained-value', { qos: 1, retain: true });
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('fabric/v1/status/#', { qos: 1 });
    await waitFor(() => got.length === 1, 'retained message');
    assert.equal(got[0].payload, 'retained-value');
    assert.equal(got[0].retain, true);
  });

  it('queues QoS 1 for a disconnected persistent-session subscriber', async () => {
    await start();
    const sub1 = await client({ clientId: 'persistent-sub', clean: false });
    await sub1.subscribeAsync('fabric/v1/queue/#', { qos: 1 });
    await sub1.endAsync();
    const pub = await client();
    for (let i = 0; i < 5; i++) await pub.publishAsync(`fabric/v1/queue/m${i}`, String(i), { qos: 1 });
    const sub2 = mqtt.connect(broker!.url!, { clientId: 'persistent-sub', clean: false, reconnectPeriod: 0 });
    clients.push(sub2);
    const got = collect(sub2);
    await waitFor(() => got.length === 5, 'five queued messages after reconnect');
    assert.deepEqual(got.map((m) => m.payload).sort(), ['0', '1', '2', '3', '4']);
  });

  it('keeps queued QoS 1 messages across a broker restart (level persistence)', async () => {
    const dir = path.join(tmp.dir, 'mqtt');
    const port = await freePort();
    await start({ port, persistence: 'level', persistenceDir: dir });
    const sub1 = await client({ clientId: 'durable-sub', clean: false });
    await sub1.subscribeAsync('fabric/v1/timeentry/approved', { qos: 1 });
    await sub1.endAsync();
    const pub = await client();
    for (let i = 0; i < 3; i++) await pub.publishAsync('fabric/v1/timeentry/approved', JSON.stringify({ n: i }), { qos: 1 });
    await pub.endAsync();
    clients.length = 0;
    await broker!.close();

    broker = await startBroker({ port, persistence: 'level', persistenceDir: dir });
    const sub2 = mqtt.connect(broker.url!, { clientId: 'durable-sub', clean: false, reconnectPeriod: 0 });
    clients.push(sub2);
    const got = collect(sub2);
    await waitFor(() => got.length === 3, 'three messages queued before the restart');
    assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), [0, 1, 2]);
  });

  it('refuses clients without valid credentials when authentication is required', async () => {
    await start({
      authMode: 'required',
      auth: { users: [{ username: 'erp', password: 's3cret', publish: ['#'], subscribe: ['#'] }] },
    });
    const anon = await refusedConnection(broker!.url!, {});
    assert.ok(anon instanceof Error && /not authori[sz]ed|bad user/i.test(anon.message), String(anon));
    const wrong = await refusedConnection(broker!.url!, { username: 'erp', password: 'nope' });
    assert.ok(wrong instanceof Error && /bad user|not authori[sz]ed/i.test(wrong.message), String(wrong));
    const ok = await client({ username: 'erp', password: 's3cret' });
    assert.equal(ok.connected, true);
    assert.equal(broker!.stats.authFailures, 2);
  });

  it('checks bcrypt password hashes', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bcrypt = require('bcryptjs');
    const hash = bcrypt.hashSync('hashed-pw', 4);
    await start({ authMode: 'required', auth: { users: [{ username: 'h', passwordHash: hash, publish: [], subscribe: [] }] } });
    const ok = await client({ username: 'h', password: 'hashed-pw' });
    assert.equal(ok.connected, true);
    const wrong = await refusedConnection(broker!.url!, { username: 'h', password: 'x' });
    assert.ok(wrong instanceof Error, String(wrong));
  });

  it('enforces the per-user topic ACL on publish and subscribe', async () => {
    await start({
      authMode: 'required',
      auth: {
        users: [
          { username: 'legacy', password: 'pw', publish: ['fabric/v1/timeentry/+'], subscribe: ['fabric/v1/invoice/#', 'legacy/%u/#'] },
          { username: 'watcher', password: 'pw2', publish: [], subscribe: ['#'] },
        ],
      },
    });
    const watcher = await client({ username: 'watcher', password: 'pw2' });
    const seen = collect(watcher);
    await watcher.subscribeAsync('#', { qos: 1 });

    const legacy = await client({ username: 'legacy', password: 'pw' });
    // mqtt.js rejects when any filter is refused; the SUBACK it carries has the per-filter codes
    const suback = await legacy
      .subscribeAsync(['fabric/v1/invoice/posted', 'legacy/legacy/in', 'fabric/v1/#', 'secret/#'], { qos: 1 })
      .then(() => assert.fail('expected a refused filter'), (err: { packet?: { granted: number[] } }) => err.packet);
    assert.deepEqual(suback?.granted, [1, 1, 128, 128]);

    await legacy.publishAsync('fabric/v1/timeentry/approved', 'allowed', { qos: 1 });
    await waitFor(() => seen.some((m) => m.payload === 'allowed'), 'allowed publish');

    const closed = new Promise<void>((resolve) => legacy.once('close', () => resolve()));
    legacy.publish('fabric/v1/invoice/posted', 'forbidden', { qos: 1 });
    await closed; // MQTT 3.1.1 has no negative PUBACK: aedes drops the connection
    assert.ok(broker!.stats.aclDenied >= 3);
    assert.ok(!seen.some((m) => m.payload === 'forbidden'), 'forbidden publish was delivered');
  });

  it('lets loopback clients in anonymously by default but not remote ones', async () => {
    await start({ auth: { users: [] } });
    const local = await client();
    assert.equal(local.connected, true);
  });

  it('refuses a packet larger than maxPacketBytes and keeps serving others', async () => {
    await start({ maxPacketBytes: 4096 });
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('big/#', { qos: 1 });
    const pub = await client();
    const closed = new Promise<void>((resolve) => pub.once('close', () => resolve()));
    pub.publish('big/one', Buffer.alloc(10000, 'x'), { qos: 0 });
    await closed;
    assert.equal(broker!.stats.oversizeRejected, 1);

    // a raw client announcing a 100 MB packet is cut off at the header, before any body is buffered
    const raw = net.connect(broker!.port!, '127.0.0.1');
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    const rawClosed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.on('error', () => {});
    raw.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x30])); // CONNECT, remaining length 100663296
    await rawClosed;
    assert.equal(broker!.stats.oversizeRejected, 2);

    const pub2 = await client();
    await pub2.publishAsync('big/small', 'fits', { qos: 1 });
    await waitFor(() => got.length === 1, 'small message after the refusal');
    assert.equal(got[0].payload, 'fits');
  });

  it('rejects topics deeper than maxTopicLevels', async () => {
    await start({ maxTopicLevels: 4 });
    const pub = await client();
    const closed = new Promise<void>((resolve) => pub.once('close', () => resolve()));
    pub.publish('a/b/c/d/e', 'deep', { qos: 0 });
    await closed;
  });

  it('serves MQTT over WebSocket on an HTTP server at /mqtt', async () => {
    await start();
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      broker!.attachWebSocket(server, '/mqtt');
      const port = (server.address() as net.AddressInfo).port;
      const ws = await connect(`ws://127.0.0.1:${port}/mqtt`);
      clients.push(ws);
      const got = collect(ws);
      await ws.subscribeAsync('ws/test', { qos: 1 });
      const tcp = await client();
      await tcp.publishAsync('ws/test', 'via-ws', { qos: 1 });
      await waitFor(() => got.length === 1, 'message over WebSocket');
      assert.equal(got[0].payload, 'via-ws');
      await ws.endAsync(true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
