/**
 * The durable store behind every PS Fabric guarantee (docs/store-and-guarantees.md).
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

/** A holder's expired demand row (quota_demand) is deleted this long after it expired, by the next demand recorded. */
export const DEMAND_KEPT_MS = 60_000;
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

// ---------- assignments (records durably grouped under one id, e.g. time entries on an invoice) ----------
export interface AssignmentRecord {
  scope: string;
  /** The group's id, e.g. the invoice id. */
  id: string;
  /** What was assigned to it, e.g. the entry ids; each belongs to at most one group of the scope. */
  members: string[];
  /** What the assigner needs to act on the group again after a restart (e.g. the whole invoice write). */
  data: Json;
  createdAt: number;
}
/**
 * `assigned`: the group and every member are stored. Otherwise nothing was written: `taken` names the members that
 * already belong to a group (member -> that group's id), `idTaken` says whether the group id itself exists.
 */
export type AssignmentResult = { assigned: true } | { assigned: false; idTaken: boolean; taken: Map<string, string> };

// ---------- cross-reference of record ids (master data control, lib/xref) ----------
/** The canonical records whose ids are cross-referenced. */
export type XrefEntity = 'account' | 'project' | 'resource' | 'contract' | 'invoice' | 'person';
export const XREF_ENTITIES: readonly XrefEntity[] = ['account', 'project', 'resource', 'contract', 'invoice', 'person'];
/**
 * One canonical record's id in one system, as that system answered it. A record has one row per (system,
 * connection): the same account is a different customer in each Business Central company.
 */
export interface XrefEntry {
  entity: XrefEntity;
  /** The canonical key: the record's canonical id (`ACC-1`, `PRJ-006...`, the invoice id); a person's lowercased email. */
  key: string;
  /** The system, as the ownership matrix names it: `businessCentral`, `netsuite`, `kantata`, `jira`, `salesforce`, `legacy`. */
  system: string;
  /** The connection (config node) the id belongs to, e.g. `bc:NWA UK`: one tenant or company of the system. */
  connection: string;
  /** The vendor's own id (BC GUID, NetSuite internal id, Kantata id, Jira project id or Atlassian account id). */
  vendorId: string;
  /** The vendor's number or key where it has one (BC customer / project number, Jira project key, NetSuite entity id). */
  vendorNumber?: string;
}
export interface XrefRecord extends XrefEntry {
  createdAt: number;
  updatedAt: number;
}

// ---------- retention (lib/retention) ----------
/**
 * A set of rows no guarantee needs once they are older than a cutoff (docs/store-and-guarantees.md, "Retention"):
 * - `inbox-processed`: inbox entries handed over (`processed`) and received before the cutoff; `received` ones never
 *   (they are still owed to the flow) and `abandoned` ones never (their exception may still be replayed);
 * - `outbox-delivered`: delivered items finished before the cutoff whose origin took the completion; pending,
 *   in-flight and failed items never (a failed one is an exception's replay target);
 * - `idempotency-expired`: keys whose window ended before the cutoff (pass now: a key inside its window is never due);
 * - `exception-payloads`: the stored request and response of resolved / discarded exceptions last seen before the
 *   cutoff (the row, its message, details and resolution stay); open and replayed ones never;
 * - `exceptions-closed`: resolved / discarded exceptions last seen before the cutoff;
 * - `audit`: audit entries made before the cutoff;
 * - `process-instances`: completed / failed process runs started before the cutoff; running ones never.
 */
export type RetentionTarget =
  | 'inbox-processed'
  | 'outbox-delivered'
  | 'idempotency-expired'
  | 'exception-payloads'
  | 'exceptions-closed'
  | 'audit'
  | 'process-instances';
export const RETENTION_TARGETS: readonly RetentionTarget[] = [
  'inbox-processed', 'outbox-delivered', 'idempotency-expired', 'exception-payloads', 'exceptions-closed', 'audit', 'process-instances',
];

