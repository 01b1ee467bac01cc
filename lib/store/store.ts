/**
 * The durable store behind every PS Fabric guarantee (DESIGN.md section 5).
 *
 * One interface, two implementations: SQLite (embedded default) and PostgreSQL (scale-out).
 * Every method is async so that both implementations fit; the SQLite one resolves immediately.
 * Times are epoch milliseconds. JSON columns hold plain JSON values (never functions, never Buffers).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// ---------- inbox ----------
export interface InboxEntry {
  /** Which trigger received it, e.g. `mqtt:fabric/v1/timeentry/approved` or a node id. */
  source: string;
  /** Stable id of the received message (CloudEvent id, MQTT-derived hash, vendor record id + version). */
  messageId: string;
  payload: Json;
  receivedAt: number;
  /** What the trigger needs to re-emit the entry after a restart (for MQTT: topic, qos, retain). */
  meta?: Json;
}
/**
 * `received`: committed, not yet handed over durably downstream (replayed on the trigger's next start);
 * `processed`: a durable hand-over point (outbox submit, exception, acknowledged publish, ...) marked it;
 * `abandoned`: replayed too often without being marked (the flow drops it); an exception was raised.
 */
export type InboxStatus = 'received' | 'processed' | 'abandoned';
export interface InboxRecord extends InboxEntry {
  seq: number;
  status: InboxStatus;
  /** How many times the trigger re-emitted it on a start (inboxNoteReplay). */
  replays: number;
}

// ---------- outbox ----------
/**
 * Priority lane of a vendor request on its connection: `high` (month-end time-to-cash writes) is claimed and admitted
 * before `normal`, `normal` before `low` (reporting and experience-API reads). Stored as 0 / 1 / 2.
 */
export type Lane = 'high' | 'normal' | 'low';
export const LANES: readonly Lane[] = ['high', 'normal', 'low'];
export type OutboxStatus = 'pending' | 'inflight' | 'delivered' | 'failed';
export interface NewOutboxItem {
  /** Connection name: one per config node, e.g. `netsuite:acme-prod`. Rate limits and breakers are per connection. */
  connection: string;
  /** Operation understood by the connection's executor, e.g. `upsertCustomer`. */
  operation: string;
  /** De-duplicates writes: enqueuing the same (connection, idempotencyKey) twice yields the first item. */
  idempotencyKey: string;
  request: Json;
  /** The node (or other origin) that is told when the item completes, even after a restart. */
  origin?: string;
  /** Whatever the origin needs to continue its flow after completion (e.g. the msg, serialised). */
  context?: Json;
  correlationId?: string;
  process?: string;
  step?: string;
  /** Business record the write concerns, e.g. `TimeEntry/te-1042`; used by exception auto-resolve and audit. */
  recordKey?: string;
  /** Priority lane (default `normal`): due items of a connection are claimed lane by lane. */
  lane?: Lane;
}
export interface OutboxItem extends NewOutboxItem {
  id: number;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  lastError?: string;
  response?: Json;
  leaseOwner?: string;
  leaseUntil?: number;
}
export interface OutboxBacklog {
  connection: string;
  pending: number;
  inflight: number;
  failed: number;
  delivered: number;
}

// ---------- idempotency ----------
export interface IdempotencyRecord {
  scope: string;
  key: string;
  firstSeenAt: number;
  expiresAt: number;
  outcome?: Json;
}

// ---------- exceptions ----------
export type ExceptionStatus = 'open' | 'replayed' | 'discarded' | 'resolved';
export type ErrorClass = 'validation' | 'permanent' | 'transient-exhausted' | 'ownership' | 'auth' | 'not-found' | 'conflict' | 'internal';
export interface NewException {
  process: string;
  step: string;
  errorClass: ErrorClass;
  /** One actionable sentence: which field, which record, what was expected. */
  message: string;
  /** Field-level details, e.g. [{ path: '/lines/3/hours', message: 'must be >= 0' }]. */
  details?: Json;
  ownerTeam: string;
  correlationId?: string;
  recordKey?: string;
  /** What was being sent (secrets already redacted). Replay re-submits this (or an edited copy). */
  request?: Json;
  /** The vendor's response body and status, secrets redacted. */
  response?: Json;
  /** Where a replay goes: an outbox connection + operation, or a node id that accepts replays. */
  replayTarget?: { kind: 'outbox'; connection: string; operation: string } | { kind: 'node'; nodeId: string };
  attempts?: number;
}
export interface ExceptionRecord extends NewException {
  id: number;
  status: ExceptionStatus;
  firstSeenAt: number;
  lastSeenAt: number;
  occurrences: number;
  resolution?: { by: string; at: number; reason?: string };
}
export interface ExceptionFilter {
  status?: ExceptionStatus | ExceptionStatus[];
  process?: string;
  step?: string;
  ownerTeam?: string;
  errorClass?: ErrorClass;
  recordKey?: string;
  correlationId?: string;
  olderThan?: number;
  limit?: number;
  offset?: number;
}

