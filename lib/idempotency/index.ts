/**
 * Idempotency keys: the first message for a key passes, repeats are recognised, durably.
 *
 * A key is held for its retention (TTL) after it is first claimed; its outcome (e.g. the created record's
 * id) is kept with it so a repeat can answer like the first did. Expired keys are purged on an interval
 * whose timer is unref'd, so it never keeps a process alive on its own.
 */
import type { IdempotencyRecord, Json, Store } from '../store/store';

export type IdempotencyStore = Pick<Store, 'idempotencyClaim' | 'idempotencyClaimMany' | 'idempotencyGet' | 'idempotencySetOutcome' | 'idempotencyRelease' | 'idempotencyPurgeExpired'>;

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface IdempotencyOptions {
  /** How long a key is held when `claim` is given no TTL. Default 7 days. */
  retentionMs?: number;
  /** How often expired keys are deleted; 0 disables the timer. Default 1 hour. */
  purgeIntervalMs?: number;
  now?: () => number;
  /** Told when a background purge fails (the store may be closing); default: ignored. */
  onPurgeError?: (err: unknown) => void;
}

export interface ClaimResult {
  /** True for the first claim of a live key: the caller does the work. */
  claimed: boolean;
  /** The existing record when not claimed (undefined in the rare race where it expired meanwhile). */
  existing?: IdempotencyRecord;
}

export type RunResult<T> = { duplicate: false; outcome: T } | { duplicate: true; outcome: Json | undefined };

export class IdempotencyService {
  private retentionMs: number;
  private readonly now: () => number;
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly store: IdempotencyStore, options: IdempotencyOptions = {}) {
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.now = options.now ?? Date.now;
    const interval = options.purgeIntervalMs ?? 60 * 60 * 1000;
    if (interval > 0) {
      this.purgeTimer = setInterval(() => {
        this.purgeExpired().catch((err: unknown) => options.onPurgeError?.(err));
      }, interval);
      this.purgeTimer.unref();
    }
  }

  get defaultRetentionMs(): number {
    return this.retentionMs;
  }

  /** Changes the retention of keys claimed from now on (a config node redeployed with another value). */
  setDefaultRetention(ms: number): void {
    if (!(ms > 0)) throw new Error(`idempotency retention must be a positive number of ms, got ${ms}`);
    this.retentionMs = ms;
  }

  async claim(scope: string, key: string, ttlMs: number = this.retentionMs): Promise<ClaimResult> {
    const now = this.now();
    if (await this.store.idempotencyClaim(scope, key, now, ttlMs)) return { claimed: true };
    const existing = await this.store.idempotencyGet(scope, key, now);
    return existing ? { claimed: false, existing } : { claimed: false };
  }

  /**
   * Claims many keys of one scope durably in one store transaction (one disk sync for the whole batch instead of
   * one per key). Answers per key, in order, exactly as `claim` called for each key one after another would: a
   * repeat of an earlier key in `keys` is not claimed and carries the record its first occurrence created.
   */
  async claimMany(scope: string, keys: readonly string[], ttlMs: number = this.retentionMs): Promise<ClaimResult[]> {
    const now = this.now();
    const won = await this.store.idempotencyClaimMany(scope, keys, now, ttlMs);
    return Promise.all(won.map(async (claimed, i): Promise<ClaimResult> => {
      if (claimed) return { claimed: true };
      const existing = await this.store.idempotencyGet(scope, keys[i], now);
      return existing ? { claimed: false, existing } : { claimed: false };
    }));
  }

  get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    return this.store.idempotencyGet(scope, key, this.now());
  }

  /** Stores what the first run produced, so repeats can answer with it. */
  recordOutcome(scope: string, key: string, outcome: Json): Promise<void> {
    return this.store.idempotencySetOutcome(scope, key, outcome);
  }

  /** Frees a key whose work failed, so a retry of the same message is not taken for a duplicate. */
  release(scope: string, key: string): Promise<void> {
    return this.store.idempotencyRelease(scope, key);
  }

  /**
   * Runs `work` once per key: claims, runs, records the outcome. A repeat gets the stored outcome without
   * running `work`. When `work` throws, the key is released and the error rethrown.
   */
  async run<T extends Json>(scope: string, key: string, work: () => Promise<T>, ttlMs?: number): Promise<RunResult<T>> {
    const claim = await this.claim(scope, key, ttlMs);
    if (!claim.claimed) return { duplicate: true, outcome: claim.existing?.outcome };
    let outcome: T;
    try {
      outcome = await work();
    } catch (err) {
      await this.release(scope, key);
      throw err;
    }
    await this.recordOutcome(scope, key, outcome);
    return { duplicate: false, outcome };
  }

  purgeExpired(): Promise<number> {
    return this.store.idempotencyPurgeExpired(this.now());
  }

  /** Stops the purge timer. */
  close(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
  }
}
