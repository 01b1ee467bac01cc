/**
 * The outbox engine (docs/delivery.md).
 *
 * A write is persisted (store.outboxEnqueue) before anything is sent; a per-connection worker leases
 * due items (store.outboxClaim) and runs the connection's executor through
 *   the ConcurrencyCap (`concurrency` cap: writes and `call` reads in flight, lanes in priority order)
 *   -> cockatiel circuit breaker (ConsecutiveBreaker(breakerThreshold), halfOpenAfter)
 *   -> the executor, bounded by `attemptTimeoutMs` (time waiting for rate tokens not counted).
 * The rate (`ratePerSecond`, `burst`) is a per-connection RequestGate (request-gate.ts): one token per HTTP request,
 * taken by the connector's client for every request it sends for the connection, paused by a 429's Retry-After.
 * Transient failures are rescheduled durably (store.outboxRetryAt) after Retry-After or full-jitter
 * exponential backoff; permanent failures and exhausted retries go to the exception queue.
 * Successes are audited (`write.delivered`) and auto-resolve the record's open exceptions.
 *
 * No busy polling: a worker wakes on submit, on completion, on an unref'd timer set for the next
 * retry it scheduled itself, and on a slow sweep (`sweepMs`) that picks up work it cannot know
 * about (items of a crashed process whose lease ran out, items enqueued by another instance,
 * retries scheduled before a restart).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { BrokenCircuitError, CircuitBreakerPolicy, CircuitState as CockatielState, ConsecutiveBreaker, IsolatedCircuitError, circuitBreaker, handleWhen } from 'cockatiel';
import type { AuditEntry, ExceptionRecord, Json, OutboxItem, Store } from '../store/store';
import { redact, redactString } from '../redaction';
import { FabricError, TransientError, classify } from './errors';
import { retryDelay } from './backoff';
import type { CircuitState, ConnectionExecutor, ConnectionHandle, ConnectionLimits, DeliveryResult, SubmitInput } from './types';
import { markInboxProcessed } from '../inbox';
import { AttemptScope, ConnectionGate, GatePausedError } from './request-gate';
import { ConcurrencyCap } from './concurrency-cap';
import { SharedRate, SharedSlots } from './shared-quota';
import { LANES, type Lane } from '../store/store';
import { outboxReplayTarget, storeAuditSink, storeExceptionSink } from './services';
import type { AuditSink, DeliveryServices, ExceptionSink, OutboxReplayTarget } from './services';
import * as metrics from '../kpi/metrics';
import { presenceOf } from '../cluster/instance';
import { CrossReference, type ConnectionXref } from '../xref';
import { businessAttributes, contextWithTrace, traceIdOf, traceOfContext, tracingEnabled, withSpan, withTrace } from '../telemetry';

/** Optional knobs on top of types.ts' ConnectionLimits (all have defaults). */
export interface ExtendedLimits extends ConnectionLimits {
  /** Token-bucket size: how many requests may go out back to back after an idle period. 1 = evenly spaced. */
  burst?: number;
  /** One attempt is abandoned (and counted as a transient failure) after this long. */
  attemptTimeoutMs?: number;
  /** Upper bound for a vendor's Retry-After. */
  maxRetryAfterMs?: number;
}

/** What `registerConnection` takes: the limits, and whether they are shared with the store's other instances. */
export type ConnectionOptions = Partial<ExtendedLimits> & {
  /**
   * Enforce `concurrency` and `ratePerSecond` across every instance on the store (shared-quota.ts) instead of per
   * process. Default: on for a PostgreSQL store (several instances), off for SQLite (one process: the local limiter).
   */
  shared?: boolean;
};

export const DEFAULT_LIMITS: Required<ExtendedLimits> = {
  ratePerSecond: 10,
  concurrency: 4,
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 60_000,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 30_000,
  burst: 1,
  attemptTimeoutMs: 30_000,
  maxRetryAfterMs: 15 * 60_000,
};

export interface DeliveryEngineOptions {
  /**
   * Lease owner id of this process. Default: the owner of the instance presence running on the store
   * (`<instance id>/<incarnation>`, lib/cluster/instance.ts: a restart takes its items back at once, survivors take a
   * dead instance's over after its missed heartbeats), else an id unique per process (items wait out their lease).
   */
  owner?: string;
  /** How long a claimed item belongs to this process before another may re-claim it. Must exceed attemptTimeoutMs. */
  leaseMs?: number;
  /** Safety sweep for work this process was not told about. */
  sweepMs?: number;
  /** Audit actor for deliveries. */
  actor?: string;
  now?: () => number;
  random?: () => number;
  /** Shared quotas: how long a concurrency slot stays taken without renewal (a dead instance's capacity returns after it). */
  quotaLeaseMs?: number;
  /** Shared quotas: how long a slot taken from the store is reused by this process's attempts before it goes back. */
  quotaHoldMs?: number;
  /** Where the engine reports problems it cannot hand to a caller (store errors in background work). */
  log?: (level: 'warn' | 'error', message: string, err?: unknown) => void;
}

/** What an origin (a node) is told when one of its items completes, live or after a restart. */
export interface Completion {
  item: OutboxItem;
  ok: boolean;
  response?: Json;
  error?: FabricError;
  /** The exception-queue entry of a failed item (live completions only). */
  exceptionId?: number;
  /** True when the item was submitted before this engine started (restart recovery). */
  recovered: boolean;
}
export type CompletionListener = (completion: Completion) => void | Promise<void>;

