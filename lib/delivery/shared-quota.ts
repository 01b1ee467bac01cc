/**
 * A connection's vendor quota shared by every instance on one store (issue 19, item 1): vendors count an account's
 * concurrency and request rate, not a process's, so two instances each sized to the quota would send twice it.
 *
 * - Concurrency: `SharedSlots` holds numbered slots (0..concurrency-1) in the store's `quota_slots` table, each
 *   leased to one holder (one registration of the connection in one process). A write or `call` takes a slot before
 *   it starts and gives it back after. Leases are renewed every lease/3 while held, so an instance that dies (or
 *   loses its store) stops renewing and its capacity returns to the others within `leaseMs`.
 *   Hot path: a slot taken from the store is handed from one finished attempt straight to the next waiting one of
 *   the same process, without a store round trip, for up to `holdMs` after it was taken; then it goes back to the
 *   store so other instances get their turn: the process does not take that many slots again for 1.5 x `pollMs` (the
 *   longest another instance waits between two asks), or it would win every handover - it asks in the same turn
 *   while the others poll - and keep the whole capacity while it has work, however many instances wait. An unused
 *   slot is given back after `lingerMs`.
 * - Rate: `SharedRate` reserves request tokens of one token bucket per connection in the store (`quota_rate`, GCRA:
 *   one row, one atomic statement per batch; PostgreSQL computes on its own clock). Requests waiting at the same
 *   time are reserved in one statement. The request gate (request-gate.ts) uses it instead of its local bucket.
 *
 * What these cannot do: a process that keeps running while its store is unreachable keeps the slots it holds after
 * their leases ran out (it cannot learn they did), so the vendor may see more than the cap until it notices (a
 * renewal that fails is logged); reserved tokens of a process that dies are lost (the quota is under-used, never
 * over-used).
 */
import type { Store } from '../store/store';
import { TransientError } from './errors';

export interface SharedSlotsOptions {
  store: Store;
  connection: string;
  /** Unique per registration (a restarted process must not renew its predecessor's slots). */
  holder: string;
  capacity: number;
  /** How long a slot stays taken without renewal: the bound on how long a dead instance's capacity stays lost. */
  leaseMs: number;
  /** How long a slot taken from the store may be handed between this process's attempts before it goes back. */
  holdMs: number;
  /** An unused slot goes back to the store after this long. */
  lingerMs: number;
  /** How often a process that wants slots and found none asks the store again (jittered +-50 %). */
  pollMs: number;
  now: () => number;
  random: () => number;
  log: (level: 'warn' | 'error', message: string, err?: unknown) => void;
}

interface SlotWaiter {
  priority: number;
  seq: number;
  resolve(slot: number): void;
  reject(err: Error): void;
}

interface HeldSlot {
  slot: number;
  /** When it was taken from the store (the hold window starts here). */
  since: number;
}

export class SharedSlots {
  private readonly free: HeldSlot[] = [];
  private readonly inUse = new Map<number, number>();
  private readonly waiters: SlotWaiter[] = [];
  private seq = 0;
  private fetching = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private releasing: Promise<void> = Promise.resolve();
  /** Per slot given back at the end of its turn: until when this process leaves one slot to the other instances. */
  private readonly yielding: number[] = [];
  private closed = false;
  private lastWarn = 0;
  /** Slots taken from the store (tests, metrics). */
  fetched = 0;

  constructor(private readonly o: SharedSlotsOptions) {}

  /** Slots this process holds now (in use or waiting to be reused). */
  held(): number {
    return this.free.length + this.inUse.size;
  }

  /** Resolves with a slot number; lower `priority` first among this process's waiters. Rejects only on close. */
  acquire(priority: number): Promise<number> {
    if (this.closed) return Promise.reject(new TransientError(`${this.o.connection}: closed`));
    const now = this.o.now();
    for (let reuse = this.free.pop(); reuse; reuse = this.free.pop()) {
      if (now - reuse.since < this.o.holdMs) {
        this.inUse.set(reuse.slot, reuse.since);
        return Promise.resolve(reuse.slot);
      }
      this.endTurn(reuse.slot, now); // its turn is over while it lingered
    }
    return new Promise<number>((resolve, reject) => {
      const w: SlotWaiter = { priority, seq: this.seq++, resolve, reject };
      let i = this.waiters.length;
      while (i > 0 && (this.waiters[i - 1].priority > priority)) i--;
      this.waiters.splice(i, 0, w);
      void this.fetch();
    });
  }

