/**
 * Row shapes of the store's tables and their mapping to the records of lib/store/store.ts, shared by the SQLite and
 * PostgreSQL stores (their SQL differs, their tables do not). Numbers are coerced because pg can hand BIGINTs over as
 * strings; optional columns that are NULL are left out of the record rather than set to null.
 */
import type {
  ApiConsumerRecord,
  AssignmentRecord,
  AuditRecord,
  ExceptionRecord,
  ExceptionStatus,
  IdempotencyRecord,
  InboxRecord,
  InboxStatus,
  InstanceRecord,
  Json,
  NewException,
  OutboxItem,
  OutboxStatus,
  ProcessInstance,
  TriggerRunRecord,
  TriggerRunState,
  XrefEntity,
  XrefRecord,
} from './store';
import { LANES } from './store';

export interface InboxRow { seq: number; source: string; message_id: string; payload: string; received_at: number; status: InboxStatus; replays: number; meta: string | null }
export interface OutboxRow {
  id: number; connection: string; operation: string; idempotency_key: string; request: string; origin: string | null;
  context: string | null; correlation_id: string | null; process: string | null; step: string | null; record_key: string | null;
  status: OutboxStatus; attempts: number; next_attempt_at: number; created_at: number; updated_at: number;
  last_error: string | null; response: string | null; lease_owner: string | null; lease_until: number | null;
  lane?: number | null;
}
export interface IdempotencyRow { scope: string; key: string; first_seen_at: number; expires_at: number; outcome: string | null }
export interface AssignmentRow { scope: string; id: string; members: string; data: string; created_at: number }
export interface ExceptionRow {
  id: number; process: string; step: string; error_class: NewException['errorClass']; message: string; details: string | null;
  owner_team: string; correlation_id: string | null; record_key: string | null; request: string | null; response: string | null;
  replay_target: string | null; attempts: number | null; status: ExceptionStatus; first_seen_at: number; last_seen_at: number;
  occurrences: number; resolved_by: string | null; resolved_at: number | null; resolution_reason: string | null;
}
export interface AuditRow {
  id: number; at: number; actor: string; action: string; process: string | null; correlation_id: string | null;
  target_system: string | null; record_key: string | null; details: string | null;
}
export interface ProcessRow {
  process: string; key: string; correlation_id: string | null; started_at: number; completed_at: number | null;
  status: ProcessInstance['status']; attributes: string | null;
}

export const toJsonText = (value: Json): string => JSON.stringify(value);
export const optionalJsonText = (value: Json | undefined): string | null => (value === undefined ? null : JSON.stringify(value));
export const parseJson = (text: string): Json => JSON.parse(text) as Json;

export function setIfPresent<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | null): void {
  if (value !== null && value !== undefined) target[key] = value;
}

export interface ConsumerRow {
  id: string; name: string; scopes: string; hash: string; created_at: number | string; created_by: string | null;
  revoked_at: number | string | null; revoked_by: string | null; rate_limit: string | null;
}

export function consumerFromRow(row: ConsumerRow): ApiConsumerRecord {
  const record: ApiConsumerRecord = { id: row.id, name: row.name, scopes: JSON.parse(row.scopes) as string[], hash: row.hash, createdAt: Number(row.created_at) };
  setIfPresent(record, 'createdBy', row.created_by);
  if (row.revoked_at !== null) record.revokedAt = Number(row.revoked_at);
  setIfPresent(record, 'revokedBy', row.revoked_by);
  if (row.rate_limit !== null) record.rateLimit = JSON.parse(row.rate_limit) as ApiConsumerRecord['rateLimit'];
  return record;
}

export function toInbox(row: InboxRow): InboxRecord {
  const record: InboxRecord = { seq: Number(row.seq), source: row.source, messageId: row.message_id, payload: parseJson(row.payload), receivedAt: Number(row.received_at), status: row.status, replays: Number(row.replays ?? 0) };
  if (row.meta !== null && row.meta !== undefined) record.meta = parseJson(row.meta);
  return record;
}

/** The stored number of a lane (0 high, 1 normal, 2 low). */
export function laneNumber(lane: string | undefined): number {
  if (lane === undefined || lane === null) return 1;
  const n = LANES.indexOf(lane as (typeof LANES)[number]);
  if (n < 0) throw new TypeError(`outbox lane must be one of ${LANES.join(', ')}, got ${JSON.stringify(lane)}`);
  return n;
}

