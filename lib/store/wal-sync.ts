/**
 * Durability of a WAL-mode SQLite store without blocking the event loop on the disk.
 *
 * With `synchronous=FULL` SQLite syncs the WAL inside COMMIT, on the calling thread: the whole runtime (broker,
 * flows, HTTP) stands still for every fsync (16 % of the runtime's main thread in bench scenario 1). Instead the
 * connection runs with `synchronous=NORMAL` (COMMIT only writes the WAL frames to the OS; checkpoints still sync
 * WAL and database as before) and this class syncs the WAL file on the libuv thread pool after each group commit.
 * A group's writes are reported done only after a sync that started after its COMMIT has finished, so "resolved
 * = on disk, survives a power loss" holds as with FULL. Syncs run one at a time; the groups committed while one
 * runs share the next, and waiters are settled in commit order.
 *
 * Why the file stays the same: SQLite deletes or replaces the `-wal` file only when the last connection closes,
 * and the store's own connection stays open until `close()`, which syncs once more before closing.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface SyncWaiter {
  resolve(): void;
  reject(err: unknown): void;
}

export class WalSyncer {
  private fd: number | undefined;
  private running = false;
  private closed = false;
  private pending: SyncWaiter[] = [];
  private inflight: SyncWaiter[] = [];
  /** Syncs done on the thread pool (tests and the bench compare it with the commits). */
  syncs = 0;

  constructor(private readonly walPath: string) {}

  /** Settles `waiters` once the WAL is on disk (their COMMIT has returned). */
  afterCommit(waiters: SyncWaiter[]): void {
    if (waiters.length === 0) return;
    this.pending.push(...waiters);
    this.next();
  }

  private next(): void {
    if (this.running || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let fd: number;
    try {
      fd = this.open();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    this.running = true;
    this.inflight = batch;
    fs.fdatasync(fd, (err) => {
      this.running = false;
      this.inflight = [];
      this.syncs++;
      if (this.closed) this.release();
      for (const w of batch) {
        if (err) w.reject(err);
        else w.resolve();
      }
      this.next();
    });
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    this.fd = fs.openSync(this.walPath, 'r+');
    // the WAL was just created by this connection: its directory entry must survive a power loss too
    const dir = fs.openSync(path.dirname(this.walPath), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
    return this.fd;
  }

  /** Syncs what was committed and settles every waiter, on the calling thread (the store is closing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const batch = [...this.inflight, ...this.pending]; // commit order; the in-flight sync settles its own again (no-op)
    this.pending = [];
    let error: unknown;
    try {
      if (batch.length > 0 || this.fd !== undefined) fs.fdatasyncSync(this.open());
    } catch (err) {
      error = err;
    }
    for (const w of batch) {
      if (error) w.reject(error);
      else w.resolve();
    }
    // an fdatasync still on the thread pool uses the descriptor: it is released when that one finishes
    if (!this.running) this.release();
  }

  private release(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