// ---------- trigger runs: resyncs and backfills (lib/triggers/runs.ts) ----------
/**
 * `pending`: requested, no instance runs it yet; `running`: `runner` (a lease owner, `<instance>/<incarnation>`) reads
 * it window by window; `done` / `failed`: ended. At most one pending or running run per trigger across instances.
 */
export type TriggerRunState = 'pending' | 'running' | 'done' | 'failed';
export interface NewTriggerRun {
  id: string;
  /** The trigger's node id (the same on every instance). */
  trigger: string;
  /** The trigger's label (node name or type). */
  name: string;
  /** `backfill` or the gap kind of a resync (lib/triggers/gaps.ts). */
  kind: string;
  from: number;
  to: number;
  /** Size of one window: window i is [from + i * sliceMs, from + (i + 1) * sliceMs) cut at `to`. */
  sliceMs: number;
  windowsTotal: number;
  /** Who asked: `user:<name>`, `admin-api`, `node:<id>` (a gap the trigger found). */
  actor: string;
  startedAt: number;
  /** Set at the start when the range was cut to the longest resync (what the operator must backfill). */
  error?: string;
}
export interface TriggerRunProgress {
  windowsDone: number;
  /** Records handed on (new at the trigger's inbox). */
  emitted: number;
  /** Records read again that had been handled already. */
  skipped: number;
}
export interface TriggerRunRecord extends NewTriggerRun, TriggerRunProgress {
  state: TriggerRunState;
  runner?: string;
  updatedAt: number;
  endedAt?: number;
}

// ---------- runtime instances (lib/cluster/instance.ts) ----------
/**
 * One runtime instance on the store: a stable identity (FABRIC_INSTANCE_ID or an id kept in its user dir) and the
 * incarnation of the process now running under it. Outbox items and leases it holds are owned by
 * `instanceLeaseOwner(id, incarnation)`, so they can be found and freed by identity.
 */
export interface InstanceRecord {
  id: string;
  incarnation: string;
  startedAt: number;
  heartbeatAt: number;
}
/** What freeing an instance's holdings released: outbox items made due at once, and leases deleted. */
export interface ReclaimResult {
  outboxItems: number;
  leases: number;
}

