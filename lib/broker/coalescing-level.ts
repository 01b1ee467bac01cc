/**
 * Write coalescing in front of the broker's LevelDB (classic-level), for aedes-persistence-level 9.x.
 *
 * Why: per QoS 1 message to a persistent session aedes-persistence-level issues about seven separate async
 * LevelDB calls (enqueue put; update get + del + put + put; PUBACK get + batch), each with its own libuv round
 * trip (bench scenario 5: ~6,000 msg/s against ~34,000 in memory). This layer gives the persistence the same
 * `get`/`put`/`del`/`batch`/`clear`/`values`/`close` it uses, but
 *  - every write issued while the previous LevelDB write is running (or in the same event-loop turn) goes into
 *    ONE `db.batch`; each caller's promise resolves only when the batch holding its write has been written, so
 *    "resolved" means "in LevelDB" exactly as before (same `sync: false` as the library's own calls);
 *  - batches and range clears run strictly one after another in call order, so after a crash the database holds
 *    a prefix of the calls (never a later write without an earlier one); the library's own awaited sequences
 *    could not promise more;
 *  - `get` sees writes that are queued or being written (write-through view), then a small cache of values this
 *    process wrote (enqueue -> update -> PUBACK read back what was just written), then LevelDB;
 *  - iterators (`values`: session resume, subscriptions, retained) first wait until everything queued before
 *    them is written, so they read the same state the uncoalesced calls would have read.
 * The persistence is the only user of the database (one broker per directory), which is what makes the cache
 * coherent: every write goes through here.
 *
 * Durability: "written" above means handed to LevelDB without `sync`, i.e. in the OS page cache: it survives the
 * process being killed, not a power loss. The broker needs more before it acknowledges a message (docs/runtime.md,
 * "The broker acknowledges only what it has kept"):
 *  - `durably(fn)`: the writes `fn` issues synchronously (aedes-persistence-level issues an enqueue's, a retained
 *    message's, a subscription's at call time) go into a batch written with `sync: true`, so they resolve fsynced;
 *    every caller of the same window shares that batch and its one fsync;
 *  - `durable()`: resolves once everything written or queued so far is fsynced, by making the next queued batch a sync
 *    one (LevelDB appends every batch to one log file, so syncing a later batch syncs the earlier ones in that file) or
 *    queueing a one-key batch (SYNC_MARKER) when nothing is waiting. `durably` falls back to it when `fn` issued no
 *    write synchronously (a library version that awaits first).
 */

const DELETED = Symbol('deleted');
type Slot = Buffer | typeof DELETED;

interface Range {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

type Step =
  | { kind: 'batch'; ops: Map<string, Slot>; waiters: Waiter[]; sync?: boolean }
  | { kind: 'clear'; range: Range; lower?: Buffer; upper?: Buffer; waiters: Waiter[] };

const BUFFER = { valueEncoding: 'buffer' };
const BUFFER_SYNC = { valueEncoding: 'buffer', sync: true };
/**
 * Written by a `durable()` that finds no batch to make synchronous. Outside every key range aedes-persistence-level
 * reads or clears (all of them are `<prefix>:` ranges), so the library never sees it; rewritten in place, so it is
 * one key forever.
 */
export const SYNC_MARKER = '~psfabric:sync';
const EMPTY = Buffer.alloc(0);

export interface CoalescingLevelOptions {
  /** Values kept after they were written, for read-back by the next call on the same message. Default 8192. */
  cacheEntries?: number;
  /** ... and their total size (a QoS 1 payload may be up to maxPacketBytes). Default 16 MiB. */
  cacheBytes?: number;
}

/** Read back with `get` by the persistence; retained messages and subscriptions are only ever iterated. */
const CACHED_PREFIXES = ['outgoing:', 'outgoing-id:', 'incoming:', 'will:'];

export interface CoalescingStats {
  /** LevelDB batch writes issued. */
  batches: number;
  /** Individual put/del operations they carried. */
  ops: number;
  /** `get` answered from the queued writes or the cache / from LevelDB. */
  memoryReads: number;
  dbReads: number;
  /** Batches written with `sync: true` (fsynced), and how many of them only carried SYNC_MARKER. */
  syncs: number;
  markerSyncs: number;
}

export class CoalescingLevel {
  readonly stats: CoalescingStats = { batches: 0, ops: 0, memoryReads: 0, dbReads: 0, syncs: 0, markerSyncs: 0 };
  private readonly db: any;
  private readonly cacheEntries: number;
  private readonly cacheBytesMax: number;
  private cacheBytes = 0;
  /** Steps not yet finished; the first one is the one running when `running` is set. */
  private readonly steps: Step[] = [];
  private running = false;
  private scheduled = false;
  private readonly cache = new Map<string, Buffer>();
  private closed = false;
  /** > 0 while a `durably` callback runs its synchronous part; `scopedWrites` counts the writes it issued. */
  private syncScope = 0;
  private scopedWrites = 0;

