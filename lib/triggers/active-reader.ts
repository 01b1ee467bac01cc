/**
 * One active reader per trigger across instances (docs/scale-out.md, "Triggers: one active reader"). A vendor's quota
 * is per account (Salesforce's daily API allowance, Kantata's rate limit), so a trigger deployed on every instance of
 * a scale-out runtime must read the vendor on one of them only: the others stand by. Pollers check `active` before
 * each poll; a subscription is started by `onActive` and stopped by `onStandby`.
 *
 * Built on the store lease election (lib/cluster/lease.ts), with what a trigger adds to it:
 * - the lease is owned by the instance's presence (`<identity>/<incarnation>`), and contending waits until the presence
 *   has freed what earlier incarnations of this identity hold: a restarted instance takes its own lease back at once
 *   instead of standing by until it expires;
 * - a holder that dies stops renewing; the others take over when the lease expires (`ttlMs`), or sooner when the
 *   presence sweep finds the holder dead and frees its leases (the presence's `reclaimed` event makes every contender
 *   try at once instead of at its next renewal);
 * - transitions are serialised: `onStandby` of one leadership has finished before `onActive` of the next starts, so a
 *   subscription is never started twice on one instance;
 * - `stop()` (node close) ends the reader (`onStandby`) before it releases the lease, so the next instance starts
 *   reading only after this one stopped.
 * Around a takeover a page or an event may be read by both instances: what a trigger emits goes through its inbox
 * (idempotent by message id), so it is emitted once.
 */
import { LeaseElection } from '../cluster/lease';
import { presenceOf } from '../cluster/instance';
import type { Store } from '../store/store';

export const DEFAULT_TRIGGER_LEASE_MS = 30_000;

/** FABRIC_TRIGGER_LEASE_MS: how long a trigger's read lease lasts without renewal (renewed every third of it). */
export function triggerLeaseMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env.FABRIC_TRIGGER_LEASE_MS ?? '').trim();
  if (!raw) return DEFAULT_TRIGGER_LEASE_MS;
  const ms = Number(raw);
  if (!(Number.isInteger(ms) && ms >= 1000)) throw new Error(`FABRIC_TRIGGER_LEASE_MS must be an integer >= 1000, got "${raw}"`);
  return ms;
}

export interface ActiveReaderOptions {
  store: Pick<Store, 'leaseAcquire' | 'leaseRelease'>;
  /** Lease name: the same on every instance (built from the node id), one per trigger. */
  name: string;
  /** Default FABRIC_TRIGGER_LEASE_MS (30 s). */
  ttlMs?: number;
  /** Default ttlMs / 3. */
  renewEveryMs?: number;
  /** Default: this process' instance presence on the store, else a per-process id (lib/cluster/lease.ts). */
  owner?: string;
  /** This instance became the active reader (start a subscription here). */
  onActive?: () => void | Promise<void>;
  /** This instance no longer is (the lease went to another instance, renewals failed, or stop()). */
  onStandby?: () => void | Promise<void>;
  /** A failed renewal or a failed onActive/onStandby (the reader carries on: it is retried at the next renewal). */
  onError?: (err: Error) => void;
  now?: () => number;
}

export class ActiveReader {
  readonly name: string;
  private readonly election: LeaseElection;
  private readonly options: ActiveReaderOptions;
  /** Whether onActive ran last (and onStandby not since). */
  private reading = false;
  private transitions: Promise<void> = Promise.resolve();
  private stopped = false;
  private expiry: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(options: ActiveReaderOptions) {
    this.options = options;
    this.name = options.name;
    const ttlMs = options.ttlMs ?? triggerLeaseMsFromEnv();
    this.election = new LeaseElection({ store: options.store, name: options.name, owner: options.owner, ttlMs, renewEveryMs: options.renewEveryMs, now: options.now });
    this.election.on('renewError', (err: unknown) => this.options.onError?.(err instanceof Error ? err : new Error(String(err))));
    this.election.on('change', () => this.settle());
  }

  get owner(): string {
    return this.election.owner;
  }

  /** True while this instance holds the lease (by its own clock): check it before each read. */
  get active(): boolean {
    return !this.stopped && this.election.isLeader;
  }

  /** Contends now (after the presence freed earlier incarnations' leases) and at every renewal. Resolves after the first attempt. */
  async start(): Promise<void> {
    this.stopped = false;
    const presence = presenceOf(this.options.store);
    await presence?.started;
    if (this.stopped) return;
    if (presence) {
      const tryNow = () => void this.election.tick();
      presence.on('reclaimed', tryNow);
      this.unwatch = () => presence.off('reclaimed', tryNow);
    }
    await this.election.start();
    await this.transitions;
  }

  /** One acquire/renew attempt now (e.g. before a poll requested by a message); returns `active` after it. */
  async tryNow(): Promise<boolean> {
    if (this.stopped) return false;
    await this.election.tick();
    await this.transitions;
    return this.active;
  }

  /** Ends the reader (onStandby, if it was reading), then releases the lease so another instance takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = undefined;
    this.settle();
    await this.transitions;
    await this.election.stop();
  }

  /**
   * Brings the reader in line with the lease: onActive when held and not reading, onStandby when reading and not
   * held. `isLeader` also turns false without a `change` event when renewals stop succeeding and the lease runs out:
   * a timer at the lease's end checks again.
   */
  private settle(): void {
    this.transitions = this.transitions.then(async () => {
      const want = this.active;
      if (this.expiry) clearTimeout(this.expiry);
      this.expiry = undefined;
      if (want !== this.reading) {
        this.reading = want;
        try {
          await (want ? this.options.onActive?.() : this.options.onStandby?.());
        } catch (err) {
          this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
        }
      }
      if (this.reading && !this.stopped) {
        this.expiry = setTimeout(() => this.settle(), this.election.renewEveryMs + 1);
        this.expiry.unref?.();
      }
    });
  }
}
