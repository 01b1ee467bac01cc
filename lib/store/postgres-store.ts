/**
 * The scale-out Store: PostgreSQL through a node-postgres Pool, for several runtime instances sharing one
 * database (docs/store-and-guarantees.md, docs/scale-out.md). Same tables and semantics as the SQLite store (the shared contract
 * suite test/unit/store/store-contract.ts runs against both).
 *
 * Across instances:
 * - outboxClaim leases rows with `FOR UPDATE SKIP LOCKED`: concurrent claimers never get the same item, and
 *   none waits for another's lock;
 * - idempotency keys, inbox entries, outbox items (per connection + key), open exceptions (per process, step,
 *   record) and leases are single statements `INSERT ... ON CONFLICT`, so uniqueness is the database's;
 * - watermarks and leases are rows every instance reads, so a poller elected through a lease resumes from the
 *   cursor its predecessor stored.
 *
 * Construction is synchronous (the registry's contract: a config node needs `node.store` at once); the pool
 * connects and migrates in the background and every method awaits that `ready` promise. A failed setup makes
 * every call reject with the setup error (and `ready` rejects), so a misconfigured URL shows up on first use and
 * in the runtime's /healthz.
 */
import { Pool, type PoolConfig, type QueryResultRow } from 'pg';
import { migratePostgres, quoteIdent } from './postgres-migrations';
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

export interface PostgresStoreOptions {
  /** e.g. postgres://fabric:secret@db:5432/fabric (libpq-style URL; `?sslmode=require` etc. honoured by pg). */
  connectionString: string;
  /** Schema holding the tables (created when missing). Default `public`. */
  schema?: string;
  /** Pool size per process. Default 10. */
  poolMax?: number;
  /** Extra pg Pool settings (ssl, timeouts); `connectionString` above wins. */
  pool?: Omit<PoolConfig, 'connectionString'>;
  /** Application name shown in pg_stat_activity. Default `ps-fabric`. */
  applicationName?: string;
}

type SqlValue = string | number | boolean | null | Array<string | null> | number[];

/** A delivered mark with its audit entry, waiting for the turn's statement (outboxDelivered). */
interface DeliveredMark {
  id: number;
  response: string;
  now: number;
  audit: AuditEntry;
  resolve(): void;
  reject(err: unknown): void;
}

// pg type OIDs that hold our integers: int8 (BIGINT, BIGSERIAL, COUNT(*)) and numeric. Epoch ms and ids fit
// in a double exactly (< 2^53), so they are read as numbers rather than pg's default strings.
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Builds `WHERE ...` with numbered placeholders; values are always bound, never spliced. */
class Where {
  private readonly clauses: string[] = [];
  readonly params: SqlValue[] = [];
  add(clause: string, value: SqlValue): void {
    this.params.push(value);
    this.clauses.push(clause.replace('?', `$${this.params.length}`));
  }
  in(column: string, values: readonly string[]): void {
    if (values.length === 0) {
      this.clauses.push('FALSE');
      return;
    }
    this.add(`${column} = ANY(?::text[])`, [...values]);
  }
  /** The next placeholder number (for LIMIT/OFFSET after the filters). */
  next(offset = 1): string {
    return `$${this.params.length + offset}`;
  }
  toString(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 10000;
const limitOf = (limit: number | undefined): number => Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(limit ?? DEFAULT_LIST_LIMIT)));