interface Waiter {
  resolve(result: DeliveryResult): void;
  reject(err: FabricError): void;
  duplicate: boolean;
}

/** Thrown to callers whose submit was still pending when the engine or connection closed. */
export class DeliveryClosedError extends FabricError {
  constructor(connection: string) {
    super(`connection ${connection} closed before the write completed; it stays in the outbox and resumes when the connection is registered again`, { retry: 'transient', errorClass: 'internal' });
  }
}

const engines = new WeakMap<Store, DeliveryEngine>();

/** Requests are spaced 5% wider than 1/ratePerSecond (see Connection's constructor). */
const RATE_MARGIN = 1.05;
/** Outcomes being recorded per vendor slot before claiming stops (see Connection.sending). */
const MAX_RECORDING = 3;
/** Waiters checked for completion by another instance per sweep (see settleForeign). */
const SETTLE_BATCH = 256;
/** Concurrency-cap priority (lower first) and shared-slot order of each lane. */
const LANE_PRIORITY: Record<Lane, number> = { high: 1, normal: 5, low: 8 };
/** Shared quotas: an unused slot goes back to the store after this long; a process without a slot asks again this often. */
const QUOTA_LINGER_MS = 50;
const QUOTA_POLL_MS = 25;

function checkLane(lane: unknown): Lane {
  if (lane === undefined || lane === null) return 'normal';
  if (typeof lane !== 'string' || !LANES.includes(lane as Lane)) throw new TypeError(`lane must be one of ${LANES.join(', ')}, got ${JSON.stringify(lane)}`);
  return lane as Lane;
}

/** The one engine of a store (created on first use, replaced after close). */
export function deliveryFor(store: Store, services: DeliveryServices = {}, options: DeliveryEngineOptions = {}): DeliveryEngine {
  const existing = engines.get(store);
  if (existing && !existing.closed) return existing;
  const engine = new DeliveryEngine(store, services, options);
  engines.set(store, engine);
  return engine;
}

export class DeliveryEngine {
  readonly owner: string;
  readonly leaseMs: number;
  readonly sweepMs: number;
  readonly quotaLeaseMs: number;
  readonly quotaHoldMs: number;
  readonly actor: string;
  closed = false;
  readonly now: () => number;
  readonly random: () => number;
  readonly exceptions: ExceptionSink;
  readonly audit: AuditSink;
  private readonly connections = new Map<string, Connection>();
  private readonly listeners = new Map<string, Set<CompletionListener>>();
  /** @internal Item ids whose completion is being recorded or handed to listeners right now (a drain skips them). */
  readonly completing = new Set<number>();
  private readonly untrack: () => void;
  private readonly logFn: NonNullable<DeliveryEngineOptions['log']>;
  private readonly replayConnections = new Map<string, Promise<Connection>>();
  private readonly stopWaking: () => void;

