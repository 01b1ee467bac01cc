/**
 * PostgreSQL schema, versioned in code: the same tables, constraints and partial indexes as the SQLite store
 * (sqlite-migrations.ts), in PostgreSQL types. A migration is never edited once released: add a new one.
 * `schema_version` records every applied version; a database written by a newer build is refused.
 *
 * Conventions: times are BIGINT epoch ms (read back as JS numbers), JSON columns are TEXT holding
 * JSON.stringify output (not jsonb: jsonb reorders keys and collapses duplicates, and the store hands back
 * exactly what it was given, like the SQLite store).
 *
 * Several runtime instances may start at once on a new database: migrations run under a transaction-scoped
 * advisory lock, so exactly one instance applies each version and the others wait and see it applied.
 */
import type { PoolClient } from 'pg';

export interface PostgresMigration {
  version: number;
  name: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'initial schema: inbox, outbox, idempotency keys, exceptions, audit, process instances, watermarks, leases',
    sql: `
      CREATE TABLE inbox (
        seq          BIGSERIAL PRIMARY KEY,
        source       TEXT    NOT NULL,
        message_id   TEXT    NOT NULL,
        payload      TEXT    NOT NULL,
        received_at  BIGINT  NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed')),
        processed_at BIGINT,
        UNIQUE (source, message_id)
      );
      CREATE INDEX inbox_pending ON inbox (source, seq) WHERE status = 'received';

      CREATE TABLE outbox (
        id              BIGSERIAL PRIMARY KEY,
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
        next_attempt_at BIGINT  NOT NULL,
        created_at      BIGINT  NOT NULL,
        updated_at      BIGINT  NOT NULL,
        last_error      TEXT,
        response        TEXT,
        lease_owner     TEXT,
        lease_until     BIGINT,
        acknowledged    BOOLEAN NOT NULL DEFAULT FALSE,
        UNIQUE (connection, idempotency_key)
      );
      CREATE INDEX outbox_due ON outbox (connection, next_attempt_at, id) WHERE status IN ('pending', 'inflight');
      CREATE INDEX outbox_unacknowledged ON outbox (origin, id) WHERE NOT acknowledged AND status IN ('delivered', 'failed');
      CREATE INDEX outbox_delivered_age ON outbox (updated_at) WHERE status = 'delivered';

      CREATE TABLE idempotency_keys (
        scope         TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        first_seen_at BIGINT  NOT NULL,
        expires_at    BIGINT  NOT NULL,
        outcome       TEXT,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX idempotency_expiry ON idempotency_keys (expires_at);

      CREATE TABLE exceptions (
        id             BIGSERIAL PRIMARY KEY,
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
        first_seen_at  BIGINT  NOT NULL,
        last_seen_at   BIGINT  NOT NULL,
        occurrences    INTEGER NOT NULL DEFAULT 1,
        resolved_by    TEXT,
        resolved_at    BIGINT,
        resolution_reason TEXT
      );
      CREATE UNIQUE INDEX exceptions_open_record ON exceptions (process, step, record_key)
        WHERE status = 'open' AND record_key IS NOT NULL;
      CREATE INDEX exceptions_status_owner ON exceptions (status, owner_team);
      CREATE INDEX exceptions_status_process ON exceptions (status, process, step);
      CREATE INDEX exceptions_record ON exceptions (record_key, status);
      CREATE INDEX exceptions_correlation ON exceptions (correlation_id);

      CREATE TABLE audit (
        id             BIGSERIAL PRIMARY KEY,
        at             BIGINT  NOT NULL,
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
        started_at     BIGINT  NOT NULL,
        completed_at   BIGINT,
        status         TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        attributes     TEXT,
        PRIMARY KEY (process, key)
      );
      CREATE INDEX process_instances_started ON process_instances (process, started_at);
      CREATE INDEX process_instances_status ON process_instances (status, started_at);

      CREATE TABLE watermarks (
        name       TEXT    PRIMARY KEY,
        value      TEXT    NOT NULL,
        updated_at BIGINT  NOT NULL
      );

      CREATE TABLE leases (
        name       TEXT    PRIMARY KEY,
        owner      TEXT    NOT NULL,
        expires_at BIGINT  NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "inbox: start-up replay count, 'abandoned' status, trigger meta (e.g. MQTT topic) for re-emission",
    sql: `
      ALTER TABLE inbox DROP CONSTRAINT IF EXISTS inbox_status_check;
      ALTER TABLE inbox ADD CONSTRAINT inbox_status_check CHECK (status IN ('received', 'processed', 'abandoned'));
      ALTER TABLE inbox ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE inbox ADD COLUMN meta TEXT;
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
        created_at BIGINT  NOT NULL,
        created_by TEXT,
        revoked_at BIGINT,
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
        created_at BIGINT  NOT NULL,
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
    name: "instances: runtime instance heartbeats, so a restarted or surviving instance frees a dead incarnation's outbox leases",
    sql: `
      CREATE TABLE instances (
        id           TEXT   PRIMARY KEY,
        incarnation  TEXT   NOT NULL,
        started_at   BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
      );
      CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE status = 'inflight';
    `,
  },
  {
    version: 6,
    name: 'vendor quotas shared across instances: outbox lanes, concurrency slots with leases, shared request-rate state',
    sql: `
      ALTER TABLE outbox ADD COLUMN lane SMALLINT NOT NULL DEFAULT 1;
      DROP INDEX outbox_due;
      CREATE INDEX outbox_due ON outbox (connection, lane, next_attempt_at, id) WHERE status IN ('pending', 'inflight');
      CREATE TABLE quota_slots (
        connection  TEXT    NOT NULL,
        slot        INTEGER NOT NULL,
        holder      TEXT    NOT NULL,
        lease_until BIGINT  NOT NULL,
        PRIMARY KEY (connection, slot)
      );
      CREATE TABLE quota_rate (
        connection TEXT    PRIMARY KEY,
        tat        BIGINT  NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: "xref: cross-reference of record ids, each canonical record's id and number in every system and connection",
    sql: `
      CREATE TABLE xref (
        entity        TEXT   NOT NULL,
        record_key    TEXT   NOT NULL,
        system        TEXT   NOT NULL,
        connection    TEXT   NOT NULL,
        vendor_id     TEXT   NOT NULL,
        vendor_number TEXT,
        created_at    BIGINT NOT NULL,
        updated_at    BIGINT NOT NULL,
        PRIMARY KEY (entity, record_key, system, connection)
      );
      CREATE INDEX xref_vendor_id ON xref (entity, system, vendor_id);
      CREATE INDEX xref_vendor_number ON xref (entity, system, vendor_number) WHERE vendor_number IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'shared vendor quotas: who waits for a slot, so that holders give back only what is above their fair share',
    sql: `
      CREATE TABLE quota_demand (
        connection TEXT   NOT NULL,
        holder     TEXT   NOT NULL,
        until      BIGINT NOT NULL,
        PRIMARY KEY (connection, holder)
      );
    `,
  },
  {
    version: 9,
    name: 'trigger runs: resyncs and backfills shared by every instance, one pending or running run per trigger',
    sql: `
      CREATE TABLE trigger_runs (
        id            TEXT    PRIMARY KEY,
        trigger_id    TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        range_from    BIGINT  NOT NULL,
        range_to      BIGINT  NOT NULL,
        slice_ms      BIGINT  NOT NULL,
        windows_done  BIGINT  NOT NULL DEFAULT 0,
        windows_total BIGINT  NOT NULL,
        emitted       BIGINT  NOT NULL DEFAULT 0,
        skipped       BIGINT  NOT NULL DEFAULT 0,
        state         TEXT    NOT NULL,
        error         TEXT,
        actor         TEXT    NOT NULL,
        runner        TEXT,
        started_at    BIGINT  NOT NULL,
        updated_at    BIGINT  NOT NULL,
        ended_at      BIGINT 
      );
      -- one run at a time per trigger, whichever instance asks
      CREATE UNIQUE INDEX trigger_runs_active ON trigger_runs (trigger_id) WHERE state IN ('pending', 'running');
      CREATE INDEX trigger_runs_latest ON trigger_runs (trigger_id, started_at);
    `,
  },
];

