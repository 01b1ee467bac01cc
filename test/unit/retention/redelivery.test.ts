/**
 * Retention never removes an inbox entry whose message the broker may still deliver again (lib/broker/redelivery.ts,
 * docs/store-and-guarantees.md "Retention"). The crash: the runtime commits a message to its inbox and hands it over,
 * dies before its PUBACK, stays down longer than the inbox period, and its broker re-sends the message after the
 * restart. Real aedes broker (the runtime's startBroker, level persistence on disk), real SQLite file store, the
 * runtime's own MQTT connection (acknowledge after commit) and InboxWriter; the downtime is the retention clock moved on.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import mqtt from 'mqtt';
import type { IPublishPacket } from 'mqtt';
import { inboxMessageId, startBroker, type RunningBroker } from '../../../lib/broker';
import { FabricMqttConnection } from '../../../lib/broker/connection';
import { InboxWriter } from '../../../lib/inbox';
import { DEFAULT_RETENTION, RetentionService } from '../../../lib/retention';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const DAY = 86_400_000;
const SOURCE = 'mqtt:orders-in';
const RUNTIME = { username: 'fabric-runtime-test', password: 'runtime-secret', publish: ['#'], subscribe: ['#'], internal: true };
const CLIENT_ID = 'psfabric-orders';
const EVENT = JSON.stringify({ specversion: '1.0', id: 'ord-4711', source: 'erp/fr01', type: 'order.approved', data: { order: 4711 } });

describe('retention and messages the broker may deliver again', function () {
  this.timeout(30000);
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let inbox: InboxWriter;
  let broker: RunningBroker | undefined;
  let conn: FabricMqttConnection | undefined;

  beforeEach(() => {
    tmp = tempDir('psfabric-redelivery-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    inbox = new InboxWriter(store);
  });
  afterEach(async () => {
    await conn?.close();
    await broker?.close();
    conn = broker = undefined;
    await inbox.close();
    await store.close();
    tmp.cleanup();
  });

  /** The broker's LevelDB, opened while no broker runs on it. */
  async function withLevel(fn: (db: any) => Promise<void>): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Level } = require('level') as { Level: any };
    const db = new Level(path.join(tmp.dir, 'mqtt'));
    await db.open();
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  }
  const notes = async (db: any): Promise<string[]> => db.keys({ gte: '~psfabric:counter:', lt: '~psfabric:counter;' }).all();

  const startRuntimeBroker = () => startBroker({ port: 0, persistence: 'level', persistenceDir: path.join(tmp.dir, 'mqtt'), auth: { users: [RUNTIME] } });

  /** The runtime's trigger: commit to the inbox, hand over (processed), count what was new; `hang` = die before PUBACK. */
  function subscribe(b: RunningBroker, seen: { isNew: boolean }[], hang: boolean): FabricMqttConnection {
    const c = new FabricMqttConnection({ url: b.url!, clientId: CLIENT_ID, clean: false, username: RUNTIME.username, password: RUNTIME.password, reconnectPeriodMs: 100, loopGate: null });
    c.subscribe('orders-in', 'erp/orders', 1, async (packet: IPublishPacket) => {
      const bytes = Buffer.from(packet.payload as Buffer);
      const messageId = inboxMessageId(packet.topic, bytes, JSON.parse(bytes.toString('utf8')));
      const isNew = await inbox.add({ source: SOURCE, messageId, payload: JSON.parse(bytes.toString('utf8')), receivedAt: Date.now() });
      if (isNew) await store.inboxMarkProcessed(SOURCE, messageId);
      seen.push({ isNew });
      if (hang) await new Promise<never>(() => {});
    });
    return c;
  }

  /** Commit + hand-over, then the process dies before the PUBACK; returns the inbox id of the message. */
  async function commitAndDie(): Promise<{ messageId: string; beforeAt: number }> {
    broker = await startRuntimeBroker();
    const seen: { isNew: boolean }[] = [];
    conn = subscribe(broker, seen, true);
    await waitFor(async () => (await broker!.clientSubscriptions(CLIENT_ID)).length > 0, 'the runtime to subscribe');
    // an entry handed over in the same run before the message was queued: nothing the broker holds can be it
    const beforeAt = Date.now() - 1;
    await store.inboxAdd({ source: SOURCE, messageId: 'before', payload: null, receivedAt: beforeAt });
    await store.inboxMarkProcessed(SOURCE, 'before');
    await broker.heldForRedelivery(); // the question notes the broker's counter: later messages are bounded by it
    const erp = await mqtt.connectAsync(broker.url!, { clientId: 'legacy-erp-fr01', clean: false, reconnectPeriod: 0 });
    await erp.publishAsync('erp/orders', EVENT, { qos: 1 });
    await erp.endAsync();
    await waitFor(() => seen.length === 1, 'the commit');
    const messageId = inboxMessageId('erp/orders', Buffer.from(EVENT), JSON.parse(EVENT));
    assert.equal((await store.inboxGet(SOURCE, messageId))?.status, 'processed', 'handed over before the crash');
    assert.ok(await broker.heldForRedelivery(), 'the broker holds the unacknowledged message for the runtime');
    // the crash: the connection goes without its PUBACK, the broker (same process) goes with it
    await conn.close();
    await broker.close();
    conn = broker = undefined;
    return { messageId, beforeAt };
  }

  /** The restarted runtime's trigger: resolves with what it saw once the broker re-sent the message. */
  async function restartAndRedeliver(): Promise<{ isNew: boolean }[]> {
    const seen: { isNew: boolean }[] = [];
    conn = subscribe(broker!, seen, false);
    await waitFor(() => seen.length === 1, 'the redelivery after the restart');
    return seen;
  }

  it('without asking the broker (before the fix): the entry is purged during the outage and the redelivery is processed again', async () => {
    const { messageId } = await commitAndDie();
    broker = await startRuntimeBroker();
    const afterOutage = Date.now() + 2 * DAY;
    const unguarded = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 }, { now: () => afterOutage });
    assert.equal((await unguarded.runOnce()).purged['inbox-processed'], 2);
    assert.equal(await store.inboxGet(SOURCE, messageId), undefined);
    const seen = await restartAndRedeliver();
    assert.deepEqual(seen, [{ isNew: true }], 'the hazard this guards against: the same order processed a second time');
  });

  it('keeps the entry while the restarted broker holds the message, recognises the redelivery, then purges it', async () => {
    const { messageId, beforeAt } = await commitAndDie();
    broker = await startRuntimeBroker();
    const running = broker;
    const afterOutage = Date.now() + 2 * DAY;
    const retention = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 }, { now: () => afterOutage });
    retention.guardInbox(() => running.heldForRedelivery());

    const held = await retention.runOnce();
    const entry = await store.inboxGet(SOURCE, messageId);
    assert.equal(entry?.status, 'processed', 'kept while the message can come back');
    assert.deepEqual(held.inboxHeld && 'clientIds' in held.inboxHeld && held.inboxHeld.clientIds, [CLIENT_ID]);
    const since = (held.inboxHeld as { since: number }).since;
    assert.ok(since > beforeAt && since <= entry.receivedAt, 'bounded by a note of the run that queued it, kept across the restart');
    assert.equal(held.purged['inbox-processed'], 1, 'the entry handed over before the message was queued goes');
    assert.equal(await store.inboxGet(SOURCE, 'before'), undefined);

    const seen = await restartAndRedeliver();
    assert.deepEqual(seen, [{ isNew: false }], 'the redelivery is recognised as a duplicate: processed once');
    await waitFor(async () => (await running.heldForRedelivery()) === undefined, 'the PUBACK to clear the held message');
    const after = await retention.runOnce();
    assert.equal(after.purged['inbox-processed'], 1, 'acknowledged: nothing can bring it back, the entry goes');
    assert.equal(await store.inboxGet(SOURCE, messageId), undefined);
    assert.equal(after.inboxHeld, undefined);
  });

  it('a message held since a run that left no notes (an older version) keeps the whole inbox; notes nothing needs are removed', async () => {
    const { messageId } = await commitAndDie();
    await withLevel(async (db) => {
      assert.ok((await notes(db)).length >= 2, "the crashed run's notes are on disk");
      await db.clear({ gte: '~psfabric:counter:', lt: '~psfabric:counter;' });
    });
    broker = await startRuntimeBroker();
    const running = broker;
    const retention = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 }, { now: () => Date.now() + 2 * DAY });
    retention.guardInbox(() => running.heldForRedelivery());
    const held = await retention.runOnce();
    assert.deepEqual(held.inboxHeld, { since: 0, clientIds: [CLIENT_ID] }, 'of unknown age');
    assert.equal(held.purged['inbox-processed'], undefined, 'every entry kept');
    assert.deepEqual(await restartAndRedeliver(), [{ isNew: false }]);
    await waitFor(async () => (await running.heldForRedelivery()) === undefined, 'the PUBACK');
    assert.equal((await retention.runOnce()).purged['inbox-processed'], 2);
    assert.equal(await store.inboxGet(SOURCE, messageId), undefined);
    await conn!.close();
    await running.close();
    conn = broker = undefined;
    await withLevel(async (db) => assert.ok((await notes(db)).length <= 2, 'only the newest notes of the last run are left'));
  });

  it('a message held during this run keeps the entries received since it was queued, and no older ones', async () => {
    broker = await startRuntimeBroker();
    const running = broker;
    // an entry from long ago, due under any policy
    await store.inboxAdd({ source: SOURCE, messageId: 'old', payload: null, receivedAt: Date.now() - 10 * DAY });
    await store.inboxMarkProcessed(SOURCE, 'old');
    const seen: { isNew: boolean }[] = [];
    conn = subscribe(running, seen, true);
    await waitFor(async () => (await running.clientSubscriptions(CLIENT_ID)).length > 0, 'the runtime to subscribe');
    const before = await running.heldForRedelivery();
    assert.equal(before, undefined, 'nothing held yet');
    const pub = await mqtt.connectAsync(running.url!, { reconnectPeriod: 0 });
    await pub.publishAsync('erp/orders', EVENT, { qos: 1 });
    await pub.endAsync();
    await waitFor(() => seen.length === 1, 'the commit');

    const held = await running.heldForRedelivery();
    assert.ok(held && held.since !== undefined && held.since > 0, 'held in this run: bounded by a moment noted before it was queued');
    const retention = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 }, { now: () => Date.now() + 2 * DAY });
    retention.guardInbox(() => running.heldForRedelivery());
    const run = await retention.runOnce();
    assert.equal(run.purged['inbox-processed'], 1, 'the old entry goes');
    assert.equal(await store.inboxGet(SOURCE, 'old'), undefined);
    assert.ok(await store.inboxGet(SOURCE, inboxMessageId('erp/orders', Buffer.from(EVENT), JSON.parse(EVENT))), 'the held message keeps its entry');
  });

  it('a question the broker cannot answer keeps the whole inbox for that run', async () => {
    await store.inboxAdd({ source: SOURCE, messageId: 'old', payload: null, receivedAt: Date.now() - 10 * DAY });
    await store.inboxMarkProcessed(SOURCE, 'old');
    const retention = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 });
    retention.guardInbox(async () => {
      throw new Error('the broker worker thread is not running (restarting)');
    });
    const run = await retention.runOnce();
    assert.equal(run.purged['inbox-processed'], undefined);
    assert.deepEqual(run.inboxHeld, { error: 'the broker worker thread is not running (restarting)' });
    assert.ok(await store.inboxGet(SOURCE, 'old'));
  });
});

