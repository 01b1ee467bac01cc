/**
 * The broker acknowledges only what it has kept (issue 14 item 2): real aedes on a real LevelDB through the production
 * persistence (createLevelPersistence) and acknowledgeAfterPublish, as startBroker wires them; the database's
 * fsync-ing batches can be held. While the fsync that keeps a message is held, the broker has written no PUBACK /
 * PUBREC to the publisher's socket (counted in bytes on the server side); once released, the acknowledgement comes and
 * the message is in the subscriber's queue on disk.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../lib/broker';
import { acknowledgeAfterPublish } from '../../../lib/broker/ack-after-publish';
import { CoalescingLevel, SYNC_MARKER } from '../../../lib/broker/coalescing-level';
import { createLevelPersistence } from '../../../lib/broker/level-persistence';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Level } = require('level') as { Level: any };
const BUF = { valueEncoding: 'buffer' };
/** CONNACK of MQTT 3.1.1: what the server has written to a connected client before any acknowledgement. */
const CONNACK_BYTES = 4;

/** A real LevelDB whose `sync: true` batches (the fsyncs) can be held, or made to fail. */
function gatedDb(db: any) {
  const held: Array<() => void> = [];
  let mode: 'pass' | 'hold' | 'fail' = 'pass';
  const proxy = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch') {
        return (ops: unknown, options?: { sync?: boolean }) => {
          if (!options?.sync || mode === 'pass') return target.batch(ops, options);
          if (mode === 'fail') return Promise.reject(new Error('disk full (test)'));
          return new Promise((resolve, reject) => held.push(() => target.batch(ops, options).then(resolve, reject)));
        };
      }
      const value = target[prop];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    db: proxy,
    set(m: 'pass' | 'hold' | 'fail') {
      mode = m;
      if (m !== 'hold') for (const go of held.splice(0)) go();
    },
    held: () => held.length,
  };
}

interface TestBroker {
  aedes: any;
  url: string;
  gate: ReturnType<typeof gatedDb>;
  coalesced: CoalescingLevel;
  raw: any;
  /** Server side of each accepted connection, in accept order. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

async function startTestBroker(dir: string): Promise<TestBroker> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Aedes } = require('aedes') as { Aedes: any };
  const raw = new Level(dir);
  await raw.open();
  const gate = gatedDb(raw);
  const { persistence, db: coalesced } = createLevelPersistence(gate.db);
  const aedes = await Aedes.createBroker({ persistence });
  acknowledgeAfterPublish(aedes);
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    aedes.handle(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    aedes,
    url,
    gate,
    coalesced,
    raw,
    sockets,
    async close() {
      gate.set('pass');
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await persistence.destroy();
    },
  };
}

async function valuesUnder(raw: any, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of raw.iterator({ gte: prefix, lt: `${prefix.slice(0, -1)};`, ...BUF })) out.push(k);
  return out;
}

/** Connects and returns the client together with the server side of its connection. */
async function connectClient(b: TestBroker, options: mqtt.IClientOptions): Promise<{ client: MqttClient; server: net.Socket }> {
  const before = b.sockets.length;
  const client = await mqtt.connectAsync(b.url, { reconnectPeriod: 0, protocolVersion: 4, ...options });
  return { client, server: b.sockets[before] };
}

describe('broker: acknowledges only what it has kept (PUBACK / PUBREC after the fsync)', function () {
  this.timeout(20000);
  let tmp: { dir: string; cleanup(): void };
  let b: TestBroker | undefined;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    tmp = tempDir('psf-durable-ack-');
    b = await startTestBroker(path.join(tmp.dir, 'mqtt'));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
    await b?.close();
    b = undefined;
    tmp.cleanup();
  });

  async function persistentSubscriber(clientId: string, topic: string): Promise<MqttClient> {
    const sub = await mqtt.connectAsync(b!.url, { reconnectPeriod: 0, clientId, clean: false });
    await sub.subscribeAsync(topic, { qos: 1 });
    return sub;
  }

