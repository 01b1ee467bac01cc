/**
 * The shared frame of every vendor sandbox (docs/connectors/): one express app per vendor, mounted
 * under `/<vendor>` on the sandbox HTTP server, with
 *  - fault injection (latency, error rate, limit exceeded as the vendor answers it, outage window, concurrency limit),
 *  - a bounded request log and record inspection under `/_sandbox/<vendor>/...` for tests and benchmarks,
 *  - state kept in memory, optionally persisted to a JSON file so a demo survives a restart.
 * Vendor modules only add their routes and their seed data; they never re-implement these.
 */
import crypto from 'node:crypto';
import express from 'express';
import type http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

export interface FaultConfig {
  /** Added to every vendor response. */
  latencyMs: number;
  /** Fraction (0..1) of requests answered with `errorStatus`. */
  errorRate: number;
  errorStatus: number;
  /**
   * Fraction (0..1) of requests answered "limit exceeded" as the vendor does (default 429 with
   * `Retry-After: retryAfterSeconds`; see SandboxOptions.limitExceeded).
   */
  rate429: number;
  retryAfterSeconds: number;
  /** Epoch ms; until then every request gets 503. */
  outageUntil: number;
  /** Requests in flight above this get 429 (vendor concurrency governance); 0 = unlimited. */
  concurrencyLimit: number;
  /** Requests per second above this get 429 with Retry-After; 0 = unlimited. */
  rateLimitPerSecond: number;
  /** Requests in any sliding window of `windowMs` above this get 429 (e.g. Business Central per 5 minutes); 0 = unlimited. */
  windowLimit: number;
  windowMs: number;
  /** Time an accepted request takes inside the vendor (it counts against the concurrency limit; `latencyMs` does not). */
  serviceMs: number;
}

/** What the sandbox observed of a client's respect for its limits (GET/DELETE `/_sandbox/<vendor>/limits`). */
export interface LimitObservations {
  /** Most requests in flight at once, counting each arrival (also those then refused for concurrency). */
  maxInFlight: number;
  /** Most arrivals in any sliding `windowMs` (counted while `windowLimit` is set). */
  maxInWindow: number;
  /** Requests refused by the concurrency limit, the per-second rate and the window limit. */
  rejected: { concurrency: number; rate: number; window: number };
}

export const NO_FAULTS: FaultConfig = {
  latencyMs: 0,
  errorRate: 0,
  errorStatus: 503,
  rate429: 0,
  retryAfterSeconds: 1,
  outageUntil: 0,
  concurrencyLimit: 0,
  rateLimitPerSecond: 0,
  windowLimit: 0,
  windowMs: 60_000,
  serviceMs: 0,
};

export interface RecordedRequest {
  seq: number;
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status?: number;
  /** Time from the request's arrival to its response finishing (ms, fractional): time spent inside the sandbox. */
  durationMs?: number;
  /** Why the sandbox answered with a fault instead of the vendor logic, if it did. */
  fault?: string;
  /**
   * Which credential made the request (a short hash of its Authorization header, never the credential): tells apart
   * the callers that share one vendor account, e.g. two runtime instances spending one API allowance.
   */
  caller?: string;
}

/** A vendor's record collections: collection name -> id -> record. */
export type VendorState = Record<string, Record<string, any>>;

export interface VendorErrorShape {
  /** Builds the vendor's error body for an injected fault (e.g. Salesforce array, OData error). */
  (status: number, message: string): unknown;
}

/** What a vendor answers when one of its limits is exceeded (the frame's limit faults use it). */
export interface LimitAnswer {
  status: number;
  body: unknown;
  /** Seconds for a Retry-After header; omitted when the vendor sends none. */
  retryAfterSeconds?: number;
}

/** Which limit fault fired: in-flight requests, requests per second, or the random `rate429` fraction. */
export type LimitKind = 'concurrency' | 'rate' | 'random';

export interface SandboxOptions {
  name: string;
  seed: () => VendorState;
  /** Persist state to this file after each change (debounced) and load it at start. */
  statePath?: string;
  errorBody: VendorErrorShape;
  /**
   * How the vendor answers an exceeded limit; default 429 with `errorBody` and Retry-After. Salesforce answers 403
   * REQUEST_LIMIT_EXCEEDED, NetSuite 429 without Retry-After: each vendor module says so here.
   */
  limitExceeded?: (kind: LimitKind, retryAfterSeconds: number) => LimitAnswer;
  /** Paths (relative to the vendor mount) never subject to faults, e.g. the token endpoint. */
  faultExempt?: RegExp[];
  requestLogSize?: number;
}

const REDACTED_HEADERS = /^(authorization|cookie|x-api-key|x-netsuite-.*signature)$/i;

