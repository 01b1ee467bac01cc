/**
 * Login throttling with backoff, per user name and per client address: after `freeFailures` wrong logins in a row
 * a key is blocked for `baseMs`, doubling with every further failure up to `maxMs`. A success clears the user's key
 * (not the address': one right password must not unlock guessing other users from the same address).
 * Addresses get more free failures than users (several people behind one proxy).
 */
export interface ThrottleOptions {
  userFreeFailures?: number;
  addressFreeFailures?: number;
  baseMs?: number;
  maxMs?: number;
  /** Failures older than this are forgotten. */
  windowMs?: number;
}

interface Entry {
  failures: number;
  blockedUntil: number;
  last: number;
}

export type ThrottleDecision = { ok: true } | { ok: false; retryAfterMs: number };

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly userFree: number;
  private readonly addressFree: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;

  constructor(options: ThrottleOptions = {}, private readonly now: () => number = Date.now) {
    this.userFree = options.userFreeFailures ?? 5;
    this.addressFree = options.addressFreeFailures ?? 20;
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = options.maxMs ?? 15 * 60_000;
    this.windowMs = options.windowMs ?? 15 * 60_000;
  }

  private keys(user: string | undefined, address: string | undefined): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    if (user) out.push([`u:${user.toLowerCase()}`, this.userFree]);
    if (address) out.push([`a:${address}`, this.addressFree]);
    return out;
  }

  /** May a login for `user` from `address` be tried now? */
  check(user: string | undefined, address: string | undefined): ThrottleDecision {
    const now = this.now();
    let wait = 0;
    for (const [key] of this.keys(user, address)) {
      const e = this.entries.get(key);
      if (e && e.blockedUntil > now) wait = Math.max(wait, e.blockedUntil - now);
    }
    return wait > 0 ? { ok: false, retryAfterMs: wait } : { ok: true };
  }

  failed(user: string | undefined, address: string | undefined): void {
    const now = this.now();
    this.sweep(now);
    for (const [key, free] of this.keys(user, address)) {
      let e = this.entries.get(key);
      if (!e || now - e.last > this.windowMs) e = { failures: 0, blockedUntil: 0, last: now };
      e.failures += 1;
      e.last = now;
      if (e.failures >= free) e.blockedUntil = now + Math.min(this.maxMs, this.baseMs * 2 ** (e.failures - free));
      this.entries.set(key, e);
    }
  }

  succeeded(user: string | undefined): void {
    if (user) this.entries.delete(`u:${user.toLowerCase()}`);
  }

  private sweep(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [k, e] of this.entries) if (now - e.last > this.windowMs && e.blockedUntil <= now) this.entries.delete(k);
  }
}
