/**
 * A connection's local concurrency cap: at most `capacity` tasks run at once in this process; waiting tasks start
 * in priority order (lower first), first come first served within a priority.
 *
 * Admission is synchronous: a task that finds a free place starts in the same turn, and a finished task hands its
 * place to the next waiting one in the same turn. (bottleneck, used here before, admits every job through one
 * serial lock with timer yields per job; on a busy event loop that capped a connection at a few dozen jobs per
 * second whatever its concurrency - the shared-quota bench's one-instance figure, docs/benchmarks.md.)
 */
interface Waiting {
  priority: number;
  start(): void;
  reject(err: Error): void;
}

export class ConcurrencyCap {
  private running = 0;
  private readonly queue: Waiting[] = [];
  private closedWith: (() => Error) | undefined;

  constructor(private readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Tasks running now. */
  active(): number {
    return this.running;
  }

  /** Tasks waiting for a place. */
  waiting(): number {
    return this.queue.length;
  }

  /** Runs `fn` once a place is free; rejects with the close error if the cap is closed before it starts. */
  run<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith());
    if (this.running < this.capacity) return this.start(fn);
    return new Promise<T>((resolve, reject) => {
      const w: Waiting = { priority, start: () => this.start(fn).then(resolve, reject), reject };
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1].priority > priority) i--;
      this.queue.splice(i, 0, w);
    });
  }

  /** Refuses new tasks and rejects the waiting ones with `error()`; running tasks finish. */
  close(error: () => Error): void {
    this.closedWith ??= error;
    for (const w of this.queue.splice(0)) w.reject(error());
  }

  private start<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    let result: Promise<T>;
    try {
      result = fn();
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.finally(() => {
      this.running--;
      const next = this.queue.shift();
      if (next) next.start();
    });
  }
}
