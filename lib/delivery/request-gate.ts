/**
 * The per-connection request gate: one token per HTTP request a connector sends for a connection.
 *
 * Vendors count requests, not outbox writes: one NetSuite write is 2-6 requests (lookup by external id, upsert
 * or asynchronous create, job polls), so a limiter that admits one *write* per token lets 10 writes/s become
 * ~60 requests/s at the vendor (docs/benchmarks.md, finding 6). The engine therefore gives every connection a
 * RequestGate; connectors route each HTTP request through it (`attachGateToAxios` on their axios instance, or
 * `gate.throttle` around their single request helper), whoever makes the request: an outbox write, a read through
 * `ConnectionHandle.call`, or a poller.
 *
 * Rate only, no concurrency: a token is consumed, never held, so a write that holds one of the connection's
 * concurrency slots and asks for more tokens cannot wait on anything it holds (the concurrency cap is per write,
 * applied by the engine).
 *
 * Token bucket as GCRA: a request may start at `tat - (burst-1) * interval`; each start pushes `tat` one interval
 * further. Reservations are made in call order (FIFO) without a queue. `interval` is 5 % wider than 1/rate so that
 * network jitter cannot make the vendor see more than `ratePerSecond` in a second.
 *
 * Shared (several instances on one store, shared-quota.ts): the bucket lives in the store instead of this process, so
 * the connection's instances together stay within `ratePerSecond`; each take reserves its start time there (takes
 * waiting together are one statement). The 5 % margin and `burst` apply the same way.
 *
 * A 429 pauses the whole gate until its Retry-After (1 s without one): nothing of this connection is sent before
 * then, so the other in-flight writes do not keep hitting the wall.
 *
 * Attempts: the engine runs each attempt (and each `call`) in an AttemptScope (AsyncLocalStorage). The engine takes
 * one token before the attempt starts ("prepaid": a connector that does not route its requests through the gate is
 * limited per attempt, as before); the first gated request of the attempt uses that token, every further one takes
 * its own. Time spent waiting here does not count against `attemptTimeoutMs`. A request of an attempt that would
 * wait out a pause longer than the scope allows fails at once with `GatePausedError` (429, Retry-After = the rest of
 * the pause), so the item is rescheduled after the pause instead of holding its lease.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AxiosInstance } from 'axios';
import { TransientError, classify, parseRetryAfter } from './errors';
import { startClientSpan, type ClientSpan } from '../telemetry';

const CLIENT_SPAN = Symbol('psfabric.clientSpan');
import type { SharedRate } from './shared-quota';

/** What a connector needs: wrap each HTTP request, and report 429s it did not throw. */
export interface RequestGate {
  /** Takes one token (waits for it, and for a Retry-After pause), then runs `fn` (one HTTP request). */
  throttle<T>(fn: () => Promise<T>): Promise<T>;
  /** Takes one token; for hooks that cannot wrap the request (axios request interceptors). */
  acquire(): Promise<void>;
  /** Tells the gate about a response the connector did not throw (status + headers): a 429 pauses the gate. */
  observe(status: number | undefined, headers?: Record<string, unknown>): void;
}

/** Thrown to a request of an attempt when the connection is paused (Retry-After) for longer than the attempt may wait. */
export class GatePausedError extends TransientError {
  /** Whether an earlier request of the same attempt had already been sent. */
  readonly sent: boolean;
  constructor(connection: string, retryAfterMs: number, sent: boolean) {
    super(`${connection}: paused by the vendor's Retry-After for another ${retryAfterMs} ms`, { status: 429, retryAfterMs });
    this.sent = sent;
  }
}

/** Per attempt (or per `call`): the prepaid token, requests sent, and time spent waiting in the gate. */
export class AttemptScope {
  prepaid = false;
  sent = 0;
  private waitedMs = 0;
  private waiting = 0;
  private waitingSince = 0;
  readonly startedAt: number;
  constructor(
    readonly gate: ConnectionGate,
    /** Longest Retry-After pause a request of this attempt waits out; longer ones throw GatePausedError. */
    readonly maxPauseWaitMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }
  beginWait(): void {
    if (this.waiting++ === 0) this.waitingSince = this.now();
  }
  endWait(): void {
    if (--this.waiting === 0) this.waitedMs += this.now() - this.waitingSince;
  }
  /** Time the attempt was not waiting in the gate. */
  activeMs(): number {
    const now = this.now();
    return now - this.startedAt - this.waitedMs - (this.waiting > 0 ? now - this.waitingSince : 0);
  }
}

const scopes = new AsyncLocalStorage<AttemptScope>();

/** Default pause after a 429 without Retry-After. */
export const DEFAULT_429_PAUSE_MS = 1000;

export interface ConnectionGateOptions {
  /** Requests per second; 0 = unlimited (pauses still apply). */
  ratePerSecond: number;
  /** Token-bucket size. */
  burst: number;
  /** Interval = 1000 / rate x margin. */
  margin?: number;
  /** Upper bound for a pause. */
  maxRetryAfterMs: number;
  /** Called when a 429 pauses the gate (the engine wakes its worker at the end). */
  onPause?: (until: number) => void;
  /** The bucket shared with the connection's other instances (shared-quota.ts); without it the bucket is local. */
  shared?: (intervalMs: number, burst: number) => SharedRate;
}

export class ConnectionGate implements RequestGate {
  readonly intervalMs: number;
  private readonly burst: number;
  private tat = 0;
  /** `tat` of the requests actually started (see spaced). */
  private startedTat = 0;
  private readonly shared: SharedRate | undefined;
  /** No request starts before this (Retry-After of a 429). */
  pausedUntil = 0;
  /** Requests let through (tests, metrics). */
  granted = 0;