  it('QoS 1: no PUBACK while the fsync of the subscriber queue is held; after it, the message is in the queue on disk', async () => {
    const sub = await persistentSubscriber('erp-offline', 'legacy/fr01/time/out');
    await sub.endAsync();
    const { client: pub, server } = await connectClient(b!, { clientId: 'legacy-pub' });
    clients.push(pub);
    assert.equal(server.bytesWritten, CONNACK_BYTES);
    b!.gate.set('hold');
    const acked = pub.publishAsync('legacy/fr01/time/out', 'TE;FR-TE-000001;CON-010;FR01-LUM-OM', { qos: 1 });
    await waitFor(() => b!.gate.held() > 0, 'the fsync of the queued message to be held');
    assert.equal(server.bytesWritten, CONNACK_BYTES, 'the broker wrote a PUBACK before the message was fsynced');
    b!.gate.set('pass');
    await acked;
    assert.equal(server.bytesWritten, CONNACK_BYTES + 4, 'one PUBACK');
    assert.equal((await valuesUnder(b!.raw, 'outgoing:erp-offline:')).length, 1, 'queued for the offline persistent session');
    assert.ok(b!.coalesced.stats.syncs >= 1);
  });

  it('QoS 1 to an online persistent subscriber: delivered once, PUBACK after the fsync', async () => {
    const sub = await persistentSubscriber('erp-online', 'legacy/fr01/time/out');
    clients.push(sub);
    const got: string[] = [];
    sub.on('message', (_t, p) => got.push(p.toString()));
    const published: string[] = [];
    b!.aedes.on('publish', (packet: any, client: any) => {
      if (client) published.push(packet.payload.toString());
    });
    const { client: pub, server } = await connectClient(b!, { clientId: 'legacy-pub' });
    clients.push(pub);
    b!.gate.set('hold');
    const acked = pub.publishAsync('legacy/fr01/time/out', 'line-1', { qos: 1 });
    await waitFor(() => b!.gate.held() > 0, 'the fsync to be held');
    assert.equal(server.bytesWritten, CONNACK_BYTES, 'PUBACK before the fsync');
    b!.gate.set('pass');
    await acked;
    await waitFor(() => got.length >= 1, 'the delivery');
    // a second message after the first round trip: anything published twice would have arrived before it
    await pub.publishAsync('legacy/fr01/time/out', 'line-2', { qos: 1 });
    await waitFor(() => got.length >= 2, 'the second delivery');
    assert.deepEqual(got, ['line-1', 'line-2'], 'each message delivered once');
    assert.deepEqual(published, ['line-1', 'line-2'], 'each message published once');
  });

  it('QoS 2: no PUBREC while the fsync of the inbound message and the queue is held', async () => {
    const sub = await persistentSubscriber('erp-q2', 'legacy/fr01/time/out');
    await sub.endAsync();
    const { client: pub, server } = await connectClient(b!, { clientId: 'legacy-pub-q2' });
    clients.push(pub);
    b!.gate.set('hold');
    const done = pub.publishAsync('legacy/fr01/time/out', 'q2-line', { qos: 2 });
    await waitFor(() => b!.gate.held() > 0, 'the fsync to be held');
    assert.equal(server.bytesWritten, CONNACK_BYTES, 'PUBREC before the fsync');
    b!.gate.set('pass');
    await done;
    assert.equal((await valuesUnder(b!.raw, 'outgoing:erp-q2:')).length, 1);
  });

  it('retained QoS 1 with no subscriber: no PUBACK until the retained message is fsynced', async () => {
    const { client: pub, server } = await connectClient(b!, { clientId: 'retainer' });
    clients.push(pub);
    b!.gate.set('hold');
    const acked = pub.publishAsync('fabric/v1/status/fr01', 'up', { qos: 1, retain: true });
    await waitFor(() => b!.gate.held() > 0, 'the fsync to be held');
    assert.equal(server.bytesWritten, CONNACK_BYTES, 'PUBACK before the fsync');
    b!.gate.set('pass');
    await acked;
    assert.deepEqual(await valuesUnder(b!.raw, 'retained:'), ['retained:fabric/v1/status/fr01']);
  });

