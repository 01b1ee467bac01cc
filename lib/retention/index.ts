/**
 * Retention of the integration logs (docs/store-and-guarantees.md, "Retention"): what the store keeps, for how long,
 * and what is removed after that, per table. Runs in the background in small batches (one short transaction each,
 * the event loop yielded between them), on SQLite and PostgreSQL alike, and never touches a row a guarantee still
 * needs: an idempotency key inside its window, an inbox entry not yet handed over, an outbox item not delivered and
 * taken by its origin, an open or replayed exception, a running process (the store's `retentionPurge` encodes those
 * rules; this decides the cutoffs and paces the work).
 *
 * An inbox entry handed over long ago is still needed while the message it records can be delivered again: the
 * embedded broker re-sends a message the runtime committed but had not acknowledged (it died first) when the session
 * reconnects, however long after. `guardInbox` makes every run ask first (lib/broker/redelivery.ts) and keep each
 * entry received at or after the oldest such message's bound; a failed question keeps the whole inbox for that run.
 * A message retained on a topic comes back at every subscription: the same answer names the inbox ids of the retained
 * messages, and the purge keeps those entries whatever their age.
 */
import type { HeldForRedelivery } from '../broker/redelivery';
import { RETENTION_TARGETS, type RetentionTarget, type Store } from '../store/store';

const DAY_MS = 86_400_000;

/** Days each kind of row is kept; 0 keeps it for ever. */
export interface RetentionPolicy {
  /** Handed-over inbox entries. The inbox answers re-sends of a message for this long (the trigger's de-duplication window). */
  inboxDays: number;
  /** Delivered outbox items (the local de-duplication of writes; vendors de-duplicate on their own keys beyond it). */
  outboxDays: number;
  /** The stored request / response (record data) of resolved and discarded exceptions. */
  exceptionPayloadDays: number;
  /** Resolved and discarded exceptions themselves (message, details, resolution). */
  exceptionDays: number;
  /** The audit trail: who or what changed which record (kept longest: governance asks for it). */
  auditDays: number;
  /** Finished process runs (KPI timings). */
  processDays: number;
}

export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  inboxDays: 30,
  outboxDays: 30,
  exceptionPayloadDays: 30,
  exceptionDays: 365,
  auditDays: 2557,
  processDays: 400,
});

/** The environment variable of each policy field. */
export const RETENTION_ENV: Readonly<Record<keyof RetentionPolicy, string>> = Object.freeze({
  inboxDays: 'FABRIC_RETENTION_INBOX_DAYS',
  outboxDays: 'FABRIC_RETENTION_OUTBOX_DAYS',
  exceptionPayloadDays: 'FABRIC_RETENTION_EXCEPTION_PAYLOAD_DAYS',
  exceptionDays: 'FABRIC_RETENTION_EXCEPTION_DAYS',
  auditDays: 'FABRIC_RETENTION_AUDIT_DAYS',
  processDays: 'FABRIC_RETENTION_PROCESS_DAYS',
});