export class Sandbox {
  readonly name: string;
  readonly app: express.Express;
  /** Vendor routes go here; it sits behind fault injection and the request log. */
  readonly router: express.Router;
  state: VendorState;
  faults: FaultConfig = { ...NO_FAULTS };
  private readonly options: SandboxOptions;
  private log: RecordedRequest[] = [];
  private seq = 0;
  private inFlight = 0;
  private windowStart = 0;
  private windowCount = 0;
  /** Arrival times inside the sliding window (only while `windowLimit` is set). */
  private windowArrivals: number[] = [];
  private observed: LimitObservations = freshObservations();
  private persistTimer?: NodeJS.Timeout;
  private idCounter = 0;

  constructor(options: SandboxOptions) {
    this.options = options;
    this.name = options.name;
    this.state = this.loadState();
    this.app = express();
    this.app.disable('x-powered-by');
    this.router = express.Router();
    this.app.use('/_sandbox', this.inspectionRoutes());
    this.app.use(express.json({ limit: '20mb', type: ['application/json', 'application/*+json'] }));
    this.app.use(express.text({ limit: '20mb', type: ['text/*', 'application/x-www-form-urlencoded'] }));
    this.app.use((req, res, next) => this.record(req, res, next));
    this.app.use((req, res, next) => this.injectFaults(req, res, next));
    this.app.use(this.router);
  }

  /** A new id unique within this sandbox run, with the vendor's prefix style. */
  nextId(prefix = ''): string {
    this.idCounter += 1;
    return `${prefix}${Date.now().toString(36)}${this.idCounter.toString(36).padStart(4, '0')}`;
  }

  collection<T = any>(name: string): Record<string, T> {
    if (!this.state[name]) this.state[name] = {};
    return this.state[name] as Record<string, T>;
  }