  constructor(
    readonly name: string,
    private readonly opts: ConnectionGateOptions,
  ) {
    this.intervalMs = opts.ratePerSecond > 0 ? Math.max(1, Math.ceil((1000 / opts.ratePerSecond) * (opts.margin ?? 1.05))) : 0;
    this.burst = Math.max(1, Math.floor(opts.burst || 1));
    this.shared = this.intervalMs > 0 ? opts.shared?.(this.intervalMs, this.burst) : undefined;
  }

  /** Runs `fn` inside a new attempt scope (used by the engine for each attempt and each read). */
  static run<T>(scope: AttemptScope, fn: () => Promise<T>): Promise<T> {
    return scopes.run(scope, fn);
  }

  /** Takes the attempt's prepaid token (before the attempt's first request). */
  async prepay(scope: AttemptScope): Promise<void> {
    await this.take(scope);
    scope.prepaid = true;
  }

  async acquire(): Promise<void> {
    const scope = scopes.getStore();
    const own = scope && scope.gate === this ? scope : undefined;
    if (own?.prepaid) {
      own.prepaid = false;
      if (this.pausedUntil <= Date.now()) {
        own.sent++;
        return;
      }
      // paused since the token was taken: the token is void, take a new one after the pause
    }
    await this.take(own);
    if (own) own.sent++;
  }

  async throttle<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } catch (err) {
      const fe = classify(err);
      if (fe.status === 429 && !(err instanceof GatePausedError)) this.pause(fe.retryAfterMs);
      throw err;
    }
  }

  observe(status: number | undefined, headers?: Record<string, unknown>): void {
    if (status !== 429) return;
    const h = headers ?? {};
    const value = (h['retry-after'] ?? h['Retry-After']) as string | undefined;
    this.pause(parseRetryAfter(value));
  }

  /** Nothing starts for `ms` (Retry-After; default 1 s, capped at maxRetryAfterMs). */
  pause(ms: number | undefined): void {
    const wait = Math.min(this.opts.maxRetryAfterMs, Math.max(0, ms ?? DEFAULT_429_PAUSE_MS));
    const until = Date.now() + wait;
    if (until <= this.pausedUntil) return;
    this.pausedUntil = until;
    this.opts.onPause?.(until);
  }

  private async take(scope: AttemptScope | undefined): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (this.pausedUntil > now) {
        const rest = this.pausedUntil - now;
        if (scope && rest > scope.maxPauseWaitMs) throw new GatePausedError(this.name, rest, scope.sent > 0);
        await this.sleep(rest, scope);
        continue;
      }
      if (this.shared) {
        scope?.beginWait();
        let wait: number;
        try {
          wait = await this.shared.reserve();
        } finally {
          scope?.endWait();
        }
        if (wait > 0) await this.sleep(wait, scope);
        if (this.pausedUntil > Date.now()) continue;
        this.granted++;
        return;
      }
      let at = now;
      if (this.intervalMs > 0) {
        at = Math.max(now, this.tat - (this.burst - 1) * this.intervalMs);
        this.tat = Math.max(this.tat, at) + this.intervalMs;
      }
      if (at > now) await this.sleep(at - now, scope);
      if (this.pausedUntil > Date.now()) continue; // a 429 arrived while we waited: the reservation is void
      await this.spaced(scope);
      this.granted++;
      return;
    }
  }

  /**
   * The same bucket over the times requests really start. The reservation above gives each request its turn, but a
   * timer that fires late (a busy event loop) lets the requests reserved after it start closer together than the
   * interval - a burst the vendor would count. Here a request whose turn came too soon after the ones before it
   * waits the difference.
   */
  private async spaced(scope: AttemptScope | undefined): Promise<void> {
    if (this.intervalMs === 0) return;
    for (;;) {
      const now = Date.now();
      const earliest = this.startedTat - (this.burst - 1) * this.intervalMs;
      if (now >= earliest) {
        this.startedTat = Math.max(this.startedTat, now) + this.intervalMs;
        return;
      }
      await this.sleep(earliest - now, scope);
    }
  }

  private sleep(ms: number, scope: AttemptScope | undefined): Promise<void> {
    scope?.beginWait();
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
    }).finally(() => scope?.endWait());
  }
}

/**
 * Routes every request of an axios instance through the gate (request interceptor: one token each) and reports
 * 429 responses the instance did not throw (response interceptor). Returns the function that removes both.
 */
export function attachGateToAxios(http: AxiosInstance, gate: RequestGate): () => void {
  const name = (gate as { name?: string }).name ?? 'http';
  const req = http.interceptors.request.use(async (config) => {
    await gate.acquire();
    // the CLIENT span of this request (lib/telemetry), its traceparent sent to the vendor, ended by the response
    const span = startClientSpan(name, config.method ?? 'GET', http.getUri(config));
    for (const [k, v] of Object.entries(span.headers)) config.headers.set(k, v);
    (config as { [CLIENT_SPAN]?: ClientSpan })[CLIENT_SPAN] = span;
    return config;
  });
  const res = http.interceptors.response.use(
    (response) => {
      (response.config as { [CLIENT_SPAN]?: ClientSpan } | undefined)?.[CLIENT_SPAN]?.end(response.status);
      gate.observe(response.status, response.headers as Record<string, unknown>);
      return response;
    },
    (err) => {
      const r = (err as { response?: { status?: number; headers?: Record<string, unknown> } }).response;
      (err as { config?: { [CLIENT_SPAN]?: ClientSpan } }).config?.[CLIENT_SPAN]?.end(r?.status, err);
      if (r) gate.observe(r.status, r.headers);
      return Promise.reject(err);
    },
  );
  return () => {
    http.interceptors.request.eject(req);
    http.interceptors.response.eject(res);
  };
}