  release(slot: number): void {
    const since = this.inUse.get(slot);
    if (since === undefined) return;
    this.inUse.delete(slot);
    const now = this.o.now();
    if (this.closed || now - since >= this.o.holdMs) {
      if (this.closed) this.giveBack([slot]);
      // its turn is over: back to the store, then compete for a slot again like every other instance
      else this.endTurn(slot, now);
      if (this.waiters.length) this.releasing.then(() => this.fetch(), () => this.fetch());
      return;
    }
    const next = this.waiters.shift();
    if (next) {
      this.inUse.set(slot, since);
      next.resolve(slot);
      return;
    }
    this.free.push({ slot, since });
    if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.giveBack(this.free.splice(0).map((h) => h.slot));
      }, this.o.lingerMs);
      this.lingerTimer.unref();
    }
  }

  /** Rejects waiters and gives every slot not in use back; slots in use go back when their attempts end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.pollTimer, this.lingerTimer]) if (t) clearTimeout(t);
    if (this.renewTimer) clearInterval(this.renewTimer);
    for (const w of this.waiters.splice(0)) w.reject(new TransientError(`${this.o.connection}: closed while waiting for a shared concurrency slot`));
    this.giveBack(this.free.splice(0).map((h) => h.slot));
    await this.releasing;
  }

  /** Resolves once every give-back issued so far has reached the store. */
  settled(): Promise<void> {
    return this.releasing;
  }

  private giveBack(slots: number[]): void {
    if (slots.length === 0) return;
    this.releasing = this.releasing
      .then(() => this.o.store.quotaSlotsRelease(this.o.connection, this.o.holder, slots))
      .catch((err) => this.warn('giving shared concurrency slots back failed (they return when their lease expires)', err));
    this.updateRenewal();
  }

  /** Gives a slot back at the end of its turn and leaves it to the other instances for a while (see the header). */
  private endTurn(slot: number, now: number): void {
    this.giveBack([slot]);
    this.yielding.push(now + Math.ceil(this.o.pollMs * 1.5));
  }

  private async fetch(): Promise<void> {
    if (this.fetching || this.closed) return;
    this.fetching = true;
    try {
      for (;;) {
        const now0 = this.o.now();
        while (this.yielding.length && this.yielding[0] <= now0) this.yielding.shift();
        const want = Math.min(this.waiters.length, this.o.capacity - this.held() - this.yielding.length);
        if (want <= 0) {
          // ask again once the first slot left to the others is ours to take again
          if (this.waiters.length && this.yielding.length) this.schedulePoll(this.yielding[0] - now0);
          return;
        }
        const now = this.o.now();
        const got = await this.o.store.quotaSlotsAcquire(this.o.connection, this.o.holder, this.o.capacity, want, now, this.o.leaseMs);
        this.fetched += got.length;
        for (const slot of got) {
          const w = this.waiters.shift();
          if (this.closed || !w) {
            this.giveBack([slot]);
            continue;
          }
          this.inUse.set(slot, now);
          w.resolve(slot);
        }
        this.updateRenewal();
        if (got.length < want) {
          this.schedulePoll();
          return;
        }
      }
    } catch (err) {
      this.warn('taking shared concurrency slots failed; retrying', err);
      this.schedulePoll();
    } finally {
      this.fetching = false;
    }
  }

  private schedulePoll(afterMs?: number): void {
    if (this.pollTimer || this.closed || this.waiters.length === 0) return;
    const ms = Math.max(1, Math.round(afterMs ?? this.o.pollMs * (0.5 + this.o.random())));
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.fetch();
    }, ms);
    this.pollTimer.unref();
  }

  private updateRenewal(): void {
    if (this.held() > 0 && !this.renewTimer && !this.closed) {
      this.renewTimer = setInterval(() => {
        if (this.held() === 0) return;
        this.o.store
          .quotaSlotsRenew(this.o.connection, this.o.holder, this.o.now(), this.o.leaseMs)
          .catch((err) => this.warn('renewing shared concurrency slots failed; they expire unless a later renewal succeeds', err));
      }, Math.max(1, Math.floor(this.o.leaseMs / 3)));
      this.renewTimer.unref();
    }
  }

  private warn(message: string, err: unknown): void {
    const now = this.o.now();
    if (now - this.lastWarn < 10_000) return;
    this.lastWarn = now;
    this.o.log('warn', `${this.o.connection}: ${message}`, err);
  }
}

/** Reservations of the connection's shared token bucket, batched: callers waiting together share one statement. */
export class SharedRate {
  private readonly queue: Array<{ resolve(waitMs: number): void; reject(err: Error): void }> = [];
  private busy = false;

  constructor(
    private readonly store: Store,
    private readonly connection: string,
    private readonly intervalMs: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long (ms, from when it resolves) the caller waits before its request may start. */
  reserve(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0);
        try {
          const base = await this.store.quotaRateReserve(this.connection, batch.length, this.intervalMs, this.now());
          batch.forEach((w, i) => w.resolve(Math.max(0, base + (i - (this.burst - 1)) * this.intervalMs)));
        } catch (err) {
          const e = new TransientError(`${this.connection}: the shared request rate could not be reserved in the store: ${err instanceof Error ? err.message : String(err)}`);
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