export const LATEST_POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1].version;

/** Advisory lock key that serialises migrations of one schema across processes (any constant would do; per schema). */
function lockKey(schema: string): string {
  let h = 0x5f3759df;
  for (const c of `ps-fabric-migrate:${schema}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return String(h);
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Brings `schema` up to the latest version on `client` (a dedicated connection). Returns the version reached.
 * Each migration runs in its own transaction holding the schema's advisory lock.
 */
export async function migratePostgres(client: PoolClient, schema: string, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<number> {
  const known = migrations.length ? migrations[migrations.length - 1].version : 0;
  const s = quoteIdent(schema);
  const key = lockKey(schema);
  const currentVersion = async (): Promise<number> => {
    const r = await client.query<{ v: string | number | null }>(`SELECT MAX(version) AS v FROM ${s}.schema_version`);
    return Number(r.rows[0]?.v ?? 0);
  };
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
      version    INTEGER PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at BIGINT  NOT NULL
    )`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  let current = await currentVersion();
  if (current > known) {
    throw new Error(`the PostgreSQL schema ${schema} has version ${current}, newer than this PS Fabric build knows (${known}); upgrade PS Fabric or use another schema`);
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
      // Re-read under the lock: another instance may have applied it meanwhile.
      if ((await currentVersion()) < migration.version) {
        await client.query(`SET LOCAL search_path TO ${s}`);
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${s}.schema_version (version, name, applied_at) VALUES ($1, $2, $3)`, [migration.version, migration.name, Date.now()]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    current = migration.version;
  }
  return current;
}
