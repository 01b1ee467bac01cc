import assert from 'node:assert/strict';
import path from 'node:path';
import { InboxWriter } from '../../../lib/inbox';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { InboxEntry, Store } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const entry = (id: string, source = 'mqtt:fabric/v1/timeentry/approved'): InboxEntry => ({ source, messageId: id, payload: { id }, receivedAt: 1 });

/** Counts inboxAddMany calls (= transactions) and can hold a write open to observe what queues behind it. */
class CountingStore {
  calls: InboxEntry[][] = [];
  gate: Promise<void> | undefined;
  failNext: Error | undefined;
  constructor(private readonly inner: Store) {}
  async inboxAddMany(entries: InboxEntry[]): Promise<boolean[]> {
    this.calls.push(entries);
    if (this.gate) await this.gate;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    return this.inner.inboxAddMany(entries);
  }
}

describe('InboxWriter', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let counting: CountingStore;
  beforeEach(() => {
    tmp = tempDir('psfabric-inbox-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    counting = new CountingStore(store);
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('writes a burst of entries in one transaction and tells every caller whether its entry was new', async () => {
    await store.inboxAdd(entry('seen-before'));
    const writer = new InboxWriter(counting, { windowMs: 5 });
    const ids = Array.from({ length: 50 }, (_, i) => `m-${i}`);
    const results = await Promise.all([...ids.map((id) => writer.add(entry(id))), writer.add(entry('seen-before')), writer.add(entry('m-0'))]);
    assert.deepEqual(results, [...ids.map(() => true), false, false]);
    assert.equal(counting.calls.length, 1);
    assert.deepEqual(writer.stats, { batches: 1, entries: 52, largestBatch: 52 });
    assert.equal((await store.inboxPending('mqtt:fabric/v1/timeentry/approved', 1000)).length, 51);
  });

  it('starts a batch as soon as maxBatch entries are waiting', async () => {
    const writer = new InboxWriter(counting, { windowMs: 60_000, maxBatch: 4 });
    const first = Array.from({ length: 8 }, (_, i) => writer.add(entry(`m-${i}`)));
    // No window elapses (60 s): the two full batches go on size alone.
    assert.deepEqual(await Promise.all(first), Array(8).fill(true));
    assert.deepEqual(counting.calls.map((c) => c.length), [4, 4]);
    const rest = [writer.add(entry('m-8')), writer.add(entry('m-9'))];
    await writer.flush();
    assert.deepEqual(await Promise.all(rest), [true, true]);
    assert.deepEqual(counting.calls.map((c) => c.length), [4, 4, 2]);
  });

  it('groups entries that arrive while a write is in progress into the next single batch', async () => {
    let open!: () => void;
    counting.gate = new Promise<void>((resolve) => { open = resolve; });
    const writer = new InboxWriter(counting, { windowMs: 0 });
    const first = writer.add(entry('a'));
    await waitFor(() => counting.calls.length === 1, 'the first write to start');
    const during = ['b', 'c', 'd'].map((id) => writer.add(entry(id)));
    counting.gate = undefined;
    open();
    assert.equal(await first, true);
    assert.deepEqual(await Promise.all(during), [true, true, true]);
    assert.deepEqual(counting.calls.map((c) => c.map((e) => e.messageId)), [['a'], ['b', 'c', 'd']]);
  });

  it('rejects every caller of a failed batch (so none acknowledges) and keeps working afterwards', async () => {
    const writer = new InboxWriter(counting, { windowMs: 1 });
    counting.failNext = new Error('SQLITE_FULL: database or disk is full');
    const failed = await Promise.allSettled([writer.add(entry('a')), writer.add(entry('b'))]);
    assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
    assert.match(String((failed[0] as PromiseRejectedResult).reason), /SQLITE_FULL/);
    assert.equal(await writer.add(entry('a')), true, 'the failed entry was not stored, so it is new on retry');
  });

  it('flushes on close and refuses entries afterwards', async () => {
    const writer = new InboxWriter(counting, { windowMs: 60_000 });
    const pending = writer.add(entry('a'));
    await writer.close();
    assert.equal(await pending, true);
    await assert.rejects(writer.add(entry('b')), /closed/);
  });
});
