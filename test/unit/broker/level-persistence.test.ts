import assert from 'node:assert/strict';
import path from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { startBroker, RunningBroker } from '../../../lib/broker';
import { CoalescingLevel } from '../../../lib/broker/coalescing-level';
import { createLevelPersistence } from '../../../lib/broker/level-persistence';
import { freePort } from '../../support/ports';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Level } = require('level') as { Level: any };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LibraryPersistence = require('aedes-persistence-level/asyncPersistence.js');

const BUF = { valueEncoding: 'buffer' };

async function openDb(dir: string): Promise<any> {
  const db = new Level(dir);
  await db.open();
  return db;
}

async function dump(db: any): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [k, v] of db.iterator(BUF)) out.push([k, (v as Buffer).toString('hex')]);
  return out;
}

function readAll(stream: NodeJS.ReadableStream): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const got: any[] = [];
    stream.on('data', (d) => got.push(d));
    stream.on('end', () => resolve(got));
    stream.on('error', reject);
  });
}

function qos1(brokerId: string, brokerCounter: number, payload: string): any {
  return { cmd: 'publish', topic: 'fabric/v1/timeentry/approved', payload: Buffer.from(payload), qos: 1, retain: false, dup: false, brokerId, brokerCounter };
}

describe('broker level persistence: coalesced writes', function () {
  this.timeout(20000);
  let tmp: { dir: string; cleanup(): void };
  const open: any[] = [];
  beforeEach(() => {
    tmp = tempDir('psf-level-');
  });
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close().catch(() => undefined);
    tmp.cleanup();
  });
  async function fresh(name: string): Promise<any> {
    const db = await openDb(path.join(tmp.dir, name));
    open.push(db);
    return db;
  }

  it('writes one turn of puts and dels as one LevelDB batch, and get sees them before they are written', async () => {
    const raw = await fresh('a');
    await raw.put('k0', Buffer.from('old'), BUF);
    const db = new CoalescingLevel(raw);
    const writes = [db.put('k1', Buffer.from('one')), db.put('k2', Buffer.from('two')), db.del('k0'), db.batch([{ type: 'put', key: 'k1', value: Buffer.from('uno') }])];
    assert.equal((await db.get('k1'))?.toString(), 'uno', 'the latest queued value');
    assert.equal(await db.get('k0'), undefined, 'a queued delete hides the stored value');
    assert.equal((await raw.get('k0', BUF))?.toString(), 'old', 'nothing written yet');
    await Promise.all(writes);
    assert.equal(db.stats.batches, 1);
    assert.deepEqual((await dump(raw)).map(([k, v]) => [k, Buffer.from(v, 'hex').toString()]), [
      ['k1', 'uno'],
      ['k2', 'two'],
    ]);
  });

  it('keeps call order across batches and range clears, and iterators see everything queued before them', async () => {
    const raw = await fresh('b');
    const db = new CoalescingLevel(raw);
    void db.put('incoming:c:1', Buffer.from('a'));
    const cleared = db.clear({ gte: 'incoming:c:', lt: 'incoming:c;' });
    const after = db.put('incoming:c:2', Buffer.from('b'));
    assert.equal(await db.get('incoming:c:1'), undefined, 'cleared while the clear is still queued');
    const seen: string[] = [];
    for await (const v of db.values({ gte: 'incoming:', lt: 'incoming;', ...BUF })) seen.push(v.toString());
    assert.deepEqual(seen, ['b']);
    await Promise.all([cleared, after]);
    assert.deepEqual((await dump(raw)).map(([k]) => k), ['incoming:c:2']);
  });

  it('keeps the read-back cache within its byte budget and reads evicted values from LevelDB', async () => {
    const raw = await fresh('d');
    const db = new CoalescingLevel(raw, { cacheBytes: 16_000 });
    const big = (i: number) => Buffer.alloc(900, i);
    await Promise.all(Array.from({ length: 40 }, (_, i) => db.put(`outgoing:c:b1:${String(i).padStart(16, '0')}`, big(i))));
    await db.put('retained:fabric/v1/x', Buffer.alloc(500, 1));
    const { bytes, entries } = db.cacheSize();
    assert.ok(bytes <= 16_000, `cache holds ${bytes} bytes`);
    assert.equal(entries, 17, 'the newest outgoing values only; retained messages are never read back with get');
    assert.deepEqual(await db.get(`outgoing:c:b1:${String(0).padStart(16, '0')}`), big(0));
    assert.equal(db.stats.dbReads, 1);
    assert.deepEqual(await db.get(`outgoing:c:b1:${String(39).padStart(16, '0')}`), big(39));
    assert.equal(db.stats.dbReads, 1);
  });

  it('an iterator waits only for the writes queued before it, not for a queue that never empties', async () => {
    const raw = await fresh('e');
    const db = new CoalescingLevel(raw);
    void db.put('subscriptions:a:t', Buffer.from('before'));
    let stop = false;
    let n = 0;
    // steady traffic from two clients: while one batch is written the other's next write is already queued
    const client = async (id: string) => {
      while (!stop) await Promise.all([db.put(`outgoing:${id}:${n}`, Buffer.from('m')), db.del(`outgoing:${id}:${n++}`)]);
    };
    const first = client('x');
    await new Promise((r) => setImmediate(r));
    const traffic = Promise.all([first, client('y')]);
    const seen: string[] = [];
    for await (const v of db.values({ gte: 'subscriptions:', lt: 'subscriptions;', ...BUF })) seen.push(v.toString());
    stop = true;
    await traffic;
    assert.deepEqual(seen, ['before']);
  });

  it('close writes what is still queued before closing the database', async () => {
    const dir = path.join(tmp.dir, 'c');
    const db = new CoalescingLevel(await openDb(dir));
    const pending = db.put('will:x', Buffer.from('bye'));
    await db.close();
    await pending;
    const again = await fresh('c');
    assert.equal((await again.get('will:x', BUF))?.toString(), 'bye');
  });

  it('outgoingUpdate as one batch leaves the same keys and values as the library, which reads them back', async () => {
    const ours = createLevelPersistence(await fresh('ours')).persistence;
    const theirs = new LibraryPersistence(await fresh('theirs'));
    const client = { id: 'durable/sub:1' };
    for (const p of [ours, theirs]) {
      await p.outgoingEnqueue({ clientId: client.id }, qos1('b1', 1, 'first'));
      await p.outgoingEnqueue({ clientId: client.id }, qos1('b1', 2, 'second'));
      await p.outgoingUpdate(client, { ...qos1('b1', 1, 'first'), messageId: 7 });
      await p.outgoingUpdate(client, { ...qos1('b1', 2, 'second'), messageId: 8 });
      // a resend after reconnect assigns a new id: the old by-id entry must go
      await p.outgoingUpdate(client, { ...qos1('b1', 2, 'second'), messageId: 9 });
    }
    await ours.outgoingEnqueue({ clientId: 'flush' }, qos1('b1', 3, 'x')); // awaits the queued batches behind it
    await theirs.outgoingEnqueue({ clientId: 'flush' }, qos1('b1', 3, 'x'));
    const [a, b] = [open[0], open[1]];
    assert.deepEqual(await dump(a), await dump(b));

    const queued = await readAll(ours.outgoingStream(client));
    assert.deepEqual(queued.map((p) => [p.payload.toString(), p.messageId]), [['first', 7], ['second', 9]]);
    assert.equal(await ours.outgoingClearMessageId(client, { messageId: 8 }), undefined, 'stale id');
    assert.equal((await ours.outgoingClearMessageId(client, { messageId: 9 })).payload.toString(), 'second');
    assert.equal((await ours.outgoingClearMessageId(client, { messageId: 7 })).payload.toString(), 'first');
    assert.deepEqual(await readAll(ours.outgoingStream(client)), []);
    await assert.rejects(ours.outgoingUpdate(client, { ...qos1('b1', 99, 'gone'), messageId: 10 }), /no such packet/);
  });
});