/** Password-free form of a connection string, for logs and error messages. */
export function redactConnectionString(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
  }
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  /** The connection string without its password. */
  readonly target: string;
  /** Resolves when the pool is connected and the schema migrated; rejects with the setup error. */
  readonly ready: Promise<void>;
  private readonly pool: Pool;
  private closed = false;
  private readonly deliveredMarks: DeliveredMark[] = [];
  /** Statements of delivered marks under way; close() lets them finish (their callers were told nothing yet). */
  private readonly flushes = new Set<Promise<void>>();

  constructor(options: PostgresStoreOptions) {
    this.schema = options.schema?.trim() || 'public';
    this.target = redactConnectionString(options.connectionString);
    const s = quoteIdent(this.schema);
    this.pool = new Pool({
      max: options.poolMax ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      application_name: options.applicationName ?? 'ps-fabric',
      ...options.pool,
      connectionString: options.connectionString,
      // every pooled connection works in the store's schema (set at connection start-up, before any query)
      options: `-c search_path=${s.replace(/ /g, '\\ ')}`,
      types: {
        getTypeParser: ((oid: number, format?: string) => {
          if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          return (require('pg').types as typeof import('pg').types).getTypeParser(oid, format as 'text');
        }) as never,
      },
    });
    // A dropped idle connection (database restart) must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
    this.ready = this.setup();
    this.ready.catch(() => {}); // observed through the methods; avoid an unhandled rejection at construction
  }

  private async setup(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await migratePostgres(client, this.schema);
    } finally {
      client.release();
    }
  }

  private async query<T extends QueryResultRow>(sql: string, params: SqlValue[] = []): Promise<{ rows: T[]; rowCount: number }> {
    if (this.closed) throw new Error(`store ${this.target} is closed`);
    return this.run<T>(sql, params);
  }

  private async run<T extends QueryResultRow>(sql: string, params: SqlValue[]): Promise<{ rows: T[]; rowCount: number }> {
    await this.ready;
    const result = await this.pool.query<T>(sql, params);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  // ---------- inbox ----------
  async inboxAdd(entry: InboxEntry): Promise<boolean> {
    const r = await this.query(
      'INSERT INTO inbox (source, message_id, payload, received_at, meta) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, message_id) DO NOTHING',
      [entry.source, entry.messageId, toJsonText(entry.payload), entry.receivedAt, entry.meta === undefined ? null : toJsonText(entry.meta)],
    );
    return r.rowCount === 1;
  }

  async inboxAddMany(entries: InboxEntry[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    // One statement (so one commit): rows are inserted in array order; DO NOTHING skips keys already stored
    // and repeats inside the batch, so the first occurrence of a key is the new one.
    const r = await this.query<{ source: string; message_id: string }>(
      `INSERT INTO inbox (source, message_id, payload, received_at, meta)
       SELECT e.source, e.message_id, e.payload, e.received_at, e.meta
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS e(source, message_id, payload, received_at, meta, n)
       ORDER BY e.n
       ON CONFLICT (source, message_id) DO NOTHING
       RETURNING source, message_id`,
      [entries.map((e) => e.source), entries.map((e) => e.messageId), entries.map((e) => toJsonText(e.payload)), entries.map((e) => e.receivedAt), entries.map((e) => (e.meta === undefined ? null : toJsonText(e.meta)))],
    );
    const inserted = new Set(r.rows.map((row) => JSON.stringify([row.source, row.message_id])));
    return entries.map((e) => {
      const k = JSON.stringify([e.source, e.messageId]);
      if (!inserted.has(k)) return false;
      inserted.delete(k); // later repeats in the batch are duplicates
      return true;
    });
  }

  async inboxMarkProcessed(source: string, messageId: string): Promise<void> {
    await this.query("UPDATE inbox SET status = 'processed', processed_at = $1 WHERE source = $2 AND message_id = $3 AND status <> 'processed'", [Date.now(), source, messageId]);
  }

  async inboxNoteReplay(source: string, messageId: string): Promise<number> {
    const r = await this.query<{ replays: number }>("UPDATE inbox SET replays = replays + 1 WHERE source = $1 AND message_id = $2 AND status = 'received' RETURNING replays", [source, messageId]);
    return Number(r.rows[0]?.replays ?? 0);
  }

  async inboxAbandon(source: string, messageId: string, now: number): Promise<boolean> {
    const r = await this.query("UPDATE inbox SET status = 'abandoned', processed_at = $1 WHERE source = $2 AND message_id = $3 AND status = 'received'", [now, source, messageId]);
    return r.rowCount === 1;
  }

  async inboxGet(source: string, messageId: string): Promise<InboxRecord | undefined> {
    const r = await this.query<InboxRow>('SELECT * FROM inbox WHERE source = $1 AND message_id = $2', [source, messageId]);
    return r.rows[0] ? toInbox(r.rows[0]) : undefined;
  }

  async inboxPending(source: string, limit: number): Promise<InboxRecord[]> {
    const r = await this.query<InboxRow>("SELECT * FROM inbox WHERE source = $1 AND status = 'received' ORDER BY seq LIMIT $2", [source, limitOf(limit)]);
    return r.rows.map(toInbox);
  }

  // ---------- outbox ----------
  async outboxEnqueue(item: NewOutboxItem, now: number): Promise<{ item: OutboxItem; duplicate: boolean }> {
    const inserted = await this.query<OutboxRow>(
      `INSERT INTO outbox (connection, operation, idempotency_key, request, origin, context, correlation_id, process, step, record_key,
                           status, attempts, next_attempt_at, created_at, updated_at, lane)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11, $12)
       ON CONFLICT (connection, idempotency_key) DO NOTHING
       RETURNING *`,
      [item.connection, item.operation, item.idempotencyKey, toJsonText(item.request), item.origin ?? null, optionalJsonText(item.context),
        item.correlationId ?? null, item.process ?? null, item.step ?? null, item.recordKey ?? null, now, laneNumber(item.lane)],
    );
    if (inserted.rows.length === 1) return { item: toOutbox(inserted.rows[0]), duplicate: false };
    // Another instance (or an earlier call) holds the key: its insert is committed once ours saw the conflict.
    const existing = await this.query<OutboxRow>('SELECT * FROM outbox WHERE connection = $1 AND idempotency_key = $2', [item.connection, item.idempotencyKey]);
    return { item: toOutbox(existing.rows[0]), duplicate: true };
  }

  async outboxClaim(connection: string, limit: number, now: number, leaseMs: number, owner: string): Promise<OutboxItem[]> {
    // SKIP LOCKED: rows another instance is claiming right now are passed over, not waited for; FOR UPDATE
    // re-checks the due condition on the latest row version, so an item just claimed elsewhere is not due any more.
    const r = await this.query<OutboxRow>(
      `UPDATE outbox AS o
          SET status = 'inflight', attempts = o.attempts + 1, lease_owner = $5, lease_until = $2::bigint + $4::bigint, updated_at = $2
         FROM (SELECT id FROM outbox
                WHERE connection = $1 AND status IN ('pending', 'inflight')
                  AND ((status = 'pending' AND next_attempt_at <= $2) OR (status = 'inflight' AND lease_until <= $2))
                ORDER BY lane, next_attempt_at, id
                LIMIT $3
                FOR UPDATE SKIP LOCKED) AS due
        WHERE o.id = due.id
        RETURNING o.*`,
      [connection, now, limitOf(limit), leaseMs, owner],
    );
    return r.rows.map(toOutbox).sort((a, b) => laneNumber(a.lane) - laneNumber(b.lane) || a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  }

  async outboxDelivered(id: number, response: Json, now: number, audit?: AuditEntry): Promise<void> {
    if (!audit) {
      await this.query(
        "UPDATE outbox SET status = 'delivered', response = $1, last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3",
        [toJsonText(response), now, id],
      );
      return;
    }
    if (this.closed) throw new Error(`store ${this.target} is closed`);
    const mark: DeliveredMark = { id, response: toJsonText(response), now, audit, resolve: () => {}, reject: () => {} };
    const done = new Promise<void>((resolve, reject) => Object.assign(mark, { resolve, reject }));
    // The marks of one event-loop turn go to the database as one statement: one round trip and one commit for all
    // of them (at 500 writes/s these are what the database is asked most often).
    if (this.deliveredMarks.push(mark) === 1) {
      setImmediate(() => {
        const flush = this.flushDeliveredMarks();
        this.flushes.add(flush);
        void flush.finally(() => this.flushes.delete(flush));
      });
    }
    return done;
  }

  private async flushDeliveredMarks(): Promise<void> {
    const marks = this.deliveredMarks.splice(0);
    try {
      await this.markDelivered(marks);
      for (const m of marks) m.resolve();
    } catch (err) {
      if (marks.length === 1) {
        marks[0].reject(err);
        return;
      }
      // One statement is all or nothing: a mark the database refuses must not fail the others of its turn.
      await Promise.all(marks.map((m) => this.markDelivered([m]).then(m.resolve, m.reject)));
    }
  }

  /** Delivered marks with their audit entries in one statement (so one transaction: each item and its entry, or none). */
  private async markDelivered(marks: DeliveredMark[]): Promise<void> {
    const col = <T>(f: (m: DeliveredMark) => T) => marks.map(f);
    const a = (m: DeliveredMark) => m.audit;
    // run, not query: marks accepted before close() are still written while it waits for them
    await this.run(
      `WITH marked AS (
         UPDATE outbox AS o
            SET status = 'delivered', response = d.response, last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = d.updated_at
           FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS d(id, response, updated_at)
          WHERE o.id = d.id
          RETURNING o.id
       )
       INSERT INTO audit (at, actor, action, process, correlation_id, target_system, record_key, details)
       SELECT e.at, e.actor, e.action, e.process, e.correlation_id, e.target_system, e.record_key, e.details
         FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
              WITH ORDINALITY AS e(at, actor, action, process, correlation_id, target_system, record_key, details, n)
        ORDER BY e.n`,
      [
        col((m) => m.id), col((m) => m.response), col((m) => m.now),
        col((m) => a(m).at), col((m) => a(m).actor), col((m) => a(m).action), col((m) => a(m).process ?? null),
        col((m) => a(m).correlationId ?? null), col((m) => a(m).targetSystem ?? null), col((m) => a(m).recordKey ?? null),
        col((m) => optionalJsonText(a(m).details)),
      ] as SqlValue[],
    );
  }

  async outboxRetryAt(id: number, nextAttemptAt: number, error: string, now: number): Promise<void> {
    await this.query(
      "UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
      [nextAttemptAt, error, now, id],
    );
  }

  async outboxFailed(id: number, error: string, response: Json | undefined, now: number): Promise<void> {
    await this.query(
      "UPDATE outbox SET status = 'failed', last_error = $1, response = $2, lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
      [error, optionalJsonText(response), now, id],
    );
  }

  async outboxRequeue(id: number, now: number, request?: Json): Promise<OutboxItem | undefined> {
    const r = await this.query<OutboxRow>(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, request = COALESCE($2, request), last_error = NULL,
              response = NULL, lease_owner = NULL, lease_until = NULL, acknowledged = FALSE, updated_at = $1
       WHERE id = $3 AND status IN ('failed', 'delivered')
       RETURNING *`,
      [now, optionalJsonText(request), id],
    );
    return r.rows[0] && toOutbox(r.rows[0]);
  }

  async outboxGet(id: number): Promise<OutboxItem | undefined> {
    const r = await this.query<OutboxRow>('SELECT * FROM outbox WHERE id = $1', [id]);
    return r.rows[0] && toOutbox(r.rows[0]);
  }

  async outboxFind(connection: string, idempotencyKey: string): Promise<OutboxItem | undefined> {
    const r = await this.query<OutboxRow>('SELECT * FROM outbox WHERE connection = $1 AND idempotency_key = $2', [connection, idempotencyKey]);
    return r.rows[0] && toOutbox(r.rows[0]);
  }

  async outboxUnacknowledged(origin: string, limit: number): Promise<OutboxItem[]> {
    const r = await this.query<OutboxRow>(
      "SELECT * FROM outbox WHERE origin = $1 AND NOT acknowledged AND status IN ('delivered', 'failed') ORDER BY id LIMIT $2",
      [origin, limitOf(limit)],
    );
    return r.rows.map(toOutbox);
  }

  async outboxAcknowledge(id: number): Promise<void> {
    await this.query('UPDATE outbox SET acknowledged = TRUE WHERE id = $1', [id]);
  }

  async outboxBacklog(): Promise<OutboxBacklog[]> {
    const r = await this.query<{ connection: string; status: OutboxStatus; n: number }>(
      'SELECT connection, status, COUNT(*) AS n FROM outbox GROUP BY connection, status ORDER BY connection COLLATE "C"',
    );
    const byConnection = new Map<string, OutboxBacklog>();
    for (const row of r.rows) {
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
    // One statement: a concurrent claimer of the same key waits for ours to commit, then sees a live key.
    const r = await this.query(
      `INSERT INTO idempotency_keys (scope, key, first_seen_at, expires_at, outcome) VALUES ($1, $2, $3, $4, NULL)
       ON CONFLICT (scope, key) DO UPDATE SET first_seen_at = EXCLUDED.first_seen_at, expires_at = EXCLUDED.expires_at, outcome = NULL
       WHERE idempotency_keys.expires_at <= EXCLUDED.first_seen_at`,
      [scope, key, now, now + ttlMs],
    );
    return r.rowCount === 1;
  }

  async idempotencyClaimMany(scope: string, keys: readonly string[], now: number, ttlMs: number): Promise<boolean[]> {
    if (keys.length === 0) return [];
    // One statement, so one commit. ON CONFLICT DO UPDATE may touch a row only once per statement, so repeats are
    // removed first (they answer false below, as a second sequential claim would); sorting fixes the order in which
    // rows are locked, so two instances claiming overlapping batches wait for each other instead of deadlocking.
    const distinct = [...new Set(keys)].sort();
    const r = await this.query<{ key: string }>(
      `INSERT INTO idempotency_keys (scope, key, first_seen_at, expires_at, outcome)
       SELECT $1, k.key, $3, $4, NULL FROM unnest($2::text[]) WITH ORDINALITY AS k(key, n) ORDER BY k.n
       ON CONFLICT (scope, key) DO UPDATE SET first_seen_at = EXCLUDED.first_seen_at, expires_at = EXCLUDED.expires_at, outcome = NULL
       WHERE idempotency_keys.expires_at <= EXCLUDED.first_seen_at
       RETURNING key`,
      [scope, distinct, now, now + ttlMs],
    );
    const won = new Set(r.rows.map((row) => row.key));
    return keys.map((key) => {
      if (!won.has(key)) return false;
      won.delete(key); // a later repeat in the batch finds the key held
      return true;
    });
  }

  async idempotencyGet(scope: string, key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const r = await this.query<IdempotencyRow>('SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > $3', [scope, key, now]);
    return r.rows[0] && toIdempotency(r.rows[0]);
  }

  async idempotencySetOutcome(scope: string, key: string, outcome: Json): Promise<void> {
    await this.query('UPDATE idempotency_keys SET outcome = $1 WHERE scope = $2 AND key = $3', [toJsonText(outcome), scope, key]);
  }

  async idempotencyRelease(scope: string, key: string): Promise<void> {
    await this.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2', [scope, key]);
  }

  async idempotencyPurgeExpired(now: number): Promise<number> {
    return (await this.query('DELETE FROM idempotency_keys WHERE expires_at <= $1', [now])).rowCount;
  }

  // ---------- assignments ----------
  async assignmentCreate(scope: string, id: string, members: readonly string[], data: Json, now: number): Promise<AssignmentResult> {
    const distinct = assignmentMembers(id, members);
    if (this.closed) throw new Error(`store ${this.target} is closed`);
    await this.ready;
    const client = await this.pool.connect();
    let won = false;
    try {
      await client.query('BEGIN');
      // The primary keys decide: a concurrent transaction inserting the same id or member waits for ours and then
      // finds the row (DO NOTHING), so exactly one wins. Members go in sorted, so two overlapping inserts lock in the
      // same order and wait for each other instead of deadlocking.
      const g = await client.query('INSERT INTO assignments (scope, id, members, data, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, id) DO NOTHING', [scope, id, JSON.stringify(distinct), toJsonText(data), now]);
      if (g.rowCount === 1) {
        const m = await client.query(
          `INSERT INTO assignment_members (scope, member, assignment_id) SELECT $1, m, $2 FROM unnest($3::text[]) AS m ORDER BY m
           ON CONFLICT (scope, member) DO NOTHING`,
          [scope, id, [...distinct].sort()],
        );
        won = m.rowCount === distinct.length;
      }
      await client.query(won ? 'COMMIT' : 'ROLLBACK');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    if (won) return { assigned: true };
    const [taken, existing] = await Promise.all([this.assignmentsOf(scope, distinct), this.query('SELECT 1 FROM assignments WHERE scope = $1 AND id = $2', [scope, id])]);
    return { assigned: false, idTaken: existing.rowCount > 0, taken };
  }

  async assignmentsOf(scope: string, members: readonly string[]): Promise<Map<string, string>> {
    if (members.length === 0) return new Map();
    const r = await this.query<{ member: string; assignment_id: string }>('SELECT member, assignment_id FROM assignment_members WHERE scope = $1 AND member = ANY($2::text[])', [scope, [...new Set(members)]]);
    return new Map(r.rows.map((row) => [row.member, row.assignment_id]));
  }

  async assignmentGet(scope: string, id: string): Promise<AssignmentRecord | undefined> {
    const r = await this.query<AssignmentRow>('SELECT * FROM assignments WHERE scope = $1 AND id = $2', [scope, id]);
    return r.rows[0] && toAssignment(r.rows[0]);
    }

  // ---------- retention ----------
  async retentionPurge(target: RetentionTarget, cutoff: number, limit: number, keepMessageIds?: readonly string[]): Promise<number> {
    const sql = POSTGRES_RETENTION[target];
    if (!sql) throw new RangeError(`unknown retention target ${String(target)}`);
    const params: SqlValue[] = [cutoff, Math.max(1, Math.floor(limit))];
    // the kept ids travel as one text[] parameter: thousands of retained messages
    if (target === 'inbox-processed') params.push([...(keepMessageIds ?? [])]);
    return (await this.query(sql, params)).rowCount;
  }

  // ---------- exceptions ----------
  async exceptionAdd(exception: NewException, now: number): Promise<ExceptionRecord> {
    // The partial unique index (one open exception per process, step, record) is the arbiter: a repeat from any
    // instance updates the open one atomically. Without a recordKey every exception is its own row.
    const r = await this.query<ExceptionRow>(
      `INSERT INTO exceptions (process, step, error_class, message, details, owner_team, correlation_id, record_key, request, response,
                               replay_target, attempts, status, first_seen_at, last_seen_at, occurrences)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $13, 1)
       ON CONFLICT (process, step, record_key) WHERE status = 'open' AND record_key IS NOT NULL
       DO UPDATE SET error_class = EXCLUDED.error_class, message = EXCLUDED.message, details = EXCLUDED.details,
                     owner_team = EXCLUDED.owner_team, correlation_id = COALESCE(EXCLUDED.correlation_id, exceptions.correlation_id),
                     request = COALESCE(EXCLUDED.request, exceptions.request), response = EXCLUDED.response,
                     replay_target = COALESCE(EXCLUDED.replay_target, exceptions.replay_target),
                     attempts = COALESCE(EXCLUDED.attempts, exceptions.attempts),
                     last_seen_at = EXCLUDED.last_seen_at, occurrences = exceptions.occurrences + 1
       RETURNING *`,
      [exception.process, exception.step, exception.errorClass, exception.message, optionalJsonText(exception.details), exception.ownerTeam,
        exception.correlationId ?? null, exception.recordKey ?? null, optionalJsonText(exception.request), optionalJsonText(exception.response),
        exception.replayTarget ? JSON.stringify(exception.replayTarget) : null, exception.attempts ?? null, now],
    );
    return toException(r.rows[0]);
  }

  async exceptionGet(id: number): Promise<ExceptionRecord | undefined> {
    const r = await this.query<ExceptionRow>('SELECT * FROM exceptions WHERE id = $1', [id]);
    return r.rows[0] && toException(r.rows[0]);
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
    const r = await this.query<ExceptionRow>(
      `SELECT * FROM exceptions ${where} ORDER BY id DESC LIMIT ${where.next(1)} OFFSET ${where.next(2)}`,
      [...where.params, limitOf(filter.limit), Math.max(0, Math.floor(filter.offset ?? 0))],
    );
    return r.rows.map(toException);
  }

  async exceptionCount(filter: ExceptionFilter): Promise<number> {
    const where = this.exceptionWhere(filter);
    return (await this.query<{ n: number }>(`SELECT COUNT(*) AS n FROM exceptions ${where}`, where.params)).rows[0].n;
  }

  async exceptionSetStatus(id: number, status: ExceptionStatus, by: string, now: number, reason?: string): Promise<void> {
    if (status === 'open') {
      await this.query("UPDATE exceptions SET status = 'open', resolved_by = NULL, resolved_at = NULL, resolution_reason = NULL WHERE id = $1", [id]);
      return;
    }
    await this.query('UPDATE exceptions SET status = $1, resolved_by = $2, resolved_at = $3, resolution_reason = $4 WHERE id = $5', [status, by, now, reason ?? null, id]);
  }

  async exceptionUpdateRequest(id: number, request: Json): Promise<void> {
    await this.query('UPDATE exceptions SET request = $1 WHERE id = $2', [toJsonText(request), id]);
  }

  // ---------- audit ----------
  async auditAppend(entry: AuditEntry): Promise<void> {
    await this.query(
      'INSERT INTO audit (at, actor, action, process, correlation_id, target_system, record_key, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [entry.at, entry.actor, entry.action, entry.process ?? null, entry.correlationId ?? null, entry.targetSystem ?? null,
        entry.recordKey ?? null, optionalJsonText(entry.details)],
    );
  }

  async auditList(filter: { recordKey?: string; correlationId?: string; action?: string; since?: number; limit?: number }): Promise<AuditRecord[]> {
    const where = new Where();
    if (filter.recordKey !== undefined) where.add('record_key = ?', filter.recordKey);
    if (filter.correlationId !== undefined) where.add('correlation_id = ?', filter.correlationId);
    if (filter.action !== undefined) where.add('action = ?', filter.action);
    if (filter.since !== undefined) where.add('at >= ?', filter.since);
    const r = await this.query<AuditRow>(`SELECT * FROM audit ${where} ORDER BY id DESC LIMIT ${where.next()}`, [...where.params, limitOf(filter.limit)]);
    return r.rows.map(toAudit);
  }

  // ---------- process instances ----------
  async processStart(instance: ProcessInstance): Promise<void> {
    await this.query(
      `INSERT INTO process_instances (process, key, correlation_id, started_at, completed_at, status, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (process, key) DO UPDATE SET status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
         correlation_id = COALESCE(EXCLUDED.correlation_id, process_instances.correlation_id),
         attributes = COALESCE(EXCLUDED.attributes, process_instances.attributes)`,
      [instance.process, instance.key, instance.correlationId ?? null, instance.startedAt, instance.completedAt ?? null, instance.status,
        optionalJsonText(instance.attributes)],
    );
  }

  async processComplete(process: string, key: string, status: 'completed' | 'failed', now: number, attributes?: Json): Promise<void> {
    await this.query(
      'UPDATE process_instances SET status = $1, completed_at = $2, attributes = COALESCE($3, attributes) WHERE process = $4 AND key = $5',
      [status, now, optionalJsonText(attributes), process, key],
    );
  }

  async processList(filter: { process?: string; status?: string; since?: number; limit?: number }): Promise<ProcessInstance[]> {
    const where = new Where();
    if (filter.process !== undefined) where.add('process = ?', filter.process);
    if (filter.status !== undefined) where.add('status = ?', filter.status);
    if (filter.since !== undefined) where.add('started_at >= ?', filter.since);
    const r = await this.query<ProcessRow>(
      `SELECT * FROM process_instances ${where} ORDER BY started_at DESC, key COLLATE "C" LIMIT ${where.next()}`,
      [...where.params, limitOf(filter.limit)],
    );
    return r.rows.map(toProcess);
  }

  // ---------- watermarks ----------
  async watermarkGet(name: string): Promise<string | undefined> {
    return (await this.query<{ value: string }>('SELECT value FROM watermarks WHERE name = $1', [name])).rows[0]?.value;
  }

  async watermarkSet(name: string, value: string, now: number): Promise<void> {
    await this.query(
      'INSERT INTO watermarks (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at',
      [name, value, now],
    );
  }

  // ---------- leases ----------
  async leaseAcquire(name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    const r = await this.query(
      `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
       WHERE leases.owner = EXCLUDED.owner OR leases.expires_at <= $4`,
      [name, owner, now + ttlMs, now],
    );
    return r.rowCount === 1;
  }

  async leaseRelease(name: string, owner: string): Promise<void> {
    await this.query('DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner]);
  }

  // ---------- runtime instances ----------
  async instanceBeat(id: string, incarnation: string, now: number): Promise<void> {
    await this.query(
      `INSERT INTO instances (id, incarnation, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, incarnation = EXCLUDED.incarnation,
         started_at = CASE WHEN instances.incarnation = EXCLUDED.incarnation THEN instances.started_at ELSE EXCLUDED.started_at END`,
      [id, incarnation, now],
    );
  }

  async instanceList(): Promise<InstanceRecord[]> {
    return (await this.query<InstanceRow>('SELECT * FROM instances ORDER BY id')).rows.map(toInstance);
  }

  async instanceReclaim(id: string, keepIncarnation: string, now: number): Promise<ReclaimResult> {
    // one statement, so one snapshot and one commit: the prefix `<id>/` matches every incarnation of this identity
    const r = await this.query<{ outbox_items: string; leases: string }>(
      `WITH freed AS (
         UPDATE outbox SET lease_until = $3, updated_at = $3
         WHERE status = 'inflight' AND substr(lease_owner, 1, length($1)) = $1 AND lease_owner <> $2 RETURNING 1
       ), dropped AS (
         DELETE FROM leases WHERE substr(owner, 1, length($1)) = $1 AND owner <> $2 RETURNING 1
       )
       SELECT (SELECT COUNT(*) FROM freed) AS outbox_items, (SELECT COUNT(*) FROM dropped) AS leases`,
      [instanceLeaseOwner(id, ''), instanceLeaseOwner(id, keepIncarnation), now],
    );
    return { outboxItems: Number(r.rows[0].outbox_items), leases: Number(r.rows[0].leases) };
  }

  async instanceReclaimDead(before: number, now: number, exceptId: string): Promise<Array<InstanceRecord & ReclaimResult>> {
    // The DELETE takes the rows: of two survivors sweeping at once, one frees a dead instance's holdings, the other
    // finds no row. Every part sees the same snapshot, so the freed items are joined back to the removed row.
    const r = await this.query<InstanceRow & { outbox_items: string; leases: string }>(
      `WITH dead AS (
         DELETE FROM instances WHERE heartbeat_at < $1 AND id <> $3 RETURNING *
       ), freed AS (
         UPDATE outbox o SET lease_until = $2, updated_at = $2 FROM dead
         WHERE o.status = 'inflight' AND substr(o.lease_owner, 1, length(dead.id) + 1) = dead.id || '/' RETURNING dead.id
       ), dropped AS (
         DELETE FROM leases l USING dead WHERE substr(l.owner, 1, length(dead.id) + 1) = dead.id || '/' RETURNING dead.id
       )
       SELECT dead.*, (SELECT COUNT(*) FROM freed WHERE freed.id = dead.id) AS outbox_items,
              (SELECT COUNT(*) FROM dropped WHERE dropped.id = dead.id) AS leases
       FROM dead ORDER BY dead.id`,
      [before, now, exceptId],
    );
    return r.rows.map((row) => ({ ...toInstance(row), outboxItems: Number(row.outbox_items), leases: Number(row.leases) }));
  }

  // ---------- shared vendor quotas ----------
  async quotaSlotsAcquire(connection: string, holder: string, capacity: number, want: number, now: number, leaseMs: number): Promise<number[]> {
    if (!(want > 0) || !(capacity > 0)) return [];
    // Candidates are the free or expired slots; ON CONFLICT re-checks the expiry on the row's latest version (it
    // waits for a concurrent taker's row lock), so two instances never both get a live slot: the loser gets fewer.
    const r = await this.query<{ slot: number }>(
      `INSERT INTO quota_slots (connection, slot, holder, lease_until)
       SELECT $1, s, $2, $4::bigint + $5::bigint
         FROM generate_series(0, $3::int - 1) AS s
        WHERE NOT EXISTS (SELECT 1 FROM quota_slots q WHERE q.connection = $1 AND q.slot = s AND q.lease_until > $4)
        ORDER BY s
        LIMIT $6
       ON CONFLICT (connection, slot) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until
        WHERE quota_slots.lease_until <= $4
       RETURNING slot`,
      [connection, holder, capacity, now, leaseMs, want],
    );
    return r.rows.map((row) => Number(row.slot));
  }

  async quotaSlotsRenew(connection: string, holder: string, now: number, leaseMs: number): Promise<number> {
    const r = await this.query('UPDATE quota_slots SET lease_until = $1 WHERE connection = $2 AND holder = $3 AND lease_until > $4', [now + leaseMs, connection, holder, now]);
    return r.rowCount;
  }

  async quotaSlotsRelease(connection: string, holder: string, slots: readonly number[]): Promise<void> {
    if (slots.length === 0) return;
    await this.query('DELETE FROM quota_slots WHERE connection = $1 AND holder = $2 AND slot = ANY($3::int[])', [connection, holder, [...slots]]);
  }

  async quotaSlotsDemand(connection: string, holder: string, until: number): Promise<void> {
    if (until > 0) {
      // and the rows of holders that died waiting (a holder is one registration: a restart is a new one)
      await this.query(
        `WITH gone AS (DELETE FROM quota_demand WHERE connection = $1 AND holder <> $2 AND until < $4)
         INSERT INTO quota_demand (connection, holder, until) VALUES ($1, $2, $3) ON CONFLICT (connection, holder) DO UPDATE SET until = EXCLUDED.until`,
        [connection, holder, until, until - DEMAND_KEPT_MS],
      );
    } else await this.query('DELETE FROM quota_demand WHERE connection = $1 AND holder = $2', [connection, holder]);
  }

  async quotaSlotsCensus(connection: string, holder: string, now: number): Promise<{ holders: number; othersWaiting: number }> {
    const r = await this.query<{ holders: string; others_waiting: string }>(
      `SELECT (SELECT COUNT(*) FROM (SELECT holder FROM quota_slots WHERE connection = $1 AND lease_until > $2 AND holder <> $3
                                     UNION SELECT holder FROM quota_demand WHERE connection = $1 AND until > $2 AND holder <> $3) others) + 1 AS holders,
              (SELECT COUNT(*) FROM quota_demand WHERE connection = $1 AND until > $2 AND holder <> $3) AS others_waiting`,
      [connection, now, holder],
    );
    return { holders: Number(r.rows[0]?.holders ?? 1), othersWaiting: Number(r.rows[0]?.others_waiting ?? 0) };
  }

  async quotaRateReserve(connection: string, count: number, intervalMs: number, _now: number): Promise<number> {
    // The database's clock, not the caller's: instances' clocks may differ, the shared bucket must not.
    const r = await this.query<{ wait_ms: string }>(
      `WITH c AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now)
       INSERT INTO quota_rate AS q (connection, tat) SELECT $1, c.now + $2::bigint FROM c
       ON CONFLICT (connection) DO UPDATE SET tat = GREATEST(q.tat, (SELECT now FROM c)) + $2::bigint
       RETURNING q.tat - $2::bigint - (SELECT now FROM c) AS wait_ms`,
      [connection, Math.round(count * intervalMs)],
    );
    return Math.max(0, Number(r.rows[0].wait_ms));
  }

  // ---------- cross-reference ----------
  async xrefPut(entry: XrefEntry, now: number): Promise<void> {
    await this.query(
      `INSERT INTO xref (entity, record_key, system, connection, vendor_id, vendor_number, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (entity, record_key, system, connection) DO UPDATE SET vendor_id = EXCLUDED.vendor_id, vendor_number = EXCLUDED.vendor_number, updated_at = EXCLUDED.updated_at`,
      [entry.entity, entry.key, entry.system, entry.connection, entry.vendorId, entry.vendorNumber ?? null, now],
    );
  }

  async xrefOf(entity: XrefEntity, key: string): Promise<XrefRecord[]> {
    return (await this.query<XrefRow>('SELECT * FROM xref WHERE entity = $1 AND record_key = $2 ORDER BY system, connection', [entity, key])).rows.map(toXref);
  }

  async xrefFind(entity: XrefEntity, system: string, id: string): Promise<XrefRecord[]> {
    return (await this.query<XrefRow>(
      `SELECT * FROM xref WHERE entity = $1 AND system = $2 AND vendor_id = $3
       UNION SELECT * FROM xref WHERE entity = $1 AND system = $2 AND vendor_number = $3 ORDER BY record_key, connection`,
      [entity, system, id],
    )).rows.map(toXref);
  }

  async xrefList(entity: XrefEntity, afterKey: string | undefined, limit: number): Promise<XrefRecord[]> {
    return (await this.query<XrefRow>('SELECT * FROM xref WHERE entity = $1 AND record_key > $2 ORDER BY record_key, system, connection LIMIT $3', [entity, afterKey ?? '', Math.max(1, Math.floor(limit))])).rows.map(toXref);
  }

  // ---------- trigger runs ----------
  async triggerRunCreate(run: NewTriggerRun, now: number): Promise<TriggerRunRecord | undefined> {
    const r = await this.query<TriggerRunRow>(
      `INSERT INTO trigger_runs (id, trigger_id, name, kind, range_from, range_to, slice_ms, windows_total, state, error, actor, started_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING *`,
      [run.id, run.trigger, run.name, run.kind, run.from, run.to, run.sliceMs, run.windowsTotal, run.error ?? null, run.actor, run.startedAt, now],
    );
    return r.rows[0] ? toTriggerRun(r.rows[0]) : undefined;
  }

  async triggerRunGet(id: string): Promise<TriggerRunRecord | undefined> {
    const row = (await this.query<TriggerRunRow>('SELECT * FROM trigger_runs WHERE id = $1', [id])).rows[0];
    return row ? toTriggerRun(row) : undefined;
  }

  async triggerRunActive(trigger: string): Promise<TriggerRunRecord | undefined> {
    const row = (await this.query<TriggerRunRow>("SELECT * FROM trigger_runs WHERE trigger_id = $1 AND state IN ('pending', 'running')", [trigger])).rows[0];
    return row ? toTriggerRun(row) : undefined;
  }

  async triggerRunTake(id: string, runner: string, now: number): Promise<TriggerRunRecord | undefined> {
    const row = (await this.query<TriggerRunRow>("UPDATE trigger_runs SET state = 'running', runner = $1, updated_at = $2 WHERE id = $3 AND state IN ('pending', 'running') RETURNING *", [runner, now, id])).rows[0];
    return row ? toTriggerRun(row) : undefined;
  }

  async triggerRunProgress(id: string, runner: string, p: TriggerRunProgress, now: number): Promise<boolean> {
    const r = await this.query(
      "UPDATE trigger_runs SET windows_done = $1, emitted = $2, skipped = $3, updated_at = $4 WHERE id = $5 AND runner = $6 AND state = 'running'",
      [p.windowsDone, p.emitted, p.skipped, now, id, runner],
    );
    return r.rowCount === 1;
  }

  async triggerRunEnd(id: string, runner: string, end: TriggerRunProgress & { state: 'done' | 'failed'; error?: string }, now: number): Promise<boolean> {
    const r = await this.query(
      "UPDATE trigger_runs SET state = $1, error = COALESCE($2, error), windows_done = $3, emitted = $4, skipped = $5, updated_at = $6, ended_at = $6 WHERE id = $7 AND runner = $8 AND state = 'running'",
      [end.state, end.error ?? null, end.windowsDone, end.emitted, end.skipped, now, id, runner],
    );
    return r.rowCount === 1;
  }

  async triggerRunLatest(triggers: readonly string[]): Promise<TriggerRunRecord[]> {
    if (triggers.length === 0) return [];
    const r = await this.query<TriggerRunRow>(
      `SELECT r.* FROM trigger_runs r WHERE r.trigger_id = ANY($1::text[])
       AND (r.state IN ('pending', 'running') OR r.started_at = (SELECT MAX(started_at) FROM trigger_runs l WHERE l.trigger_id = r.trigger_id))`,
      [[...triggers]],
    );
    return latestRunPerTrigger(r.rows.map(toTriggerRun));
  }

  // ---------- API consumers ----------
  async consumerAdd(record: ApiConsumerRecord): Promise<boolean> {
    const r = await this.query(
      `INSERT INTO api_consumers (id, name, scopes, hash, created_at, created_by, revoked_at, revoked_by, rate_limit)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [
        record.id, record.name, JSON.stringify(record.scopes), record.hash, record.createdAt, record.createdBy ?? null,
        record.revokedAt ?? null, record.revokedBy ?? null, record.rateLimit ? JSON.stringify(record.rateLimit) : null,
      ],
    );
    return r.rowCount === 1;
  }

  async consumerGet(id: string): Promise<ApiConsumerRecord | undefined> {
    const row = (await this.query<ConsumerRow>('SELECT * FROM api_consumers WHERE id = $1', [id])).rows[0];
    return row ? consumerFromRow(row) : undefined;
  }

  async consumerList(): Promise<ApiConsumerRecord[]> {
    return (await this.query<ConsumerRow>('SELECT * FROM api_consumers ORDER BY created_at, id')).rows.map(consumerFromRow);
  }

  async consumerRevoke(id: string, now: number, by?: string): Promise<boolean> {
    const r = await this.query('UPDATE api_consumers SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL', [now, by ?? null, id]);
    return r.rowCount === 1;
  }

  /** Runs a statement in the store's schema (tests and admin tooling only; not part of the Store interface). */
  async raw<T extends QueryResultRow>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return (await this.query<T>(sql, params)).rows;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready.catch(() => {});
    await new Promise((resolve) => setImmediate(resolve)); // the marks of the current turn start their statement
    await Promise.all([...this.flushes].map((f) => f.catch(() => {})));
    await this.pool.end();
  }
}

/** One statement per retention target (see the SQLite store): bounded by LIMIT, oldest first, along an index. */
const POSTGRES_RETENTION: Record<RetentionTarget, string> = {
  'inbox-processed': `DELETE FROM inbox WHERE seq IN (
      SELECT seq FROM inbox WHERE status = 'processed' AND received_at < $1
        AND seq < COALESCE((SELECT seq FROM inbox WHERE received_at >= $1 ORDER BY seq LIMIT 1), 9223372036854775807)
        AND message_id <> ALL($3::text[])
      ORDER BY seq LIMIT $2)`,
  'outbox-delivered': `DELETE FROM outbox WHERE id IN (
      SELECT id FROM outbox WHERE status = 'delivered' AND updated_at < $1 AND (origin IS NULL OR acknowledged)
      ORDER BY updated_at LIMIT $2)`,
  'idempotency-expired': `DELETE FROM idempotency_keys WHERE (scope, key) IN (
      SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`,
  'exception-payloads': `UPDATE exceptions SET request = NULL, response = NULL WHERE id IN (
      SELECT id FROM exceptions WHERE status IN ('resolved', 'discarded') AND last_seen_at < $1
        AND (request IS NOT NULL OR response IS NOT NULL)
      ORDER BY id LIMIT $2)`,
  'exceptions-closed': `DELETE FROM exceptions WHERE id IN (
      SELECT id FROM exceptions WHERE status IN ('resolved', 'discarded') AND last_seen_at < $1 ORDER BY id LIMIT $2)`,
  audit: 'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 ORDER BY at LIMIT $2)',
  'process-instances': `DELETE FROM process_instances WHERE (process, key) IN (
      SELECT process, key FROM process_instances WHERE status IN ('completed', 'failed') AND started_at < $1 LIMIT $2)`,
};
