/**
 * The exception queue: where permanent failures wait for a person, with everything needed to act on them.
 *
 * Operations: add (owner team resolved, request/response redacted), list/count/get, replay (as is or with
 * an edited payload), bulk replay by filter, discard with a reason, auto-resolve when a later run of the
 * same record succeeds. Every operation appends to the audit trail and emits an event ('added',
 * 'changed') for dashboards and metrics.
 *
 * Replays are carried out by whoever owns the target: the delivery engine registers the 'outbox'
 * replayer, a node that accepts replays registers itself by node id. The queue only decides whether a
 * replay may happen and records that it did.
 */
import { currentTraceId } from '../telemetry';
import { EventEmitter } from 'node:events';
import { AuditTrail } from '../audit';
import { inboxRefOf } from '../inbox';
import { redact, redactString } from '../redaction';
import type { ExceptionFilter, ExceptionRecord, ExceptionStatus, Json, NewException, Store } from '../store/store';

export const DEFAULT_OWNER_TEAM = 'integration-ops';

/**
 * The record key of a failed message that names no business record (no opportunity, amendment, request or entry id):
 * the message's own id. `add` merges a repeat for the same open (process, step, recordKey) into one row, so a key
 * shared by different messages ("Opportunity/unknown") would hide all but one of them; the message id is distinct per
 * message and the same for a redelivery of it (the inbox id: CloudEvent id, else a hash of topic + bytes; else the
 * Node-RED msg id). Undefined for something that is not a msg.
 */
export function messageRecordKey(msg: unknown): string | undefined {
  const ref = inboxRefOf(msg);
  if (ref) return `Message/${ref.messageId}`;
  const id = (msg as { _msgid?: unknown } | null | undefined)?._msgid;
  return typeof id === 'string' && id ? `Message/${id}` : undefined;
}

/**
 * The msg property where a node that failed leaves the exception already queued for that failure (an outbox write
 * that failed permanently: `FabricError.exceptionId`), with the node's id. A Catch node's copy of the msg keeps it,
 * so the fabric-exception behind the Catch links to that entry instead of adding a second, unreplayable one.
 */
const QUEUED = '_fabricException';

/** Leaves (or, with no id, clears) the queued exception of the failure `nodeId` is about to report on `msg`. */
export function markQueuedException(msg: Record<string, unknown>, exceptionId: number | undefined, nodeId: string): void {
  if (exceptionId === undefined) delete msg[QUEUED];
  else msg[QUEUED] = { id: exceptionId, node: nodeId };
}

/**
 * The exception already queued for the error a caught msg carries: only when the node that left it is the node the
 * error came from (`msg.error.source.id`), so a msg that later fails elsewhere (a function node) is recorded anew.
 */
export function queuedExceptionOf(msg: unknown): number | undefined {
  const m = (msg ?? {}) as { [QUEUED]?: { id?: unknown; node?: unknown }; error?: { source?: { id?: unknown } } };
  const ref = m[QUEUED];
  return ref && typeof ref.id === 'number' && ref.node !== undefined && ref.node === m.error?.source?.id ? ref.id : undefined;
}

/** Who owns exceptions of a process step (and entity, e.g. 'TimeEntry'); undefined falls back to the default team. */
export type OwnerResolver = (process: string, step: string, entity?: string) => string | undefined;

export type ExceptionInput = Omit<NewException, 'ownerTeam'> & {
  /** Set to bypass the resolver. */
  ownerTeam?: string;
  /** Entity for the resolver; defaults to the part of recordKey before the first '/' (`TimeEntry/te-1` -> `TimeEntry`). */
  entity?: string;
};

export interface ReplayRequest {
  /** What to send: the stored request, or the operator's edited payload (not redacted: it is being sent). */
  payload: Json;
  edited: boolean;
  exception: ExceptionRecord;
  actor: string;
}
export type OutboxReplayer = (target: { connection: string; operation: string }, request: ReplayRequest) => Promise<void>;
export type NodeReplayer = (request: ReplayRequest) => Promise<void>;

export interface ReplayOptions {
  /** Who asked for it: a user name, `node:<id>`, `api-key:<id>`. */
  actor: string;
  /** Replaces the stored request for this and later replays. */
  payload?: Json;
}

export type ExceptionErrorCode = 'not-found' | 'not-open' | 'no-replay-target' | 'no-replayer' | 'replay-failed' | 'busy' | 'bad-request';

/** Why an operation on an exception was refused or failed; `code` maps to an HTTP status in the admin API. */
export class ExceptionQueueError extends Error {
  constructor(readonly code: ExceptionErrorCode, message: string, readonly exceptionId?: number) {
    super(message);
    this.name = 'ExceptionQueueError';
  }
}

