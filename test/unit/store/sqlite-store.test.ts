import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LATEST_SQLITE_SCHEMA_VERSION, migrateSqlite, SQLITE_MIGRATIONS } from '../../../lib/store/sqlite-migrations';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { openStore, storeUsers } from '../../../lib/store/registry';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';
import { describeStoreContract } from './store-contract';

describeStoreContract('SqliteStore', async () => {
  const tmp = tempDir('psfabric-store-');
  const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.cleanup();
    },
  };
});

describeStoreContract('SqliteStore (groupCommit: false)', async () => {
  const tmp = tempDir('psfabric-store-');
  const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite'), groupCommit: false });
  return {
    store,
    cleanup: async () => {
      await store.close();
      tmp.cleanup();
    },
  };
});

describe('SqliteStore group commit', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  let store: SqliteStore;
  let reader: Database.Database;
  const T0 = Date.parse('2026-11-30T09:00:00Z');
  const committedAudit = () => (reader.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
  beforeEach(() => {
    tmp = tempDir('psfabric-group-');
    file = path.join(tmp.dir, 'store.sqlite');
    store = new SqliteStore({ path: file });
    reader = new Database(file, { readonly: true }); // another connection: sees committed rows only
  });
  afterEach(async () => {
    reader.close();
    await store.close();
    tmp.cleanup();
  });

  it('commits the writes of one event-loop turn in one transaction and resolves each only after the commit', async () => {
    const before = { ...store.commitStats };
    const writes = Array.from({ length: 50 }, (_, i) => store.auditAppend({ at: T0, actor: 'test', action: `a-${i}` }));
    const outbox = store.outboxEnqueue({ connection: 'c', operation: 'op', idempotencyKey: 'k', request: {} }, T0);
    let resolved = 0;
    for (const w of [...writes, outbox]) void w.then(() => resolved++);
    assert.equal(committedAudit(), 0, 'nothing is visible to another connection before the commit');
    await Promise.all([...writes, outbox]);
    assert.equal(resolved, 51);
    assert.equal(committedAudit(), 50, 'every resolved write is committed');
    assert.equal(store.commitStats.commits - before.commits, 1, 'one commit (one fsync) for the turn');
    assert.equal(store.commitStats.writes - before.writes, 51);
  });

  it('rejects only the failing write of a group; the others commit', async () => {
    const good1 = store.auditAppend({ at: T0, actor: 'test', action: 'before' });
    const bad = store.auditAppend({ at: T0, actor: 'test', action: null as unknown as string });
    const good2 = store.idempotencyClaimMany('s', ['a', 'b'], T0, 1000);
    await assert.rejects(bad, /NOT NULL/);
    await good1;
    assert.deepEqual(await good2, [true, true]);
    assert.equal(committedAudit(), 1);
    assert.equal((reader.prepare('SELECT COUNT(*) AS n FROM idempotency_keys').get() as { n: number }).n, 2);
  });

  it('two stores on one file in one process write in the same turn without waiting on each other', async () => {
    const second = new SqliteStore({ path: file });
    try {
      const started = Date.now();
      await Promise.all([
        store.auditAppend({ at: T0, actor: 'first', action: 'x' }),
        second.auditAppend({ at: T0, actor: 'second', action: 'x' }),
        store.auditAppend({ at: T0, actor: 'first', action: 'y' }),
      ]);
      assert.ok(Date.now() - started < 2000, 'no busy wait on the other connection\'s open transaction');
      assert.equal(committedAudit(), 3);
    } finally {
      await second.close();
    }
  });

  it('with a commit window, writes of several turns share one commit', async () => {
    const windowed = new SqliteStore({ path: path.join(tmp.dir, 'windowed.sqlite'), groupCommitWindowMs: 30 });
    try {
      const first = windowed.auditAppend({ at: T0, actor: 'test', action: 'turn-1' });
      await new Promise((r) => setImmediate(r)); // the next turn: without a window the first write would be committed alone by now
      const second = windowed.auditAppend({ at: T0, actor: 'test', action: 'turn-2' });
      await Promise.all([first, second]);
      assert.deepEqual(windowed.commitStats, { commits: 1, writes: 2 });
    } finally {
      await windowed.close();
    }
  });

  it('commits an open group on close instead of dropping it', async () => {
    const write = store.watermarkSet('w', 'v1', T0);
    await store.close();
    await write;
    assert.equal((reader.prepare("SELECT value FROM watermarks WHERE name = 'w'").get() as { value: string }).value, 'v1');
  });
});