  /** Call after any change to state, so a persisted sandbox keeps it. */
  changed(): void {
    if (!this.options.statePath || this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persistNow();
    }, 200);
    this.persistTimer.unref();
  }

  persistNow(): void {
    if (!this.options.statePath) return;
    fs.mkdirSync(path.dirname(this.options.statePath), { recursive: true });
    const tmp = this.options.statePath + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify(this.state));
    fs.renameSync(tmp, this.options.statePath);
  }

  reset(): void {
    this.state = this.options.seed();
    this.faults = { ...NO_FAULTS };
    this.log = [];
    this.observed = freshObservations();
    this.windowArrivals = [];
    this.changed();
  }

  limitObservations(): LimitObservations {
    return this.observed;
  }

  /** Starts the observations afresh (the limits themselves are faults: PUT /faults). */
  resetLimitObservations(): void {
    this.observed = freshObservations();
    this.windowArrivals = [];
  }

  requests(): RecordedRequest[] {
    return this.log;
  }

  close(): void {
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      this.persistNow();
    }
  }

  private loadState(): VendorState {
    const file = this.options.statePath;
    if (file && fs.existsSync(file)) {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as VendorState;
      } catch {
        // A torn or hand-edited file must not stop the demo: start from the seed again.
      }
    }
    return this.options.seed();
  }

  private record(req: express.Request, res: express.Response, next: express.NextFunction): void {
    const limit = this.options.requestLogSize ?? 5000;
    const entry: RecordedRequest = {
      seq: ++this.seq,
      at: Date.now(),
      method: req.method,
      path: req.originalUrl,
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, REDACTED_HEADERS.test(k) ? '[redacted]' : String(v)]),
      ),
      body: req.body,
      ...(req.headers.authorization ? { caller: crypto.createHash('sha256').update(req.headers.authorization).digest('hex').slice(0, 12) } : {}),
    };
    const started = performance.now();
    this.log.push(entry);
    if (this.log.length > limit) this.log.splice(0, this.log.length - limit);
    res.on('finish', () => {
      entry.status = res.statusCode;
      entry.durationMs = Math.round((performance.now() - started) * 100) / 100;
    });
    (res.locals as { sandboxEntry?: RecordedRequest }).sandboxEntry = entry;
    next();
  }

  private injectFaults(req: express.Request, res: express.Response, next: express.NextFunction): void {
    const exempt = (this.options.faultExempt ?? []).some((re) => re.test(req.path));
    const entry = (res.locals as { sandboxEntry?: RecordedRequest }).sandboxEntry;
    const fail = (status: number, fault: string, message: string, retryAfter?: number) => {
      if (entry) entry.fault = fault;
      if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
      res.status(status).json(this.options.errorBody(status, message));
    };
    const limited = (kind: LimitKind, message: string) => {
      const answer = this.options.limitExceeded?.(kind, this.faults.retryAfterSeconds)
        ?? { status: 429, body: this.options.errorBody(429, message), retryAfterSeconds: this.faults.retryAfterSeconds };
      if (entry) entry.fault = kind === 'random' ? '429' : kind;
      if (answer.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
      res.status(answer.status).json(answer.body);
    };
    const proceed = () => {
      if (exempt) return next();
      const f = this.faults;
      const now = Date.now();
      if (f.outageUntil > now) return fail(503, 'outage', 'Service unavailable (sandbox outage window)', Math.ceil((f.outageUntil - now) / 1000));
      const o = this.observed;
      o.maxInFlight = Math.max(o.maxInFlight, this.inFlight + 1);
      if (f.concurrencyLimit > 0 && this.inFlight >= f.concurrencyLimit) {
        o.rejected.concurrency++;
        return limited('concurrency', 'Concurrency limit exceeded');
      }
      if (f.windowLimit > 0) {
        const from = now - f.windowMs;
        let drop = 0;
        while (drop < this.windowArrivals.length && this.windowArrivals[drop] <= from) drop++;
        if (drop) this.windowArrivals.splice(0, drop);
        this.windowArrivals.push(now);
        o.maxInWindow = Math.max(o.maxInWindow, this.windowArrivals.length);
        if (this.windowArrivals.length > f.windowLimit) {
          o.rejected.window++;
          return fail(429, 'window', 'Request quota for the period exceeded', Math.max(1, Math.ceil((this.windowArrivals[0] + f.windowMs - now) / 1000)));
        }
      }
      if (f.rateLimitPerSecond > 0) {
        if (now - this.windowStart >= 1000) {
          this.windowStart = now;
          this.windowCount = 0;
        }
        this.windowCount += 1;
        if (this.windowCount > f.rateLimitPerSecond) {
          o.rejected.rate++;
          return limited('rate', 'Request rate limit exceeded');
        }
      }
      if (f.rate429 > 0 && Math.random() < f.rate429) return limited('random', 'Too many requests');
      if (f.errorRate > 0 && Math.random() < f.errorRate) return fail(f.errorStatus, 'error', 'Injected server error');
      this.inFlight += 1;
      let released = false;
      const release = () => {
        if (!released) {
          released = true;
          this.inFlight -= 1;
        }
      };
      res.on('finish', release);
      res.on('close', release);
      if (f.serviceMs > 0) setTimeout(next, f.serviceMs);
      else next();
    };
    if (!exempt && this.faults.latencyMs > 0) setTimeout(proceed, this.faults.latencyMs);
    else proceed();
  }

  private inspectionRoutes(): express.Router {
    const r = express.Router();
    r.use(express.json({ limit: '20mb' }));
    r.get('/faults', (_req, res) => {
      res.json(this.faults);
    });
    r.put('/faults', (req, res) => {
      const body = (req.body ?? {}) as Partial<FaultConfig> & { outageMs?: number };
      const next: FaultConfig = { ...NO_FAULTS };
      for (const key of Object.keys(NO_FAULTS) as (keyof FaultConfig)[]) {
        if (body[key] !== undefined) {
          const v = Number(body[key]);
          if (!Number.isFinite(v) || v < 0) {
            res.status(400).json({ error: `faults.${key} must be a non-negative number, got ${JSON.stringify(body[key])}` });
            return;
          }
          next[key] = v;
        }
      }
      if (body.outageMs !== undefined) next.outageUntil = Date.now() + Number(body.outageMs);
      this.faults = next;
      res.json(this.faults);
    });
    r.get('/limits', (_req, res) => {
      res.json(this.observed);
    });
    r.delete('/limits', (_req, res) => {
      this.resetLimitObservations();
      res.status(204).end();
    });
    r.get('/requests', (req, res) => {
      const since = Number(req.query.since ?? 0);
      res.json(this.log.filter((e) => e.seq > since));
    });
    r.delete('/requests', (_req, res) => {
      this.log = [];
      res.status(204).end();
    });
    r.get('/records', (_req, res) => {
      res.json(Object.fromEntries(Object.entries(this.state).map(([k, v]) => [k, Object.keys(v).length])));
    });
    r.get('/records/:collection', (req, res) => {
      res.json(Object.values(this.state[req.params.collection] ?? {}));
    });
    r.get('/records/:collection/:id', (req, res) => {
      const rec = this.state[req.params.collection]?.[req.params.id];
      if (rec === undefined) res.status(404).json({ error: `no ${req.params.collection} with id ${req.params.id}` });
      else res.json(rec);
    });
    r.post('/reset', (_req, res) => {
      this.reset();
      res.status(204).end();
    });
    return r;
  }
}

function freshObservations(): LimitObservations {
  return { maxInFlight: 0, maxInWindow: 0, rejected: { concurrency: 0, rate: 0, window: 0 } };
}

/** What a vendor module exports for sandbox/server.ts to mount (the frame, so that server.ts and the vendors do not import each other). */
export interface VendorSandboxFactory {
  /** Path prefix and sandbox name, e.g. `salesforce`. */
  name: string;
  create(opts: { statePath?: string; baseUrl: () => string }): Sandbox;
  /** Non-HTTP attachments (e.g. the Salesforce CometD endpoint) get the server once it listens. */
  attach?(server: http.Server, sandbox: Sandbox): void;
}
