/**
 * SQLite WAL checkpoints off the runtime's main thread.
 *
 * SQLite's automatic checkpoint (wal_autocheckpoint, 1000 pages) runs inside the COMMIT that crosses the threshold,
 * on the calling thread: it copies WAL pages into the database file and fsyncs WAL and database while the whole
 * runtime waits (5-6 % of the main thread in bench scenario 1, more with a large random-key inbox index). With this
 * class the store's connection runs `wal_autocheckpoint = 0` and a worker thread with its own connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` instead: after a group commit, when `intervalMs` passed since the last request
 * and none is running.
 *
 * Bound on the WAL: a PASSIVE checkpoint copies the frames present when it starts, but the WAL only starts over from
 * its beginning at a write that finds every frame copied. Under steady load commits keep landing while the worker
 * copies, so that rarely happens and the WAL would grow without end. Rule: when the worker reports a WAL larger
 * than `maxWalBytes` (frames x (page size + 24-byte frame header)) `overLimitReports` times in a row, the store runs
 * `wal_checkpoint(RESTART)` once on its own connection after its next commit. It is cheap then (the worker has
 * already copied all but the last interval's frames) and makes the next write start the WAL over; the file keeps
 * its size and inode (no truncate), so the WalSyncer's descriptor stays valid. It does not wait for readers on the
 * event loop (busy timeout 0 for that statement): a reader of another process holding an old snapshot blocks any
 * restart, SQLite's own included, and it is tried again after the next reports.
 *
 * A worker that dies or fails a checkpoint: the store turns SQLite's automatic checkpoints back on
 * (`wal_autocheckpoint = 1000`), so the WAL never grows unbounded; this class then does nothing more.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export type ToCheckpointWorker = { type: 'checkpoint' } | { type: 'close' };
export type FromCheckpointWorker =
  | { type: 'result'; busy: number; log: number; checkpointed: number }
  | { type: 'error'; message: string };

export interface CheckpointStats {
  /** Checkpoints asked of the worker. */
  requests: number;
  /** Checkpoints the worker finished. */
  done: number;
  /** WAL frames the worker copied into the database file (summed over its checkpoints). */
  framesCheckpointed: number;
  /** RESTART checkpoints run on the main connection because the WAL stayed over the limit. */
  fallbacks: number;
  /** 1 once the worker died or failed and SQLite's automatic checkpoints were turned back on. */
  workerFailures: number;
}

export interface CheckpointerOptions {
  /** The database file (absolute). */
  path: string;
  /** The database's page size, to turn WAL frames into bytes. */
  pageSize: number;
  /** Minimum time between two checkpoint requests (default 200 ms). */
  intervalMs?: number;
  /** WAL size above which a report counts towards the fallback (default 64 MB). */
  maxWalBytes?: number;
  /** Consecutive over-the-limit reports before the RESTART on the main connection (default 3). */
  overLimitReports?: number;
  /** The worker is gone: the store turns automatic checkpoints back on. `reason` names no data, only what failed. */
  onWorkerLost(reason: string): void;
}

const WORKER_SCRIPT = path.join(__dirname, 'checkpoint-worker.js');
const WAL_FRAME_HEADER = 24;
/** A worker that does not exit after being asked to is terminated after this long (close must not hang). */
const CLOSE_GRACE_MS = 5000;

export class Checkpointer {
  readonly stats: CheckpointStats = { requests: 0, done: 0, framesCheckpointed: 0, fallbacks: 0, workerFailures: 0 };
  private readonly worker: Worker;
  private readonly intervalMs: number;
  private readonly maxWalBytes: number;
  private readonly overLimitReports: number;
  private readonly exited: Promise<void>;
  private running = false;
  private lastRequestAt = 0;
  private overLimit = 0;
  private restartDue = false;
  private closing = false;
  private lost = false;
  private lastError: string | undefined;

  constructor(private readonly options: CheckpointerOptions) {
    this.intervalMs = options.intervalMs ?? 200;
    this.maxWalBytes = options.maxWalBytes ?? 64 * 1024 * 1024;
    this.overLimitReports = Math.max(1, options.overLimitReports ?? 3);
    this.worker = new Worker(WORKER_SCRIPT, { workerData: { path: options.path } });
    // an unclosed store must not keep the process alive for its checkpoints (close() refs it again)
    this.worker.unref();
    this.worker.on('message', (m: FromCheckpointWorker) => this.onMessage(m));
    this.worker.on('error', (err) => {
      this.lastError = err.message;
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        if (!this.closing) this.fail(this.lastError ?? `exited with code ${code}`);
        resolve();
      });
    });
  }

  /** Checkpoints run on the worker (false once it is gone or closing). */
  get active(): boolean {
    return !this.lost && !this.closing;
  }

  /** Called after each group commit: asks for a checkpoint when one is due. */
  afterCommit(): void {
    if (this.running || !this.active) return;
    const now = Date.now();
    if (now - this.lastRequestAt < this.intervalMs) return;
    this.lastRequestAt = now;
    this.running = true;
    this.stats.requests++;
    this.worker.postMessage({ type: 'checkpoint' } satisfies ToCheckpointWorker);
  }

  /** True once when the WAL stayed over the limit: the store runs a RESTART checkpoint on its connection now. */
  takeRestartDue(): boolean {
    if (!this.restartDue) return false;
    this.restartDue = false;
    this.stats.fallbacks++;
    return true;
  }

  private onMessage(m: FromCheckpointWorker): void {
    this.running = false;
    if (m.type === 'error') {
      this.lastError = m.message;
      void this.worker.terminate(); // its exit turns automatic checkpoints back on
      return;
    }
    this.stats.done++;
    this.stats.framesCheckpointed += Math.max(0, m.checkpointed);
    if (m.log * (this.options.pageSize + WAL_FRAME_HEADER) > this.maxWalBytes) {
      if (++this.overLimit >= this.overLimitReports) {
        this.overLimit = 0;
        this.restartDue = true;
      }
    } else {
      this.overLimit = 0;
    }
  }

  private fail(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.running = false;
    this.restartDue = false;
    this.stats.workerFailures++;
    this.options.onWorkerLost(reason);
  }

  /** Lets a running checkpoint finish, closes the worker's connection and waits for the worker to exit. */
  async close(): Promise<void> {
    if (this.closing) return this.exited;
    this.closing = true;
    if (this.lost) return this.exited;
    this.worker.ref();
    this.worker.postMessage({ type: 'close' } satisfies ToCheckpointWorker);
    const timer = setTimeout(() => void this.worker.terminate(), CLOSE_GRACE_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Test hook: kills the worker as a crash would; resolves once the store has fallen back. */
  async killWorkerForTest(): Promise<void> {
    await this.worker.terminate();
    await this.exited;
  }
}
