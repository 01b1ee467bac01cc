import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { InboxEntry } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

/** Inbox entries as the MQTT trigger writes them: sha256 message ids, so index pages are touched at random. */
function entries(from: number, count: number): InboxEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    source: 'ckpt-test',
    messageId: createHash('sha256').update(`m-${from + i}`).digest('hex'),
    payload: { n: from + i, text: 'x'.repeat(600) },
    receivedAt: 1,
  }));
}

const inboxCount = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM inbox WHERE source = 'ckpt-test'").get() as { n: number }).n;
  } finally {
    db.close();
  }
};

const walSize = (file: string): number => {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

describe('SqliteStore WAL checkpoints on a worker thread', function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    tmp = tempDir('psfabric-ckpt-');
    file = path.join(tmp.dir, 'store.sqlite');
  });
  afterEach(() => tmp.cleanup());

  it('checkpoints far more than 1000 pages on the worker, keeps the WAL bounded, and every row is readable elsewhere and after reopen', async () => {
    const maxWalBytes = 4 * 1024 * 1024;
    const store = new SqliteStore({ path: file, checkpointIntervalMs: 20, checkpointMaxWalBytes: maxWalBytes });
    const total = 40000;
    let largestWal = 0;
    try {
      assert.equal(store.settings().walAutocheckpoint, 0, 'SQLite does not checkpoint inside COMMIT');
      for (let n = 0; n < total; n += 100) {
        const added = await store.inboxAddMany(entries(n, 100));
        assert.ok(added.every(Boolean));
        largestWal = Math.max(largestWal, walSize(file));
      }
      const stats = store.checkpointStats;
      const detail = `largest WAL ${largestWal} bytes, limit ${maxWalBytes}, stats ${JSON.stringify(stats)}`;
      assert.ok(stats.done > 0 && stats.framesCheckpointed > 1000, `far more than 1000 pages went through the worker (${detail})`);
      assert.equal(stats.workerFailures, 0);
      assert.equal(store.settings().checkpoints, 'worker');
      // under steady writes a PASSIVE checkpoint never finds the WAL fully copied, so it would hold every page ever
      // written; the RESTART fallback keeps it near its limit (limit + a few checkpoint rounds of writes)
      const walBytesWritten = stats.framesCheckpointed * (4096 + 24);
      assert.ok(stats.fallbacks > 0, detail);
      assert.ok(walBytesWritten > 10 * largestWal, `the test wrote far more than the WAL holds (${detail})`);
      assert.ok(largestWal < 8 * maxWalBytes, `the WAL stayed bounded (${detail})`);
      assert.equal(inboxCount(file), total, 'a separate connection reads every row');
    } finally {
      await store.close();
    }
    assert.equal(walSize(file), 0, 'the last close checkpointed and removed the WAL');
    const reopened = new SqliteStore({ path: file });
    try {
      assert.equal(inboxCount(file), total);
      const last = entries(total - 1, 1)[0];
      assert.deepEqual((await reopened.inboxGet('ckpt-test', last.messageId))?.payload, last.payload);
    } finally {
      await reopened.close();
    }
  });

  it('closes while a checkpoint runs without an error and keeps every row', async () => {
    const store = new SqliteStore({ path: file, checkpointIntervalMs: 0 });
    let n = 0;
    let closedDuringCheckpoint = false;
    try {
      for (let round = 0; round < 200 && !closedDuringCheckpoint; round++) {
        await store.inboxAddMany(entries(n, 200));
        n += 200;
        const { requests, done } = store.checkpointStats;
        if (requests > done) closedDuringCheckpoint = true; // asked of the worker, not answered yet
      }
      assert.ok(closedDuringCheckpoint, 'a checkpoint was running when close was called');
    } finally {
      await store.close();
    }
    const reopened = new SqliteStore({ path: file });
    try {
      assert.equal(inboxCount(file), n);
      assert.equal(reopened.settings().checkpoints, 'worker');
    } finally {
      await reopened.close();
    }
  });

  it('turns SQLite\'s automatic checkpoints back on when the worker dies, and keeps writing', async () => {
    const store = new SqliteStore({ path: file });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await store.inboxAddMany(entries(0, 100));
      await store.killCheckpointWorkerForTest();
      assert.equal(store.settings().walAutocheckpoint, 1000);
      assert.equal(store.settings().checkpoints, 'automatic');
      assert.equal(store.checkpointStats.workerFailures, 1);
      await waitFor(() => warnings.some((w) => w.includes('checkpoint worker stopped')), 'the warning about the worker');
      assert.ok(!warnings.join('\n').includes('x'.repeat(50)), 'the warning carries no data');
      // SQLite checkpoints inside COMMIT again: the WAL starts over instead of holding every page
      for (let n = 100; n < 8100; n += 200) await store.inboxAddMany(entries(n, 200));
      assert.ok(walSize(file) < fs.statSync(file).size, `WAL ${walSize(file)} bytes, database ${fs.statSync(file).size}`);
      assert.equal(inboxCount(file), 8100);
    } finally {
      process.off('warning', onWarning);
      await store.close();
    }
  });
});