export interface BulkReplayProgress {
  total: number;
  done: number;
  replayed: number;
  failed: number;
  lastId: number;
}
export interface BulkReplayResult {
  total: number;
  replayed: number[];
  failed: Array<{ id: number; error: string }>;
}

export type ExceptionChange = 'recurred' | 'edited' | 'replayed' | 'replay-failed' | 'discarded' | 'resolved';

export interface ExceptionQueueEvents {
  added: [record: ExceptionRecord];
  changed: [record: ExceptionRecord, change: ExceptionChange];
}

export interface ExceptionQueueOptions {
  resolveOwner?: OwnerResolver;
  audit?: AuditTrail;
  now?: () => number;
  /** A throwing event listener must not fail the operation that emitted; it is reported here instead. */
  onListenerError?: (err: unknown) => void;
}

type ExceptionStore = Pick<Store, 'exceptionAdd' | 'exceptionGet' | 'exceptionList' | 'exceptionCount' | 'exceptionSetStatus' | 'exceptionUpdateRequest' | 'auditAppend' | 'auditList'>;

const BULK_PAGE = 500;
const errorText = (err: unknown): string => redactString(err instanceof Error ? err.message : String(err));

export class ExceptionQueue extends EventEmitter<ExceptionQueueEvents> {
  readonly audit: AuditTrail;
  private resolveOwner: OwnerResolver;
  private readonly now: () => number;
  private readonly onListenerError: (err: unknown) => void;
  private outboxReplayer: OutboxReplayer | undefined;
  private readonly nodeReplayers = new Map<string, NodeReplayer>();
  /** Replays running in this process: a double click must not send twice. */
  private readonly replaying = new Set<number>();

  constructor(private readonly store: ExceptionStore, options: ExceptionQueueOptions = {}) {
    super();
    this.audit = options.audit ?? new AuditTrail(store, options.now);
    this.resolveOwner = options.resolveOwner ?? (() => DEFAULT_OWNER_TEAM);
    this.now = options.now ?? Date.now;
    this.onListenerError = options.onListenerError ?? (() => undefined);
  }

  /** Plugs in the ownership matrix. */
  setOwnerResolver(resolver: OwnerResolver): void {
    this.resolveOwner = resolver;
  }

  /** The delivery engine's way to re-submit a write. Returns an unregister function. */
  registerOutboxReplayer(replayer: OutboxReplayer): () => void {
    this.outboxReplayer = replayer;
    return () => {
      if (this.outboxReplayer === replayer) this.outboxReplayer = undefined;
    };
  }

  /**
   * The same as registerOutboxReplayer in the shape lib/delivery/services.ts' ExceptionSink expects, so the
   * queue can be handed to the delivery engine as is.
   */
  registerReplayer(kind: 'outbox', replayer: (exception: ExceptionRecord, request: Json, actor: string) => Promise<unknown>): () => void {
    if (kind !== 'outbox') throw new Error(`registerReplayer supports only 'outbox' (nodes use registerNodeReplayer), got ${String(kind)}`);
    return this.registerOutboxReplayer(async (_target, request) => {
      await replayer(request.exception, request.payload, request.actor);
    });
  }

  /** A node that accepts replays of its exceptions (replayTarget { kind: 'node', nodeId }). Returns an unregister function. */
  registerNodeReplayer(nodeId: string, replayer: NodeReplayer): () => void {
    this.nodeReplayers.set(nodeId, replayer);
    return () => {
      if (this.nodeReplayers.get(nodeId) === replayer) this.nodeReplayers.delete(nodeId);
    };
  }

