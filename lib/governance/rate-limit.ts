/**
 * Per-consumer token buckets. `take(key)` spends one token; when the bucket is empty it answers how long
 * until the next token (the 429's `Retry-After`). Buckets that have refilled completely are dropped, so
 * memory stays proportional to the consumers active in the last few seconds.
 */
export interface RateLimit {
  /** Tokens added per second (sustained rate). */
  perSecond: number;
  /** Bucket size (burst). */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
  limit: RateLimit;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number; remaining: 0 };

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(readonly defaults: RateLimit, private readonly now: () => number = Date.now) {
    if (!(defaults.perSecond > 0) || !(defaults.burst >= 1)) throw new RangeError('rate limit needs perSecond > 0 and burst >= 1');
  }

  take(key: string, limit: RateLimit = this.defaults): TakeResult {
    const now = this.now();
    this.sweep(now);
    let b = this.buckets.get(key);
    if (!b || b.limit.perSecond !== limit.perSecond || b.limit.burst !== limit.burst) {
      b = { tokens: limit.burst, at: now, limit };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens) };
    }
    const retryAfterMs = Math.ceil(((1 - b.tokens) / limit.perSecond) * 1000);
    return { ok: false, retryAfterMs, remaining: 0 };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * b.limit.perSecond >= b.limit.burst) this.buckets.delete(k);
    }
  }
}