describe('SqliteStore specifics', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('psfabric-sqlite-');
  });
  afterEach(() => tmp.cleanup());

  it('runs in WAL mode with FULL durability (WAL synced after each group commit) and a busy timeout, creating the directory', async () => {
    const store = new SqliteStore({ path: path.join(tmp.dir, 'nested', 'dir', 'store.sqlite'), busyTimeoutMs: 2500 });
    try {
      // SQLite itself runs NORMAL (no sync inside COMMIT); the store syncs the WAL before it reports a write done
      // and checkpoints run on a worker thread, not inside COMMIT
      assert.deepEqual(store.settings(), {
        journalMode: 'wal', synchronous: 1, walSyncedAfterCommit: true, checkpoints: 'worker', walAutocheckpoint: 0, busyTimeoutMs: 2500,
      });
    } finally {
      await store.close();
    }
    const perWrite = new SqliteStore({ path: path.join(tmp.dir, 'per-write.sqlite'), groupCommit: false });
    assert.deepEqual(perWrite.settings(), {
      journalMode: 'wal', synchronous: 2, walSyncedAfterCommit: false, checkpoints: 'automatic', walAutocheckpoint: 1000, busyTimeoutMs: 5000,
    });
    await perWrite.close();
    const normal = new SqliteStore({ path: path.join(tmp.dir, 'normal.sqlite'), synchronous: 'NORMAL' });
    assert.deepEqual([normal.settings().synchronous, normal.settings().walSyncedAfterCommit, normal.settings().checkpoints], [1, false, 'automatic']);
    await normal.close();
  });

  it('reports a write done only after a WAL sync that followed its commit, in commit order', async () => {
    const file = path.join(tmp.dir, 'synced.sqlite');
    const store = new SqliteStore({ path: file });
    const settled: string[] = [];
    const syncsAt: number[] = [];
    try {
      const first = store.auditAppend({ at: 1, actor: 'test', action: 'turn-1' }).then(() => {
        settled.push('turn-1');
        syncsAt.push(store.walSyncs);
      });
      await new Promise((r) => setImmediate(r)); // the first group is committed, its sync may still run
      const second = store.auditAppend({ at: 2, actor: 'test', action: 'turn-2' }).then(() => {
        settled.push('turn-2');
        syncsAt.push(store.walSyncs);
      });
      await Promise.all([first, second]);
      assert.deepEqual(settled, ['turn-1', 'turn-2']);
      assert.ok(syncsAt[0] >= 1, `turn-1 resolved after ${syncsAt[0]} WAL syncs`);
      assert.ok(store.walSyncs <= store.commitStats.commits, 'never more syncs than commits');
      // a burst of writes from many turns while syncs run: every write resolves, and the syncs are shared
      const burst: Promise<unknown>[] = [];
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 10; i++) burst.push(store.idempotencyClaim('burst', `k-${turn}-${i}`, 1, 60000));
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(burst);
      assert.ok(store.walSyncs <= store.commitStats.commits, 'never more syncs than commits');
    } finally {
      await store.close();
    }
    const reader = new Database(file, { readonly: true });
    try {
      assert.equal((reader.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE scope = 'burst'").get() as { n: number }).n, 200);
    } finally {
      reader.close();
    }
  });

  it('settles writes whose WAL sync is still running when the store closes, and keeps them', async () => {
    const file = path.join(tmp.dir, 'closing.sqlite');
    const store = new SqliteStore({ path: file });
    const first = store.watermarkSet('a', '1', 1);
    await new Promise((r) => setImmediate(r)); // committed; its sync is on the thread pool
    const second = store.watermarkSet('b', '2', 2);
    await store.close();
    await Promise.all([first, second]);
    const reopened = new SqliteStore({ path: file });
    try {
      assert.deepEqual([await reopened.watermarkGet('a'), await reopened.watermarkGet('b')], ['1', '2']);
    } finally {
      await reopened.close();
    }
  });

  it('creates every table docs/store-and-guarantees.md names and records the schema version once', async () => {
    const file = path.join(tmp.dir, 'store.sqlite');
    await new SqliteStore({ path: file }).close();
    await new SqliteStore({ path: file }).close(); // reopening does not re-apply
    const db = new Database(file, { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
      for (const table of ['inbox', 'outbox', 'idempotency_keys', 'exceptions', 'audit', 'process_instances', 'watermarks', 'leases', 'api_consumers', 'trigger_runs', 'schema_version']) {
        assert.ok(tables.includes(table), `table ${table}`);
      }
      const versions = db.prepare('SELECT version FROM schema_version').all() as Array<{ version: number }>;
      assert.deepEqual(versions.map((v) => v.version), SQLITE_MIGRATIONS.map((m) => m.version));
    } finally {
      db.close();
    }
  });

  it('uses its indexes for the hot queries', async () => {
    const file = path.join(tmp.dir, 'store.sqlite');
    await new SqliteStore({ path: file }).close();
    const db = new Database(file, { readonly: true });
    const plan = (sql: string): string => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    try {
      assert.match(plan("SELECT * FROM inbox WHERE source = 'x' AND status = 'received' ORDER BY seq LIMIT 10"), /inbox_pending/);
      assert.match(plan("SELECT id FROM outbox INDEXED BY outbox_due WHERE connection = 'c' AND status IN ('pending', 'inflight') AND ((status = 'pending' AND next_attempt_at <= 1) OR (status = 'inflight' AND lease_until <= 1)) ORDER BY lane, next_attempt_at, id LIMIT 5"), /outbox_due/);
      // the backlog counts read no outbox row (a row's status sits after its request, often in overflow pages)
      assert.match(plan('SELECT connection, status, COUNT(*) AS n FROM outbox GROUP BY connection, status ORDER BY connection'), /COVERING INDEX outbox_backlog/);
      assert.match(plan("SELECT COUNT(*) FROM exceptions WHERE status IN ('open') AND owner_team = 'x'"), /exceptions_status_owner/);
      assert.match(plan('DELETE FROM idempotency_keys WHERE expires_at <= 5'), /idempotency_expiry/);
    } finally {
      db.close();
    }
  });

  it('migrates a version-1 inbox (status check, replays, meta) keeping its rows and sequence', async () => {
    const file = path.join(tmp.dir, 'v1.sqlite');
    const db = new Database(file);
    migrateSqlite(db, SQLITE_MIGRATIONS.filter((m) => m.version === 1));
    db.prepare("INSERT INTO inbox (source, message_id, payload, received_at, status) VALUES ('s', 'a', '1', 1, 'processed'), ('s', 'b', '2', 2, 'received')").run();
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      const [b] = await store.inboxPending('s', 10);
      assert.deepEqual([b.messageId, b.seq, b.replays, b.meta], ['b', 2, 0, undefined]);
      assert.equal((await store.inboxGet('s', 'a'))?.status, 'processed');
      assert.equal(await store.inboxAbandon('s', 'b', 3), true);
      assert.equal(await store.inboxAdd({ source: 's', messageId: 'c', payload: 3, receivedAt: 3 }), true);
      assert.equal((await store.inboxGet('s', 'c'))?.seq, 3);
    } finally {
      await store.close();
    }
  });

  it('applies a later migration on reopen and refuses a file from a newer build', async () => {
    const file = path.join(tmp.dir, 'store.sqlite');
    await new SqliteStore({ path: file }).close();
    const db = new Database(file);
    try {
      const next = { version: LATEST_SQLITE_SCHEMA_VERSION + 1, name: 'test: add a column', sql: 'ALTER TABLE watermarks ADD COLUMN note TEXT' };
      assert.equal(migrateSqlite(db, [...SQLITE_MIGRATIONS, next]), next.version);
      assert.equal(migrateSqlite(db, [...SQLITE_MIGRATIONS, next]), next.version, 'idempotent');
    } finally {
      db.close();
    }
    assert.throws(() => new SqliteStore({ path: file }), new RegExp(`schema version ${LATEST_SQLITE_SCHEMA_VERSION + 1}, newer than this PS Fabric build knows \\(${LATEST_SQLITE_SCHEMA_VERSION}\\)`));
  });

  it('rejects calls after close with a clear error', async () => {
    const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    await store.close();
    await store.close();
    await assert.rejects(store.watermarkGet('x'), /is closed/);
  });

  it('keeps every acknowledged write when the writing process is killed with SIGKILL', async function () {
    this.timeout(60000);
    const file = path.join(tmp.dir, 'crash.sqlite');
    const child = spawn(process.execPath, [path.join(__dirname, 'crash-writer.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let stderr = '';
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await waitFor(() => acked.length >= 400 || child.exitCode !== null, 'the child to acknowledge 400 writes', 45000);
    assert.equal(child.exitCode, null, `child died early: ${stderr}`);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const store = new SqliteStore({ path: file });
    try {
      const inbox = new Set((await store.inboxPending('crash-test', 10000)).map((r) => r.messageId));
      const missingInbox = acked.filter((n) => !inbox.has(`m-${n}`));
      assert.deepEqual(missingInbox, [], 'acknowledged inbox entries lost');
      for (const n of acked) assert.ok(await store.outboxFind('crash', `k-${n}`), `acknowledged outbox item ${n} lost`);
      assert.ok(inbox.size >= acked.length);
    } finally {
      await store.close();
    }
  });
});

describe('store registry', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('psfabric-registry-');
  });
  afterEach(() => tmp.cleanup());

  it('shares one instance per resolved path and closes it when the last user releases', async () => {
    const file = path.join(tmp.dir, 'store.sqlite');
    const a = openStore({ kind: 'sqlite', path: file });
    const b = openStore({ kind: 'sqlite', path: path.join(tmp.dir, '.', 'x', '..', 'store.sqlite') });
    fs.symlinkSync(tmp.dir, path.join(tmp.dir, '..', path.basename(tmp.dir) + '-link'));
    const c = openStore({ kind: 'sqlite', path: path.join(tmp.dir + '-link', 'store.sqlite') });
    try {
      assert.equal(a.store, b.store);
      assert.equal(a.store, c.store);
      assert.equal(a.id, `sqlite:${fs.realpathSync(tmp.dir)}/store.sqlite`);
      assert.equal(storeUsers(a.id), 3);
      await a.release();
      await a.release(); // a second release of the same handle does not count twice
      assert.equal(storeUsers(a.id), 2);
      await b.release();
      await b.store.watermarkSet('still', 'open', 1);
      await c.release();
      assert.equal(storeUsers(a.id), 0);
      await assert.rejects(a.store.watermarkGet('still'), /is closed/);
      const d = openStore({ kind: 'sqlite', path: file });
      assert.notEqual(d.store, a.store, 'a new instance after the last release');
      assert.equal(await d.store.watermarkGet('still'), 'open');
      await d.release();
    } finally {
      fs.unlinkSync(path.join(tmp.dir + '-link'));
    }
  });

  it('says clearly when a PostgreSQL store has no connection string (the store itself: postgres-store.test.ts)', () => {
    assert.throws(() => openStore({ kind: 'postgres', connectionString: '' }), /needs a connection string/);
  });
});
