/**
 * Grouped inbox commits: what a trigger awaits before it acknowledges its source (MQTT PUBACK).
 *
 * Each commit costs an fsync (the store runs synchronous=FULL), so committing every message on its own
 * would cap a trigger at a few hundred messages per second. Entries that arrive within `windowMs` of the
 * first pending one (or until `maxBatch` are pending) are written in one transaction through
 * `store.inboxAddMany`; then every caller learns whether its entry was new. Only one batch is written at a
 * time: entries arriving meanwhile form the next batch, which is how a slow commit makes batches larger
 * instead of piling up transactions.
 */
import type { InboxEntry, Store } from '../store/store';

export interface InboxWriterOptions {
  /** How long the first entry of a batch waits for company, in ms. Default 5. */
  windowMs?: number;
  /** A batch is written as soon as it has this many entries. Default 256. */
  maxBatch?: number;
}

export interface InboxWriterStats {
  /** Transactions written (one `inboxAddMany` call each). */
  batches: number;
  /** Entries written, new or duplicate. */
  entries: number;
  largestBatch: number;
}

interface Waiting {
  entry: InboxEntry;
  resolve(isNew: boolean): void;
  reject(err: unknown): void;
}

export class InboxWriter {
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private pending: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The batch being written, if any; the next one starts only after it settles. */
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly counters: InboxWriterStats = { batches: 0, entries: 0, largestBatch: 0 };

  constructor(private readonly store: Pick<Store, 'inboxAddMany'>, options: InboxWriterOptions = {}) {
    this.windowMs = Math.max(0, options.windowMs ?? 5);
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 256));
  }

  get stats(): InboxWriterStats {
    return { ...this.counters };
  }

  /**
   * Resolves once the entry is committed: true when it was new, false when (source, messageId) was already
   * in the inbox. Rejects when the commit failed; the caller must then NOT acknowledge its source.
   */
  add(entry: InboxEntry): Promise<boolean> {
    if (this.closed) return Promise.reject(new Error('inbox writer is closed'));
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.kick();
      else if (!this.timer && !this.writing) this.timer = setTimeout(() => this.kick(), this.windowMs);
    });
  }

  /** Writes whatever is pending now and resolves when everything added so far is committed. */
  async flush(): Promise<void> {
    this.kick();
    while (this.writing || this.pending.length) {
      if (this.writing) await this.writing;
      else this.kick();
    }
  }

  /** Flushes and refuses further entries. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined;
      // Entries that arrived during the write have already waited at least that long: go now.
      if (this.pending.length) this.kick();
    });
  }

  private async write(batch: Waiting[]): Promise<void> {
    this.counters.batches += 1;
    this.counters.entries += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    try {
      const results = await this.store.inboxAddMany(batch.map((waiting) => waiting.entry));
      batch.forEach((waiting, i) => waiting.resolve(results[i] === true));
    } catch (err) {
      for (const waiting of batch) waiting.reject(err);
    }
  }
}