  constructor(db: any, options: CoalescingLevelOptions = {}) {
    this.db = db;
    this.cacheEntries = options.cacheEntries ?? 8192;
    this.cacheBytesMax = options.cacheBytes ?? 16 * 1024 * 1024;
  }

  async get(key: string): Promise<Buffer | undefined> {
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const step = this.steps[i];
      if (step.kind === 'batch') {
        const slot = step.ops.get(key);
        if (slot !== undefined) {
          this.stats.memoryReads++;
          return slot === DELETED ? undefined : slot;
        }
      } else if (inRange(key, step)) {
        this.stats.memoryReads++;
        return undefined;
      }
    }
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.stats.memoryReads++;
      return cached;
    }
    this.stats.dbReads++;
    return this.db.get(key, BUFFER);
  }

  put(key: string, value: Buffer): Promise<void> {
    return this.write([[key, asBuffer(value, key)]]);
  }

  del(key: string): Promise<void> {
    return this.write([[key, DELETED]]);
  }

  /** `batch(ops)` writes them (atomically, with whatever else is queued); `batch()` is the chained form. */
  batch(ops?: Array<{ type: 'put' | 'del'; key: string; value?: Buffer }>): any {
    if (ops === undefined) {
      const pending: Array<[string, Slot]> = [];
      const chained = {
        put: (key: string, value: Buffer) => {
          pending.push([key, asBuffer(value, key)]);
          return chained;
        },
        del: (key: string) => {
          pending.push([key, DELETED]);
          return chained;
        },
        write: () => this.write(pending),
      };
      return chained;
    }
    return this.write(
      ops.map((op): [string, Slot] => {
        if (op.type === 'put') return [op.key, asBuffer(op.value, op.key)];
        if (op.type === 'del') return [op.key, DELETED];
        throw new Error(`broker persistence: batch operation type must be 'put' or 'del', got '${(op as any).type}' for key ${op.key}`);
      }),
    );
  }

  clear(range: Range & Record<string, unknown>): Promise<void> {
    for (const k of Object.keys(range)) {
      if (!['gt', 'gte', 'lt', 'lte'].includes(k)) throw new Error(`broker persistence: clear option '${k}' is not supported (only gt/gte/lt/lte)`);
    }
    this.assertOpen();
    const lowerKey = range.gte ?? range.gt;
    const upperKey = range.lt ?? range.lte;
    return new Promise<void>((resolve, reject) => {
      this.steps.push({
        kind: 'clear',
        range,
        lower: lowerKey === undefined ? undefined : Buffer.from(lowerKey),
        upper: upperKey === undefined ? undefined : Buffer.from(upperKey),
        waiters: [{ resolve, reject }],
      });
      this.schedule();
    });
  }

  /** Reads after everything queued before it is written (not after the queue is empty: under steady traffic it never is). */
  async *values(options: Record<string, unknown>): AsyncGenerator<Buffer> {
    await this.queuedWritten();
    yield* this.db.values(options);
  }

  /** Keys in a range (with `limit`), read like `values`: after everything queued before the call is written. */
  async *keys(options: Record<string, unknown>): AsyncGenerator<string> {
    await this.queuedWritten();
    yield* this.db.keys(options);
  }

  async close(): Promise<void> {
    while (this.steps.length > 0) await this.queuedWritten();
    this.closed = true;
    await this.db.close();
  }

  /** Entries and bytes held by the read-back cache. */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cacheBytes };
  }

  /** Resolves when every write queued so far is in LevelDB (or failed): steps run in order, so when the last one ends. */
  queuedWritten(): Promise<void> {
    const last = this.steps[this.steps.length - 1];
    if (!last) return Promise.resolve();
    return new Promise((resolve) => last.waiters.push({ resolve, reject: () => resolve() }));
  }

  /**
   * Runs `fn`; the writes it issues before its first await are written with `sync: true`. Resolves with its result
   * once they are fsynced (when it issued none then: once `durable()` resolves after it).
   */
  async durably<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.scopedWrites;
    this.syncScope++;
    let pending: Promise<T>;
    try {
      pending = fn();
    } finally {
      this.syncScope--;
    }
    const captured = this.scopedWrites !== before;
    const result = await pending;
    if (!captured) await this.durable();
    return result;
  }

  /**
   * Resolves once every write issued before this call is on disk (fsync), rejects if the batch that syncs them
   * failed. Cost: one fsync per window of callers, paid by the batch that would have been written anyway when one
   * is queued.
   */
  durable(): Promise<void> {
    this.assertOpen();
    return new Promise<void>((resolve, reject) => {
      const last = this.steps[this.steps.length - 1];
      // the running step's options are already handed to LevelDB: only a queued batch can still become a sync one
      const lastIsRunning = this.running && this.steps.length === 1;
      let step: Step;
      if (last && last.kind === 'batch' && !lastIsRunning) {
        step = last;
      } else {
        step = { kind: 'batch', ops: new Map<string, Slot>([[SYNC_MARKER, EMPTY]]), waiters: [] };
        this.steps.push(step);
      }
      step.sync = true;
      step.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  private write(entries: Array<[string, Slot]>): Promise<void> {
    this.assertOpen();
    return new Promise<void>((resolve, reject) => {
      let step = this.steps[this.steps.length - 1];
      // the running step's operations are already handed to LevelDB: later writes go into a new batch
      const lastIsRunning = this.running && this.steps.length === 1;
      if (!step || step.kind !== 'batch' || lastIsRunning) {
        step = { kind: 'batch', ops: new Map(), waiters: [] };
        this.steps.push(step);
      }
      if (this.syncScope > 0) {
        step.sync = true;
        this.scopedWrites++;
      }
      for (const [key, slot] of entries) {
        // re-insert so the batch applies this key at its latest position (per-key last write wins anyway)
        step.ops.delete(key);
        step.ops.set(key, slot);
      }
      step.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // one event-loop turn of calls goes into the first batch; later ones queue behind the running write
    setImmediate(() => {
      this.scheduled = false;
      this.runNext();
    });
  }

  private runNext(): void {
    const step = this.steps[0];
    if (!step) {
      this.running = false;
      return;
    }
    this.running = true;
    const done = (err?: unknown) => {
      this.steps.shift();
      if (err === undefined) this.applyToCache(step);
      else this.forget(step);
      for (const w of step.waiters) {
        if (err === undefined) w.resolve();
        else w.reject(err);
      }
      this.runNext();
    };
    let work: Promise<unknown>;
    try {
      if (step.kind === 'batch') {
        const ops: Array<{ type: 'put' | 'del'; key: string; value?: Buffer }> = [];
        for (const [key, slot] of step.ops) ops.push(slot === DELETED ? { type: 'del', key } : { type: 'put', key, value: slot });
        this.stats.batches++;
        this.stats.ops += ops.length;
        if (step.sync) {
          this.stats.syncs++;
          if (step.ops.size === 1 && step.ops.has(SYNC_MARKER)) this.stats.markerSyncs++;
        }
        work = this.db.batch(ops, step.sync ? BUFFER_SYNC : BUFFER);
      } else {
        work = this.db.clear(step.range);
      }
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(() => done(), (err) => done(err ?? new Error('broker persistence write failed')));
  }

  private applyToCache(step: Step): void {
    if (step.kind === 'clear') {
      for (const key of [...this.cache.keys()]) if (inRange(key, step)) this.uncache(key);
      return;
    }
    for (const [key, slot] of step.ops) {
      this.uncache(key);
      if (slot === DELETED || slot.length > this.cacheBytesMax / 16) continue;
      if (!CACHED_PREFIXES.some((p) => key.startsWith(p))) continue;
      this.cache.set(key, slot);
      this.cacheBytes += slot.length;
    }
    while (this.cache.size > this.cacheEntries || this.cacheBytes > this.cacheBytesMax) {
      this.uncache(this.cache.keys().next().value as string);
    }
  }

  private uncache(key: string): void {
    const had = this.cache.get(key);
    if (had === undefined) return;
    this.cache.delete(key);
    this.cacheBytes -= had.length;
  }

  /** After a failed write the database state of its keys is unknown: read them from LevelDB again. */
  private forget(step: Step): void {
    if (step.kind === 'clear') {
      for (const key of [...this.cache.keys()]) if (inRange(key, step)) this.uncache(key);
      return;
    }
    for (const key of step.ops.keys()) this.uncache(key);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('broker persistence: database is closed');
  }
}

function asBuffer(value: unknown, key: string): Buffer {
  if (!Buffer.isBuffer(value)) throw new Error(`broker persistence: value for key ${key} must be a Buffer (msgpack-encoded)`);
  return value;
}

/** LevelDB compares keys as UTF-8 bytes; JS string order differs above U+FFFF, so compare the bytes. */
function inRange(key: string, step: { range: Range; lower?: Buffer; upper?: Buffer }): boolean {
  const k = Buffer.from(key);
  if (step.lower) {
    const c = Buffer.compare(k, step.lower);
    if (step.range.gte !== undefined ? c < 0 : c <= 0) return false;
  }
  if (step.upper) {
    const c = Buffer.compare(k, step.upper);
    if (step.range.lt !== undefined ? c >= 0 : c > 0) return false;
  }
  return true;
}
