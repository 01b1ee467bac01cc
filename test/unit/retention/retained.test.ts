/**
 * Retention never removes the inbox entry of a message the broker retains on a topic (lib/broker/redelivery.ts,
 * docs/store-and-guarantees.md "Retention"): aedes sends a retained message to every new subscription and the runtime
 * subscribes again at every reconnect and redeploy, so without its entry the message would be processed again at the
 * first reconnect after the inbox period (a time entry billed twice). Real aedes broker (the runtime's startBroker,
 * level persistence on disk), real SQLite file store, the runtime's own MQTT connection and InboxWriter; the inbox
 * period passing is the retention clock moved on.
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
const SOURCE = 'mqtt:time-entries';
const RUNTIME = { username: 'fabric-runtime-test', password: 'runtime-secret', publish: ['#'], subscribe: ['#'], internal: true };
const CLIENT_ID = 'psfabric-time-entries';
const TOPIC = 'kantata/time-entries/te-88';
const ENTRY = JSON.stringify({ specversion: '1.0', id: 'te-88', source: 'kantata/acme', type: 'time_entry.approved', data: { hours: 7.5 } });
const ENTRY_ID = inboxMessageId(TOPIC, Buffer.from(ENTRY), JSON.parse(ENTRY));
/** A plain (not CloudEvent) retained payload: its inbox id is the hash of topic and bytes. */
const STATUS_TOPIC = 'erp/fr01/period-status';
const STATUS = 'closed;2026-11';
const STATUS_ID = inboxMessageId(STATUS_TOPIC, Buffer.from(STATUS), undefined);

