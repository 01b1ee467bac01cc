/**
 * Quotas for experience-API reads: one `GET /api/v1/projects` costs a dozen vendor calls, and the vendors' quotas are
 * the business flows' too. So reads are
 *  - served from a short-lived cache (default 5 s) shared by every consumer (the answer does not depend on who asks:
 *    the api-gate checked the scope before), and identical reads in flight are joined rather than repeated;
 *  - charged to the consumer in vendor calls, against a per-consumer budget (token bucket: `perSecond` calls
 *    sustained, `burst` at once). A consumer with an empty budget gets 429 with `Retry-After`; cached answers cost
 *    nothing and are served even then. The first read of an empty budget is let through and its whole cost charged,
 *    so the budget can go into debt and the wait grows with what was spent.
 *
 *   FABRIC_API_READ_CACHE_MS           cache lifetime (default 5000; 0 = no cache)
 *   FABRIC_API_READ_BUDGET_PER_SECOND  vendor calls per second per consumer, sustained (default 10)
 *   FABRIC_API_READ_BUDGET_BURST       vendor calls a consumer may spend at once (default 300)
 */
import type { ReadAnswer, ReadRequest, ReadSources } from './reads';
import type { RateLimit } from './rate-limit';

export interface ReadQuotaOptions {
  cacheTtlMs?: number;
  budget?: RateLimit;
  now?: () => number;
  /** Most cached answers kept (oldest dropped first). */
  maxEntries?: number;
}

export type QuotaAnswer = ReadAnswer & { cache?: 'hit' | 'miss'; retryAfterSeconds?: number; cost?: number };

interface Budget {
  tokens: number;
  at: number;
}

export function readQuotaOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ReadQuotaOptions {
  const num = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, got "${raw}"`);
    return n;
  };
  return {
    cacheTtlMs: num('FABRIC_API_READ_CACHE_MS', 5000, 0),
    budget: { perSecond: num('FABRIC_API_READ_BUDGET_PER_SECOND', 10, 0.001), burst: num('FABRIC_API_READ_BUDGET_BURST', 300, 1) },
  };
}

/** `sources` with every vendor call counted through `count`. */
export function countingSources(src: ReadSources, count: () => void): ReadSources {
  const wrap = <T extends object>(obj: T | undefined): T | undefined => {
    if (!obj) return obj;
    const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'function') {
        out[k] = (...args: unknown[]) => {
          count();
          return (v as (...a: unknown[]) => unknown).apply(obj, args);
        };
      }
    }
    return out as T;
  };
  return {
    salesforce: wrap(src.salesforce),
    kantata: wrap(src.kantata),
    erps: src.erps.map((e) => ({ ...e, netsuite: wrap(e.netsuite), businessCentral: wrap(e.businessCentral) })),
  };
}

function cacheKey(req: ReadRequest): string {
  const q = Object.keys(req.query ?? {})
    .sort()
    .map((k) => [k, String((req.query as Record<string, unknown>)[k])]);
  return JSON.stringify([req.resource, req.kind, req.id ?? null, req.schemaVersion ?? 1, q]);
}

export class ReadQuota {
  private readonly cache = new Map<string, { at: number; answer: ReadAnswer }>();
  private readonly inFlight = new Map<string, Promise<{ answer: ReadAnswer; cost: number }>>();
  private readonly budgets = new Map<string, Budget>();
  private readonly ttl: number;
  private readonly budget: RateLimit;
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(options: ReadQuotaOptions = {}) {
    this.ttl = options.cacheTtlMs ?? 5000;
    this.budget = options.budget ?? { perSecond: 10, burst: 300 };
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 500;
  }

  private tokens(consumer: string): Budget {
    const now = this.now();
    let b = this.budgets.get(consumer);
    if (!b) b = { tokens: this.budget.burst, at: now };
    b.tokens = Math.min(this.budget.burst, b.tokens + ((now - b.at) / 1000) * this.budget.perSecond);
    b.at = now;
    this.budgets.set(consumer, b);
    return b;
  }

  /**
   * Answers `req` for `consumer`: from the cache, by joining the same read in flight, or by `read(sources)` with the
   * vendor calls counted and charged. 429 (with `retryAfterSeconds`) when the consumer's budget is spent.
   */
  async serve(consumer: string, req: ReadRequest, src: ReadSources, read: (src: ReadSources, req: ReadRequest) => Promise<ReadAnswer>): Promise<QuotaAnswer> {
    const key = cacheKey(req);
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < this.ttl) return { ...hit.answer, cache: 'hit', cost: 0 };
    const running = this.inFlight.get(key);
    if (running) return { ...(await running).answer, cache: 'hit', cost: 0 };

    const budget = this.tokens(consumer);
    if (budget.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - budget.tokens) / this.budget.perSecond));
      return { statusCode: 429, payload: { error: 'read quota of this consumer spent: the systems of record are shared, retry later' }, retryAfterSeconds };
    }
    let calls = 0;
    const job = read(countingSources(src, () => calls++), req).then((answer) => ({ answer, cost: Math.max(1, calls) }));
    this.inFlight.set(key, job);
    try {
      const { answer, cost } = await job.finally(() => this.tokens(consumer).tokens -= Math.max(1, calls));
      if (answer.statusCode === 200 && this.ttl > 0) {
        this.cache.set(key, { at: this.now(), answer });
        if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      }
      return { ...answer, cache: 'miss', cost };
    } finally {
      this.inFlight.delete(key);
    }
  }
}