describe('what the broker holds for the runtime, in-memory persistence', function () {
  this.timeout(20000);
  it('reports a message queued for an away runtime session until the session takes it; other clients hold nothing back', async () => {
    const broker = await startBroker({ port: 0, persistence: 'memory', auth: { users: [RUNTIME] } });
    try {
      const runtime = await mqtt.connectAsync(broker.url!, { clientId: CLIENT_ID, clean: false, reconnectPeriod: 0, username: RUNTIME.username, password: RUNTIME.password });
      await runtime.subscribeAsync('erp/orders', { qos: 1 });
      await runtime.endAsync();
      // an outside client's persistent session, away with a message queued for it: not an inbox's
      const erp = await mqtt.connectAsync(broker.url!, { clientId: 'legacy-erp-fr01', clean: false, reconnectPeriod: 0 });
      await erp.subscribeAsync('erp/invoices', { qos: 1 });
      await erp.endAsync();
      const pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
      await pub.publishAsync('erp/invoices', 'IH;INV-1', { qos: 1 });
      assert.equal(await broker.heldForRedelivery(), undefined, "another client's queue holds nothing back");
      const beforeQueued = Date.now();
      await pub.publishAsync('erp/orders', EVENT, { qos: 1 });
      await pub.endAsync();
      const held = await broker.heldForRedelivery();
      assert.deepEqual(held?.clientIds, [CLIENT_ID]);
      assert.ok(held!.since !== undefined && held!.since > 0 && held!.since <= beforeQueued, 'bounded by a moment before it was queued');

      const back = await mqtt.connectAsync(broker.url!, { clientId: CLIENT_ID, clean: false, reconnectPeriod: 0, username: RUNTIME.username, password: RUNTIME.password });
      try {
        await waitFor(async () => (await broker.heldForRedelivery()) === undefined, 'the session to take its message');
      } finally {
        await back.endAsync();
      }
    } finally {
      await broker.close();
    }
  });
});
