/**
 * The embedded Store: one SQLite file (better-sqlite3) in WAL mode.
 *
 * Durability: `synchronous = FULL` by default. In WAL mode NORMAL already survives a process crash
 * (kill -9), but a power loss or OS crash can drop the last commits; since an inbox commit is what
 * lets us PUBACK to a broker (and the broker then forgets the message), an acknowledged entry must
 * survive power loss too. The cost of FULL (one fsync per commit) is paid once per grouped batch by
 * the InboxWriter, which is why the grouping exists. NORMAL can be chosen for throughput-only setups.
 * Beyond the inbox, every write of one event-loop turn shares one transaction (group commit, `write`): its promise
 * resolves after the COMMIT, so "resolved = durable" holds for every method while a burst pays one fsync.
 *
 * better-sqlite3 is synchronous: every method does its work before returning, so two calls never
 * interleave inside one process, and multi-statement operations run in a transaction. Other
 * processes on the same file are serialised by SQLite's locks, waited for up to `busyTimeoutMs`.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { WalSyncer } from './wal-sync';
import { Checkpointer, type CheckpointStats } from './checkpointer';
import { migrateSqlite } from './sqlite-migrations';
import { assignmentMembers, consumerFromRow, laneNumber, optionalJsonText, toAssignment, toAudit, toException, toIdempotency, toInbox, toJsonText, toOutbox, toProcess, type AssignmentRow, type AuditRow, type ConsumerRow, type ExceptionRow, type IdempotencyRow, type InboxRow, type OutboxRow, type ProcessRow, toXref, type XrefRow, toTriggerRun, type TriggerRunRow, latestRunPerTrigger } from './rows';
import { toInstance, type InstanceRow } from './rows';
import type {
  ApiConsumerRecord,
  AssignmentRecord,
  AssignmentResult,
  AuditEntry,
  AuditRecord,
  ExceptionFilter,
  ExceptionRecord,
  ExceptionStatus,
  IdempotencyRecord,
  InboxEntry,
  InboxRecord,
  Json,
  NewException,
  NewOutboxItem,
  OutboxBacklog,
  OutboxItem,
  OutboxStatus,
  ProcessInstance,
  RetentionTarget,
  Store,
} from './store';
import { DEMAND_KEPT_MS, instanceLeaseOwner, type InstanceRecord, type NewTriggerRun, type ReclaimResult, type TriggerRunProgress, type TriggerRunRecord, type XrefEntity, type XrefEntry, type XrefRecord } from './store';

export interface SqliteStoreOptions {
  /** File path; its directory is created when missing. */
  path: string;
  /**
   * FULL (default): a resolved write survives a power loss; NORMAL: it survives a process crash only. With group
   * commit, FULL is kept by syncing the WAL on the thread pool after each commit (lib/store/wal-sync.ts), so the
   * event loop never waits for the disk; without group commit SQLite syncs inside COMMIT.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a statement waits for another process' lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /**
   * Group commit (default true): the writes of one event-loop turn share one transaction, so one disk sync;
   * each write's promise resolves only once that transaction is committed. false: every write commits alone.
   */
  groupCommit?: boolean;
  /**
   * How long a group stays open for more writes: 0 (default) commits at the end of the current event-loop turn;
   * a few ms gather more writes per fsync at the cost of that much latency per write.
   */
  groupCommitWindowMs?: number;
  /**
   * Where WAL checkpoints run when the WAL is synced after group commits (FULL, group commit, a file): on a worker
   * thread (lib/store/checkpointer.ts), not inside a COMMIT on the event loop. Tuning for tests: the minimum time
   * between two checkpoints (default 200 ms) and the WAL size the fallback RESTART keeps it under (default 64 MB).
   */
  checkpointIntervalMs?: number;
  checkpointMaxWalBytes?: number;
}

/** SQLite's default wal_autocheckpoint (pages), restored when the checkpoint worker is gone. */
const AUTO_CHECKPOINT_PAGES = 1000;

/** Writes of the current event-loop turn, committed together (see SqliteStore.write). */
interface CommitGroup {
  waiters: Array<{ resolve(): void; reject(err: unknown): void }>;
}

/** Stores with an open group, by file: a second connection to the same file in this process commits them first. */
const openGroups = new Map<string, Set<SqliteStore>>();

type SqlValue = string | number | null;