describe('retention and retained messages', function () {
  this.timeout(30000);
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let inbox: InboxWriter;
  let broker: RunningBroker;
  let conn: FabricMqttConnection | undefined;
  const seen: Array<{ messageId: string; isNew: boolean }> = [];

  beforeEach(async () => {
    tmp = tempDir('psfabric-retained-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    inbox = new InboxWriter(store);
    broker = await startBroker({ port: 0, persistence: 'level', persistenceDir: path.join(tmp.dir, 'mqtt'), auth: { users: [RUNTIME] } });
    seen.length = 0;
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
    await broker.close();
    await inbox.close();
    await store.close();
    tmp.cleanup();
  });

  /** The runtime's trigger (a JSON trigger: a text one would hash every payload): commit, hand over, acknowledge. */
  async function subscribe(): Promise<void> {
    conn = new FabricMqttConnection({ url: broker.url!, clientId: CLIENT_ID, clean: false, username: RUNTIME.username, password: RUNTIME.password, reconnectPeriodMs: 100, loopGate: null });
    for (const topic of [TOPIC, STATUS_TOPIC]) {
      conn.subscribe(`in-${topic}`, topic, 1, async (packet: IPublishPacket) => {
        const bytes = Buffer.from(packet.payload as Buffer);
        let parsed: unknown;
        try {
          parsed = JSON.parse(bytes.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        const messageId = inboxMessageId(packet.topic, bytes, parsed);
        const isNew = await inbox.add({ source: SOURCE, messageId, payload: bytes.toString('utf8'), receivedAt: Date.now() });
        if (isNew) await store.inboxMarkProcessed(SOURCE, messageId);
        seen.push({ messageId, isNew });
      });
    }
    await waitFor(async () => (await broker.clientSubscriptions(CLIENT_ID)).length === 2, 'the runtime to subscribe');
  }

  /** A reconnect (or redeploy): the same persistent session subscribes again, and aedes re-sends what is retained. */
  async function resubscribe(expected: number): Promise<void> {
    await conn!.close();
    conn = undefined;
    await waitFor(async () => (await broker.clientSubscriptions(CLIENT_ID)).length === 0, 'the runtime to go');
    seen.length = 0;
    await subscribe();
    await waitFor(() => seen.length === expected, `${expected} retained message(s) re-sent at the subscription`);
  }

  async function publishRetained(topic: string, payload: string): Promise<void> {
    const pub = await mqtt.connectAsync(broker.url!, { clientId: 'kantata-bridge', reconnectPeriod: 0 });
    await pub.publishAsync(topic, payload, { qos: 1, retain: true });
    await pub.endAsync();
  }

  /** A retained time entry processed once, and an old unrelated entry (due under any policy). */
  async function processedRetained(): Promise<void> {
    await store.inboxAdd({ source: SOURCE, messageId: 'old', payload: null, receivedAt: Date.now() - 10 * DAY });
    await store.inboxMarkProcessed(SOURCE, 'old');
    await subscribe();
    await publishRetained(TOPIC, ENTRY);
    await publishRetained(STATUS_TOPIC, STATUS);
    await waitFor(() => seen.length === 2, 'both messages processed');
    assert.deepEqual(seen.map((s) => s.isNew), [true, true]);
    await waitFor(async () => ((await broker.heldForRedelivery())?.clientIds.length ?? 0) === 0, 'the PUBACKs to clear the queued messages');
  }

  const retentionAfterInboxPeriod = (guarded: boolean) => {
    const retention = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 1 }, { now: () => Date.now() + 2 * DAY });
    if (guarded) retention.guardInbox(() => broker.heldForRedelivery());
    return retention;
  };

  it('without asking the broker (before the fix): the entry is purged and the next subscription processes the message again', async () => {
    await processedRetained();
    assert.equal((await retentionAfterInboxPeriod(false).runOnce()).purged['inbox-processed'], 3);
    await resubscribe(2);
    assert.deepEqual(seen.map((s) => s.isNew), [true, true], 'the hazard: the time entry processed (billed) a second time');
  });

  it('keeps the entries of retained messages after the inbox period: a re-subscription is recognised as a duplicate', async () => {
    await processedRetained();
    const run = await retentionAfterInboxPeriod(true).runOnce();
    assert.equal(run.purged['inbox-processed'], 1, 'the unrelated old entry goes');
    assert.equal(await store.inboxGet(SOURCE, 'old'), undefined);
    assert.ok(run.inboxHeld && !('error' in run.inboxHeld));
    assert.equal(run.inboxHeld.since, undefined, 'no session holds anything: only retained messages were kept');
    assert.equal(run.inboxHeld.retained, 3, "the time entry's hash and event ids, the status's hash");
    assert.equal((await store.inboxGet(SOURCE, ENTRY_ID))?.status, 'processed');
    assert.equal((await store.inboxGet(SOURCE, STATUS_ID))?.status, 'processed');
    await resubscribe(2);
    assert.deepEqual(seen.map((s) => s.isNew), [false, false], 'processed once');
  });

  it('a retained message cleared (empty payload) no longer keeps its entry', async () => {
    await processedRetained();
    const retention = retentionAfterInboxPeriod(true);
    assert.equal((await retention.runOnce()).purged['inbox-processed'], 1);
    /** Clears a retained message; the subscribed runtime also receives the empty message (an entry of its own). */
    const clear = async (topic: string, retainedLeft: number) => {
      const before = seen.length;
      await publishRetained(topic, '');
      await waitFor(() => seen.length === before + 1, 'the runtime to receive the empty message');
      await waitFor(async () => {
        const held = await broker.heldForRedelivery();
        return (held?.clientIds.length ?? 0) === 0 && (held?.retained?.length ?? 0) === retainedLeft;
      }, 'its PUBACK, and the broker to forget the retained message');
    };
    await clear(TOPIC, 1);
    const run = await retention.runOnce();
    assert.equal(run.purged['inbox-processed'], 2, "the cleared time entry's entry goes (and the empty message's)");
    assert.equal(await store.inboxGet(SOURCE, ENTRY_ID), undefined);
    assert.ok(await store.inboxGet(SOURCE, STATUS_ID), 'the still retained status stays');
    await clear(STATUS_TOPIC, 0);
    assert.equal(await broker.heldForRedelivery(), undefined, 'nothing retained, nothing held');
    assert.equal((await retention.runOnce()).purged['inbox-processed'], 2);
    assert.equal(await store.inboxGet(SOURCE, STATUS_ID), undefined);
  });
});

describe('retained messages, the answer of each persistence', function () {
  this.timeout(60000);
  it('in-memory persistence (lab use): a retained CloudEvent is named by its hash and its event id', async () => {
    const broker = await startBroker({ port: 0, persistence: 'memory', auth: { users: [RUNTIME] } });
    try {
      assert.equal(await broker.heldForRedelivery(), undefined, 'nothing retained, nothing held');
      const pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
      await pub.publishAsync(TOPIC, ENTRY, { qos: 1, retain: true }); // its PUBACK follows the retained store
      await pub.endAsync();
      const held = await broker.heldForRedelivery();
      assert.deepEqual(held, { clientIds: [], retained: [inboxMessageId(TOPIC, Buffer.from(ENTRY), undefined), ENTRY_ID] });
    } finally {
      await broker.close();
    }
  });

  it('one question reads every retained message once and returns each inbox id', async () => {
    const tmp = tempDir('psfabric-retained-many-');
    const broker = await startBroker({ port: 0, persistence: 'level', persistenceDir: path.join(tmp.dir, 'mqtt'), auth: { users: [RUNTIME] } });
    try {
      const pub = await mqtt.connectAsync(broker.url!, { clientId: 'kantata-bridge', reconnectPeriod: 0 });
      const n = 2000;
      const expected = new Set<string>();
      for (let i = 0; i < n; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, k) => {
          const topic = `kantata/time-entries/te-${i + k}`;
          const payload = `hours=${i + k}`;
          expected.add(inboxMessageId(topic, Buffer.from(payload), undefined));
          return pub.publishAsync(topic, payload, { qos: 1, retain: true });
        }));
      }
      await pub.endAsync();
      const held = await broker.heldForRedelivery();
      assert.equal(held?.retained?.length, n);
      assert.deepEqual(new Set(held!.retained), expected);
      assert.deepEqual(held!.clientIds, []);
    } finally {
      await broker.close();
      tmp.cleanup();
    }
  });
});
