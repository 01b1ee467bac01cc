/**
 * A connection's vendor quota shared by every instance on one store (issue 19, item 1): vendors count an account's
 * concurrency and request rate, not a process's, so two instances each sized to the quota would send twice it.
 *
 * - Concurrency: `SharedSlots` holds numbered slots (0..concurrency-1) in the store's `quota_slots` table, each
 *   leased to one holder (one registration of the connection in one process). A write or `call` takes a slot before
 *   it starts and gives it back after. Leases are renewed while held, so an instance that dies (or loses its store)
 *   stops renewing and its capacity returns to the others within `leaseMs`.
 *   Hot path: a slot taken from the store is handed from one finished attempt straight to the next waiting one of
 *   the same process, without a store round trip. Who keeps how many follows from a census of the connection, taken
 *   with each renewal (every `holdMs` / 4, at least every lease/3): the holders, and the other holders that wait (a holder
 *   whose ask got fewer slots than its fair share records that it waits, `quota_demand`).
 *   - Nobody else waits: a process keeps the slots it uses, as long as their leases are confirmed (renewed within
 *     lease/2). Sharing costs no round trip per write, and no slot sits unused between two instances' turns.
 *   - Others wait: each holder keeps its fair share, capacity / holders, and gives back what it holds above it as its
 *     attempts end, and asks for no more than its share. Two instances with backlogs settle at half each, and no slot
 *     moves while they do.
 *   - Fewer slots than holders (capacity 1, three instances), or no census yet (a new process, or the store did not
 *     answer it): turns. A slot goes back to the store `holdMs` after it was taken, and the process does not take that
 *     many slots again for 1.5 x `pollMs` (the longest another instance waits between two asks), or it would win every
 *     handover - it asks in the same turn while the others poll - and keep the capacity however many instances wait.
 *   An unused slot is given back after `lingerMs`, or after a whole turn (`holdMs`) while nobody else waits.
 * - Rate: `SharedRate` reserves request tokens of one token bucket per connection in the store (`quota_rate`, GCRA:
 *   one row, one atomic statement per batch; PostgreSQL computes on its own clock). Requests waiting at the same
 *   time are reserved in one statement. The request gate (request-gate.ts) uses it instead of its local bucket.
 *
 * What these cannot do: a process that keeps running while its store is unreachable keeps the slots it holds after
 * their leases ran out (it cannot learn they did), so the vendor may see more than the cap until it notices (a
 * renewal that fails is logged, and the process stops reusing its slots once its leases are no longer confirmed);
 * reserved tokens of a process that dies are lost (the quota is under-used, never over-used).
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
  /** When it was taken from the store (a turn, where turns apply, starts here). */
  since: number;
}

/** What the last census of the connection found, and when. */
export interface SlotCensus {
  /** Holders with a live slot or a live demand, this process included. */
  holders: number;
  /** Other holders waiting for slots. */
  othersWaiting: number;
  at: number;
}

export class SharedSlots {
  private readonly free: HeldSlot[] = [];
  private readonly inUse = new Map<number, number>();
  private readonly waiters: SlotWaiter[] = [];
  private seq = 0;
  private fetching = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private releasing: Promise<void> = Promise.resolve();
  /** Slots given back and not yet sent to the store; `giveBackQueued`: a statement for them waits in `releasing`. */
  private readonly toGiveBack: number[] = [];
  private giveBackQueued = false;
  /** Per slot given back at the end of its turn: until when this process leaves one slot to the other instances. */
  private readonly yielding: number[] = [];
  private closed = false;
  private lastWarn = 0;
  private census: SlotCensus | undefined;
  /** When the store last confirmed every lease this process holds (a renewal that answered). */
  private confirmedAt = -Infinity;
  /** Until when this process's demand, as last recorded, is live in the store (0: none recorded). */
  private demandUntil = 0;
  /** Slots taken from the store (tests, metrics). */
  fetched = 0;

  constructor(private readonly o: SharedSlotsOptions) {}

  /** Slots this process holds now (in use or waiting to be reused). */
  held(): number {
    return this.free.length + this.inUse.size;
  }

  /**
   * The slots this process can expect to use: the whole capacity alone (or before any census), its fair share when
   * the census counts other holders.
   */
  share(): number {
    return this.shareBy(this.currentCensus(this.o.now()));
  }

