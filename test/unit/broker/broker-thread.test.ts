/**
 * The embedded broker in a worker thread (lib/broker/broker-thread.ts), the runtime's default: real aedes in a real
 * Worker, real mqtt.js clients over TCP, WebSocket and an in-process stream, level persistence on disk.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import mqtt, { MqttClient, IClientOptions } from 'mqtt';
import { startBrokerThread, brokerThreadFromEnv, type BrokerOptions, type ThreadedBroker } from '../../../lib/broker';
import { messagePortStream } from '../../../lib/broker/port-stream';
import { tempDir } from '../../support/tmp';
import { refusedConnection } from '../../support/mqtt';
import { waitFor } from '../../support/wait';

function collect(client: MqttClient): Array<{ topic: string; payload: string }> {
  const got: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}

/** An address of this machine that is not loopback, to reach a listener as a remote client would. */
function nonLoopbackAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

describe('embedded broker in a worker thread', function () {
  this.timeout(30000);
  const clients: MqttClient[] = [];
  const servers: http.Server[] = [];
  let broker: ThreadedBroker | undefined;
  let tmp: { dir: string; cleanup(): void };
  const logs: Array<{ level: string; msg: string }> = [];
  const log = {
    info: (msg: string) => logs.push({ level: 'info', msg }),
    warn: (msg: string) => logs.push({ level: 'warn', msg }),
    error: (msg: string) => logs.push({ level: 'error', msg }),
  };

  async function start(opts: BrokerOptions = {}): Promise<ThreadedBroker> {
    broker = await startBrokerThread({ port: 0, persistenceDir: path.join(tmp.dir, 'mqtt'), log, ...opts });
    return broker;
  }
  async function client(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    clients.push(c);
    return c;
  }
  async function httpServer(host = '127.0.0.1'): Promise<{ server: http.Server; port: number }> {
    const server = http.createServer((_req, res) => res.end('ok'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  beforeEach(() => {
    tmp = tempDir('psfabric-broker-thread-');
    logs.length = 0;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
    await broker?.close();
    broker = undefined;
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    tmp.cleanup();
  });

  it('delivers QoS 1 through the worker and mirrors its stats (messagesIn, clients)', async () => {
    await start();
    assert.match(broker!.url!, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(broker!.persistence, 'level');
    assert.equal(broker!.aedes, undefined, 'no aedes instance on the main thread');
    assert.ok(broker!.threadId! > 0);
    assert.equal(broker!.healthy(), true);
    const sub = await client(broker!.url!, { clientId: 'thread-sub' });
    const got = collect(sub);
    await sub.subscribeAsync('fabric/v1/thread/+', { qos: 1 });
    const pub = await client(broker!.url!);
    for (let i = 0; i < 5; i++) await pub.publishAsync(`fabric/v1/thread/${i}`, `m${i}`, { qos: 1 });
    await waitFor(() => got.length === 5, 'five QoS 1 messages');
    assert.deepEqual(got.map((m) => m.payload), ['m0', 'm1', 'm2', 'm3', 'm4']);
    // the mirror is updated by the worker on its own (no request), within its 200 ms throttle
    await waitFor(() => broker!.stats.messagesIn === 5 && broker!.stats.messagesOut === 5 && broker!.stats.clients === 2, 'the stats mirror to count 5 in, 5 out, 2 clients');
    assert.deepEqual(await broker!.clientSubscriptions('thread-'), [{ clientId: 'thread-sub', topic: 'fabric/v1/thread/+', qos: 1 }]);
  });

  it('keeps a persistent session across close() and a new worker on the same persistence dir', async () => {
    await start();
    const sub = await client(broker!.url!, { clientId: 'durable-sub', clean: false });
    await sub.subscribeAsync('durable/#', { qos: 1 });
    await sub.endAsync();
    const pub = await client(broker!.url!);
    for (let i = 0; i < 3; i++) await pub.publishAsync('durable/x', `queued-${i}`, { qos: 1 });
    await pub.endAsync();
    await broker!.close(); // the level persistence flushes its queued writes before the worker exits

    await start();
    // listen before the CONNACK: the queued messages follow it at once
    const again = mqtt.connect(broker!.url!, { clientId: 'durable-sub', clean: false, reconnectPeriod: 0 });
    clients.push(again);
    const got = collect(again);
    await waitFor(() => got.length === 3, 'the three messages queued before the restart');
    assert.deepEqual(got.map((m) => m.payload).sort(), ['queued-0', 'queued-1', 'queued-2']);
  });

  it('authenticates: loopback anonymous over TCP, a user added at run time with the right password only', async () => {
    await start({ authMode: 'loopback', auth: { users: [] } });
    const anon = await client(broker!.url!);
    assert.equal(anon.connected, true);

    broker!.addUser({ username: 'erp', password: 'right-password', publish: ['erp/#'], subscribe: ['erp/#'] });
    await broker!.sync();
    const erp = await client(broker!.url!, { username: 'erp', password: 'right-password' });
    assert.equal(erp.connected, true);
    const wrong = await refusedConnection(broker!.url!, { username: 'erp', password: 'wrong-password' });
    assert.notEqual(wrong instanceof Error && wrong.message, 'unexpectedly connected');
    await broker!.sync();
    assert.equal(broker!.stats.authFailures, 1);
    assert.ok(logs.some((l) => l.level === 'warn' && /refused client .* unknown user or wrong password/.test(l.msg)), 'the refusal is logged through options.log');
    assert.ok(!logs.some((l) => l.msg.includes('right-password') || l.msg.includes('wrong-password')), 'no password in the log');
  });

  it('with auth required, a user added right after start is known to the very next connection', async () => {
    await start({ authMode: 'required', auth: { users: [] } });
    broker!.addUser({ username: 'fabric-runtime', password: 'p4ss', publish: ['#'], subscribe: ['#'] });
    await broker!.sync();
    const c = await client(broker!.url!, { username: 'fabric-runtime', password: 'p4ss' });
    assert.equal(c.connected, true);
    assert.notEqual(await refusedConnection(broker!.url!, {}), 'unexpectedly connected');
  });

  it('serves MQTT over WebSocket on the main thread HTTP server, with the real remote address', async () => {
    await start({ authMode: 'loopback', auth: { users: [{ username: 'remote', password: 'remote-pw', publish: ['ws/#'], subscribe: ['ws/#'] }] } });
    const { server, port } = await httpServer('0.0.0.0');
    broker!.attachWebSocket(server, '/mqtt');

    const ws = await client(`ws://127.0.0.1:${port}/mqtt`);
    const got = collect(ws);
    await ws.subscribeAsync('ws/test', { qos: 1 });
    const tcp = await client(broker!.url!);
    await tcp.publishAsync('ws/test', 'via-ws', { qos: 1 });
    await waitFor(() => got.length === 1, 'message over WebSocket');
    assert.equal(got[0].payload, 'via-ws');
    await ws.publishAsync('ws/test', 'from-ws', { qos: 1 });
    await waitFor(() => got.length === 2, 'the WebSocket client receiving its own publish');

    // The same listener reached over a non-loopback address: the bridged connection must not look local.
    const address = nonLoopbackAddress();
    if (!address) return; // a machine with loopback only cannot show it; the loopback half above still ran
    const outcome = await refusedConnection(`ws://${address}:${port}/mqtt`, {});
    assert.notEqual(outcome instanceof Error && outcome.message, 'unexpectedly connected', `anonymous WebSocket client from ${address} got in`);
    await waitFor(() => logs.some((l) => l.msg.includes(`from ${address}: credentials required`)), 'the refusal naming the real remote address');
    const remote = await client(`ws://${address}:${port}/mqtt`, { username: 'remote', password: 'remote-pw' });
    assert.equal(remote.connected, true);
  });

  it('carries more than the bridge window over WebSocket without loss (flow control across the thread boundary)', async () => {
    await start({ persistence: 'memory' });
    const { server, port } = await httpServer();
    broker!.attachWebSocket(server, '/mqtt');
    const sub = await client(`ws://127.0.0.1:${port}/mqtt`);
    const got = collect(sub);
    await sub.subscribeAsync('bulk/#', { qos: 1 });
    const pub = await client(`ws://127.0.0.1:${port}/mqtt`);
    const body = 'x'.repeat(32 * 1024);
    // 8 MiB each way, far past the 256 KiB window: writes must wait for acknowledgements and resume
    await Promise.all(Array.from({ length: 256 }, (_, i) => pub.publishAsync(`bulk/${i}`, `${i}:${body}`, { qos: 1 })));
    await waitFor(() => got.length === 256, 'all 256 messages of 32 KiB', 20000);
    assert.deepEqual(new Set(got.map((m) => m.payload.split(':')[0])).size, 256);
  });

  it('serves a client on an in-process stream handed to handle()', async () => {
    await start();
    const { port1, port2 } = new MessageChannel();
    broker!.handle(messagePortStream(port1));
    const c = new mqtt.MqttClient(() => messagePortStream(port2) as any, { reconnectPeriod: 0, clientId: 'in-process-client' });
    clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    const got = collect(c);
    await c.subscribeAsync('local/#', { qos: 1 });
    const tcp = await client(broker!.url!);
    await tcp.publishAsync('local/one', 'hello', { qos: 1 });
    await waitFor(() => got.length === 1, 'the message on the in-process stream');
    assert.equal(got[0].payload, 'hello');
  });

  it('rejects with the worker error when the port is already in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(startBrokerThread({ port, persistenceDir: path.join(tmp.dir, 'mqtt') }), (err: Error) => {
        assert.match(err.message, /broker worker thread did not start: .*EADDRINUSE/);
        assert.ok(err.message.includes(String(port)), err.message);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('restarts a worker that died on the same port, with the sessions, and reports unhealthy meanwhile', async () => {
    await start();
    const url = broker!.url!;
    const firstThread = broker!.threadId;
    // mqtt.js reconnects on its own, as the runtime's fabric-broker connections do
    const sub = await client(url, { clientId: 'survivor', clean: false, reconnectPeriod: 200 });
    const got = collect(sub);
    await sub.subscribeAsync('survive/#', { qos: 1 });
    const pub = await client(url);
    await pub.publishAsync('survive/before', 'before', { qos: 1 });
    await waitFor(() => got.length === 1 && broker!.stats.messagesIn === 1, 'the message before the crash, counted');

    broker!.crashWorkerForTest();
    await waitFor(() => !broker!.healthy(), 'healthy() to turn false');
    await waitFor(() => logs.some((l) => l.level === 'error' && /broker worker thread stopped unexpectedly/.test(l.msg)), 'the crash in the log');
    await waitFor(() => broker!.healthy(), 'the restarted worker', 15000);
    assert.notEqual(broker!.threadId, firstThread);
    assert.equal(broker!.url, url);

    await waitFor(() => sub.connected, 'the subscriber to reconnect', 10000);
    const pub2 = await client(url);
    await pub2.publishAsync('survive/after', 'after', { qos: 1 });
    await waitFor(() => got.some((m) => m.payload === 'after'), 'the message after the restart on the old session');
    // counters carry over: the new worker's count adds to the dead one's
    await waitFor(() => broker!.stats.messagesIn === 2, 'messagesIn to keep counting across the restart');
  });

  it('FABRIC_BROKER_THREAD: on by default, off keeps the broker on the main thread, anything else is refused', () => {
    assert.equal(brokerThreadFromEnv({}), true);
    assert.equal(brokerThreadFromEnv({ FABRIC_BROKER_THREAD: 'on' }), true);
    assert.equal(brokerThreadFromEnv({ FABRIC_BROKER_THREAD: 'off' }), false);
    assert.throws(() => brokerThreadFromEnv({ FABRIC_BROKER_THREAD: 'maybe' }), /FABRIC_BROKER_THREAD must be "on" or "off", got "maybe"/);
  });
});