  it('a QoS 1 will (checked through authorizePublish too) is published once', async () => {
    const sub = await persistentSubscriber('will-watcher', 'status/+/gone');
    await sub.endAsync();
    const { client: dying, server } = await connectClient(b!, { clientId: 'dying', will: { topic: 'status/dying/gone', payload: Buffer.from('bye'), qos: 1, retain: false } });
    clients.push(dying);
    server.destroy(); // an ungraceful end: the broker publishes the will
    await waitFor(async () => (await valuesUnder(b!.raw, 'outgoing:will-watcher:')).length > 0, 'the will queued for the offline session');
    const watcher = await mqtt.connectAsync(b!.url, { reconnectPeriod: 0, clientId: 'will-watcher', clean: false });
    clients.push(watcher);
    const got: string[] = [];
    watcher.on('message', (_t, p) => got.push(p.toString()));
    await waitFor(() => got.length > 0, 'the will delivered');
    // a later message on the same session: a second copy of the will would have been delivered before it
    const { client: pub } = await connectClient(b!, { clientId: 'after-will' });
    clients.push(pub);
    await pub.publishAsync('status/other/gone', 'later', { qos: 1 });
    await waitFor(() => got.length > 1, 'the later message');
    assert.deepEqual(got, ['bye', 'later']);
  });

  it('a message that could not be kept is not acknowledged: the connection closes without a PUBACK, the re-send is kept', async () => {
    const sub = await persistentSubscriber('erp-fail', 'legacy/fr01/time/out');
    await sub.endAsync();
    const { client: pub, server } = await connectClient(b!, { clientId: 'legacy-pub-fail' });
    clients.push(pub);
    b!.gate.set('fail');
    const outcome = pub.publishAsync('legacy/fr01/time/out', 'te-lost?', { qos: 1 }).then(
      () => 'acked',
      () => 'rejected',
    );
    await waitFor(() => server.destroyed, 'the broker to close the connection');
    assert.equal(server.bytesWritten, CONNACK_BYTES, 'no PUBACK for a message that was not kept');
    await pub.endAsync(true);
    assert.equal(await outcome, 'rejected');
    b!.gate.set('pass');
    const { client: again } = await connectClient(b!, { clientId: 'legacy-pub-fail' });
    clients.push(again);
    await again.publishAsync('legacy/fr01/time/out', 'te-lost?', { qos: 1 });
    // kept at least once (the failed attempt may have reached LevelDB without its fsync: a redelivery, which the
    // subscriber's inbox absorbs, never a loss)
    assert.ok((await valuesUnder(b!.raw, 'outgoing:erp-fail:')).length >= 1, 'the re-send is queued');
  });
});