// ---------- audit ----------
export interface AuditEntry {
  at: number;
  /** Who or what: a user name, `node:<id>`, `process:<name>`, `api-key:<id>`. */
  actor: string;
  /** e.g. `write.delivered`, `exception.replayed`, `exception.discarded`, `exception.edited`. */
  action: string;
  process?: string;
  correlationId?: string;
  targetSystem?: string;
  recordKey?: string;
  details?: Json;
}
export interface AuditRecord extends AuditEntry {
  id: number;
}

// ---------- process instances (KPI timings) ----------
export interface ProcessInstance {
  process: string;
  /** Business key of the run, e.g. the opportunity id. */
  key: string;
  correlationId?: string;
  startedAt: number;
  completedAt?: number;
  status: 'running' | 'completed' | 'failed';
  attributes?: Json;
}

// ---------- API consumers (the api-gate's keys; lib/governance/consumers.ts) ----------
export interface ApiConsumerRecord {
  /** Non-secret key id (12 hex characters), the lookup prefix of the key `psf_<id>_<secret>`. */
  id: string;
  name: string;
  scopes: string[];
  /** bcrypt hash of the whole key; the key itself is never stored. */
  hash: string;
  createdAt: number;
  createdBy?: string;
  revokedAt?: number;
  revokedBy?: string;
  rateLimit?: { perSecond: number; burst: number };
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';

  // inbox: add is a no-op returning false when (source, messageId) is already there
  inboxAdd(entry: InboxEntry): Promise<boolean>;
  /** Adds many in one transaction (the grouped-commit path). Returns, per entry, whether it was new. */
  inboxAddMany(entries: InboxEntry[]): Promise<boolean[]>;
  /** Marks a `received` (or `abandoned`) entry processed; no-op for unknown or already processed entries. */
  inboxMarkProcessed(source: string, messageId: string): Promise<void>;
  /** The `received` entries of a source in arrival order. */
  inboxPending(source: string, limit: number): Promise<InboxRecord[]>;
  /** Counts one start-up replay of a `received` entry; returns the new count (0 when it is not `received`). */
  inboxNoteReplay(source: string, messageId: string): Promise<number>;
  /** Gives a `received` entry up (status `abandoned`, out of inboxPending); true when it was `received`. */
  inboxAbandon(source: string, messageId: string, now: number): Promise<boolean>;
  inboxGet(source: string, messageId: string): Promise<InboxRecord | undefined>;

  // outbox
  outboxEnqueue(item: NewOutboxItem, now: number): Promise<{ item: OutboxItem; duplicate: boolean }>;
  /**
   * Leases up to `limit` due items of a connection to `owner` until `now + leaseMs` (safe across instances).
   * Due = pending with nextAttemptAt <= now, or inflight with an expired lease (its owner crashed). Each claim
   * increments `attempts`, so the returned item's `attempts` is the number of the attempt about to be made.
   */
  outboxClaim(connection: string, limit: number, now: number, leaseMs: number, owner: string): Promise<OutboxItem[]>;
  outboxDelivered(id: number, response: Json, now: number): Promise<void>;
  outboxRetryAt(id: number, nextAttemptAt: number, error: string, now: number): Promise<void>;
  outboxFailed(id: number, error: string, response: Json | undefined, now: number): Promise<void>;
  /**
   * Puts a failed (or delivered) item back to `pending`, due now, attempts reset, keeping its idempotency key so the
   * remote side can still de-duplicate; `request` replaces the stored one (edited replay). Undefined when the item
   * does not exist or is not finished (pending/inflight items are left alone).
   */
  outboxRequeue(id: number, now: number, request?: Json): Promise<OutboxItem | undefined>;
  outboxGet(id: number): Promise<OutboxItem | undefined>;
  outboxFind(connection: string, idempotencyKey: string): Promise<OutboxItem | undefined>;
  /** Delivered or failed items whose origin has not acknowledged the completion yet (restart recovery). */
  outboxUnacknowledged(origin: string, limit: number): Promise<OutboxItem[]>;
  outboxAcknowledge(id: number): Promise<void>;
  outboxBacklog(): Promise<OutboxBacklog[]>;
  outboxPurgeDelivered(olderThan: number): Promise<number>;

