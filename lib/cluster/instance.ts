/**
 * Runtime instance identity and presence (docs/scale-out.md, "Instances and leases").
 *
 * An instance has a stable identity (FABRIC_INSTANCE_ID, else an id generated once and kept in its user dir) and,
 * per process, a new incarnation. Everything it leases in the store (outbox items, election leases) is owned by
 * `<identity>/<incarnation>` (store.ts instanceLeaseOwner), so ownership can be traced back to an identity:
 *
 * - At start, the new incarnation frees what earlier incarnations of the same identity hold (`instanceReclaim`):
 *   they are known dead, because one identity is one process at a time (a user dir serves one runtime; a SQLite file
 *   is one process'). Items in flight at a crash are attempted again at once instead of after their lease (120 s).
 * - While running, it writes a heartbeat every `heartbeatMs` (`instanceBeat`) and sweeps for other identities whose
 *   heartbeat is older than `deadAfterMs` (`instanceReclaimDead`): their rows are removed and their holdings freed.
 *   A surviving instance so takes over a dead one's outbox items within deadAfterMs + heartbeatMs of its last
 *   heartbeat (20 s with the defaults), not after the full outbox lease. An instance that was only paused longer than
 *   deadAfterMs (not dead) may then see an item it is still sending sent again by another instance: the vendor
 *   absorbs the re-send by the item's idempotency key, as for any retry.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { instanceLeaseOwner, type ReclaimResult, type Store } from '../store/store';

/** Same alphabet as the runtime's FABRIC_INSTANCE_ID check (runtime/settings-builder.ts); `/` separates the incarnation. */
const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Where a generated identity is kept in the user dir. */
export const INSTANCE_ID_FILE = '.ps-fabric-instance-id';
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Missed heartbeats after which another instance treats an instance as dead. */
export const DEAD_AFTER_BEATS = 3;

/**
 * The identity of this runtime: FABRIC_INSTANCE_ID when set; else the id kept in `<userDir>/.ps-fabric-instance-id`,
 * generated (host name + random) on first use. Throws with the reason when neither is usable.
 */
export function resolveInstanceId(options: { env?: NodeJS.ProcessEnv; userDir?: string }): string {
  const env = options.env ?? process.env;
  const given = (env.FABRIC_INSTANCE_ID ?? '').trim();
  if (given) {
    if (!ID_PATTERN.test(given)) throw new Error(`FABRIC_INSTANCE_ID must be 1-64 characters of A-Z a-z 0-9 . _ -, got "${given}"`);
    return given;
  }
  if (!options.userDir) throw new Error('no FABRIC_INSTANCE_ID and no user directory to keep a generated instance id in');
  const file = path.join(options.userDir, INSTANCE_ID_FILE);
  const read = () => fs.readFileSync(file, 'utf8').trim();
  if (fs.existsSync(file)) {
    const kept = read();
    if (!ID_PATTERN.test(kept)) throw new Error(`${file} must hold an instance id of 1-64 characters of A-Z a-z 0-9 . _ -, got "${kept.slice(0, 80)}"; delete the file to generate a new one`);
    return kept;
  }
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'instance';
  const id = `${host}-${crypto.randomBytes(4).toString('hex')}`;
  fs.mkdirSync(options.userDir, { recursive: true });
  try {
    fs.writeFileSync(file, id + '\n', { flag: 'wx' });
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return read(); // another start wrote it first
    throw err;
  }
}

/** Reads FABRIC_INSTANCE_HEARTBEAT_MS (default 5 s). */
export function heartbeatFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env.FABRIC_INSTANCE_HEARTBEAT_MS ?? '').trim();
  if (!raw) return DEFAULT_HEARTBEAT_MS;
  const ms = Number(raw);
  if (!(Number.isInteger(ms) && ms >= 100)) throw new Error(`FABRIC_INSTANCE_HEARTBEAT_MS must be an integer >= 100, got "${raw}"`);
  return ms;
}

export interface InstancePresenceOptions {
  store: Pick<Store, 'instanceBeat' | 'instanceReclaim' | 'instanceReclaimDead'>;
  id: string;
  /** Default: a new random incarnation (one per process start). */
  incarnation?: string;
  heartbeatMs?: number;
  /** Default DEAD_AFTER_BEATS x heartbeatMs. */
  deadAfterMs?: number;
  now?: () => number;
  log?: (level: 'info' | 'warn', message: string) => void;
}

