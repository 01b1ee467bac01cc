/**
 * SQLite schema, versioned in code. A migration is never edited once released: add a new one.
 * `schema_version` records every applied version; the store refuses to open a file written by a
 * newer build (a higher version than it knows) rather than guess at a schema it has never seen.
 *
 * Conventions: times are INTEGER epoch ms, JSON columns are TEXT holding JSON.stringify output.
 */
import type Database from 'better-sqlite3';

export interface SqliteMigration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'initial schema: inbox, outbox, idempotency keys, exceptions, audit, process instances, watermarks, leases',
    sql: `
      CREATE TABLE inbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        source       TEXT    NOT NULL,
        message_id   TEXT    NOT NULL,
        payload      TEXT    NOT NULL,
        received_at  INTEGER NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed')),
        processed_at INTEGER,
        UNIQUE (source, message_id)
      );
      -- inboxPending: the unprocessed entries of one source in arrival order.
      CREATE INDEX inbox_pending ON inbox (source, seq) WHERE status = 'received';

      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        connection      TEXT    NOT NULL,
        operation       TEXT    NOT NULL,
        idempotency_key TEXT    NOT NULL,
        request         TEXT    NOT NULL,
        origin          TEXT,
        context         TEXT,
        correlation_id  TEXT,
        process         TEXT,
        step            TEXT,
        record_key      TEXT,
        status          TEXT    NOT NULL CHECK (status IN ('pending', 'inflight', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        last_error      TEXT,
        response        TEXT,
        lease_owner     TEXT,
        lease_until     INTEGER,
        acknowledged    INTEGER NOT NULL DEFAULT 0,
        UNIQUE (connection, idempotency_key)
      );
      -- outboxClaim: live items of one connection in due order; finished items (the bulk) are not in it.
      CREATE INDEX outbox_due ON outbox (connection, next_attempt_at) WHERE status IN ('pending', 'inflight');
      -- outboxUnacknowledged: completed items an origin has not consumed yet.
      CREATE INDEX outbox_unacknowledged ON outbox (origin, id) WHERE acknowledged = 0 AND status IN ('delivered', 'failed');
      -- the retention of delivered items (retentionPurge 'outbox-delivered').
      CREATE INDEX outbox_delivered_age ON outbox (updated_at) WHERE status = 'delivered';

      CREATE TABLE idempotency_keys (
        scope         TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        first_seen_at INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        outcome       TEXT,
        PRIMARY KEY (scope, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_expiry ON idempotency_keys (expires_at);

      CREATE TABLE exceptions (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        process        TEXT    NOT NULL,
        step           TEXT    NOT NULL,
        error_class    TEXT    NOT NULL,
        message        TEXT    NOT NULL,
        details        TEXT,
        owner_team     TEXT    NOT NULL,
        correlation_id TEXT,
        record_key     TEXT,
        request        TEXT,
        response       TEXT,
        replay_target  TEXT,
        attempts       INTEGER,
        status         TEXT    NOT NULL CHECK (status IN ('open', 'replayed', 'discarded', 'resolved')),
        first_seen_at  INTEGER NOT NULL,
        last_seen_at   INTEGER NOT NULL,
        occurrences    INTEGER NOT NULL DEFAULT 1,
        resolved_by    TEXT,
        resolved_at    INTEGER,
        resolution_reason TEXT
      );
      -- At most one open exception per (process, step, record): a repeat updates it (see exceptionAdd).
      CREATE UNIQUE INDEX exceptions_open_record ON exceptions (process, step, record_key)
        WHERE status = 'open' AND record_key IS NOT NULL;
      -- Backlog by owner team (dashboard, metrics) and the operator's usual filters.
      CREATE INDEX exceptions_status_owner ON exceptions (status, owner_team);
      CREATE INDEX exceptions_status_process ON exceptions (status, process, step);
      CREATE INDEX exceptions_record ON exceptions (record_key, status);
      CREATE INDEX exceptions_correlation ON exceptions (correlation_id);

      CREATE TABLE audit (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        at             INTEGER NOT NULL,
        actor          TEXT    NOT NULL,
        action         TEXT    NOT NULL,
        process        TEXT,
        correlation_id TEXT,
        target_system  TEXT,
        record_key     TEXT,
        details        TEXT
      );
      CREATE INDEX audit_record ON audit (record_key, id);
      CREATE INDEX audit_correlation ON audit (correlation_id, id);
      CREATE INDEX audit_action ON audit (action, id);
      CREATE INDEX audit_at ON audit (at);

      CREATE TABLE process_instances (
        process        TEXT    NOT NULL,
        key            TEXT    NOT NULL,
        correlation_id TEXT,
        started_at     INTEGER NOT NULL,
        completed_at   INTEGER,
        status         TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        attributes     TEXT,
        PRIMARY KEY (process, key)
      );
      CREATE INDEX process_instances_started ON process_instances (process, started_at);
      CREATE INDEX process_instances_status ON process_instances (status, started_at);

      CREATE TABLE watermarks (
        name       TEXT    PRIMARY KEY,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE leases (
        name       TEXT    PRIMARY KEY,
        owner      TEXT    NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: "inbox: start-up replay count, 'abandoned' status, trigger meta (e.g. MQTT topic) for re-emission",
    // SQLite cannot alter a CHECK constraint: the table is rebuilt (same rows, same seq values).
    sql: `
      CREATE TABLE inbox_v2 (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        source       TEXT    NOT NULL,
        message_id   TEXT    NOT NULL,
        payload      TEXT    NOT NULL,
        received_at  INTEGER NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'abandoned')),
        processed_at INTEGER,
        replays      INTEGER NOT NULL DEFAULT 0,
        meta         TEXT,
        UNIQUE (source, message_id)
      );
      INSERT INTO inbox_v2 (seq, source, message_id, payload, received_at, status, processed_at)
        SELECT seq, source, message_id, payload, received_at, status, processed_at FROM inbox;
      DROP TABLE inbox;
      ALTER TABLE inbox_v2 RENAME TO inbox;
      CREATE INDEX inbox_pending ON inbox (source, seq) WHERE status = 'received';
    `,
  },
  {
    version: 3,
    name: 'api_consumers: API keys (bcrypt hashes only) shared by every instance on the store',
    sql: `
      CREATE TABLE api_consumers (
        id         TEXT    PRIMARY KEY,
        name       TEXT    NOT NULL,
        scopes     TEXT    NOT NULL,
        hash       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT,
        revoked_at INTEGER,
        revoked_by TEXT,
        rate_limit TEXT
      );
    `,
  },
  {
    version: 4,
    name: 'assignments: groups (an invoice) and their members (its entries), one group per member per scope',
    sql: `
      CREATE TABLE assignments (
        scope      TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        members    TEXT    NOT NULL,
        data       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (scope, id)
      );
      CREATE TABLE assignment_members (
        scope         TEXT NOT NULL,
        member        TEXT NOT NULL,
        assignment_id TEXT NOT NULL,
        PRIMARY KEY (scope, member)
      );
    `,
  },
  {
    version: 5,
    name: 'instances: runtime instance heartbeats, so a restarted or surviving instance frees a dead incarnation\'s outbox leases',
    sql: `
      CREATE TABLE instances (
        id           TEXT    PRIMARY KEY,
        incarnation  TEXT    NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- instanceReclaim: the in-flight items of one owner prefix.
      CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE status = 'inflight';
    `,
  },
  {
    version: 6,
    name: 'vendor quotas shared across instances: outbox lanes, concurrency slots with leases, shared request-rate state',
    sql: `
      ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
      DROP INDEX outbox_due;
      CREATE INDEX outbox_due ON outbox (connection, lane, next_attempt_at) WHERE status IN ('pending', 'inflight');
      CREATE TABLE quota_slots (
        connection  TEXT    NOT NULL,
        slot        INTEGER NOT NULL,
        holder      TEXT    NOT NULL,
        lease_until INTEGER NOT NULL,
        PRIMARY KEY (connection, slot)
      );
      CREATE TABLE quota_rate (
        connection TEXT    PRIMARY KEY,
        tat        INTEGER NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'xref: cross-reference of record ids, each canonical record\'s id and number in every system and connection',
    sql: `
      CREATE TABLE xref (
        entity        TEXT    NOT NULL,
        record_key    TEXT    NOT NULL,
        system        TEXT    NOT NULL,
        connection    TEXT    NOT NULL,
        vendor_id     TEXT    NOT NULL,
        vendor_number TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (entity, record_key, system, connection)
      ) WITHOUT ROWID;
      -- xrefFind: which canonical record a vendor id or number is.
      CREATE INDEX xref_vendor_id ON xref (entity, system, vendor_id);
      CREATE INDEX xref_vendor_number ON xref (entity, system, vendor_number) WHERE vendor_number IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'outbox backlog counts from an index: status sits after the request column, so counting by status read every request',
    sql: `
      -- outboxBacklog (connection status, ops read model, metrics) counts by connection and status; without this index
      -- SQLite walked each row's request overflow pages to reach status: 1.5 s per count at 1,036 invoices of 500
      -- lines (bench scenario 2), which starved the flows at the 1,000,000-entry point. PostgreSQL keeps large values
      -- out of line (TOAST), so it needs no such index.
      CREATE INDEX outbox_backlog ON outbox (connection, status);
    `,
  },
  {
    version: 9,
    name: 'shared vendor quotas: who waits for a slot, so that holders give back only what is above their fair share',
    sql: `
      CREATE TABLE quota_demand (
        connection TEXT    NOT NULL,
        holder     TEXT    NOT NULL,
        until      INTEGER NOT NULL,
        PRIMARY KEY (connection, holder)
      );
    `,
  },
  {
    version: 10,
    name: 'trigger runs: resyncs and backfills shared by every instance, one pending or running run per trigger',
    sql: `
      CREATE TABLE trigger_runs (
        id            TEXT    PRIMARY KEY,
        trigger_id    TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        range_from    INTEGER NOT NULL,
        range_to      INTEGER NOT NULL,
        slice_ms      INTEGER NOT NULL,
        windows_done  INTEGER NOT NULL DEFAULT 0,
        windows_total INTEGER NOT NULL,
        emitted       INTEGER NOT NULL DEFAULT 0,
        skipped       INTEGER NOT NULL DEFAULT 0,
        state         TEXT    NOT NULL,
        error         TEXT,
        actor         TEXT    NOT NULL,
        runner        TEXT,
        started_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        ended_at      INTEGER
      );
      -- one run at a time per trigger, whichever instance asks
      CREATE UNIQUE INDEX trigger_runs_active ON trigger_runs (trigger_id) WHERE state IN ('pending', 'running');
      CREATE INDEX trigger_runs_latest ON trigger_runs (trigger_id, started_at);
    `,
  },
];

export const LATEST_SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1].version;

/** Current schema version of an open database (0 for a new file). */
export function schemaVersion(db: Database.Database): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Brings the database up to the latest version. Each migration runs in its own IMMEDIATE transaction
 * (the write lock is taken up front), so two processes opening the same new file cannot both apply it.
 */
export function migrateSqlite(db: Database.Database, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): number {
  const known = migrations.length ? migrations[migrations.length - 1].version : 0;
  let current = schemaVersion(db);
  if (current > known) {
    throw new Error(`the store file has schema version ${current}, newer than this PS Fabric build knows (${known}); upgrade PS Fabric or use another file`);
  }
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      // Re-read inside the lock: another process may have applied it meanwhile.
      if (schemaVersion(db) >= migration.version) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
    });
    if (migration.version > current) {
      apply.immediate();
      current = migration.version;
    }
  }
  return current;
}