  private safeEmit<K extends keyof ExceptionQueueEvents>(event: K, ...args: ExceptionQueueEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ExceptionQueueEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.onListenerError(err);
    }
  }

  private ownerFor(input: ExceptionInput): string {
    if (input.ownerTeam) return input.ownerTeam;
    const entity = input.entity ?? (input.recordKey?.includes('/') ? input.recordKey.slice(0, input.recordKey.indexOf('/')) : undefined);
    try {
      return this.resolveOwner(input.process, input.step, entity) || DEFAULT_OWNER_TEAM;
    } catch {
      // A broken ownership matrix must not lose the exception itself.
      return DEFAULT_OWNER_TEAM;
    }
  }

  /**
   * Records a failure. A repeat for the same open (process, step, recordKey) updates that entry: the key must be the
   * failed record's own identity (or `messageRecordKey`), never a placeholder shared by different records.
   */
  async add(input: ExceptionInput, actor = `process:${input.process}`): Promise<ExceptionRecord> {
    const { entity: _entity, ownerTeam: _owner, ...rest } = input;
    const exception: NewException = { ...rest, ownerTeam: this.ownerFor(input), message: redactString(input.message) };
    if (input.details !== undefined) exception.details = redact(input.details);
    if (input.request !== undefined) exception.request = redact(input.request);
    if (input.response !== undefined) exception.response = redact(input.response);
    // the trace of the run that failed (lib/telemetry), kept on the audit entry the console's detail reads it from
    const traceId = currentTraceId();
    const record = await this.store.exceptionAdd(exception, this.now());
    const recurred = record.occurrences > 1;
    await this.audit.append({
      actor,
      action: recurred ? 'exception.recurred' : 'exception.added',
      process: record.process,
      correlationId: record.correlationId,
      recordKey: record.recordKey,
      details: { exceptionId: record.id, step: record.step, errorClass: record.errorClass, message: record.message, ownerTeam: record.ownerTeam, ...(traceId ? { traceId } : {}) },
    });
    if (recurred) this.safeEmit('changed', record, 'recurred');
    else this.safeEmit('added', record);
    return record;
  }

  /**
   * A failure already in the queue reached a second reporter (the fabric-exception behind a Catch node): audited on
   * that entry (`exception.reported`) instead of being added again. Undefined when the entry no longer exists.
   */
  async report(id: number, actor: string): Promise<ExceptionRecord | undefined> {
    const record = await this.store.exceptionGet(id);
    if (!record) return undefined;
    await this.audit.append({ ...this.auditBase(record), actor, action: 'exception.reported', details: { exceptionId: id, status: record.status } });
    return record;
  }

  get(id: number): Promise<ExceptionRecord | undefined> {
    return this.store.exceptionGet(id);
  }

  /** Newest first. */
  list(filter: ExceptionFilter = {}): Promise<ExceptionRecord[]> {
    return this.store.exceptionList(filter);
  }

  count(filter: ExceptionFilter = {}): Promise<number> {
    return this.store.exceptionCount(filter);
  }

  private async mustGet(id: number): Promise<ExceptionRecord> {
    const record = await this.store.exceptionGet(id);
    if (!record) throw new ExceptionQueueError('not-found', `exception ${id} does not exist`, id);
    return record;
  }

  private async refreshed(id: number): Promise<ExceptionRecord> {
    return (await this.store.exceptionGet(id))!;
  }

  private auditBase(record: ExceptionRecord): { process: string; correlationId?: string; recordKey?: string } {
    return { process: record.process, correlationId: record.correlationId, recordKey: record.recordKey };
  }

  /**
   * Re-submits an open exception's request (or `options.payload`, which then replaces the stored request)
   * to its replay target. On success the exception is 'replayed' (a later success of the record resolves it;
   * a new failure opens a new exception). When the target refuses, it stays open and the error is thrown.
   */
  async replay(id: number, options: ReplayOptions): Promise<ExceptionRecord> {
    if (this.replaying.has(id)) throw new ExceptionQueueError('busy', `exception ${id} is already being replayed`, id);
    this.replaying.add(id);
    try {
      return await this.replayOne(id, options);
    } finally {
      this.replaying.delete(id);
    }
  }

  private async replayOne(id: number, options: ReplayOptions): Promise<ExceptionRecord> {
    let record = await this.mustGet(id);
    if (record.status !== 'open') {
      throw new ExceptionQueueError('not-open', `exception ${id} is ${record.status}; only open exceptions can be replayed`, id);
    }
    const target = record.replayTarget;
    if (!target) throw new ExceptionQueueError('no-replay-target', `exception ${id} has no replay target (it was not raised by a replayable step)`, id);
    const replayer = this.replayerFor(target);
    if (!replayer) {
      const where = target.kind === 'outbox' ? `the delivery engine (connection ${target.connection})` : `node ${target.nodeId}`;
      throw new ExceptionQueueError('no-replayer', `exception ${id} cannot be replayed now: ${where} is not running`, id);
    }

    const edited = options.payload !== undefined;
    if (edited) {
      const previous = record.request ?? null;
      const stored = redact(options.payload);
      await this.store.exceptionUpdateRequest(id, stored);
      await this.audit.append({ ...this.auditBase(record), actor: options.actor, action: 'exception.edited', details: { exceptionId: id, previous, edited: stored } });
      record = await this.refreshed(id);
      this.safeEmit('changed', record, 'edited');
    }

    const payload: Json = edited ? (options.payload as Json) : (record.request ?? null);
    try {
      await replayer({ payload, edited, exception: record, actor: options.actor });
    } catch (err) {
      const message = errorText(err);
      await this.audit.append({ ...this.auditBase(record), actor: options.actor, action: 'exception.replay-failed', details: { exceptionId: id, error: message } });
      this.safeEmit('changed', record, 'replay-failed');
      throw new ExceptionQueueError('replay-failed', `replay of exception ${id} failed: ${message}`, id);
    }
    await this.store.exceptionSetStatus(id, 'replayed', options.actor, this.now(), edited ? 'replayed with edited payload' : 'replayed');
    await this.audit.append({
      ...this.auditBase(record),
      actor: options.actor,
      action: 'exception.replayed',
      targetSystem: target.kind === 'outbox' ? target.connection : `node:${target.nodeId}`,
      details: { exceptionId: id, edited },
    });
    record = await this.refreshed(id);
    this.safeEmit('changed', record, 'replayed');
    return record;
  }

  private replayerFor(target: NonNullable<ExceptionRecord['replayTarget']>): NodeReplayer | undefined {
    if (target.kind === 'node') return this.nodeReplayers.get(target.nodeId);
    const outbox = this.outboxReplayer;
    return outbox && ((request: ReplayRequest) => outbox({ connection: target.connection, operation: target.operation }, request));
  }

  /**
   * Replays every open exception matching `filter` (oldest first), one at a time. Failures are collected,
   * not thrown. `filter.limit` caps how many are replayed (default: all).
   */
  async replayMany(filter: ExceptionFilter, options: { actor: string; onProgress?: (progress: BulkReplayProgress) => void }): Promise<BulkReplayResult> {
    const statuses = filter.status === undefined ? ['open'] : Array.isArray(filter.status) ? filter.status : [filter.status];
    const ids: number[] = [];
    if (statuses.includes('open')) {
      const cap = filter.limit ?? Number.POSITIVE_INFINITY;
      // Snapshot the ids first: replaying changes statuses, which would shift offset-based pages.
      for (let offset = 0; ids.length < cap; offset += BULK_PAGE) {
        const page = await this.store.exceptionList({ ...filter, status: 'open', limit: BULK_PAGE, offset });
        ids.push(...page.map((record) => record.id));
        if (page.length < BULK_PAGE) break;
      }
      ids.splice(cap);
      ids.reverse();
    }
    const result: BulkReplayResult = { total: ids.length, replayed: [], failed: [] };
    const { limit: _limit, offset: _offset, ...described } = filter;
    await this.audit.append({ actor: options.actor, action: 'exception.bulk-replay.started', details: { filter: described as Json, total: ids.length } });
    for (const id of ids) {
      try {
        await this.replay(id, { actor: options.actor });
        result.replayed.push(id);
      } catch (err) {
        result.failed.push({ id, error: errorText(err) });
      }
      options.onProgress?.({ total: ids.length, done: result.replayed.length + result.failed.length, replayed: result.replayed.length, failed: result.failed.length, lastId: id });
    }
    await this.audit.append({
      actor: options.actor,
      action: 'exception.bulk-replay.finished',
      details: { filter: described as Json, total: ids.length, replayed: result.replayed.length, failed: result.failed.length },
    });
    return result;
  }

  /** Closes an exception without replaying it. A reason is required: it is what the next person reads. */
  async discard(id: number, options: { actor: string; reason: string }): Promise<ExceptionRecord> {
    const reason = (options.reason ?? '').trim();
    if (!reason) throw new ExceptionQueueError('bad-request', `discarding exception ${id} needs a reason`, id);
    const record = await this.mustGet(id);
    if (record.status !== 'open') throw new ExceptionQueueError('not-open', `exception ${id} is ${record.status}; only open exceptions can be discarded`, id);
    await this.store.exceptionSetStatus(id, 'discarded', options.actor, this.now(), reason);
    await this.audit.append({ ...this.auditBase(record), actor: options.actor, action: 'exception.discarded', details: { exceptionId: id, reason } });
    const updated = await this.refreshed(id);
    this.safeEmit('changed', updated, 'discarded');
    return updated;
  }

  /** ExceptionSink shape (lib/delivery/services.ts): resolves a record's exceptions, returns how many. */
  async autoResolve(recordKey: string, by: string): Promise<number> {
    return (await this.resolveForRecord(recordKey, { actor: by })).length;
  }

  /**
   * A later run for `recordKey` succeeded: its open (and replayed-but-unconfirmed) exceptions are resolved.
   * Restrict to one process with `process`. Returns the resolved records.
   */
  async resolveForRecord(recordKey: string, options: { actor: string; process?: string; reason?: string } ): Promise<ExceptionRecord[]> {
    const statuses: ExceptionStatus[] = ['open', 'replayed'];
    const matches = await this.store.exceptionList({ recordKey, status: statuses, process: options.process, limit: 10000 });
    const reason = options.reason ?? 'a later run for the same record succeeded';
    const resolved: ExceptionRecord[] = [];
    for (const record of matches) {
      await this.store.exceptionSetStatus(record.id, 'resolved', options.actor, this.now(), reason);
      await this.audit.append({ ...this.auditBase(record), actor: options.actor, action: 'exception.resolved', details: { exceptionId: record.id, reason, previousStatus: record.status } });
      const updated = await this.refreshed(record.id);
      resolved.push(updated);
      this.safeEmit('changed', updated, 'resolved');
    }
    return resolved;
  }
}