  constructor(readonly store: Store, services: DeliveryServices = {}, options: DeliveryEngineOptions = {}) {
    const presence = presenceOf(store);
    this.owner = options.owner ?? presence?.owner ?? `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 120_000;
    this.sweepMs = options.sweepMs ?? 5_000;
    this.quotaLeaseMs = options.quotaLeaseMs ?? 15_000;
    this.quotaHoldMs = options.quotaHoldMs ?? 1_000;
    // a slot is reused locally only within quotaHoldMs of being taken, so it is never started on after its lease ended
    if (!(this.quotaLeaseMs > 0) || !(this.quotaHoldMs >= 0) || this.quotaHoldMs >= this.quotaLeaseMs) throw new RangeError(`quotaHoldMs (${this.quotaHoldMs}) must be non-negative and shorter than quotaLeaseMs (${this.quotaLeaseMs})`);
    this.actor = options.actor ?? 'delivery';
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.logFn = options.log ?? ((level, message, err) => console[level](`[ps-fabric delivery] ${message}${err ? ': ' + redactString(err instanceof Error ? err.message : String(err)) : ''}`));
    this.exceptions = services.exceptions ?? storeExceptionSink(store, this.now);
    this.audit = services.audit ?? storeAuditSink(store);
    this.exceptions.registerReplayer?.('outbox', (exception, request, actor) => this.replay(exception, request, actor));
    this.untrack = metrics.trackOutboxBacklog(store);
    // items freed from a dead incarnation are due now: claim them without waiting for the sweep
    const wakeAll = () => {
      for (const c of this.connections.values()) c.wake();
    };
    presence?.on('reclaimed', wakeAll);
    this.stopWaking = () => presence?.off('reclaimed', wakeAll);
  }

  log(level: 'warn' | 'error', message: string, err?: unknown): void {
    try {
      this.logFn(level, message, err);
    } catch {
      /* logging never breaks delivery */
    }
  }

  /** Starts delivering a connection's outbox items (including those left by a previous process). */
  registerConnection(name: string, executor: ConnectionExecutor, options: ConnectionOptions = {}): ConnectionHandle {
    if (this.closed) throw new Error('delivery engine is closed');
    if (this.connections.has(name)) throw new Error(`connection ${name} is already registered with this delivery engine; close the previous handle first`);
    const { shared, ...limits } = options;
    if (shared !== undefined && shared !== null && typeof shared !== 'boolean') throw new TypeError(`connection ${name}: shared must be true or false, got ${JSON.stringify(shared)}`);
    const full = { ...DEFAULT_LIMITS, ...stripUndefined(limits) };
    validateLimits(name, full, this.leaseMs);
    const connection = new Connection(this, name, executor, full, shared ?? this.store.kind === 'postgres');
    this.connections.set(name, connection);
    connection.start();
    return connection;
  }

  /** The live handle of a registered connection. */
  connection(name: string): ConnectionHandle | undefined {
    return this.connections.get(name);
  }

  /** @internal */
  forget(connection: Connection): void {
    if (this.connections.get(connection.name) === connection) this.connections.delete(connection.name);
  }

  /**
   * Tells `listener` about every completed item submitted with this `origin`: live ones as they complete,
   * and those completed while nobody listened (before a restart, during a redeploy) right away.
   * An item is acknowledged in the store once the listener returned (or its promise resolved);
   * if it throws, the completion is offered again on the next registration.
   */
  onCompletion(origin: string, listener: CompletionListener): () => void {
    let set = this.listeners.get(origin);
    if (!set) this.listeners.set(origin, (set = new Set()));
    set.add(listener);
    void this.drainUnacknowledged(origin).catch((err) => this.log('warn', `could not read unacknowledged completions of ${origin}`, err));
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.listeners.get(origin) === set) this.listeners.delete(origin);
    };
  }

  private async drainUnacknowledged(origin: string): Promise<void> {
    const seen = new Set<number>();
    for (;;) {
      if (this.closed || !this.listeners.get(origin)?.size) return;
      const items = (await this.store.outboxUnacknowledged(origin, 100)).filter((i) => !seen.has(i.id) && !this.completing.has(i.id));
      if (items.length === 0) return;
      for (const item of items) {
        seen.add(item.id);
        const ok = item.status === 'delivered';
        await this.notify(item, {
          item,
          ok,
          response: ok ? item.response : undefined,
          error: ok ? undefined : new FabricError(item.lastError ?? 'delivery failed', { retry: 'permanent', errorClass: 'permanent', response: item.response }),
          recovered: true,
        });
      }
    }
  }

  /** @internal Hands a completion to the origin's listeners and acknowledges it when they are done. */
  async notify(item: OutboxItem, completion: Completion): Promise<void> {
    if (!item.origin) return;
    const set = this.listeners.get(item.origin);
    if (!set || set.size === 0) return; // stays unacknowledged until someone listens
    if (this.completing.has(item.id) && completion.recovered) return;
    this.completing.add(item.id);
    try {
      for (const listener of [...set]) await listener(completion);
      await this.store.outboxAcknowledge(item.id);
    } catch (err) {
      this.log('warn', `completion listener of ${item.origin} failed for outbox item ${item.id}; it will be offered again`, err);
    } finally {
      this.completing.delete(item.id);
    }
  }

  /**
   * Replays an exception whose replayTarget is an outbox connection: the (possibly edited) request is
   * enqueued again under the same idempotency key with a fresh attempt count, so the vendor-side
   * idempotency (external ids, idempotency headers) still holds. Resolves once the item is queued
   * (not once delivered); its completion reaches the original origin's listeners.
   */
  async replay(exception: ExceptionRecord, request?: Json, _actor = 'operator'): Promise<OutboxItem> {
    const target = exception.replayTarget as OutboxReplayTarget | { kind: 'node' } | undefined;
    if (!target || target.kind !== 'outbox') throw new Error(`exception ${exception.id} has no outbox replay target`);
    const body = request === undefined ? (exception.request ?? null) : request;
    const previous = target.idempotencyKey
      ? await this.store.outboxFind(target.connection, target.idempotencyKey)
      : target.outboxId !== undefined
        ? await this.store.outboxGet(target.outboxId)
        : undefined;
    const key = target.idempotencyKey ?? previous?.idempotencyKey ?? `exception-${exception.id}`;
    const now = this.now();
    let item: OutboxItem;
    if (previous && previous.status === 'failed') {
      item = await this.requeue(previous, body, now);
    } else if (previous && previous.status === 'delivered') {
      // Already delivered since (e.g. a later run): nothing to send, the exception is moot.
      item = previous;
    } else {
      const result = await this.store.outboxEnqueue(
        {
          connection: target.connection,
          operation: target.operation,
          idempotencyKey: key,
          request: body,
          origin: previous?.origin,
          context: previous?.context,
          correlationId: exception.correlationId ?? previous?.correlationId,
          process: exception.process,
          step: exception.step,
          recordKey: exception.recordKey ?? previous?.recordKey,
          ...(previous?.lane ? { lane: previous.lane } : {}),
        },
        now,
      );
      item = result.item;
    }
    this.connections.get(target.connection)?.wake();
    return item;
  }

  /** Puts a failed item back to pending with a new request and a fresh attempt count. */
  private async requeue(previous: OutboxItem, request: Json, now: number): Promise<OutboxItem> {
    const item = await this.store.outboxRequeue(previous.id, now, request);
    if (!item) throw new Error(`outbox item ${previous.id} is no longer failed; not re-queued`);
    return item;
  }

  /** Stops every connection: no new claims, in-flight attempts finish (their results are stored), timers cleared. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.listeners.clear();
    this.untrack();
    this.stopWaking();
    if (engines.get(this.store) === this) engines.delete(this.store);
  }
}

/** One registered connection: its limiter, breaker, worker and waiters. */
class Connection implements ConnectionHandle {
  /** Concurrency cap (writes and `call` reads in flight); no rate here. */
  private readonly limiter: ConcurrencyCap;
  /** The rate: one token per HTTP request (request-gate.ts). */
  readonly gate: ConnectionGate;
  /** The concurrency cap across instances (shared-quota.ts), when the connection's limits are shared. */
  readonly slots: SharedSlots | undefined;
  private detachGate: (() => void) | undefined;
  private readonly breaker: CircuitBreakerPolicy;
  private openedAt = 0;
  private state: CircuitState = 'closed';
  private readonly stateListeners = new Set<(state: CircuitState) => void>();
  private readonly inflight = new Set<number>();
  /**
   * Items claimed and not yet answered by the vendor (a subset of `inflight`). Claims are bounded by this, not by
   * `inflight`: recording an outcome (the delivered mark with its audit entry, auto-resolve: store round trips) does not hold a
   * vendor slot, so a slow store does not throttle the vendor side to `concurrency / (attempt + bookkeeping)`.
   */
  private sending = 0;
  /** Per item: how many of its claims were turned back by the open breaker (they never reached the vendor). */
  private readonly notSent = new Map<number, number>();
  private readonly waiters = new Map<number, Waiter[]>();
  private pumping = false;
  private pumpAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private sweep: NodeJS.Timeout | undefined;
  private settling = false;
  private settleOffset = 0;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly readDelays = new Set<{ timer: NodeJS.Timeout; resolve(): void }>();
  /** The cross-reference rows of this connection, handed to every attempt (lib/xref). */
  private readonly xref: ConnectionXref;

  constructor(
    private readonly engine: DeliveryEngine,
    readonly name: string,
    private readonly executor: ConnectionExecutor,
    readonly limits: Required<ExtendedLimits>,
    readonly shared: boolean,
  ) {
    // Concurrency per write (and per read `call`), rate per HTTP request: a write holding a slot asks the gate for
    // more tokens, and tokens are consumed, never held, so it never waits on something it holds. Vendors count
    // requests on arrival: the gate paces with a small margin (RATE_MARGIN) so that network jitter cannot make the
    // vendor see more than `ratePerSecond`.
    this.limiter = new ConcurrencyCap(limits.concurrency);
    this.xref = new CrossReference(engine.store, () => engine.now()).forConnection(name);
    this.gate = new ConnectionGate(name, {
      ratePerSecond: limits.ratePerSecond,
      burst: limits.burst,
      margin: RATE_MARGIN,
      maxRetryAfterMs: limits.maxRetryAfterMs,
      onPause: (until) => this.wakeAt(until), // claim again once the vendor's Retry-After has passed
      shared: shared ? (intervalMs, burst) => new SharedRate(engine.store, name, intervalMs, burst) : undefined,
    });
    // The local limiter stays: a process never runs more than `concurrency` at once; shared slots bound them all.
    this.slots = shared
      ? new SharedSlots({
          store: engine.store,
          connection: name,
          holder: `${engine.owner}:${crypto.randomBytes(4).toString('hex')}`,
          capacity: limits.concurrency,
          leaseMs: engine.quotaLeaseMs,
          holdMs: engine.quotaHoldMs,
          lingerMs: QUOTA_LINGER_MS,
          pollMs: QUOTA_POLL_MS,
          now: engine.now,
          random: engine.random,
          log: (level, message, err) => engine.log(level, message, err),
        })
      : undefined;
    if (executor.attachRequestGate) {
      const detach = executor.attachRequestGate(this.gate);
      this.detachGate = typeof detach === 'function' ? detach : undefined;
    }
    this.breaker = circuitBreaker(
      handleWhen((err) => countsAgainstBreaker(err)),
      { halfOpenAfter: limits.breakerHalfOpenAfterMs, breaker: new ConsecutiveBreaker(limits.breakerThreshold) },
    );
    this.breaker.onStateChange((s) => {
      if (s === CockatielState.Open) this.openedAt = this.engine.now();
      this.setState(s === CockatielState.Closed ? 'closed' : s === CockatielState.HalfOpen ? 'half-open' : 'open');
      if (s === CockatielState.Closed) this.wake();
    });
    metrics.circuitStateGauge.set({ connection: name }, 0);
  }

  start(): void {
    this.sweep = setInterval(() => {
      this.wake();
      void this.settleForeign().catch((err) => this.engine.log('warn', `checking outbox items of ${this.name} completed elsewhere failed`, err));
    }, this.engine.sweepMs);
    this.sweep.unref();
    this.wake();
  }

  // ---------------------------------------------------------------- public handle

  async submit(submitted: SubmitInput): Promise<DeliveryResult> {
    if (this.closed) throw new DeliveryClosedError(this.name);
    if (!submitted || typeof submitted.idempotencyKey !== 'string' || submitted.idempotencyKey === '') throw new TypeError('submit: idempotencyKey (non-empty string) is required');
    if (typeof submitted.operation !== 'string' || submitted.operation === '') throw new TypeError('submit: operation is required');
    checkLane(submitted.lane);
    const { inbox, ...input } = submitted;
    if (tracingEnabled()) input.context = contextWithTrace(input.context) as Json;
    const { item, duplicate } = await this.engine.store.outboxEnqueue({ ...input, connection: this.name }, this.engine.now());
    // the write is durable now (pending, delivered or failed): its inbox entry need not be replayed any more
    if (inbox) await markInboxProcessed(inbox, this.engine.store);
    if (item.status === 'delivered') return { item, response: item.response ?? null, duplicate: true };
    if (item.status === 'failed') {
      const err = new FabricError(`${this.name}/${item.operation} ${item.idempotencyKey} already failed and is in the exception queue: ${item.lastError ?? ''}`.trim(), {
        retry: 'permanent',
        errorClass: 'permanent',
        response: item.response,
      });
      err.exceptionId = await this.queuedExceptionOf(item);
      throw err;
    }
    const promise = new Promise<DeliveryResult>((resolve, reject) => {
      const list = this.waiters.get(item.id) ?? [];
      list.push({ resolve, reject, duplicate });
      this.waiters.set(item.id, list);
    });
    this.wake();
    return promise;
  }

  async call<T>(fn: (attempt: number) => Promise<T>, options: { lane?: Lane } = {}): Promise<T> {
    const priority = LANE_PRIORITY[checkLane(options.lane)];
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new DeliveryClosedError(this.name);
      try {
        return await this.limiter.run(priority, () => this.withSlot(priority, () => this.breaker.execute(() => this.scoped(Infinity, () => fn(attempt)))));
      } catch (err) {
        if (err instanceof DeliveryClosedError) throw err;
        if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
          throw new TransientError(`circuit open for ${this.name}: the vendor failed ${this.limits.breakerThreshold} times in a row`, { cause: err });
        }
        const fe = classify(err);
        this.countAttempt(fe);
        if (fe.status === 429) this.gate.pause(fe.retryAfterMs);
        if (fe.retry !== 'transient' || attempt >= this.limits.maxAttempts) throw fe;
        metrics.deliveryRetries.inc({ connection: this.name });
        await this.delay(retryDelay(attempt, this.limits, fe.retryAfterMs, this.engine.random));
      }
    }
  }

  circuitState(): CircuitState {
    return this.state;
  }

  onCircuitState(listener: (state: CircuitState) => void): () => void {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  }

  /** Stops claiming, lets in-flight attempts finish and record their outcome, then releases timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.sweep) clearInterval(this.sweep);
    this.timer = undefined;
    for (const d of this.readDelays) {
      clearTimeout(d.timer);
      d.resolve();
    }
    // writes still waiting for a shared slot go back to the outbox unsent (they could wait for another instance)
    const slotsClosed = this.slots?.close();
    if (this.inflight.size > 0 || this.pumping) await new Promise<void>((resolve) => this.idle.push(resolve));
    this.limiter.close(() => new DeliveryClosedError(this.name));
    await slotsClosed;
    await this.slots?.settled();
    // the connector's client goes back to sending directly (a poller that outlives the registration is not stuck)
    try {
      this.detachGate?.();
    } catch (err) {
      this.engine.log('warn', `detaching the request gate of ${this.name} failed`, err);
    }
    this.detachGate = undefined;
    for (const [, list] of this.waiters) for (const w of list) w.reject(new DeliveryClosedError(this.name));
    this.waiters.clear();
    this.stateListeners.clear();
    this.engine.forget(this);
  }

  // ---------------------------------------------------------------- worker

  /** Asks the worker to look for due items now. */
  wake(): void {
    if (this.closed) return;
    void this.pump();
  }

  private wakeAt(at: number): void {
    if (this.closed) return;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.wake();
    }, Math.max(0, at - this.engine.now()));
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        if (this.closed) break;
        await this.claimOnce();
      } while (this.pumpAgain);
    } catch (err) {
      this.engine.log('error', `claiming outbox items of ${this.name} failed; retrying in 1 s`, err);
      this.wakeAt(this.engine.now() + 1000);
    } finally {
      this.pumping = false;
      this.checkIdle();
    }
  }

  private async claimOnce(): Promise<void> {
    const now = this.engine.now();
    // Vendor slots free (plus one claimed-ahead item per slot, queued in the limiter, so that the claim's store round
    // trip is not paid between two attempts - only when the lease leaves room for an item to wait one whole attempt
    // before its own), and at most MAX_RECORDING outcomes per slot still being recorded.
    // With shared limits, what this process can expect to run is its share of the account's concurrency: claiming
    // for the whole of it would leave items waiting here, leased, while another instance has slots and nothing to do.
    if (this.slots) await this.slots.knowShare();
    const mine = this.slots ? this.slots.share() : this.limits.concurrency;
    const ahead = this.state === 'closed' && this.engine.leaseMs >= 3 * this.limits.attemptTimeoutMs ? mine : 0;
    let slots = Math.min(mine + ahead - this.sending, this.limits.concurrency * (1 + MAX_RECORDING) - this.inflight.size);
    if (this.state === 'open') {
      const probeAt = this.openedAt + this.limits.breakerHalfOpenAfterMs;
      if (now < probeAt) {
        this.wakeAt(probeAt); // hold everything until the breaker lets a probe through
        return;
      }
      slots = this.inflight.size === 0 ? 1 : 0; // one probe
    } else if (this.state === 'half-open') {
      return; // a probe is running; its outcome wakes us
    }
    if (this.gate.pausedUntil > now) {
      this.wakeAt(this.gate.pausedUntil); // the vendor asked us to wait (429 Retry-After): claim nothing until then
      return;
    }
    if (this.limits.ratePerSecond > 0) {
      // Do not lease more than can start well within the lease.
      slots = Math.min(slots, Math.max(1, Math.floor((this.limits.ratePerSecond * this.engine.leaseMs) / 4000)));
    }
    if (slots <= 0) return;
    const items = await this.engine.store.outboxClaim(this.name, slots, now, this.engine.leaseMs, this.engine.owner);
    for (const item of items) this.attempt(item);
  }

  private attempt(item: OutboxItem): void {
    this.inflight.add(item.id);
    this.sending++;
    let answered = false;
    const answer = () => {
      // the vendor answered (or the attempt never started): free the slot for the next claim while the outcome is recorded
      if (answered) return;
      answered = true;
      this.sending--;
      this.wake();
    };
    void this.runAttempt(item, answer)
      .catch((err) => {
        // Only store failures land here: the lease runs out and the item is attempted again.
        this.engine.log('error', `recording the outcome of outbox item ${item.id} (${this.name}) failed; it will be retried after its lease`, err);
      })
      .finally(() => {
        this.inflight.delete(item.id);
        answer();
        this.checkIdle();
        this.wake();
      });
  }

  private checkIdle(): void {
    if (this.inflight.size === 0 && !this.pumping && this.idle.length) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    }
  }

  private async runAttempt(item: OutboxItem, answered: () => void): Promise<void> {
    const attempt = Math.max(1, item.attempts - (this.notSent.get(item.id) ?? 0));
    let response: Json;
    const priority = LANE_PRIORITY[item.lane ?? 'normal'];
    try {
      response = await this.limiter.run(priority, () => this.withSlot(priority, () =>
        this.breaker.execute(() => {
          if (this.closed) throw new DeliveryClosedError(this.name);
          // A write waits out a Retry-After pause of up to half its attempt timeout; a longer one ends the attempt
          // (GatePausedError) and the item comes back after the pause.
          return this.scoped(this.limits.attemptTimeoutMs / 2, () => {
            const gate = this.gate;
            // each attempt is a span of the run that wrote the item (its trace travels in the item's context)
            return withSpan(`${this.name} ${item.operation}`, () => ({ parent: traceOfContext(item.context), attributes: attemptAttributes(item, attempt) }), () => this.executor.execute(item.operation, item.request, {
              idempotencyKey: item.idempotencyKey,
              attempt,
              correlationId: item.correlationId,
              throttle: (fn) => gate.throttle(fn),
              xref: this.xref,
            }));
          });
        })),
      );
    } catch (err) {
      answered();
      const now = this.engine.now();
      const pausedBeforeSending = err instanceof GatePausedError && !err.sent;
      if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError || err instanceof DeliveryClosedError || pausedBeforeSending) {
        // Never reached the vendor: put it back without spending an attempt.
        this.notSent.set(item.id, (this.notSent.get(item.id) ?? 0) + 1);
        metrics.deliveryAttempts.inc({ connection: this.name, outcome: 'rejected' });
        const at = this.closed ? now : pausedBeforeSending ? Math.max(now, this.gate.pausedUntil) : Math.max(now, this.openedAt + this.limits.breakerHalfOpenAfterMs);
        const why = this.closed ? 'connection closed before the attempt' : pausedBeforeSending ? "held until the vendor's Retry-After has passed" : 'circuit open: held until the breaker half-opens';
        await this.engine.store.outboxRetryAt(item.id, at, why, now);
        this.wakeAt(at);
        return;
      }
      const fe = classify(err);
      this.countAttempt(fe);
      if (fe.status === 429) this.gate.pause(fe.retryAfterMs); // the whole connection waits, not just this item
      if (fe.retry === 'transient' && attempt < this.limits.maxAttempts) {
        const at = now + retryDelay(attempt, this.limits, fe.retryAfterMs, this.engine.random);
        metrics.deliveryRetries.inc({ connection: this.name });
        await this.engine.store.outboxRetryAt(item.id, at, redactString(fe.message), now);
        this.wakeAt(at);
        return;
      }
      await this.fail(item, fe, attempt);
      return;
    }
    answered();
    metrics.deliveryAttempts.inc({ connection: this.name, outcome: 'success' });
    await this.succeed(item, response === undefined ? null : response, attempt);
  }

  /**
   * Runs one attempt (or one `call`) in an AttemptScope: the engine takes one token for it before it starts (the
   * first request the connector routes through the gate uses that token; a connector that routes none is limited
   * per attempt), and `attemptTimeoutMs` counts only the time not spent waiting for tokens.
   */
  private async scoped<T>(maxPauseWaitMs: number, fn: () => Promise<T>): Promise<T> {
    const scope = new AttemptScope(this.gate, maxPauseWaitMs);
    return ConnectionGate.run(scope, async () => {
      await this.gate.prepay(scope);
      return withActiveTimeout(fn(), scope, this.limits.attemptTimeoutMs, this.name);
    });
  }

  /** Holds one of the connection's shared concurrency slots around `fn` (waiting for it is not attempt time). */
  private async withSlot<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    if (!this.slots) return fn();
    let slot: number;
    try {
      slot = await this.slots.acquire(priority);
    } catch {
      throw new DeliveryClosedError(this.name); // only a close ends the wait: nothing was sent
    }
    try {
      return await fn();
    } finally {
      this.slots.release(slot);
    }
  }

  private countAttempt(fe: FabricError): void {
    metrics.deliveryAttempts.inc({ connection: this.name, outcome: fe.retry });
    if (fe.status === 429) metrics.deliveryThrottled.inc({ connection: this.name });
  }

  private async succeed(item: OutboxItem, response: Json, attempt: number): Promise<void> {
    const engine = this.engine;
    const now = engine.now();
    const stored = redact(response);
    engine.completing.add(item.id);
    try {
      const entry: AuditEntry = {
        at: now,
        actor: engine.actor,
        action: 'write.delivered',
        process: item.process,
        correlationId: item.correlationId,
        targetSystem: this.name,
        recordKey: item.recordKey,
        details: { operation: item.operation, idempotencyKey: item.idempotencyKey, outboxId: item.id, attempts: attempt, deliveredBy: engine.owner, ...traceIdField(item) },
      };
      // When the audit goes to the engine's store, the delivered mark and its entry are one transaction (one commit,
      // and on PostgreSQL one statement for the marks of a turn): both or neither. If it fails, the item is attempted
      // again after its lease (the vendor de-duplicates by idempotency key). An audit sink elsewhere is told after.
      const inTransaction = engine.audit.entryFor?.(engine.store, entry);
      const delivered = engine.store.outboxDelivered(item.id, stored, now, inTransaction);
      const audited = inTransaction
        ? undefined
        : (async () => {
            await engine.audit.record(entry);
          })().catch((err) => engine.log('error', `audit of delivered outbox item ${item.id} failed`, err));
      await delivered;
      this.notSent.delete(item.id);
      metrics.deliveryOutcomes.inc({ connection: this.name, outcome: 'delivered' });
      metrics.deliveryLatency.observe({ connection: this.name }, Math.max(0, now - item.createdAt) / 1000);
      // auto-resolve only once the delivery is recorded: an exception is never closed for a write the store may lose
      const resolved = item.recordKey && engine.exceptions.autoResolve
        ? (async () => engine.exceptions.autoResolve!(item.recordKey!, `${engine.actor}:${this.name}`))().catch((err) => engine.log('warn', `auto-resolving exceptions of ${item.recordKey} failed`, err))
        : undefined;
      await Promise.all([audited, resolved]);
    } finally {
      engine.completing.delete(item.id);
    }
    const done: OutboxItem = { ...item, status: 'delivered', response: stored, attempts: attempt, updatedAt: now, leaseOwner: undefined, leaseUntil: undefined };
    for (const w of this.takeWaiters(item.id)) w.resolve({ item: done, response, duplicate: w.duplicate });
    await engine.notify(done, { item: done, ok: true, response, recovered: false });
  }

  private async fail(item: OutboxItem, fe: FabricError, attempt: number): Promise<void> {
    const engine = this.engine;
    const now = engine.now();
    const exhausted = fe.retry === 'transient';
    const response = fe.response === undefined && fe.status === undefined ? undefined : redact({ status: fe.status ?? null, body: fe.response ?? null });
    const reason = redactString(fe.message);
    engine.completing.add(item.id);
    let exception: ExceptionRecord | undefined;
    try {
      await engine.store.outboxFailed(item.id, reason, response, now);
      this.notSent.delete(item.id);
      metrics.deliveryOutcomes.inc({ connection: this.name, outcome: 'failed' });
      const what = `${this.name} ${item.operation}${item.recordKey ? ` for ${item.recordKey}` : ''}`;
      // in the item's trace, so the exception's audit entry records its trace id (lib/exceptions)
      exception = await withTrace(traceOfContext(item.context), () => engine.exceptions.add({
        process: item.process ?? 'unknown',
        step: item.step ?? `${this.name}:${item.operation}`,
        errorClass: exhausted ? 'transient-exhausted' : fe.errorClass,
        ...(fe.ownerTeam ? { ownerTeam: fe.ownerTeam } : {}),
        message: exhausted
          ? `${what} still failing after ${attempt} attempts: ${reason}`
          : `${what} was rejected${fe.status ? ` (HTTP ${fe.status})` : ''}: ${reason}`,
        details: fe.details ? (redact(fe.details) as Json) : undefined,
        correlationId: item.correlationId,
        recordKey: item.recordKey,
        request: redact(item.request),
        response,
        replayTarget: outboxReplayTarget(item) as { kind: 'outbox'; connection: string; operation: string },
        attempts: attempt,
      }));
    } finally {
      engine.completing.delete(item.id);
    }
    const done: OutboxItem = { ...item, status: 'failed', lastError: reason, response, attempts: attempt, updatedAt: now, leaseOwner: undefined, leaseUntil: undefined };
    const err = fe;
    if (exception) err.exceptionId = exception.id;
    for (const w of this.takeWaiters(item.id)) w.reject(err);
    await engine.notify(done, { item: done, ok: false, error: err, exceptionId: exception?.id, recovered: false });
  }

  /**
   * Settles waiters whose items another instance (sharing the store) completed. Bounded work per sweep: a month-end
   * backlog can hold tens of thousands of waiters, and one store read each on every sweep would starve the claims
   * (and, on PostgreSQL, the pool). Waiters are checked in rotation, at most SETTLE_BATCH per sweep, and a sweep
   * never starts while the previous one still runs.
   */
  private async settleForeign(): Promise<void> {
    if (this.settling) return;
    this.settling = true;
    try {
      const ids = [...this.waiters.keys()].filter((id) => !this.inflight.has(id));
      if (ids.length === 0) return;
      const start = this.settleOffset % ids.length;
      const batch = ids.slice(start, start + SETTLE_BATCH);
      this.settleOffset = start + batch.length;
      for (const id of batch) {
        if (this.closed) return;
        if (this.inflight.has(id) || !this.waiters.has(id)) continue;
        const item = await this.engine.store.outboxGet(id);
        if (!item || this.inflight.has(id)) continue;
        if (item.status === 'delivered') {
          for (const w of this.takeWaiters(id)) w.resolve({ item, response: item.response ?? null, duplicate: w.duplicate });
        } else if (item.status === 'failed') {
          const err = new FabricError(item.lastError ?? 'delivery failed', { retry: 'permanent', errorClass: 'permanent', response: item.response });
          err.exceptionId = await this.queuedExceptionOf(item);
          for (const w of this.takeWaiters(id)) w.reject(err);
        }
      }
    } finally {
      this.settling = false;
    }
  }

  /**
   * The exception-queue entry of an item that failed earlier or on another instance, found by its replay target, so
   * the error a caller gets links to it (FabricError.exceptionId). An item without a record key is not looked up.
   */
  private async queuedExceptionOf(item: OutboxItem): Promise<number | undefined> {
    if (!item.recordKey) return undefined;
    // a failed look-up must not hide the failure being reported: the caller then records it as a new exception
    const rows = await this.engine.store.exceptionList({ recordKey: item.recordKey, limit: 100 }).catch(() => []);
    return rows.find((r) => r.replayTarget?.kind === 'outbox' && (r.replayTarget as { outboxId?: number }).outboxId === item.id)?.id;
  }

  private takeWaiters(id: number): Waiter[] {
    const list = this.waiters.get(id) ?? [];
    this.waiters.delete(id);
    return list;
  }

  private setState(state: CircuitState): void {
    if (state === this.state) return;
    this.state = state;
    metrics.circuitStateGauge.set({ connection: this.name }, metrics.circuitStateValue(state));
    for (const l of [...this.stateListeners]) {
      try {
        l(state);
      } catch (err) {
        this.engine.log('warn', `circuit state listener of ${this.name} threw`, err);
      }
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.readDelays.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      entry.timer.unref();
      this.readDelays.add(entry);
    });
  }
}

/** 5xx, 408, network errors and timeouts open the breaker; 429 (the vendor is up, just throttling) and permanent errors do not. */
function countsAgainstBreaker(err: unknown): boolean {
  if (err instanceof DeliveryClosedError) return false;
  const fe = classify(err);
  return fe.retry === 'transient' && fe.status !== 429;
}

/** Rejects (transient) once the scope has been active - not waiting for rate tokens - for `ms`. */
function withActiveTimeout<T>(promise: Promise<T>, scope: AttemptScope, ms: number, connection: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const check = () => {
      const left = ms - scope.activeMs();
      if (left <= 0) {
        reject(new TransientError(`${connection}: no answer within ${ms} ms`));
        return;
      }
      timer = setTimeout(check, left);
      timer.unref();
    };
    timer = setTimeout(check, ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') (out as Record<string, unknown>)[k] = typeof v === 'string' ? Number(v) : v;
  return out;
}

function validateLimits(name: string, l: Required<ExtendedLimits>, leaseMs: number): void {
  const bad = (k: string) => new RangeError(`connection ${name}: ${k} must be a positive number`);
  for (const k of ['concurrency', 'maxAttempts', 'breakerThreshold'] as const) if (!(Number.isInteger(l[k]) && l[k] >= 1)) throw bad(k);
  for (const k of ['ratePerSecond', 'baseDelayMs', 'maxDelayMs', 'breakerHalfOpenAfterMs', 'attemptTimeoutMs', 'burst'] as const) if (!(Number.isFinite(l[k]) && l[k] >= 0)) throw bad(k);
  if (l.attemptTimeoutMs >= leaseMs) throw new RangeError(`connection ${name}: attemptTimeoutMs (${l.attemptTimeoutMs}) must be shorter than the engine's leaseMs (${leaseMs})`);
}

/** Span attributes of one outbox attempt: the record's business keys and the attempt. */
function attemptAttributes(item: OutboxItem, attempt: number): Record<string, string | number> {
  return { ...businessAttributes({ recordKey: item.recordKey, correlationId: item.correlationId, process: item.process, step: item.step }), 'psfabric.connection': item.connection, 'psfabric.operation': item.operation, 'psfabric.outbox_id': item.id, 'psfabric.attempt': attempt } as Record<string, string | number>;
}

/** `{ traceId }` of an item's trace for its audit entry, `{}` when it was not traced. */
function traceIdField(item: OutboxItem): { traceId?: string } {
  const traceId = traceIdOf(traceOfContext(item.context));
  return traceId ? { traceId } : {};
}