  // idempotency: claim is atomic; false when the key is already held and not expired
  idempotencyClaim(scope: string, key: string, now: number, ttlMs: number): Promise<boolean>;
  /**
   * Claims many keys of one scope in one transaction (one commit instead of one per key). Per key the answer is
   * what `idempotencyClaim` would give if the keys were claimed one after another in array order: true for a key
   * that was free or expired, false for a live one and for a repeat of an earlier key in the same array.
   */
  idempotencyClaimMany(scope: string, keys: readonly string[], now: number, ttlMs: number): Promise<boolean[]>;
  idempotencyGet(scope: string, key: string, now: number): Promise<IdempotencyRecord | undefined>;
  idempotencySetOutcome(scope: string, key: string, outcome: Json): Promise<void>;
  idempotencyRelease(scope: string, key: string): Promise<void>;
  idempotencyPurgeExpired(now: number): Promise<number>;

  // exceptions: an open exception for the same (process, step, recordKey) is updated, not duplicated
  exceptionAdd(exception: NewException, now: number): Promise<ExceptionRecord>;
  exceptionGet(id: number): Promise<ExceptionRecord | undefined>;
  /** Newest first (id descending); limit defaults to 100. */
  exceptionList(filter: ExceptionFilter): Promise<ExceptionRecord[]>;
  exceptionCount(filter: ExceptionFilter): Promise<number>;
  exceptionSetStatus(id: number, status: ExceptionStatus, by: string, now: number, reason?: string): Promise<void>;
  exceptionUpdateRequest(id: number, request: Json): Promise<void>;

  // audit (append only)
  auditAppend(entry: AuditEntry): Promise<void>;
  /** Newest first (id descending); limit defaults to 100. */
  auditList(filter: { recordKey?: string; correlationId?: string; action?: string; since?: number; limit?: number }): Promise<AuditRecord[]>;

  // process instances
  processStart(instance: ProcessInstance): Promise<void>;
  processComplete(process: string, key: string, status: 'completed' | 'failed', now: number, attributes?: Json): Promise<void>;
  processList(filter: { process?: string; status?: string; since?: number; limit?: number }): Promise<ProcessInstance[]>;

  // watermarks / cursors (SystemModstamp, CDC replay id, PSA page cursor)
  watermarkGet(name: string): Promise<string | undefined>;
  watermarkSet(name: string, value: string, now: number): Promise<void>;

  // leases: a single active worker per name across instances (pollers)
  leaseAcquire(name: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  leaseRelease(name: string, owner: string): Promise<void>;

  // vendor quotas shared by every instance on the store (lib/delivery/shared-quota.ts)
  /**
   * Takes up to `want` of the connection's `capacity` concurrency slots (numbered 0..capacity-1) that are free or
   * whose lease expired, for `holder` until `now + leaseMs`. Returns the slot numbers taken (possibly none).
   */
  quotaSlotsAcquire(connection: string, holder: string, capacity: number, want: number, now: number, leaseMs: number): Promise<number[]>;
  /** Extends the leases of every slot `holder` holds on the connection; returns how many it still holds. */
  quotaSlotsRenew(connection: string, holder: string, now: number, leaseMs: number): Promise<number>;
  /** Gives slots back (only those `holder` still holds). */
  quotaSlotsRelease(connection: string, holder: string, slots: readonly number[]): Promise<void>;
  /**
   * Reserves `count` request tokens of the connection's shared token bucket (GCRA, one statement): returns `base - now`
   * in ms (>= 0), where token i (0-based) may be used `max(0, base - now + (i - burst + 1) * intervalMs)` ms from now.
   * PostgreSQL uses the database clock (instances' clocks may differ); SQLite uses `now`.
   */
  quotaRateReserve(connection: string, count: number, intervalMs: number, now: number): Promise<number>;

  // API consumers: shared by every runtime instance on the store, so a key issued or revoked on one holds on all
  /** Adds a consumer; false (and nothing changes) when its id is already there. */
  consumerAdd(record: ApiConsumerRecord): Promise<boolean>;
  consumerGet(id: string): Promise<ApiConsumerRecord | undefined>;
  /** Every consumer, revoked ones included (for the audit), oldest first. */
  consumerList(): Promise<ApiConsumerRecord[]>;
  /** Marks an active consumer revoked; false when it is unknown or already revoked (the first revocation stays). */
  consumerRevoke(id: string, now: number, by?: string): Promise<boolean>;

  close(): Promise<void>;
}