/** The outbox lease owner and election owner of one incarnation of an instance. */
export function instanceLeaseOwner(id: string, incarnation: string): string {
  return `${id}/${incarnation}`;
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
  /**
   * Marks an item delivered. With `audit`, its audit entry (`write.delivered`) is appended in the same transaction:
   * both are stored or neither is, so no crash leaves a delivered item without its audit entry or the reverse
   * (PostgreSQL: one statement, and the marks issued in one event-loop turn share it; SQLite: the turn's group commit).
   */
  outboxDelivered(id: number, response: Json, now: number, audit?: AuditEntry): Promise<void>;
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

  // assignments: kept (no expiry); one member belongs to at most one group per scope, across instances
  /**
   * Stores group `id` with its members and data, all or nothing, in one transaction: nothing is written when the id
   * or any member already exists in the scope (a unique constraint, so two instances can never both win a member).
   */
  assignmentCreate(scope: string, id: string, members: readonly string[], data: Json, now: number): Promise<AssignmentResult>;
  /** The group of each given member that has one (member -> group id); members without a group are left out. */
  assignmentsOf(scope: string, members: readonly string[]): Promise<Map<string, string>>;
  assignmentGet(scope: string, id: string): Promise<AssignmentRecord | undefined>;

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

  // runtime instances: heartbeats and freeing the outbox items and leases of dead incarnations
  /** Records a heartbeat of `id` running as `incarnation` (a new incarnation replaces the previous one's row). */
  instanceBeat(id: string, incarnation: string, now: number): Promise<void>;
  instanceList(): Promise<InstanceRecord[]>;
  /**
   * Frees what earlier incarnations of `id` hold (owner `id/<other incarnation>`): their in-flight outbox items become
   * claimable at `now`, their leases are deleted. Only for an incarnation that knows the others are dead.
   */
  instanceReclaim(id: string, keepIncarnation: string, now: number): Promise<ReclaimResult>;
  /**
   * Removes the rows of instances other than `exceptId` whose last heartbeat is before `before`, and frees what any
   * incarnation of theirs holds (as instanceReclaim). Returns the instances removed with what was freed.
   */
  instanceReclaimDead(before: number, now: number, exceptId: string): Promise<Array<InstanceRecord & ReclaimResult>>;

  // trigger runs (resyncs and backfills) shared by every instance on the store (lib/triggers/runs.ts)
  /**
   * Records a new run as `pending`; undefined (nothing written) when the trigger already has a pending or running run
   * (a unique index: two instances can never both start one).
   */
  triggerRunCreate(run: NewTriggerRun, now: number): Promise<TriggerRunRecord | undefined>;
  triggerRunGet(id: string): Promise<TriggerRunRecord | undefined>;
  /** The trigger's pending or running run, if any. */
  triggerRunActive(trigger: string): Promise<TriggerRunRecord | undefined>;
  /** Makes `runner` the one that runs a pending or running run (state `running`); undefined when it has ended. */
  triggerRunTake(id: string, runner: string, now: number): Promise<TriggerRunRecord | undefined>;
  /** Records progress of a running run; false (nothing written) when `runner` no longer runs it. */
  triggerRunProgress(id: string, runner: string, progress: TriggerRunProgress, now: number): Promise<boolean>;
  /** Ends a running run with its last progress; false (nothing written) when `runner` no longer runs it. */
  triggerRunEnd(id: string, runner: string, end: TriggerRunProgress & { state: 'done' | 'failed'; error?: string }, now: number): Promise<boolean>;
  /** Per trigger given, its pending or running run, else its newest (triggers without a run are left out). */
  triggerRunLatest(triggers: readonly string[]): Promise<TriggerRunRecord[]>;

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
  /** Records that `holder` waits for slots of the connection until `until` (0: no longer waits). */
  quotaSlotsDemand(connection: string, holder: string, until: number): Promise<void>;
  /**
   * Who shares the connection's slots at `now`: `holders`, the holders with a live slot or a live demand (`holder`
   * counted whether or not it has either), and `othersWaiting`, the other holders with a live demand.
   */
  quotaSlotsCensus(connection: string, holder: string, now: number): Promise<{ holders: number; othersWaiting: number }>;
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

  // cross-reference: kept (no expiry), shared by every instance on the store
  /** Records (or replaces) one record's id in one system and connection; createdAt stays that of the first put. */
  xrefPut(entry: XrefEntry, now: number): Promise<void>;
  /** Every system's id of one canonical record, ordered by system and connection. */
  xrefOf(entity: XrefEntity, key: string): Promise<XrefRecord[]>;
  /** The rows whose vendor id or vendor number in `system` is `id` (which canonical record that vendor record is). */
  xrefFind(entity: XrefEntity, system: string, id: string): Promise<XrefRecord[]>;
  /** The rows of one entity with key > `afterKey`, ordered by key, system, connection; at most `limit` (keyset paging). */
  xrefList(entity: XrefEntity, afterKey: string | undefined, limit: number): Promise<XrefRecord[]>;

  /**
   * Removes (for `exception-payloads`: empties) at most `limit` rows of one retention target older than `cutoff`, in
   * one short transaction, oldest first; returns how many. Callers loop in small batches so writers are never held up.
   * `keepMessageIds` (`inbox-processed` only): entries with one of these message ids stay, whatever their age (the
   * messages the broker retains: lib/broker/redelivery.ts).
   */
  retentionPurge(target: RetentionTarget, cutoff: number, limit: number, keepMessageIds?: readonly string[]): Promise<number>;

  close(): Promise<void>;
}