  /** What `census` leaves this process: at least one slot (turns share it where holders outnumber slots). */
  private shareBy(census: SlotCensus | undefined): number {
    return census ? Math.max(1, this.fairShare(census)) : this.o.capacity;
  }

  /** The last census of the connection (undefined before the first). */
  contention(): SlotCensus | undefined {
    return this.census;
  }

  /** Resolves with a slot number; lower `priority` first among this process's waiters. Rejects only on close. */
  acquire(priority: number): Promise<number> {
    if (this.closed) return Promise.reject(new TransientError(`${this.o.connection}: closed`));
    const now = this.o.now();
    for (let reuse = this.free.pop(); reuse; reuse = this.free.pop()) {
      if (this.mayReuse(reuse.since, now)) {
        this.inUse.set(reuse.slot, reuse.since);
        return Promise.resolve(reuse.slot);
      }
      this.endTurn(reuse.slot, now); // its turn is over (or its lease unconfirmed) while it lingered
    }
    return new Promise<number>((resolve, reject) => {
      const w: SlotWaiter = { priority, seq: this.seq++, resolve, reject };
      let i = this.waiters.length;
      while (i > 0 && (this.waiters[i - 1].priority > priority)) i--;
      this.waiters.splice(i, 0, w);
      this.updateTimer();
      void this.fetch();
    });
  }