describe('broker: CoalescingLevel.durable()', function () {
  let tmp: { dir: string; cleanup(): void };
  let raw: any;
  beforeEach(async () => {
    tmp = tempDir('psf-durable-');
    raw = new Level(path.join(tmp.dir, 'db'));
    await raw.open();
  });
  afterEach(async () => {
    await raw.close().catch(() => undefined);
    tmp.cleanup();
  });

  it('makes the queued batch a sync one and shares it among the callers of the window', async () => {
    const syncFlags: boolean[] = [];
    const db = new CoalescingLevel(
      new Proxy(raw, {
        get(target, prop) {
          if (prop === 'batch') return (ops: unknown, options?: { sync?: boolean }) => (syncFlags.push(!!options?.sync), target.batch(ops, options));
          const v = target[prop];
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    );
    const writes = [db.put('outgoing:a:1', Buffer.from('x')), db.put('outgoing:b:1', Buffer.from('y'))];
    await Promise.all([db.durable(), db.durable(), ...writes]);
    assert.deepEqual(syncFlags, [true], 'one batch, written with sync');
    assert.equal(db.stats.markerSyncs, 0);
    await db.put('outgoing:a:2', Buffer.from('z'));
    await db.durable();
    assert.deepEqual(syncFlags, [true, false, true], 'nothing queued: a marker batch with sync');
    assert.equal(db.stats.markerSyncs, 1);
    assert.deepEqual(await valuesUnder(raw, 'outgoing:'), ['outgoing:a:1', 'outgoing:a:2', 'outgoing:b:1'], 'the marker is outside the persistence key ranges');
    assert.ok(Buffer.isBuffer(await raw.get(SYNC_MARKER, BUF)));
  });

  it('durably(): the writes the callback issues at once are themselves written with sync; a callback that awaits first gets the barrier', async () => {
    const syncFlags: boolean[] = [];
    const db = new CoalescingLevel(
      new Proxy(raw, {
        get(target, prop) {
          if (prop === 'batch') return (ops: unknown, options?: { sync?: boolean }) => (syncFlags.push(!!options?.sync), target.batch(ops, options));
          const v = target[prop];
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    );
    const other = db.put('outgoing:b:1', Buffer.from('queued before'));
    const result = await db.durably(() => db.put('outgoing:a:1', Buffer.from('x')).then(() => 'done'));
    await other;
    assert.equal(result, 'done');
    assert.deepEqual(syncFlags, [true], 'one batch, the callback write with what was queued, fsynced');
    assert.equal(db.stats.markerSyncs, 0);
    await db.durably(async () => {
      await Promise.resolve();
      await db.put('outgoing:a:2', Buffer.from('late'));
    });
    assert.deepEqual(syncFlags, [true, false, true], 'the late write as it is, then a sync marker batch after it');
    assert.equal(db.stats.markerSyncs, 1);
  });

  it('a failed sync batch rejects its durable() callers', async () => {
    const db = new CoalescingLevel(
      new Proxy(raw, {
        get(target, prop) {
          if (prop === 'batch') return (ops: unknown, options?: { sync?: boolean }) => (options?.sync ? Promise.reject(new Error('EIO (test)')) : target.batch(ops, options));
          const v = target[prop];
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    );
    await assert.rejects(db.durable(), /EIO/);
    const write = db.put('outgoing:a:1', Buffer.from('x'));
    await assert.rejects(Promise.all([write, db.durable()]), /EIO/);
  });
});

describe('broker: startBroker (level) publishes before it acknowledges', function () {
  this.timeout(20000);
  let tmp: { dir: string; cleanup(): void };
  let broker: RunningBroker | undefined;
  afterEach(async () => {
    await broker?.close();
    tmp?.cleanup();
  });

  it('the PUBACK of each QoS 1 message reaches the publisher after aedes published it', async () => {
    tmp = tempDir('psf-durable-start-');
    broker = await startBroker({ port: 0, persistence: 'level', persistenceDir: path.join(tmp.dir, 'mqtt') });
    const order: string[] = [];
    broker.aedes.on('publish', (packet: any, client: any) => {
      if (client?.id === 'order-pub') order.push(`published ${packet.payload.toString()}`);
    });
    const sub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'order-sub', clean: false });
    await sub.subscribeAsync('t/#', { qos: 1 });
    const pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'order-pub' });
    const ids = new Map<number, string>();
    pub.on('packetsend', (p: any) => {
      if (p.cmd === 'publish') ids.set(p.messageId, p.payload.toString());
    });
    pub.on('packetreceive', (p: any) => {
      if (p.cmd === 'puback') order.push(`puback ${ids.get(p.messageId)}`);
    });
    await Promise.all(['m1', 'm2', 'm3'].map((m) => pub.publishAsync('t/x', m, { qos: 1 })));
    for (const m of ['m1', 'm2', 'm3']) assert.ok(order.indexOf(`published ${m}`) >= 0 && order.indexOf(`published ${m}`) < order.indexOf(`puback ${m}`), order.join(', '));
    await pub.endAsync();
    await sub.endAsync();
  });
});