export interface RetentionSettings {
  /** false = nothing is ever removed (FABRIC_RETENTION=off). */
  enabled: boolean;
  policy: RetentionPolicy;
  /** Time between runs (FABRIC_RETENTION_INTERVAL_S, default 600 s). */
  intervalMs: number;
  /** Rows per transaction (FABRIC_RETENTION_BATCH, default 500). */
  batchSize: number;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

/** A period in days: fractions allowed (0.5 = 12 h; short periods are for tests and benchmarks). */
function days(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a number of days >= 0 (fractions allowed), got ${JSON.stringify(raw)}`);
  return value;
}

/** Reads the retention settings from the environment; a malformed value is refused with the variable's name. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): RetentionSettings {
  const switch_ = (env.FABRIC_RETENTION ?? 'on').trim().toLowerCase();
  if (!['on', 'off', ''].includes(switch_)) throw new RangeError(`FABRIC_RETENTION must be on or off, got ${JSON.stringify(env.FABRIC_RETENTION)}`);
  const policy = { ...DEFAULT_RETENTION };
  for (const field of Object.keys(RETENTION_ENV) as Array<keyof RetentionPolicy>) policy[field] = days(env, RETENTION_ENV[field], DEFAULT_RETENTION[field]);
  return {
    enabled: switch_ !== 'off',
    policy,
    intervalMs: wholeNumber(env, 'FABRIC_RETENTION_INTERVAL_S', 600, 1) * 1000,
    batchSize: wholeNumber(env, 'FABRIC_RETENTION_BATCH', 500, 1),
  };
}

/** The cutoff of each target at `now` (undefined: kept for ever). Expired idempotency keys are due at `now` itself. */
export function retentionCutoffs(policy: RetentionPolicy, now: number): Partial<Record<RetentionTarget, number>> {
  const before = (days: number) => (days > 0 ? now - days * DAY_MS : undefined);
  const cutoffs: Partial<Record<RetentionTarget, number | undefined>> = {
    'inbox-processed': before(policy.inboxDays),
    'outbox-delivered': before(policy.outboxDays),
    'idempotency-expired': now,
    'exception-payloads': before(policy.exceptionPayloadDays),
    'exceptions-closed': before(policy.exceptionDays),
    audit: before(policy.auditDays),
    'process-instances': before(policy.processDays),
  };
  return Object.fromEntries(Object.entries(cutoffs).filter(([, v]) => v !== undefined)) as Partial<Record<RetentionTarget, number>>;
}

export interface RetentionRun {
  startedAt: number;
  finishedAt: number;
  /** Rows removed (payloads emptied) per target. */
  purged: Partial<Record<RetentionTarget, number>>;
  /** False when a target still had due rows after `maxBatchesPerRun` batches (the next run goes on). */
  complete: boolean;
  /** What the inbox purge kept back for messages that may be delivered again (`guardInbox`), if anything. */
  inboxHeld?: InboxHeld | { error: string };
}

/** What the inbox purge kept back in one run (its retained ids only counted: there may be thousands). */
export interface InboxHeld {
  /** Entries received at or after this time were kept (held by the sessions below). */
  since?: number;
  clientIds: string[];
  /** How many inbox ids of retained messages were kept whatever their age. */
  retained?: number;
}

/** Asked before every inbox purge: what may still be delivered again (undefined: nothing). */
export type RedeliveryGuard = () => Promise<HeldForRedelivery | undefined>;

export interface RetentionServiceOptions {
  intervalMs?: number;
  batchSize?: number;
  /** Batches per target and run, so one run stays short however much is due (default 200). */
  maxBatchesPerRun?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  onRun?: (run: RetentionRun) => void;
}

export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionRun> | undefined;
  private stopped = false;
  private last: RetentionRun | undefined;
  private readonly batchSize: number;
  private readonly maxBatches: number;
  private readonly now: () => number;
  private inboxGuard: RedeliveryGuard | undefined;

  constructor(
    private readonly store: Pick<Store, 'retentionPurge'>,
    private readonly policy: RetentionPolicy,
    private readonly options: RetentionServiceOptions = {},
  ) {
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 500));
    this.maxBatches = Math.max(1, Math.floor(options.maxBatchesPerRun ?? 200));
    this.now = options.now ?? Date.now;
  }

  get lastRun(): RetentionRun | undefined {
    return this.last;
  }

  /**
   * From now on every run asks `guard` before purging inbox entries (the runtime: its broker's held messages). Set
   * it before the first run can start (the first run is one interval after `start`).
   */
  guardInbox(guard: RedeliveryGuard): void {
    this.inboxGuard = guard;
  }

  /** Runs every `intervalMs` (the first run one interval after start), unref'd so it never keeps a process alive. */
  start(): void {
    if (this.timer || this.stopped) return;
    const every = Math.max(1000, this.options.intervalMs ?? 600_000);
    this.timer = setInterval(() => {
      if (this.running) return;
      this.runOnce().catch((err: unknown) => this.options.onError?.(err));
    }, every);
    this.timer.unref();
  }

  /** One pass over every target; concurrent calls share the pass in progress. */
  runOnce(): Promise<RetentionRun> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** Stops the timer and waits for a pass in progress to finish its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<RetentionRun> {
    const startedAt = this.now();
    const cutoffs = retentionCutoffs(this.policy, startedAt);
    const purged: RetentionRun['purged'] = {};
    let complete = true;
    let inboxHeld: RetentionRun['inboxHeld'];
    let keep: readonly string[] | undefined;
    for (const target of RETENTION_TARGETS) {
      let cutoff = cutoffs[target];
      if (cutoff === undefined) continue;
      if (target === 'inbox-processed' && this.inboxGuard) {
        let held: HeldForRedelivery | undefined;
        try {
          held = await this.inboxGuard();
        } catch (err) {
          inboxHeld = { error: err instanceof Error ? err.message : String(err) };
        }
        // entries received at or after `since` may be a held message's: the purge stops before them (`since` 0 or an
        // unanswered question: nothing goes this run); the entries of retained messages are kept whatever their age
        if (inboxHeld) cutoff = 0;
        else if (held) {
          if (held.since !== undefined) cutoff = Math.min(cutoff, held.since);
          keep = held.retained;
          inboxHeld = { ...(held.since !== undefined ? { since: held.since } : {}), clientIds: held.clientIds, ...(keep?.length ? { retained: keep.length } : {}) };
        }
        if (cutoff <= 0) continue;
      }
      let total = 0;
      for (let batch = 0; ; batch++) {
        if (this.stopped) return this.finish({ startedAt, finishedAt: this.now(), purged, complete: false, ...(inboxHeld ? { inboxHeld } : {}) });
        if (batch === this.maxBatches) {
          complete = false;
          break;
        }
        const n = target === 'inbox-processed' && keep?.length
          ? await this.store.retentionPurge(target, cutoff, this.batchSize, keep)
          : await this.store.retentionPurge(target, cutoff, this.batchSize);
        total += n;
        if (n < this.batchSize) break;
        // let the flows' writes and the group commits in between: retention never holds the event loop
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (total) purged[target] = total;
    }
    return this.finish({ startedAt, finishedAt: this.now(), purged, complete, ...(inboxHeld ? { inboxHeld } : {}) });
  }

  private finish(run: RetentionRun): RetentionRun {
    this.last = run;
    this.options.onRun?.(run);
    return run;
  }
}
