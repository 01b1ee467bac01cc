import assert from 'node:assert/strict';
import path from 'node:path';
import { holdInboxHandOver, inboxRefOf, markInboxProcessed, registerInboxSource, releaseInboxHandOver, replayInbox, shareInboxHandOver } from '../../../lib/inbox';
import { DeliveryEngine } from '../../../lib/delivery/engine';
import { servicesFor } from '../../../lib/fabric/services';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { InboxRecord } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

describe('inbox hand-over and start-up replay', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  beforeEach(() => {
    tmp = tempDir('psfabric-inbox-handover-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  const add = (id: string) => store.inboxAdd({ source: 'mqtt:n1', messageId: id, payload: { id }, receivedAt: 1, meta: { topic: 't' } });

  it('reads the identity from msg._fabricInbox and marks the entry in the store registered for its source', async () => {
    await add('a');
    await add('b');
    assert.equal(inboxRefOf({ payload: 1 }), undefined);
    assert.deepEqual(inboxRefOf({ _fabricInbox: { source: 'mqtt:n1', messageId: 'a' } }), { source: 'mqtt:n1', messageId: 'a' });
    await markInboxProcessed({ _fabricInbox: { source: 'mqtt:n1', messageId: 'a' } }); // no store registered, no fallback: nothing
    assert.equal((await store.inboxGet('mqtt:n1', 'a'))?.status, 'received');
    const off = registerInboxSource('mqtt:n1', store);
    await markInboxProcessed({ _fabricInbox: { source: 'mqtt:n1', messageId: 'a' } });
    assert.equal((await store.inboxGet('mqtt:n1', 'a'))?.status, 'processed');
    off();
    await markInboxProcessed({ _fabricInbox: { source: 'mqtt:n1', messageId: 'b' } }, store); // the fallback store
    assert.equal((await store.inboxGet('mqtt:n1', 'b'))?.status, 'processed');
    await markInboxProcessed({}, store); // a msg from elsewhere: ignored
  });

  it('a source message split over several msgs (one per invoice) is processed only once every share is handed over', async () => {
    // a legacy batch message whose entries land on two invoices, plus one entry repeated inside the first invoice
    await add('batch');
    await add('single');
    const off = registerInboxSource('mqtt:n1', store);
    try {
      const batch = { source: 'mqtt:n1', messageId: 'batch' };
      const single = { source: 'mqtt:n1', messageId: 'single' };
      const [first, second, none] = shareInboxHandOver([[batch, batch, single], [batch], []]);
      assert.equal(none, undefined, 'an empty part gets no share');
      await markInboxProcessed({ _fabricInbox: first });
      assert.equal((await store.inboxGet('mqtt:n1', 'single'))?.status, 'processed', 'only the first invoice held it');
      assert.equal((await store.inboxGet('mqtt:n1', 'batch'))?.status, 'received', 'the second invoice still holds part of it');
      await markInboxProcessed({ _fabricInbox: first }); // a second hand-over point on the same msg counts once
      assert.equal((await store.inboxGet('mqtt:n1', 'batch'))?.status, 'received');
      await markInboxProcessed({ _fabricInbox: second });
      assert.equal((await store.inboxGet('mqtt:n1', 'batch'))?.status, 'processed');
    } finally {
      off();
    }
  });

  it('an invoice share of 500 source entries marks them all processed in one store commit', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `te-${i}`);
    await store.inboxAddMany(ids.map((id) => ({ source: 'mqtt:n1', messageId: id, payload: { id }, receivedAt: 1 })));
    const off = registerInboxSource('mqtt:n1', store);
    try {
      const [share] = shareInboxHandOver([ids.map((messageId) => ({ source: 'mqtt:n1', messageId }))]);
      const commitsBefore = store.commitStats.commits;
      await markInboxProcessed({ _fabricInbox: share });
      assert.equal(store.commitStats.commits - commitsBefore, 1, 'one commit (one WAL sync) for the whole invoice');
      assert.equal((await store.inboxPending('mqtt:n1', 1000)).length, 0, 'every entry is processed');
    } finally {
      off();
    }
  });

  it('re-emits received entries once per start and abandons an entry after maxReplays starts', async () => {
    for (const id of ['a', 'b', 'c']) await add(id);
    await store.inboxMarkProcessed('mqtt:n1', 'b');
    const emitted: string[][] = [];
    const abandoned: InboxRecord[] = [];
    for (let start = 1; start <= 4; start++) {
      const round: string[] = [];
      const r = await replayInbox(store, 'mqtt:n1', { maxReplays: 3, emit: (rec, n) => void round.push(`${rec.messageId}#${n}`), abandoned: (rec) => void abandoned.push(rec) });
      emitted.push(round);
      if (start === 1) await store.inboxMarkProcessed('mqtt:n1', 'c'); // c's replay was handed over
      if (start === 4) assert.deepEqual(r, { replayed: 0, abandoned: 1 });
    }
    assert.deepEqual(emitted, [['a#1', 'c#1'], ['a#2'], ['a#3'], []]);
    assert.deepEqual(abandoned.map((r) => [r.messageId, r.replays, r.meta]), [['a', 3, { topic: 't' }]]);
    assert.equal((await store.inboxGet('mqtt:n1', 'a'))?.status, 'abandoned');
    assert.deepEqual(await store.inboxPending('mqtt:n1', 10), []);
  });

  it('the outbox submit marks the inbox entry processed once the write is persisted (before it is delivered)', async () => {
    await add('w1');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = new DeliveryEngine(store, servicesFor(store), { sweepMs: 60_000 });
    const conn = engine.registerConnection('vendor:gated', { execute: async () => { await gate; return { ok: true }; } }, { ratePerSecond: 0, maxAttempts: 1 });
    try {
      const delivered = conn.submit({ operation: 'op', idempotencyKey: 'k1', request: { id: 'w1' }, inbox: { source: 'mqtt:n1', messageId: 'w1' } });
      await waitFor(async () => (await store.inboxGet('mqtt:n1', 'w1'))?.status === 'processed', 'the entry marked while the vendor has not answered yet', 5000);
      assert.equal((await store.outboxFind('vendor:gated', 'k1'))?.request && true, true);
      release();
      await delivered;
    } finally {
      release();
      await conn.close();
      await engine.close();
    }
  });
  it('a held identity (a run of several writes) is not handed over by a step\'s outbox submit, only where the run ends', async () => {
    await add('deal');
    const engine = new DeliveryEngine(store, servicesFor(store), { sweepMs: 60_000 });
    const conn = engine.registerConnection('vendor:erp', { execute: async () => ({ ok: true }) }, { ratePerSecond: 0, maxAttempts: 1 });
    const off = registerInboxSource('mqtt:n1', store);
    try {
      const msg: Record<string, unknown> = { payload: {}, _fabricInbox: { source: 'mqtt:n1', messageId: 'deal' } };
      holdInboxHandOver(msg);
      assert.equal(inboxRefOf(msg), undefined, 'the connector nodes pass no inbox identity to submit');
      // the run's first write is durable: the entry stays received, so a crash now replays the whole run
      await conn.submit({ operation: 'op', idempotencyKey: 'deal:customer', request: {}, inbox: inboxRefOf(msg) });
      assert.equal((await store.inboxGet('mqtt:n1', 'deal'))?.status, 'received');
      // Node-RED clones the msg between nodes (and the outbox keeps it with a resumed write's context): the hold survives
      const cloned = JSON.parse(JSON.stringify(msg)) as Record<string, unknown>;
      releaseInboxHandOver(cloned);
      assert.deepEqual(inboxRefOf(cloned), { source: 'mqtt:n1', messageId: 'deal' });
      await markInboxProcessed(cloned); // the completed run's publish
      assert.equal((await store.inboxGet('mqtt:n1', 'deal'))?.status, 'processed');
      // an exception stored for a held msg (the run failed) hands it over too
      await add('failed-run');
      const failed: Record<string, unknown> = { _fabricInbox: { source: 'mqtt:n1', messageId: 'failed-run' } };
      holdInboxHandOver(failed);
      await markInboxProcessed(failed);
      assert.equal((await store.inboxGet('mqtt:n1', 'failed-run'))?.status, 'processed');
    } finally {
      off();
      await conn.close();
      await engine.close();
    }
  });
});