export function toOutbox(row: OutboxRow): OutboxItem {
  const item: OutboxItem = {
    id: row.id,
    connection: row.connection,
    operation: row.operation,
    idempotencyKey: row.idempotency_key,
    request: parseJson(row.request),
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  setIfPresent(item, 'origin', row.origin);
  if (row.context !== null) item.context = parseJson(row.context);
  setIfPresent(item, 'correlationId', row.correlation_id);
  setIfPresent(item, 'process', row.process);
  setIfPresent(item, 'step', row.step);
  setIfPresent(item, 'recordKey', row.record_key);
  setIfPresent(item, 'lastError', row.last_error);
  if (row.response !== null) item.response = parseJson(row.response);
  setIfPresent(item, 'leaseOwner', row.lease_owner);
  setIfPresent(item, 'leaseUntil', row.lease_until);
  if (row.lane !== undefined && row.lane !== null && Number(row.lane) !== 1) item.lane = LANES[Number(row.lane)] ?? 'normal';
  return item;
}

export function toIdempotency(row: IdempotencyRow): IdempotencyRecord {
  const record: IdempotencyRecord = { scope: row.scope, key: row.key, firstSeenAt: row.first_seen_at, expiresAt: row.expires_at };
  if (row.outcome !== null) record.outcome = parseJson(row.outcome);
  return record;
}

export function toAssignment(row: AssignmentRow): AssignmentRecord {
  return { scope: row.scope, id: row.id, members: JSON.parse(row.members) as string[], data: parseJson(row.data), createdAt: Number(row.created_at) };
}

/** The members of one assignment, each once, in the order given; refused when empty (a group of nothing). */
export function assignmentMembers(id: string, members: readonly string[]): string[] {
  const distinct = [...new Set(members)];
  if (distinct.length === 0) throw new Error(`assignment ${id} needs at least one member`);
  return distinct;
}

export function toException(row: ExceptionRow): ExceptionRecord {
  const record: ExceptionRecord = {
    id: row.id,
    process: row.process,
    step: row.step,
    errorClass: row.error_class,
    message: row.message,
    ownerTeam: row.owner_team,
    status: row.status,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
    occurrences: row.occurrences,
  };
  if (row.details !== null) record.details = parseJson(row.details);
  setIfPresent(record, 'correlationId', row.correlation_id);
  setIfPresent(record, 'recordKey', row.record_key);
  if (row.request !== null) record.request = parseJson(row.request);
  if (row.response !== null) record.response = parseJson(row.response);
  if (row.replay_target !== null) record.replayTarget = JSON.parse(row.replay_target) as NewException['replayTarget'];
  setIfPresent(record, 'attempts', row.attempts);
  if (row.resolved_by !== null && row.resolved_at !== null) {
    record.resolution = { by: row.resolved_by, at: row.resolved_at };
    if (row.resolution_reason !== null) record.resolution.reason = row.resolution_reason;
  }
  return record;
}

export function toAudit(row: AuditRow): AuditRecord {
  const record: AuditRecord = { id: row.id, at: row.at, actor: row.actor, action: row.action };
  setIfPresent(record, 'process', row.process);
  setIfPresent(record, 'correlationId', row.correlation_id);
  setIfPresent(record, 'targetSystem', row.target_system);
  setIfPresent(record, 'recordKey', row.record_key);
  if (row.details !== null) record.details = parseJson(row.details);
  return record;
}

export function toProcess(row: ProcessRow): ProcessInstance {
  const instance: ProcessInstance = { process: row.process, key: row.key, startedAt: row.started_at, status: row.status };
  setIfPresent(instance, 'correlationId', row.correlation_id);
  setIfPresent(instance, 'completedAt', row.completed_at);
  if (row.attributes !== null) instance.attributes = parseJson(row.attributes);
  return instance;
}

export interface InstanceRow { id: string; incarnation: string; started_at: number; heartbeat_at: number }
export function toInstance(row: InstanceRow): InstanceRecord {
  return { id: row.id, incarnation: row.incarnation, startedAt: Number(row.started_at), heartbeatAt: Number(row.heartbeat_at) };
}

export interface XrefRow { entity: string; record_key: string; system: string; connection: string; vendor_id: string; vendor_number: string | null; created_at: number | string; updated_at: number | string }
export function toXref(row: XrefRow): XrefRecord {
  return {
    entity: row.entity as XrefEntity, key: row.record_key, system: row.system, connection: row.connection, vendorId: row.vendor_id,
    ...(row.vendor_number !== null ? { vendorNumber: row.vendor_number } : {}),
    createdAt: Number(row.created_at), updatedAt: Number(row.updated_at),
  };
}

export interface TriggerRunRow {
  id: string; trigger_id: string; name: string; kind: string; range_from: number | string; range_to: number | string; slice_ms: number | string;
  windows_done: number | string; windows_total: number | string; emitted: number | string; skipped: number | string; state: TriggerRunState;
  error: string | null; actor: string; runner: string | null; started_at: number | string; updated_at: number | string; ended_at: number | string | null;
}

export function toTriggerRun(row: TriggerRunRow): TriggerRunRecord {
  const record: TriggerRunRecord = {
    id: row.id, trigger: row.trigger_id, name: row.name, kind: row.kind, from: Number(row.range_from), to: Number(row.range_to), sliceMs: Number(row.slice_ms),
    windowsDone: Number(row.windows_done), windowsTotal: Number(row.windows_total), emitted: Number(row.emitted), skipped: Number(row.skipped), state: row.state,
    actor: row.actor, startedAt: Number(row.started_at), updatedAt: Number(row.updated_at),
  };
  setIfPresent(record, 'error', row.error);
  setIfPresent(record, 'runner', row.runner);
  if (row.ended_at !== null) record.endedAt = Number(row.ended_at);
  return record;
}

/** The newest run per trigger, a pending or running one first (the rows of triggerRunLatest, any order). */
export function latestRunPerTrigger(rows: TriggerRunRecord[]): TriggerRunRecord[] {
  const rank = (r: TriggerRunRecord) => (r.state === 'pending' || r.state === 'running' ? 1 : 0);
  const best = new Map<string, TriggerRunRecord>();
  for (const r of rows) {
    const b = best.get(r.trigger);
    if (!b || rank(r) > rank(b) || (rank(r) === rank(b) && r.startedAt > b.startedAt)) best.set(r.trigger, r);
  }
  return [...best.values()];
}