  release(slot: number): void {
    const since = this.inUse.get(slot);
    if (since === undefined) return;
    this.inUse.delete(slot);
    const now = this.o.now();
    if (this.closed) {
      this.giveBack([slot]);
      return;
    }
    if (!this.mayReuse(since, now)) {
      // its turn is over: back to the store, then compete for a slot again like every other instance
      this.endTurn(slot, now);
      if (this.waiters.length) this.releasing.then(() => this.fetch(), () => this.fetch());
      return;
    }
    if (this.aboveShare(now)) {
      // others wait and this process holds more than its share: the slot goes to them (no turn: it asks for no more
      // than its share while they wait)
      this.giveBack([slot]);
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
      }, this.lingerFor(now));
      this.lingerTimer.unref();
    }
  }

  /** Rejects waiters and gives every slot not in use back; slots in use go back when their attempts end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.pollTimer, this.lingerTimer]) if (t) clearTimeout(t);
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const w of this.waiters.splice(0)) w.reject(new TransientError(`${this.o.connection}: closed while waiting for a shared concurrency slot`));
    this.giveBack(this.free.splice(0).map((h) => h.slot));
    if (this.demandUntil > this.o.now()) this.releasing = this.releasing.then(() => this.o.store.quotaSlotsDemand(this.o.connection, this.o.holder, 0)).catch(() => undefined);
    await this.releasing;
  }

  /** Resolves once every give-back issued so far has reached the store. */
  settled(): Promise<void> {
    return this.releasing;
  }

  /** The census is recent enough to act on (two ticks); otherwise slots take turns, as with no census at all. */
  private currentCensus(now: number): SlotCensus | undefined {
    return this.census && now - this.census.at <= 2 * this.tickMs() + this.o.pollMs ? this.census : undefined;
  }

  /** The slots this process may keep while others wait: its fair share, or turns (0) when holders outnumber slots. */
  private fairShare(census: SlotCensus): number {
    return Math.floor(this.o.capacity / Math.max(1, census.holders));
  }

  /** Whether a slot taken at `since` may start another attempt of this process, or goes back to the store first. */
  private mayReuse(since: number, now: number): boolean {
    const census = this.currentCensus(now);
    if (!census || (census.othersWaiting > 0 && this.fairShare(census) < 1)) return now - since < this.o.holdMs;
    // no turns: the slot stays while its lease is confirmed, with half a lease to spare
    return now - Math.max(since, this.confirmedAt) < this.o.leaseMs / 2;
  }

  /**
   * How long an unused slot stays: nobody else waits, a whole turn (the next write of a backlog finds it without a
   * round trip; a process that starts to wait is seen at the next census, which gives back what is above the share);
   * otherwise `lingerMs`.
   */
  private lingerFor(now: number): number {
    const census = this.currentCensus(now);
    return census && census.othersWaiting === 0 ? Math.max(this.o.lingerMs, this.o.holdMs) : this.o.lingerMs;
  }

  /** Others wait: the unused slots above this process's share go back now, not when they would have lingered out. */
  private giveBackAboveShare(census: SlotCensus): void {
    if (census.othersWaiting === 0) return;
    const above = Math.min(this.free.length, this.held() - this.shareBy(census));
    if (above > 0) this.giveBack(this.free.splice(0, above).map((h) => h.slot));
  }

  /** Others wait and this process (the released slot included) holds more than its fair share. */
  private aboveShare(now: number): boolean {
    const census = this.currentCensus(now);
    return !!census && census.othersWaiting > 0 && this.held() + 1 > this.shareBy(census);
  }

  /**
   * Slots end one attempt at a time; one statement at a time gives back every slot that ended since the last one
   * began, so a wave of them costs a few round trips, not one per slot queued behind each other.
   */
  private giveBack(slots: number[]): void {
    if (slots.length === 0) return;
    this.toGiveBack.push(...slots);
    this.updateTimer();
    if (this.giveBackQueued) return;
    this.giveBackQueued = true;
    this.releasing = this.releasing
      .then(() => {
        this.giveBackQueued = false;
        const batch = this.toGiveBack.splice(0);
        return batch.length ? this.o.store.quotaSlotsRelease(this.o.connection, this.o.holder, batch) : undefined;
      })
      .catch((err) => this.warn('giving shared concurrency slots back failed (they return when their lease expires)', err));
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
        let want = Math.min(this.waiters.length, this.o.capacity - this.held() - this.yielding.length);
        const census = this.currentCensus(now0);
        const share = this.shareBy(census);
        // others wait: ask for no more than the fair share
        if (census && census.othersWaiting > 0) want = Math.min(want, share - this.held());
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
        this.updateTimer();
        if (got.length < want) {
          // short of its share: the holders above theirs learn it at their next census and give slots back
          if (this.held() < share) await this.recordDemand(now);
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

  private async recordDemand(now: number): Promise<void> {
    const tick = this.tickMs();
    if (this.demandUntil - now > 2 * tick) return; // still live
    this.demandUntil = now + 4 * tick;
    await this.o.store.quotaSlotsDemand(this.o.connection, this.o.holder, this.demandUntil);
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

  /**
   * How often a process that holds or wants slots renews its leases and takes a census: a quarter of `holdMs`, so a
   * holder above its share hears within ~250 ms that a new instance waits (two small statements each time).
   */
  private tickMs(): number {
    return Math.max(this.o.pollMs, Math.min(Math.floor(this.o.holdMs / 4), Math.floor(this.o.leaseMs / 3)));
  }

  /** Takes a census now unless one is current (before a first claim: how much to claim depends on it). */
  async knowShare(): Promise<void> {
    if (this.closed || this.currentCensus(this.o.now())) return;
    const now = this.o.now();
    const c = await this.o.store.quotaSlotsCensus(this.o.connection, this.o.holder, now);
    this.census = { ...c, at: now };
  }

  private updateTimer(): void {
    if ((this.held() > 0 || this.waiters.length > 0) && !this.tickTimer && !this.closed) {
      this.tickTimer = setInterval(() => void this.tick(), this.tickMs());
      this.tickTimer.unref();
      void this.tick();
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    if (this.held() === 0 && this.waiters.length === 0) {
      if (this.tickTimer) clearInterval(this.tickTimer);
      this.tickTimer = undefined;
      return;
    }
    this.ticking = true;
    try {
      const now = this.o.now();
      if (this.held() > 0) {
        await this.o.store.quotaSlotsRenew(this.o.connection, this.o.holder, now, this.o.leaseMs);
        this.confirmedAt = now;
      }
      const c = await this.o.store.quotaSlotsCensus(this.o.connection, this.o.holder, now);
      this.census = { ...c, at: now };
      this.giveBackAboveShare(this.census);
      if (this.demandUntil > now && (this.waiters.length === 0 || this.held() >= this.shareBy(this.census))) {
        this.demandUntil = 0; // no longer short: the others need not give anything back for it
        await this.o.store.quotaSlotsDemand(this.o.connection, this.o.holder, 0);
      }
      if (this.waiters.length) void this.fetch();
    } catch (err) {
      this.warn('renewing shared concurrency slots failed; they expire unless a later renewal succeeds', err);
    } finally {
      this.ticking = false;
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
