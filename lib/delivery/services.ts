/**
 * What the outbox engine needs from the services around the store (exception queue, audit) and
 * how it falls back to the bare Store when a service is not given. The engine takes these as
 * structural interfaces so that it can be built in a child process (reliability suite) or a unit
 * test with nothing but a Store.
 */
import { ExceptionQueue } from '../exceptions';
import type { AuditEntry, ExceptionRecord, Json, NewException, OutboxItem, Store } from '../store/store';

/** Re-submits a replayed exception's (possibly edited) request to the outbox. */
export type OutboxReplayer = (exception: ExceptionRecord, request: Json, actor: string) => Promise<unknown>;

/** An exception as the engine raises it; the queue fills the owner team from the ownership matrix. */
export type RaisedException = Omit<NewException, 'ownerTeam'> & { ownerTeam?: string };

/** The subset of the ExceptionQueue (lib/exceptions) the engine uses. */
export interface ExceptionSink {
  add(exception: RaisedException): Promise<ExceptionRecord>;
  /** Resolves the open exceptions of a record after a later run of it succeeded. */
  autoResolve?(recordKey: string, by: string): Promise<unknown>;
  /** Lets replay of `replayTarget.kind === 'outbox'` exceptions reach the engine. */
  registerReplayer?(kind: 'outbox', replayer: OutboxReplayer): unknown;
}

/** The subset of the audit service (lib/audit) the engine uses. */
export interface AuditSink {
  record(entry: AuditEntry): Promise<unknown>;
  /**
   * The entry as `record` would append it, when `record` does nothing but append it to `store`: the engine then writes
   * it in the same transaction as the delivered mark (store.outboxDelivered) instead of calling `record`.
   */
  entryFor?(store: Store, entry: AuditEntry): AuditEntry | undefined;
}

export interface DeliveryServices {
  exceptions?: ExceptionSink;
  audit?: AuditSink;
}

/** An ExceptionSink straight on the store, for when no ExceptionQueue is given. */
export function storeExceptionSink(store: Store, now: () => number = Date.now): ExceptionSink {
  return {
    add: (exception) => store.exceptionAdd({ ...exception, ownerTeam: exception.ownerTeam ?? 'integration-ops' }, now()),
    // the exception queue's auto-resolve, audited (one implementation of it)
    autoResolve: (recordKey, by) => new ExceptionQueue(store, { now }).autoResolve(recordKey, by),
  };
}

export function storeAuditSink(store: Store): AuditSink {
  return { record: (entry) => store.auditAppend(entry), entryFor: (target, entry) => (target === store ? entry : undefined) };
}

/** The outbox keeps the idempotency key beside the replay target so that a replay reuses it. */
export interface OutboxReplayTarget {
  kind: 'outbox';
  connection: string;
  operation: string;
  idempotencyKey?: string;
  outboxId?: number;
}

export function outboxReplayTarget(item: OutboxItem): OutboxReplayTarget {
  return { kind: 'outbox', connection: item.connection, operation: item.operation, idempotencyKey: item.idempotencyKey, outboxId: item.id };
}
