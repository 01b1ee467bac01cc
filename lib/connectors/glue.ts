/**
 * What the PSA / Jira / Teams config nodes share (no Node-RED import): registering a connector's executor
 * with the store's delivery engine under the config node's limits, and deriving idempotency keys.
 */
import crypto from 'node:crypto';
import { deliveryFor } from '../delivery/engine';
import type { ConnectionExecutor, ConnectionHandle, ConnectionLimits } from '../delivery/types';
import type { Store } from '../store/store';
import { guardWrites } from '../governance/write-ownership';
import { markInboxProcessed } from '../inbox';

export interface LimitsConfig {
  ratePerSecond?: string | number;
  concurrency?: string | number;
  maxAttempts?: string | number;
}

export function limitsFrom(cfg: LimitsConfig, defaults: Partial<ConnectionLimits>): Partial<ConnectionLimits> {
  const num = (v: unknown, d: number | undefined) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? d : Number(v));
  return {
    ...defaults,
    ratePerSecond: num(cfg.ratePerSecond, defaults.ratePerSecond),
    concurrency: num(cfg.concurrency, defaults.concurrency),
    maxAttempts: num(cfg.maxAttempts, defaults.maxAttempts),
  };
}

/**
 * Registers the executor with the store's delivery engine (exceptions and audit through the store's services).
 * The handle's `submit` checks the ownership matrix first (lib/governance/write-ownership.ts): a write that would
 * overwrite a field owned by another system is refused and sent to the owner team's exception queue.
 */
export function registerConnection(store: Store, services: { exceptions?: unknown; audit?: unknown } | undefined, name: string, executor: ConnectionExecutor, limits: Partial<ConnectionLimits>): ConnectionHandle {
  const engine = deliveryFor(store, (services ?? {}) as never);
  return guardWrites(engine.registerConnection(name, executor, limits), engine.exceptions, { markInbox: (ref) => markInboxProcessed(ref, store) });
}

/** The message's idempotency key, or a stable hash of what is written. */
export function idempotencyKeyFor(msg: { idempotencyKey?: unknown; idempotencykey?: unknown }, operation: string, request: unknown): string {
  const given = msg.idempotencyKey ?? msg.idempotencykey;
  if (typeof given === 'string' && given) return given;
  return `${operation}:${crypto.createHash('sha256').update(JSON.stringify(request ?? null)).digest('hex').slice(0, 40)}`;
}