describe('broker level persistence: end to end with a restart', function () {
  this.timeout(30000);
  let tmp: { dir: string; cleanup(): void };
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];
  beforeEach(() => {
    tmp = tempDir('psf-level-e2e-');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
    await broker?.close();
    broker = undefined;
    tmp.cleanup();
  });

  it('delivers every QoS 1 message once to an online persistent session, and after a restart only the ones it missed', async () => {
    const dir = path.join(tmp.dir, 'mqtt');
    const port = await freePort();
    broker = await startBroker({ port, persistence: 'level', persistenceDir: dir });
    const topic = 'fabric/v1/timeentry/approved';
    const sub = await mqtt.connectAsync(broker.url!, { clientId: 'durable-sub', clean: false, reconnectPeriod: 0 });
    clients.push(sub);
    const online: number[] = [];
    sub.on('message', (_t, payload) => online.push(Number(payload.toString())));
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
    clients.push(pub);
    // many in flight at once, so enqueues, updates and PUBACK clears share batches
    await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publishAsync(topic, String(i), { qos: 1 })));
    await waitFor(() => online.length >= 500, '500 messages at the online subscriber');
    await sub.endAsync(); // sends the last PUBACKs first
    for (let i = 500; i < 520; i++) await pub.publishAsync(topic, String(i), { qos: 1 });
    await pub.endAsync();
    clients.length = 0;
    await broker.close();

    broker = await startBroker({ port, persistence: 'level', persistenceDir: dir });
    const again = mqtt.connect(broker.url!, { clientId: 'durable-sub', clean: false, reconnectPeriod: 0 });
    clients.push(again);
    const resumed: number[] = [];
    again.on('message', (_t, payload) => resumed.push(Number(payload.toString())));
    await waitFor(() => resumed.length >= 20, '20 messages queued while offline');
    const probe = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
    clients.push(probe);
    await probe.publishAsync(topic, 'end', { qos: 1 });
    await waitFor(() => resumed.some((n) => Number.isNaN(n)), 'the probe after the queued messages');
    assert.deepEqual(online, Array.from({ length: 500 }, (_, i) => i), 'online: each once, in order');
    assert.deepEqual(resumed.filter((n) => !Number.isNaN(n)), Array.from({ length: 20 }, (_, i) => 500 + i), 'after the restart: only the missed ones');
  });
});