const presences = new WeakMap<object, InstancePresence>();

/** The running presence of this process on `store`, if any (the delivery engine and elections take their owner from it). */
export function presenceOf(store: object): InstancePresence | undefined {
  return presences.get(store);
}

/**
 * Events: `reclaimed` ({ from: 'restart' | 'dead', id, result }) after holdings were freed (the delivery engine wakes
 * its connections on it); `beatError` (err) when a heartbeat or sweep failed (retried at the next beat).
 */
export class InstancePresence extends EventEmitter {
  readonly id: string;
  readonly incarnation: string;
  /** Owner string of everything this incarnation leases. */
  readonly owner: string;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  private readonly store: InstancePresenceOptions['store'];
  private readonly now: () => number;
  private readonly log: NonNullable<InstancePresenceOptions['log']>;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private reclaimedOwn = false;
  /** Resolves once the first heartbeat and the reclaim of earlier incarnations are done (never rejects). */
  readonly started: Promise<void>;
  private resolveStarted!: () => void;

  constructor(options: InstancePresenceOptions) {
    super();
    if (!ID_PATTERN.test(options.id)) throw new Error(`instance id must be 1-64 characters of A-Z a-z 0-9 . _ -, got "${options.id}"`);
    this.store = options.store;
    this.id = options.id;
    this.incarnation = options.incarnation ?? `${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
    this.owner = instanceLeaseOwner(this.id, this.incarnation);
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.deadAfterMs = options.deadAfterMs ?? DEAD_AFTER_BEATS * this.heartbeatMs;
    if (!(this.deadAfterMs > this.heartbeatMs)) throw new RangeError(`instance ${this.id}: deadAfterMs (${this.deadAfterMs}) must be longer than heartbeatMs (${this.heartbeatMs})`);
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((level, message) => console[level === 'info' ? 'log' : 'warn'](`[ps-fabric] ${message}`));
    this.started = new Promise((resolve) => (this.resolveStarted = resolve));
    presences.set(this.store, this);
  }

  /**
   * Registers this incarnation, frees what earlier incarnations of the identity hold, then beats and sweeps every
   * heartbeatMs. Resolves once the first round is done (a failed round is retried at the next beat).
   */
  start(): Promise<void> {
    this.stopped = false;
    const first = this.round(true);
    const loop = () => {
      this.timer = setTimeout(() => {
        void this.round(false).finally(() => {
          if (!this.stopped) loop();
        });
      }, this.heartbeatMs);
      this.timer.unref?.();
    };
    loop();
    return first;
  }

  /** One heartbeat and sweep (tests drive it with their own clock). */
  tick(): Promise<void> {
    return this.round(false);
  }

  private async round(first: boolean): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      const at = this.now();
      try {
        await this.store.instanceBeat(this.id, this.incarnation, at);
        if (!this.reclaimedOwn) {
          const result = await this.store.instanceReclaim(this.id, this.incarnation, at);
          this.reclaimedOwn = true;
          this.report('restart', this.id, result);
        }
        for (const dead of await this.store.instanceReclaimDead(at - this.deadAfterMs, at, this.id)) {
          this.report('dead', dead.id, dead, `last heartbeat ${Math.round((at - dead.heartbeatAt) / 1000)} s ago`);
        }
      } catch (err) {
        this.emit('beatError', err);
        if (first) this.log('warn', `instance ${this.id}: heartbeat failed (${err instanceof Error ? err.message : String(err)}); retried every ${this.heartbeatMs} ms`);
      } finally {
        if (first) this.resolveStarted();
      }
    })();
    try {
      await this.ticking;
    } finally {
      this.ticking = undefined;
    }
  }

  private report(from: 'restart' | 'dead', id: string, result: ReclaimResult, why = ''): void {
    if (result.outboxItems === 0 && result.leases === 0) return;
    const whose = from === 'restart' ? `earlier incarnations of ${id}` : `instance ${id} (${why})`;
    this.log('info', `instance ${this.id}: took back ${result.outboxItems} in-flight outbox item(s) and ${result.leases} lease(s) of ${whose}`);
    this.emit('reclaimed', { from, id, result });
  }

  /** Stops beating (the row stays until another instance sweeps it: it then frees nothing, since nothing is held). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    if (presences.get(this.store) === this) presences.delete(this.store);
  }
}
