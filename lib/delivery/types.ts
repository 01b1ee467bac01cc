/**
 * The contract between the outbox engine (lib/delivery) and everything that writes to an external system.
 * Connectors implement `ConnectionExecutor`; nodes call `ConnectionHandle.submit` for writes and
 * `ConnectionHandle.call` for reads. Nobody else retries, rate-limits or breaks circuits.
 */
import type { Json, Lane, NewOutboxItem, OutboxItem } from '../store/store';
import type { RequestGate } from './request-gate';
import type { ConnectionXref } from '../xref';

export type { RequestGate } from './request-gate';
export type { Lane } from '../store/store';

export interface ExecutionContext {
  /** Sent to vendors that accept one (NetSuite `X-NetSuite-Idempotency-Key`) and used for upsert external ids. */
  idempotencyKey: string;
  /** 1 for the first try. */
  attempt: number;
  correlationId?: string;
  /**
   * Runs one HTTP request through the connection's rate limit: one token per request (the attempt's first request
   * uses the token the engine took before the attempt). Same gate as `attachRequestGate`; use either. Always set by
   * the engine (optional only so that tests can call `execute` directly).
   */
  throttle?<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The cross-reference of this connection (lib/xref): a connector reads the vendor id / number it recorded before
   * any lookup-then-create and records what the vendor answered. Always set by the engine.
   */
  xref?: ConnectionXref;
}

export interface ConnectionExecutor {
  /** Performs one write. Throws (anything); `classify` decides whether it is retried. Returns the vendor's result. */
  execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json>;
  /**
   * Called once at registration with the connection's request gate: the connector routes every HTTP request it
   * makes for this connection through it (writes, reads, pollers), one token per request. Returns a detach function
   * (called when the connection closes). Executors without it are limited per attempt (one token each).
   */
  attachRequestGate?(gate: RequestGate): (() => void) | void;
}

export interface ConnectionLimits {
  /** Token-bucket refill rate in HTTP requests per second (not writes: a write of 5 requests takes 5 tokens); 0 = unlimited. */
  ratePerSecond: number;
  /** Writes (attempts) and `call` reads in flight at once. */
  concurrency: number;
  /** Tries before an item is given up and sent to the exception queue. */
  maxAttempts: number;
  /** Exponential backoff with full jitter: delay = random(0, min(maxDelayMs, baseDelayMs * 2^(attempt-1))), or Retry-After when given. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Consecutive failures that open the breaker, and how long it stays open before a half-open probe. */
  breakerThreshold: number;
  breakerHalfOpenAfterMs: number;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface DeliveryResult {
  item: OutboxItem;
  response: Json;
  /** True when the same (connection, idempotencyKey) had been delivered before: nothing was sent again. */
  duplicate: boolean;
}

/** What a node submits: the outbox item, plus the inbox identity of the msg it came from (`inboxRefOf(msg)`). */
export type SubmitInput = Omit<NewOutboxItem, 'connection'> & {
  /**
   * The inbox entry this write comes from (fabric-mqtt-in's `msg._fabricInbox`): marked processed as soon as the
   * write is persisted in the outbox (not stored with the item). Pass `inbox: msg._fabricInbox` or `inboxRefOf(msg)`.
   */
  inbox?: { source: string; messageId: string };
};

export interface ConnectionHandle {
  readonly name: string;
  /**
   * Persists the write, then delivers it. Resolves once delivered; rejects with a FabricError once it is in the exception queue.
   * With `inbox`, the inbox entry is marked processed right after the outbox commit (the durable hand-over).
   */
  submit(item: SubmitInput): Promise<DeliveryResult>;
  /**
   * A read through the same rate limit, concurrency cap, retry and breaker, not persisted. `lane` (default `normal`):
   * reporting and experience-API reads pass `low`, so writes waiting for a slot go first. Takes one token per call;
   * a read whose requests go through the connection's gate (the connector's client) takes one per request.
   */
  call<T>(fn: (attempt: number) => Promise<T>, options?: { lane?: Lane }): Promise<T>;
  circuitState(): CircuitState;
  onCircuitState(listener: (state: CircuitState) => void): () => void;
  /** Stops this registration: unfinished items stay in the store and resume on the next registration. */
  close(): Promise<void>;
}
