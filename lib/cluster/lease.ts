/**
 * Single-active-worker election on store leases (docs/scale-out.md): of all runtime instances that
 * run the same poller, exactly one polls a given cursor at a time. The lease lives in the store (`leases` table:
 * SQLite for one machine, PostgreSQL across instances), so no extra coordination service is needed.
 *
 *   const election = new LeaseElection({ store, name: `poller:kantata:approved-time:${node.id}`, owner: instanceOwner() });
 *   election.start();
 *   // in the poll timer:
 *   await election.runIfLeader(async () => { const cursor = await store.watermarkGet(...); ...; await store.watermarkSet(...); });
 *   // on close:
 *   await election.stop();            // releases the lease so another instance takes over at once
 *
 * Semantics:
 * - `leaseAcquire(name, owner, now, ttlMs)` succeeds for a free or expired lease, or when `owner` already holds it
 *   (renewal). The election calls it every `renewEveryMs` (default ttl / 3), so a live holder keeps the lease.
 * - The holder believes it is leader only until `acquiredAt + ttlMs` of its last successful renewal (`isLeader`
 *   turns false by itself when renewals fail, e.g. the database is unreachable), so two instances are never both
 *   leader as long as their clocks agree to within the ttl's margin (ttl - renewEveryMs).
 * - A crashed holder (SIGKILL, power loss) stops renewing; another instance acquires the lease at its next tick
 *   after expiry, i.e. within ttlMs + renewEveryMs. Work is then resumed from the cursor the previous holder stored
 *   (watermarks are shared), so a poller must store its cursor only after the page's records are persisted
 *   (outbox/inbox), and what it persists must be idempotent (keys), since a page may be read twice around a takeover.
 * - `stop()` releases the lease (only if still ours), so a planned shutdown hands over without waiting for expiry.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Store } from '../store/store';
import { presenceOf } from './instance';

export interface LeaseElectionOptions {
  store: Pick<Store, 'leaseAcquire' | 'leaseRelease'>;
  /** Lease name: one per cursor, e.g. `poller:salesforce:Opportunity:<nodeId>`. */
  name: string;
  /** This contender's id; unique per process (default: the owner of this process' instance presence on the store, else instanceOwner()). */
  owner?: string;
  /** How long a lease lasts without renewal. Default 30 s. */
  ttlMs?: number;
  /** Renewal period. Default ttlMs / 3; must be shorter than ttlMs. */
  renewEveryMs?: number;
  now?: () => number;
}

/** Default owner id: FABRIC_INSTANCE_ID (or the host name), the pid and a random suffix: unique per process. */
export function instanceOwner(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.FABRIC_INSTANCE_ID || os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
}

/**
 * Events: `change` (leader: boolean) when leadership is gained or lost; `error` is NOT emitted (a failed renewal
 * just means "not leader"); `renewError` (err) for logging.
 */
export class LeaseElection extends EventEmitter {
  readonly name: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly renewEveryMs: number;
  private readonly store: LeaseElectionOptions['store'];
  private readonly now: () => number;
  private validUntil = 0;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;

  constructor(options: LeaseElectionOptions) {
    super();
    this.store = options.store;
    this.name = options.name;
    this.owner = options.owner ?? presenceOf(options.store)?.owner ?? instanceOwner();
    this.ttlMs = options.ttlMs ?? 30_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(this.ttlMs / 3));
    if (!(this.renewEveryMs < this.ttlMs)) throw new RangeError(`lease ${this.name}: renewEveryMs (${this.renewEveryMs}) must be shorter than ttlMs (${this.ttlMs})`);
    this.now = options.now ?? Date.now;
  }

  /** True while this contender holds a lease that has not expired by its own clock. */
  get isLeader(): boolean {
    return this.leader && this.now() < this.validUntil;
  }

  /** Starts contending: one attempt now, then one per renewEveryMs. Resolves after the first attempt. */
  start(): Promise<void> {
    this.stopped = false;
    const first = this.tick();
    const loop = () => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.stopped) loop();
        });
      }, this.renewEveryMs);
      this.timer.unref?.();
    };
    loop();
    return first.then(() => undefined);
  }

  /** One acquire/renew attempt; returns whether this contender is leader afterwards. */
  async tick(): Promise<boolean> {
    if (this.ticking) {
      await this.ticking;
      return this.isLeader;
    }
    this.ticking = (async () => {
      const at = this.now();
      let won = false;
      try {
        won = await this.store.leaseAcquire(this.name, this.owner, at, this.ttlMs);
      } catch (err) {
        this.emit('renewError', err);
      }
      if (won) this.validUntil = at + this.ttlMs;
      this.setLeader(won);
    })();
    try {
      await this.ticking;
    } finally {
      this.ticking = undefined;
    }
    return this.isLeader;
  }

  /** Runs `fn` only when this contender is leader (checked just before); returns undefined otherwise. */
  async runIfLeader<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (!this.isLeader) return undefined;
    return fn();
  }

  /** Stops contending and releases the lease if held. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    const wasLeader = this.leader;
    this.setLeader(false);
    this.validUntil = 0;
    if (wasLeader) await this.store.leaseRelease(this.name, this.owner).catch((err: unknown) => this.emit('renewError', err));
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.emit('change', leader);
  }
}