/** Builds `WHERE ...` for the dynamic list queries; values are always bound, never spliced. */
class Where {
  private readonly clauses: string[] = [];
  readonly params: SqlValue[] = [];
  add(clause: string, ...values: SqlValue[]): void {
    this.clauses.push(clause);
    this.params.push(...values);
  }
  in(column: string, values: readonly string[]): void {
    this.add(`${column} IN (${values.map(() => '?').join(', ')})`, ...values);
  }
  toString(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

/**
 * Node.js 24 + better-sqlite3 12: a native better-sqlite3 object (database connection or prepared statement) must
 * never be garbage-collected while the process runs.
 *
 * better-sqlite3 12 wraps its native objects with `node::ObjectWrap`. The `node_object_wrap.h` of current Node.js 24
 * releases (24.21 here) registers an environment cleanup hook per wrapper and removes it in the wrapper's destructor,
 * which looks the Environment up from the isolate's current context. When the garbage collector frees an unreachable
 * Statement or Database in a weak callback (seen in an ordinary young-generation GC during allocation) that lookup
 * finds no Environment and the process aborts: `Assertion failed: (env) != nullptr` in
 * `node::RemoveEnvironmentCleanupHook` under `Statement::~Statement`. No 12.x release fixes it (12.11.1 is the last;
 * 13 drops ObjectWrap but needs Node 22 and crashes on Node 20). Node 20's header has no such hook, so the abort
 * needs a better-sqlite3 binary built against Node 24 headers.
 *
 * So every native connection and every statement prepared on it (by us, by better-sqlite3's own `pragma()` /
 * `transaction()`, by migrations, or by other code in the process using better-sqlite3 directly once a store has
 * been opened) stays referenced until the process exits; at exit Node's cleanup hooks free them while the
 * Environment still exists. The cost is memory for statements no longer used: SqliteStore caches its statements by
 * SQL text (and reads its pragmas through that cache), so a store retains a bounded set, and a closed store keeps
 * only its finalised statement shells. Applied on every Node version: which header a binary was built against is
 * not visible at run time. `StatementIterator` (`iterate()`, not used here) is not covered.
 */
const nativeKeepAlive = new Set<object>();
let nativeKeepAliveInstalled = false;

type NativeMethod = (this: object, ...args: unknown[]) => unknown;

/** The native connection behind a better-sqlite3 Database (the object carrying prepare/exec/close), if found. */
function nativeOf(db: Database.Database): Record<string, unknown> | undefined {
  for (const key of Object.getOwnPropertySymbols(db)) {
    const value = (db as unknown as Record<symbol, unknown>)[key];
    if (value && typeof value === 'object' && typeof (value as Record<string, unknown>).prepare === 'function') return value as Record<string, unknown>;
  }
  return undefined;
}

/** Makes the native Database class keep every connection and statement it hands out (once per process). */
function keepNativeObjectsAlive(db: Database.Database): void {
  const native = nativeOf(db);
  if (!native) return; // not the better-sqlite3 layout this was written for: nothing to do
  nativeKeepAlive.add(native);
  if (nativeKeepAliveInstalled) return;
  nativeKeepAliveInstalled = true;
  const proto = Object.getPrototypeOf(native) as Record<string, unknown>;
  const wrap = (name: string, keepResult: boolean): void => {
    const original = proto[name];
    if (typeof original !== 'function') return;
    proto[name] = function keepAlive(this: object, ...args: unknown[]): unknown {
      nativeKeepAlive.add(this);
      const result = (original as NativeMethod).apply(this, args);
      if (keepResult && result && typeof result === 'object') nativeKeepAlive.add(result);
      return result;
    };
  };
  wrap('prepare', true); // Database#prepare, #pragma, #transaction all prepare through it
  wrap('exec', false);
  wrap('close', false);
}

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 10000;
const limitOf = (limit: number | undefined): number => Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(limit ?? DEFAULT_LIST_LIMIT)));

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  private readonly db: Database.Database;
  /** Prepared statements by SQL text: preparing costs more than running for these small queries. */
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;
  private readonly groupCommit: boolean;
  private readonly groupWindowMs: number;
  private readonly fileKey: string;
  private group: CommitGroup | undefined;
  /** Set when FULL durability is kept by syncing the WAL off the event loop (group commit, WAL mode, a file). */
  private walSyncer: WalSyncer | undefined;
  /** Set while WAL checkpoints run on a worker thread instead of inside COMMIT (the WalSyncer case). */
  private checkpointer: Checkpointer | undefined;
  /** Transactions committed by group commit, and the writes they carried (health checks, tests, the bench). */
  readonly commitStats = { commits: 0, writes: 0 };
  /** WAL syncs done off the event loop (0 when SQLite syncs inside COMMIT). */
  get walSyncs(): number {
    return this.walSyncer?.syncs ?? 0;
  }
  /** Checkpoints done by the worker thread and fallbacks (all 0 when SQLite checkpoints inside COMMIT). */
  get checkpointStats(): CheckpointStats {
    return { ...(this.checkpointer?.stats ?? { requests: 0, done: 0, framesCheckpointed: 0, fallbacks: 0, workerFailures: 0 }) };
  }

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.groupCommit = options.groupCommit !== false;
    this.groupWindowMs = Math.max(0, Number(options.groupCommitWindowMs) || 0);
    this.fileKey = options.path === ':memory:' ? `:memory:${Math.random()}` : path.resolve(options.path);
    if (options.path !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
    this.db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
    keepNativeObjectsAlive(this.db);
    try {
      const journalMode = String(this.db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
      const full = options.synchronous !== 'NORMAL';
      if (full && this.groupCommit && journalMode === 'wal' && options.path !== ':memory:') this.walSyncer = new WalSyncer(`${path.resolve(this.path)}-wal`);
      this.db.pragma(`synchronous = ${full && !this.walSyncer ? 'FULL' : 'NORMAL'}`);
      this.db.pragma(`busy_timeout = ${Math.floor(options.busyTimeoutMs ?? 5000)}`);
      migrateSqlite(this.db);
      if (this.walSyncer) this.startCheckpointer(options);
    } catch (err) {
      void this.checkpointer?.close();
      this.db.close();
      throw err;
    }
  }

  private startCheckpointer(options: SqliteStoreOptions): void {
    const pageSize = Number(Object.values(this.get<Record<string, unknown>>('PRAGMA page_size') ?? {})[0]);
    this.checkpointer = new Checkpointer({
      path: path.resolve(this.path),
      pageSize,
      intervalMs: options.checkpointIntervalMs,
      maxWalBytes: options.checkpointMaxWalBytes,
      onWorkerLost: (reason) => {
        if (this.closed) return;
        this.get(`PRAGMA wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
        process.emitWarning(`SqliteStore ${this.path}: the WAL checkpoint worker stopped (${reason}); SQLite checkpoints automatically again`);
      },
    });
    // set after the worker exists: a store whose worker cannot start never runs without checkpoints
    this.get('PRAGMA wal_autocheckpoint = 0');
  }

  /** The WAL stayed over its limit (see checkpointer.ts): copy the rest and start it over, never waiting for readers. */
  private restartWal(): void {
    const busyTimeout = Number(Object.values(this.get<Record<string, unknown>>('PRAGMA busy_timeout') ?? {})[0]);
    try {
      this.get('PRAGMA busy_timeout = 0');
      this.get('PRAGMA wal_checkpoint(RESTART)');
    } catch {
      /* busy or locked: the next reports ask again; the worker keeps checkpointing meanwhile */
    } finally {
      this.get(`PRAGMA busy_timeout = ${busyTimeout}`);
    }
  }

  /** The pragma values in effect (for health checks and tests). */
  settings(): {
    journalMode: string;
    synchronous: number;
    walSyncedAfterCommit: boolean;
    checkpoints: 'worker' | 'automatic';
    walAutocheckpoint: number;
    busyTimeoutMs: number;
  } {
    // through the statement cache: pragma() prepares a new statement per call, which is kept for good (see above)
    const value = (name: string): unknown => Object.values(this.get<Record<string, unknown>>(`PRAGMA ${name}`) ?? {})[0];
    return {
      journalMode: String(value('journal_mode')),
      synchronous: Number(value('synchronous')),
      walSyncedAfterCommit: this.walSyncer !== undefined,
      checkpoints: this.checkpointer?.active ? 'worker' : 'automatic',
      walAutocheckpoint: Number(value('wal_autocheckpoint')),
      busyTimeoutMs: Number(value('busy_timeout')),
    };
  }

  private stmt(sql: string): Database.Statement {
    if (this.closed) throw new Error(`store ${this.path} is closed`);
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private run(sql: string, ...params: SqlValue[]): Database.RunResult {
    return this.stmt(sql).run(...params);
  }
  private get<T>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }
  private all<T>(sql: string, ...params: SqlValue[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  /**
   * Runs one write operation (one statement or a `db.transaction`, which nests as a savepoint) inside the group of
   * this event-loop turn and resolves once the group is committed: with synchronous=FULL a resolved write is on
   * disk, as before, but a burst of writes (an outbox tick's completions, a batch's claims, many submits) pays one
   * fsync instead of one each. Reads run outside this and see the group's uncommitted writes (same connection);
   * nothing in PS Fabric acts outside the process on a read alone before a write of its own is confirmed.
   * A failing statement rejects its own write only (SQLite undoes that statement or savepoint); an error after
   * which SQLite has rolled the whole transaction back rejects every write of the group.
   */
  private write<T>(fn: () => T): Promise<T> {
    if (!this.groupCommit) return new Promise<T>((resolve) => resolve(fn()));
    const group = this.openGroup();
    let value: T;
    try {
      value = fn();
    } catch (err) {
      if (!this.db.inTransaction) this.failGroup(group, err);
      throw err;
    }
    return new Promise<T>((resolve, reject) => {
      group.waiters.push({ resolve: () => resolve(value), reject });
    });
  }

  private openGroup(): CommitGroup {
    if (this.group) return this.group;
    // another connection of this process to the same file must not hold the write lock while we wait for it
    // (busy-waiting here would block the event loop its commit needs)
    for (const other of openGroups.get(this.fileKey) ?? []) if (other !== this) other.commitGroup();
    this.stmt('BEGIN IMMEDIATE').run();
    const group: CommitGroup = { waiters: [] };
    this.group = group;
    let set = openGroups.get(this.fileKey);
    if (!set) openGroups.set(this.fileKey, (set = new Set()));
    set.add(this);
    const commit = () => {
      if (this.group === group) this.commitGroup();
    };
    if (this.groupWindowMs > 0) setTimeout(commit, this.groupWindowMs);
    else setImmediate(commit);
    return group;
  }

  private detachGroup(): CommitGroup | undefined {
    const group = this.group;
    this.group = undefined;
    const set = openGroups.get(this.fileKey);
    set?.delete(this);
    if (set && set.size === 0) openGroups.delete(this.fileKey);
    return group;
  }

  /** Commits the open group (if any) and settles its writes. */
  private commitGroup(): void {
    const group = this.detachGroup();
    if (!group) return;
    try {
      if (this.db.inTransaction) this.stmt('COMMIT').run();
    } catch (err) {
      this.rollbackQuietly();
      for (const w of group.waiters) w.reject(err);
      return;
    }
    this.commitStats.commits++;
    this.commitStats.writes += group.waiters.length;
    if (this.walSyncer) this.walSyncer.afterCommit(group.waiters);
    else for (const w of group.waiters) w.resolve();
    if (this.checkpointer) {
      if (this.checkpointer.takeRestartDue()) this.restartWal();
      this.checkpointer.afterCommit();
    }
  }

  /** SQLite rolled the group's transaction back (an I/O error, disk full): none of its writes is stored. */
  private failGroup(group: CommitGroup, err: unknown): void {
    if (this.group !== group) return;
    this.detachGroup();
    this.rollbackQuietly();
    for (const w of group.waiters) w.reject(err);
  }

  private rollbackQuietly(): void {
    try {
      if (this.db.inTransaction) this.stmt('ROLLBACK').run();
    } catch {
      /* already rolled back */
    }
  }

  // ---------- inbox ----------
  private insertInbox(entry: InboxEntry): boolean {
    const result = this.run(
      'INSERT INTO inbox (source, message_id, payload, received_at, meta) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, message_id) DO NOTHING',
      entry.source, entry.messageId, toJsonText(entry.payload), entry.receivedAt, entry.meta === undefined ? null : toJsonText(entry.meta),
    );
    return result.changes === 1;
  }

  async inboxAdd(entry: InboxEntry): Promise<boolean> {
    return this.write(() => {
      return this.insertInbox(entry);
    });
  }

  async inboxAddMany(entries: InboxEntry[]): Promise<boolean[]> {
    return this.write(() => {
      if (entries.length === 0) return [];
      return this.db.transaction((batch: InboxEntry[]) => batch.map((entry) => this.insertInbox(entry)))(entries);
    });
  }

  async inboxMarkProcessed(source: string, messageId: string): Promise<void> {
    return this.write(() => {
      this.run("UPDATE inbox SET status = 'processed', processed_at = ? WHERE source = ? AND message_id = ? AND status <> 'processed'", Date.now(), source, messageId);
    });
  }

  async inboxPending(source: string, limit: number): Promise<InboxRecord[]> {
    return this.all<InboxRow>("SELECT * FROM inbox WHERE source = ? AND status = 'received' ORDER BY seq LIMIT ?", source, limitOf(limit)).map(toInbox);
  }

  async inboxNoteReplay(source: string, messageId: string): Promise<number> {
    return this.write(() => {
      const row = this.get<{ replays: number }>("UPDATE inbox SET replays = replays + 1 WHERE source = ? AND message_id = ? AND status = 'received' RETURNING replays", source, messageId);
      return row?.replays ?? 0;
    });
  }

  async inboxAbandon(source: string, messageId: string, now: number): Promise<boolean> {
    return this.write(() => {
      return this.run("UPDATE inbox SET status = 'abandoned', processed_at = ? WHERE source = ? AND message_id = ? AND status = 'received'", now, source, messageId).changes === 1;
    });
  }

  async inboxGet(source: string, messageId: string): Promise<InboxRecord | undefined> {
    const row = this.get<InboxRow>('SELECT * FROM inbox WHERE source = ? AND message_id = ?', source, messageId);
    return row ? toInbox(row) : undefined;
  }

  // ---------- outbox ----------
  private outboxRow(id: number): OutboxRow | undefined {
    return this.get<OutboxRow>('SELECT * FROM outbox WHERE id = ?', id);
  }

  async outboxEnqueue(item: NewOutboxItem, now: number): Promise<{ item: OutboxItem; duplicate: boolean }> {
    return this.write(() => {
      return this.db.transaction(() => {
        const result = this.run(
          `INSERT INTO outbox (connection, operation, idempotency_key, request, origin, context, correlation_id, process, step, record_key,
                               status, attempts, next_attempt_at, created_at, updated_at, lane)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
           ON CONFLICT (connection, idempotency_key) DO NOTHING`,
          item.connection, item.operation, item.idempotencyKey, toJsonText(item.request), item.origin ?? null,
          optionalJsonText(item.context), item.correlationId ?? null, item.process ?? null, item.step ?? null, item.recordKey ?? null,
          now, now, now, laneNumber(item.lane),
        );
        if (result.changes === 1) return { item: toOutbox(this.outboxRow(Number(result.lastInsertRowid))!), duplicate: false };
        const existing = this.get<OutboxRow>('SELECT * FROM outbox WHERE connection = ? AND idempotency_key = ?', item.connection, item.idempotencyKey)!;
        return { item: toOutbox(existing), duplicate: true };
      }).immediate();
    });
  }

  async outboxClaim(connection: string, limit: number, now: number, leaseMs: number, owner: string): Promise<OutboxItem[]> {
    return this.write(() => {
      // IMMEDIATE: take the write lock before reading so two processes cannot lease the same rows.
      return this.db.transaction(() => {
        const due = this.all<{ id: number }>(
          // outbox_due gives the due order without reading every live row; outbox_backlog (connection, status) would not
          `SELECT id FROM outbox INDEXED BY outbox_due
           WHERE connection = ? AND status IN ('pending', 'inflight')
             AND ((status = 'pending' AND next_attempt_at <= ?) OR (status = 'inflight' AND lease_until <= ?))
           ORDER BY lane, next_attempt_at, id LIMIT ?`,
          connection, now, now, limitOf(limit),
        );
        return due.map(({ id }) => {
          // attempts counts claims: a crash during an attempt still counts, so a message that kills the
          // process cannot be retried forever.
          this.run(
            "UPDATE outbox SET status = 'inflight', attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?",
            owner, now + leaseMs, now, id,
          );
          return toOutbox(this.outboxRow(id)!);
        });
      }).immediate();
    });
  }

  async outboxDelivered(id: number, response: Json, now: number, audit?: AuditEntry): Promise<void> {
    const mark = (): void => void this.run(
      "UPDATE outbox SET status = 'delivered', response = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
      toJsonText(response), now, id,
    );
    if (!audit) return this.write(mark);
    // a savepoint inside the turn's group: a failing audit insert takes the mark back with it, and only them
    return this.write(() => this.db.transaction(() => {
      mark();
      this.insertAudit(audit);
    })());
  }

  async outboxRetryAt(id: number, nextAttemptAt: number, error: string, now: number): Promise<void> {
    return this.write(() => {
      this.run(
        "UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
        nextAttemptAt, error, now, id,
      );
    });
  }

  async outboxFailed(id: number, error: string, response: Json | undefined, now: number): Promise<void> {
    return this.write(() => {
      this.run(
        "UPDATE outbox SET status = 'failed', last_error = ?, response = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
        error, optionalJsonText(response), now, id,
      );
    });
  }

  async outboxRequeue(id: number, now: number, request?: Json): Promise<OutboxItem | undefined> {
    return this.write(() => {
      return this.db.transaction(() => {
        const result = this.run(
          `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, request = COALESCE(?, request), last_error = NULL,
                  response = NULL, lease_owner = NULL, lease_until = NULL, acknowledged = 0, updated_at = ?
           WHERE id = ? AND status IN ('failed', 'delivered')`,
          now, optionalJsonText(request), now, id,
        );
        if (result.changes === 0) return undefined;
        return toOutbox(this.outboxRow(id)!);
      }).immediate();
    });
  }

  async outboxGet(id: number): Promise<OutboxItem | undefined> {
    const row = this.outboxRow(id);
    return row && toOutbox(row);
  }

  async outboxFind(connection: string, idempotencyKey: string): Promise<OutboxItem | undefined> {
    const row = this.get<OutboxRow>('SELECT * FROM outbox WHERE connection = ? AND idempotency_key = ?', connection, idempotencyKey);
    return row && toOutbox(row);
  }

  async outboxUnacknowledged(origin: string, limit: number): Promise<OutboxItem[]> {
    return this.all<OutboxRow>(
      "SELECT * FROM outbox WHERE origin = ? AND acknowledged = 0 AND status IN ('delivered', 'failed') ORDER BY id LIMIT ?",
      origin, limitOf(limit),
    ).map(toOutbox);
  }

  async outboxAcknowledge(id: number): Promise<void> {
    return this.write(() => {
      this.run('UPDATE outbox SET acknowledged = 1 WHERE id = ?', id);
    });
  }

  async outboxBacklog(): Promise<OutboxBacklog[]> {
    const rows = this.all<{ connection: string; status: OutboxStatus; n: number }>(
      'SELECT connection, status, COUNT(*) AS n FROM outbox GROUP BY connection, status ORDER BY connection',
    );
    const byConnection = new Map<string, OutboxBacklog>();
    for (const row of rows) {
      let backlog = byConnection.get(row.connection);
      if (!backlog) {
        backlog = { connection: row.connection, pending: 0, inflight: 0, failed: 0, delivered: 0 };
        byConnection.set(row.connection, backlog);
      }
      backlog[row.status] = row.n;
    }
    return [...byConnection.values()];
  }

  // ---------- idempotency ----------
  async idempotencyClaim(scope: string, key: string, now: number, ttlMs: number): Promise<boolean> {
    return this.write(() => {
      return this.claimKey(scope, key, now, ttlMs);
    });
  }

  async idempotencyClaimMany(scope: string, keys: readonly string[], now: number, ttlMs: number): Promise<boolean[]> {
    return this.write(() => {
      if (keys.length === 0) return [];
      // the same statement per key inside one transaction: one fsync for the batch; a repeated key finds the row
      // its first occurrence just inserted, live, so it answers false exactly as sequential claims would
      return this.db.transaction((batch: readonly string[]) => batch.map((key) => this.claimKey(scope, key, now, ttlMs))).immediate(keys);
    });
  }

  private claimKey(scope: string, key: string, now: number, ttlMs: number): boolean {
    // One statement, so atomic: a new key is inserted; an expired one is taken over (outcome cleared);
    // a live one is left alone and `changes` is 0.
    const result = this.run(
      `INSERT INTO idempotency_keys (scope, key, first_seen_at, expires_at, outcome) VALUES (?, ?, ?, ?, NULL)
       ON CONFLICT (scope, key) DO UPDATE SET first_seen_at = excluded.first_seen_at, expires_at = excluded.expires_at, outcome = NULL
       WHERE idempotency_keys.expires_at <= excluded.first_seen_at`,
      scope, key, now, now + ttlMs,
    );
    return result.changes === 1;
  }

  async idempotencyGet(scope: string, key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const row = this.get<IdempotencyRow>('SELECT * FROM idempotency_keys WHERE scope = ? AND key = ? AND expires_at > ?', scope, key, now);
    return row && toIdempotency(row);
  }

  async idempotencySetOutcome(scope: string, key: string, outcome: Json): Promise<void> {
    return this.write(() => {
      this.run('UPDATE idempotency_keys SET outcome = ? WHERE scope = ? AND key = ?', toJsonText(outcome), scope, key);
    });
  }

  async idempotencyRelease(scope: string, key: string): Promise<void> {
    return this.write(() => {
      this.run('DELETE FROM idempotency_keys WHERE scope = ? AND key = ?', scope, key);
    });
  }

  async idempotencyPurgeExpired(now: number): Promise<number> {
    return this.write(() => {
      return this.run('DELETE FROM idempotency_keys WHERE expires_at <= ?', now).changes;
    });
  }

  // ---------- assignments ----------
  async assignmentCreate(scope: string, id: string, members: readonly string[], data: Json, now: number): Promise<AssignmentResult> {
    const distinct = assignmentMembers(id, members);
    return this.write(() => {
      // checked and inserted in one transaction on the one writer connection: no other write can come between
      return this.db.transaction((): AssignmentResult => {
        const taken = this.takenMembers(scope, distinct);
        const idTaken = this.get('SELECT 1 AS x FROM assignments WHERE scope = ? AND id = ?', scope, id) !== undefined;
        if (idTaken || taken.size) return { assigned: false, idTaken, taken };
        this.run('INSERT INTO assignments (scope, id, members, data, created_at) VALUES (?, ?, ?, ?, ?)', scope, id, JSON.stringify(distinct), toJsonText(data), now);
        for (const member of distinct) this.run('INSERT INTO assignment_members (scope, member, assignment_id) VALUES (?, ?, ?)', scope, member, id);
        return { assigned: true };
      }).immediate();
    });
  }

  private takenMembers(scope: string, members: readonly string[]): Map<string, string> {
    const taken = new Map<string, string>();
    for (const member of members) {
      const row = this.get<{ assignment_id: string }>('SELECT assignment_id FROM assignment_members WHERE scope = ? AND member = ?', scope, member);
      if (row) taken.set(member, row.assignment_id);
    }
    return taken;
  }

  async assignmentsOf(scope: string, members: readonly string[]): Promise<Map<string, string>> {
    // read inside the group: it resolves only once the group holding a concurrent assignment has committed, so no
    // caller re-sends a group (an invoice) whose assignment could still be rolled back with a failed commit
    return this.write(() => this.takenMembers(scope, [...new Set(members)]));
  }

  async assignmentGet(scope: string, id: string): Promise<AssignmentRecord | undefined> {
    const row = this.get<AssignmentRow>('SELECT * FROM assignments WHERE scope = ? AND id = ?', scope, id);
    return row && toAssignment(row);
    }

  // ---------- retention ----------
  async retentionPurge(target: RetentionTarget, cutoff: number, limit: number, keepMessageIds?: readonly string[]): Promise<number> {
    const sql = SQLITE_RETENTION[target];
    if (!sql) throw new RangeError(`unknown retention target ${String(target)}`);
    const params = { cutoff, limit: Math.max(1, Math.floor(limit)) };
    // the kept ids travel as one JSON array (json_each), not one bound parameter each: thousands of retained messages
    if (target === 'inbox-processed') return this.write(() => this.stmt(sql).run({ ...params, keep: JSON.stringify(keepMessageIds ?? []) }).changes);
    return this.write(() => this.stmt(sql).run(params).changes);
  }

  // ---------- exceptions ----------
  private exceptionRow(id: number): ExceptionRow | undefined {
    return this.get<ExceptionRow>('SELECT * FROM exceptions WHERE id = ?', id);
  }

  async exceptionAdd(exception: NewException, now: number): Promise<ExceptionRecord> {
    return this.write(() => {
      return this.db.transaction(() => {
        const open = exception.recordKey === undefined
          ? undefined
          : this.get<{ id: number }>(
            "SELECT id FROM exceptions WHERE process = ? AND step = ? AND record_key = ? AND status = 'open'",
            exception.process, exception.step, exception.recordKey,
          );
        if (open) {
          // The same record failed again at the same step: one entry with a count, latest facts win.
          this.run(
            `UPDATE exceptions SET error_class = ?, message = ?, details = ?, owner_team = ?, correlation_id = COALESCE(?, correlation_id),
                    request = COALESCE(?, request), response = ?, replay_target = COALESCE(?, replay_target), attempts = COALESCE(?, attempts),
                    last_seen_at = ?, occurrences = occurrences + 1
             WHERE id = ?`,
            exception.errorClass, exception.message, optionalJsonText(exception.details), exception.ownerTeam, exception.correlationId ?? null,
            optionalJsonText(exception.request), optionalJsonText(exception.response),
            exception.replayTarget ? JSON.stringify(exception.replayTarget) : null, exception.attempts ?? null, now, open.id,
          );
          return toException(this.exceptionRow(open.id)!);
        }
        const result = this.run(
          `INSERT INTO exceptions (process, step, error_class, message, details, owner_team, correlation_id, record_key, request, response,
                                   replay_target, attempts, status, first_seen_at, last_seen_at, occurrences)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, 1)`,
          exception.process, exception.step, exception.errorClass, exception.message, optionalJsonText(exception.details), exception.ownerTeam,
          exception.correlationId ?? null, exception.recordKey ?? null, optionalJsonText(exception.request), optionalJsonText(exception.response),
          exception.replayTarget ? JSON.stringify(exception.replayTarget) : null, exception.attempts ?? null, now, now,
        );
        return toException(this.exceptionRow(Number(result.lastInsertRowid))!);
      }).immediate();
    });
  }

  async exceptionGet(id: number): Promise<ExceptionRecord | undefined> {
    const row = this.exceptionRow(id);
    return row && toException(row);
  }

  private exceptionWhere(filter: ExceptionFilter): Where {
    const where = new Where();
    if (filter.status !== undefined) where.in('status', Array.isArray(filter.status) ? filter.status : [filter.status]);
    if (filter.process !== undefined) where.add('process = ?', filter.process);
    if (filter.step !== undefined) where.add('step = ?', filter.step);
    if (filter.ownerTeam !== undefined) where.add('owner_team = ?', filter.ownerTeam);
    if (filter.errorClass !== undefined) where.add('error_class = ?', filter.errorClass);
    if (filter.recordKey !== undefined) where.add('record_key = ?', filter.recordKey);
    if (filter.correlationId !== undefined) where.add('correlation_id = ?', filter.correlationId);
    if (filter.olderThan !== undefined) where.add('first_seen_at < ?', filter.olderThan);
    return where;
  }

  async exceptionList(filter: ExceptionFilter): Promise<ExceptionRecord[]> {
    const where = this.exceptionWhere(filter);
    return this.all<ExceptionRow>(
      `SELECT * FROM exceptions ${where} ORDER BY id DESC LIMIT ? OFFSET ?`,
      ...where.params, limitOf(filter.limit), Math.max(0, Math.floor(filter.offset ?? 0)),
    ).map(toException);
  }

  async exceptionCount(filter: ExceptionFilter): Promise<number> {
    const where = this.exceptionWhere(filter);
    return this.get<{ n: number }>(`SELECT COUNT(*) AS n FROM exceptions ${where}`, ...where.params)!.n;
  }

  async exceptionSetStatus(id: number, status: ExceptionStatus, by: string, now: number, reason?: string): Promise<void> {
    return this.write(() => {
      if (status === 'open') {
        this.run("UPDATE exceptions SET status = 'open', resolved_by = NULL, resolved_at = NULL, resolution_reason = NULL WHERE id = ?", id);
        return;
      }
      this.run('UPDATE exceptions SET status = ?, resolved_by = ?, resolved_at = ?, resolution_reason = ? WHERE id = ?', status, by, now, reason ?? null, id);
    });
  }

  async exceptionUpdateRequest(id: number, request: Json): Promise<void> {
    return this.write(() => {
      this.run('UPDATE exceptions SET request = ? WHERE id = ?', toJsonText(request), id);
    });
  }

  // ---------- audit ----------
  async auditAppend(entry: AuditEntry): Promise<void> {
    return this.write(() => this.insertAudit(entry));
  }

  private insertAudit(entry: AuditEntry): void {
    this.run(
      'INSERT INTO audit (at, actor, action, process, correlation_id, target_system, record_key, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      entry.at, entry.actor, entry.action, entry.process ?? null, entry.correlationId ?? null, entry.targetSystem ?? null,
      entry.recordKey ?? null, optionalJsonText(entry.details),
    );
  }

  async auditList(filter: { recordKey?: string; correlationId?: string; action?: string; since?: number; limit?: number }): Promise<AuditRecord[]> {
    const where = new Where();
    if (filter.recordKey !== undefined) where.add('record_key = ?', filter.recordKey);
    if (filter.correlationId !== undefined) where.add('correlation_id = ?', filter.correlationId);
    if (filter.action !== undefined) where.add('action = ?', filter.action);
    if (filter.since !== undefined) where.add('at >= ?', filter.since);
    return this.all<AuditRow>(`SELECT * FROM audit ${where} ORDER BY id DESC LIMIT ?`, ...where.params, limitOf(filter.limit)).map(toAudit);
  }

  // ---------- process instances ----------
  async processStart(instance: ProcessInstance): Promise<void> {
    return this.write(() => {
      // A restarted run keeps its first start time: lead-time KPIs measure from the first trigger.
      this.run(
        `INSERT INTO process_instances (process, key, correlation_id, started_at, completed_at, status, attributes) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (process, key) DO UPDATE SET status = excluded.status, completed_at = excluded.completed_at,
           correlation_id = COALESCE(excluded.correlation_id, correlation_id), attributes = COALESCE(excluded.attributes, attributes)`,
        instance.process, instance.key, instance.correlationId ?? null, instance.startedAt, instance.completedAt ?? null, instance.status,
        optionalJsonText(instance.attributes),
      );
    });
  }

  async processComplete(process: string, key: string, status: 'completed' | 'failed', now: number, attributes?: Json): Promise<void> {
    return this.write(() => {
      this.run(
        'UPDATE process_instances SET status = ?, completed_at = ?, attributes = COALESCE(?, attributes) WHERE process = ? AND key = ?',
        status, now, optionalJsonText(attributes), process, key,
      );
    });
  }

  async processList(filter: { process?: string; status?: string; since?: number; limit?: number }): Promise<ProcessInstance[]> {
    const where = new Where();
    if (filter.process !== undefined) where.add('process = ?', filter.process);
    if (filter.status !== undefined) where.add('status = ?', filter.status);
    if (filter.since !== undefined) where.add('started_at >= ?', filter.since);
    return this.all<ProcessRow>(`SELECT * FROM process_instances ${where} ORDER BY started_at DESC, key LIMIT ?`, ...where.params, limitOf(filter.limit)).map(toProcess);
  }

  // ---------- watermarks ----------
  async watermarkGet(name: string): Promise<string | undefined> {
    return this.get<{ value: string }>('SELECT value FROM watermarks WHERE name = ?', name)?.value;
  }

  async watermarkSet(name: string, value: string, now: number): Promise<void> {
    return this.write(() => {
      this.run(
        'INSERT INTO watermarks (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
        name, value, now,
      );
    });
  }

  // ---------- leases ----------
  async leaseAcquire(name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    return this.write(() => {
      // Free, expired, or already ours (renewal): take it. Held by someone else and live: changes = 0.
      const result = this.run(
        `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE leases.owner = excluded.owner OR leases.expires_at <= ?`,
        name, owner, now + ttlMs, now,
      );
      return result.changes === 1;
    });
  }

  async leaseRelease(name: string, owner: string): Promise<void> {
    return this.write(() => {
      this.run('DELETE FROM leases WHERE name = ? AND owner = ?', name, owner);
    });
  }

  // ---------- runtime instances ----------
  async instanceBeat(id: string, incarnation: string, now: number): Promise<void> {
    return this.write(() => {
      this.run(
        `INSERT INTO instances (id, incarnation, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, incarnation = excluded.incarnation,
           started_at = CASE WHEN instances.incarnation = excluded.incarnation THEN instances.started_at ELSE excluded.started_at END`,
        id, incarnation, now, now,
      );
    });
  }

  async instanceList(): Promise<InstanceRecord[]> {
    return this.all<InstanceRow>('SELECT * FROM instances ORDER BY id').map(toInstance);
  }

  async instanceReclaim(id: string, keepIncarnation: string, now: number): Promise<ReclaimResult> {
    return this.write(() => this.db.transaction(() => this.freeHoldings(id, instanceLeaseOwner(id, keepIncarnation), now)).immediate());
  }

  async instanceReclaimDead(before: number, now: number, exceptId: string): Promise<Array<InstanceRecord & ReclaimResult>> {
    return this.write(() => {
      return this.db.transaction(() => {
        const dead = this.all<InstanceRow>('SELECT * FROM instances WHERE heartbeat_at < ? AND id <> ? ORDER BY id', before, exceptId).map(toInstance);
        return dead.map((instance) => {
          this.run('DELETE FROM instances WHERE id = ?', instance.id);
          return { ...instance, ...this.freeHoldings(instance.id, undefined, now) };
        });
      }).immediate();
    });
  }

  /** Frees what the incarnations of `id` hold, except owner `keep`; inside a transaction. */
  private freeHoldings(id: string, keep: string | undefined, now: number): ReclaimResult {
    const prefix = instanceLeaseOwner(id, '');
    const outboxItems = this.run(
      "UPDATE outbox SET lease_until = ?, updated_at = ? WHERE status = 'inflight' AND substr(lease_owner, 1, ?) = ? AND lease_owner <> ?",
      now, now, prefix.length, prefix, keep ?? '',
    ).changes;
    const leases = this.run('DELETE FROM leases WHERE substr(owner, 1, ?) = ? AND owner <> ?', prefix.length, prefix, keep ?? '').changes;
    return { outboxItems, leases };
  }


  // ---------- shared vendor quotas ----------
  async quotaSlotsAcquire(connection: string, holder: string, capacity: number, want: number, now: number, leaseMs: number): Promise<number[]> {
    if (!(want > 0) || !(capacity > 0)) return [];
    return this.write(() =>
      this.db.transaction(() => {
        const taken = new Set(this.all<{ slot: number }>('SELECT slot FROM quota_slots WHERE connection = ? AND lease_until > ? AND slot < ?', connection, now, capacity).map((r) => r.slot));
        const got: number[] = [];
        for (let slot = 0; slot < capacity && got.length < want; slot++) {
          if (taken.has(slot)) continue;
          this.run(
            `INSERT INTO quota_slots (connection, slot, holder, lease_until) VALUES (?, ?, ?, ?)
             ON CONFLICT (connection, slot) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until`,
            connection, slot, holder, now + leaseMs,
          );
          got.push(slot);
        }
        return got;
      }).immediate(),
    );
  }

  async quotaSlotsRenew(connection: string, holder: string, now: number, leaseMs: number): Promise<number> {
    return this.write(() => this.run('UPDATE quota_slots SET lease_until = ? WHERE connection = ? AND holder = ? AND lease_until > ?', now + leaseMs, connection, holder, now).changes);
  }

  async quotaSlotsRelease(connection: string, holder: string, slots: readonly number[]): Promise<void> {
    if (slots.length === 0) return;
    return this.write(() => {
      this.run(`DELETE FROM quota_slots WHERE connection = ? AND holder = ? AND slot IN (${slots.map(() => '?').join(', ')})`, connection, holder, ...slots);
    });
  }

  async quotaSlotsDemand(connection: string, holder: string, until: number): Promise<void> {
    return this.write(() => {
      if (until > 0) {
        this.run('INSERT INTO quota_demand (connection, holder, until) VALUES (?, ?, ?) ON CONFLICT (connection, holder) DO UPDATE SET until = excluded.until', connection, holder, until);
        // rows of holders that died waiting (a holder is one registration: a restart is a new one)
        this.run('DELETE FROM quota_demand WHERE connection = ? AND holder <> ? AND until < ?', connection, holder, until - DEMAND_KEPT_MS);
      } else this.run('DELETE FROM quota_demand WHERE connection = ? AND holder = ?', connection, holder);
    });
  }

  async quotaSlotsCensus(connection: string, holder: string, now: number): Promise<{ holders: number; othersWaiting: number }> {
    const row = this.get<{ holders: number; others_waiting: number }>(
      `SELECT (SELECT COUNT(*) FROM (SELECT holder FROM quota_slots WHERE connection = ? AND lease_until > ? AND holder <> ?
                                     UNION SELECT holder FROM quota_demand WHERE connection = ? AND until > ? AND holder <> ?)) + 1 AS holders,
              (SELECT COUNT(*) FROM quota_demand WHERE connection = ? AND until > ? AND holder <> ?) AS others_waiting`,
      connection, now, holder, connection, now, holder, connection, now, holder,
    );
    return { holders: Number(row?.holders ?? 1), othersWaiting: Number(row?.others_waiting ?? 0) };
  }

  async quotaRateReserve(connection: string, count: number, intervalMs: number, now: number): Promise<number> {
    return this.write(() => {
      const row = this.get<{ tat: number }>(
        `INSERT INTO quota_rate (connection, tat) VALUES (?, ? + ?)
         ON CONFLICT (connection) DO UPDATE SET tat = MAX(quota_rate.tat, ?) + ?
         RETURNING tat`,
        connection, now, count * intervalMs, now, count * intervalMs,
      )!;
      return Number(row.tat) - count * intervalMs - now;
    });
  }

  // ---------- trigger runs ----------
  async triggerRunCreate(run: NewTriggerRun, now: number): Promise<TriggerRunRecord | undefined> {
    const created = await this.write(() => this.run(
      `INSERT INTO trigger_runs (id, trigger_id, name, kind, range_from, range_to, slice_ms, windows_total, state, error, actor, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      run.id, run.trigger, run.name, run.kind, run.from, run.to, run.sliceMs, run.windowsTotal, run.error ?? null, run.actor, run.startedAt, now,
    ).changes === 1);
    return created ? this.triggerRunGet(run.id) : undefined;
  }

  async triggerRunGet(id: string): Promise<TriggerRunRecord | undefined> {
    const row = this.get<TriggerRunRow>('SELECT * FROM trigger_runs WHERE id = ?', id);
    return row ? toTriggerRun(row) : undefined;
  }

  async triggerRunActive(trigger: string): Promise<TriggerRunRecord | undefined> {
    const row = this.get<TriggerRunRow>("SELECT * FROM trigger_runs WHERE trigger_id = ? AND state IN ('pending', 'running')", trigger);
    return row ? toTriggerRun(row) : undefined;
  }

  async triggerRunTake(id: string, runner: string, now: number): Promise<TriggerRunRecord | undefined> {
    const taken = await this.write(() => this.run("UPDATE trigger_runs SET state = 'running', runner = ?, updated_at = ? WHERE id = ? AND state IN ('pending', 'running')", runner, now, id).changes === 1);
    return taken ? this.triggerRunGet(id) : undefined;
  }

  async triggerRunProgress(id: string, runner: string, p: TriggerRunProgress, now: number): Promise<boolean> {
    return this.write(() => this.run(
      "UPDATE trigger_runs SET windows_done = ?, emitted = ?, skipped = ?, updated_at = ? WHERE id = ? AND runner = ? AND state = 'running'",
      p.windowsDone, p.emitted, p.skipped, now, id, runner,
    ).changes === 1);
  }

  async triggerRunEnd(id: string, runner: string, end: TriggerRunProgress & { state: 'done' | 'failed'; error?: string }, now: number): Promise<boolean> {
    return this.write(() => this.run(
      "UPDATE trigger_runs SET state = ?, error = COALESCE(?, error), windows_done = ?, emitted = ?, skipped = ?, updated_at = ?, ended_at = ? WHERE id = ? AND runner = ? AND state = 'running'",
      end.state, end.error ?? null, end.windowsDone, end.emitted, end.skipped, now, now, id, runner,
    ).changes === 1);
  }

  async triggerRunLatest(triggers: readonly string[]): Promise<TriggerRunRecord[]> {
    if (triggers.length === 0) return [];
    const rows = this.all<TriggerRunRow>(
      `SELECT r.* FROM trigger_runs r WHERE r.trigger_id IN (SELECT value FROM json_each(?))
       AND (r.state IN ('pending', 'running') OR r.started_at = (SELECT MAX(started_at) FROM trigger_runs l WHERE l.trigger_id = r.trigger_id))`,
      JSON.stringify(triggers),
    );
    return latestRunPerTrigger(rows.map(toTriggerRun));
  }

  // ---------- API consumers ----------
  async consumerAdd(record: ApiConsumerRecord): Promise<boolean> {
    return this.write(() => {
      const result = this.run(
        `INSERT INTO api_consumers (id, name, scopes, hash, created_at, created_by, revoked_at, revoked_by, rate_limit)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        record.id, record.name, JSON.stringify(record.scopes), record.hash, record.createdAt, record.createdBy ?? null,
        record.revokedAt ?? null, record.revokedBy ?? null, record.rateLimit ? JSON.stringify(record.rateLimit) : null,
      );
      return result.changes === 1;
    });
  }

  async consumerGet(id: string): Promise<ApiConsumerRecord | undefined> {
    const row = this.get<ConsumerRow>('SELECT * FROM api_consumers WHERE id = ?', id);
    return row ? consumerFromRow(row) : undefined;
  }

  async consumerList(): Promise<ApiConsumerRecord[]> {
    return this.all<ConsumerRow>('SELECT * FROM api_consumers ORDER BY created_at, id').map(consumerFromRow);
  }

  // ---------- cross-reference ----------
  async xrefPut(entry: XrefEntry, now: number): Promise<void> {
    return this.write(() => {
      this.run(
        `INSERT INTO xref (entity, record_key, system, connection, vendor_id, vendor_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (entity, record_key, system, connection) DO UPDATE SET vendor_id = excluded.vendor_id, vendor_number = excluded.vendor_number, updated_at = excluded.updated_at`,
        entry.entity, entry.key, entry.system, entry.connection, entry.vendorId, entry.vendorNumber ?? null, now, now,
      );
    });
  }

  async xrefOf(entity: XrefEntity, key: string): Promise<XrefRecord[]> {
    return this.all<XrefRow>('SELECT * FROM xref WHERE entity = ? AND record_key = ? ORDER BY system, connection', entity, key).map(toXref);
  }

  async xrefFind(entity: XrefEntity, system: string, id: string): Promise<XrefRecord[]> {
    return this.all<XrefRow>(
      `SELECT * FROM xref WHERE entity = ? AND system = ? AND vendor_id = ?
       UNION SELECT * FROM xref WHERE entity = ? AND system = ? AND vendor_number = ? ORDER BY record_key, connection`,
      entity, system, id, entity, system, id,
    ).map(toXref);
  }

  async xrefList(entity: XrefEntity, afterKey: string | undefined, limit: number): Promise<XrefRecord[]> {
    return this.all<XrefRow>('SELECT * FROM xref WHERE entity = ? AND record_key > ? ORDER BY record_key, system, connection LIMIT ?', entity, afterKey ?? '', Math.max(1, Math.floor(limit))).map(toXref);
  }

  /** Test hook: kills the checkpoint worker as a crash would; resolves once automatic checkpoints are back on. */
  async killCheckpointWorkerForTest(): Promise<void> {
    await this.checkpointer?.killWorkerForTest();
  }

  async consumerRevoke(id: string, now: number, by?: string): Promise<boolean> {
    return this.write(() => this.run('UPDATE api_consumers SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL', now, by ?? null, id).changes === 1);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // the worker's connection goes first, so the main connection's close below is the last one: it checkpoints the
    // WAL and removes the -wal file as before
    await this.checkpointer?.close();
    if (this.closed) return; // closed by a concurrent close() while the worker exited
    this.commitGroup(); // writes already accepted are committed (or rejected), never dropped by the close
    this.walSyncer?.close();
    this.closed = true;
    this.statements.clear();
    this.db.close();
  }
}

/**
 * One statement per retention target, each bounded by LIMIT and walking an index (or the rowid) from the oldest row,
 * so a batch costs what it deletes. The inbox has no age index: its rows are walked in `seq` order (arrival order)
 * up to the first row received at or after the cutoff, never further.
 */
const SQLITE_RETENTION: Record<RetentionTarget, string> = {
  'inbox-processed': `DELETE FROM inbox WHERE seq IN (
      SELECT seq FROM inbox WHERE status = 'processed' AND received_at < @cutoff
        AND seq < COALESCE((SELECT seq FROM inbox WHERE received_at >= @cutoff ORDER BY seq LIMIT 1), 9223372036854775807)
        AND message_id NOT IN (SELECT value FROM json_each(@keep))
      ORDER BY seq LIMIT @limit)`,
  'outbox-delivered': `DELETE FROM outbox WHERE id IN (
      SELECT id FROM outbox WHERE status = 'delivered' AND updated_at < @cutoff AND (origin IS NULL OR acknowledged = 1)
      ORDER BY updated_at LIMIT @limit)`,
  'idempotency-expired': `DELETE FROM idempotency_keys WHERE (scope, key) IN (
      SELECT scope, key FROM idempotency_keys WHERE expires_at <= @cutoff ORDER BY expires_at LIMIT @limit)`,
  'exception-payloads': `UPDATE exceptions SET request = NULL, response = NULL WHERE id IN (
      SELECT id FROM exceptions WHERE status IN ('resolved', 'discarded') AND last_seen_at < @cutoff
        AND (request IS NOT NULL OR response IS NOT NULL)
      ORDER BY id LIMIT @limit)`,
  'exceptions-closed': `DELETE FROM exceptions WHERE id IN (
      SELECT id FROM exceptions WHERE status IN ('resolved', 'discarded') AND last_seen_at < @cutoff ORDER BY id LIMIT @limit)`,
  audit: 'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < @cutoff ORDER BY at LIMIT @limit)',
  'process-instances': `DELETE FROM process_instances WHERE rowid IN (
      SELECT rowid FROM process_instances WHERE status IN ('completed', 'failed') AND started_at < @cutoff LIMIT @limit)`,
};
