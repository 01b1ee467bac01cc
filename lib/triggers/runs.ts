/**
 * Resyncs and backfills of the deployed triggers, shared by every instance through the store (docs/scale-out.md,
 * "Trigger runs"). A run is a row of the store (`trigger_runs`): its range, windows done of total, records emitted and
 * skipped, state, who asked and which instance runs it. The store keeps one pending or running run per trigger
 * whichever instance is asked, and only the runner that took a run writes its progress.
 *
 * Who runs a run: the instance that reads the trigger (holds its lease, lib/triggers/active-reader.ts). A request on
 * any instance is recorded `pending`; the reading instance takes it at once when it is the one asked, else at its next
 * look at the store (`sync`: at activation and every `everyMs`). An instance that stops, loses the lease or dies
 * mid-run leaves the run `running` with its last finished window: the next holder takes it over and carries on from
 * there (a window read twice emits nothing twice: what a trigger emits goes through its inbox).
 *
 * Every instance shows the trigger's latest run (node status, `GET /ps-fabric/triggers`, the ops-feed dashboard):
 * `TriggerRuns` is the process-wide registry of the deployed triggers' runners that those read without knowing the
 * trigger nodes.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NewTriggerRun, Store, TriggerRunProgress, TriggerRunRecord } from '../store/store';
import { resyncWindows, windowSize, type GapKind, type Window } from './gaps';

export type RunKind = GapKind | 'backfill';

export interface TriggerRun extends TriggerRunRecord {
  kind: RunKind;
  /** One line for node status and the dashboard (as this instance sees it). */
  text: string;
}

/** What a trigger does for one window: read it through the ordinary query API and hand it on idempotently. */
export type WindowReader = (w: Window) => Promise<{ emitted: number; skipped: number }>;

export type TriggerRunStore = Pick<Store, 'triggerRunCreate' | 'triggerRunGet' | 'triggerRunActive' | 'triggerRunTake' | 'triggerRunProgress' | 'triggerRunEnd' | 'triggerRunLatest'>;

/** A run was asked for while another run of the trigger is pending or running (any instance): HTTP 409. */
export class RunConflictError extends Error {
  constructor(readonly run: TriggerRun | undefined) {
    super(run ? `a ${run.kind === 'backfill' ? 'backfill' : 'resync'} of this trigger is already running (${run.text}); wait for it to finish` : 'another run of this trigger is already running; wait for it to finish');
  }
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
const isActive = (r: Pick<TriggerRunRecord, 'state'>) => r.state === 'pending' || r.state === 'running';

/** The run's line; `self` (this instance's runner id) leaves out "(on <instance>)" for runs made here. */
export function runText(r: Pick<TriggerRunRecord, 'kind' | 'from' | 'to' | 'windowsDone' | 'windowsTotal' | 'emitted' | 'state' | 'error' | 'runner'>, self?: string): string {
  const what = r.kind === 'backfill' ? 'backfill' : `resync (${r.kind})`;
  const span = `${day(r.from)} → ${day(r.to)}`;
  if (r.state === 'failed') return `${what} ${span} failed at ${r.windowsDone}/${r.windowsTotal}: ${r.error ?? ''}`;
  if (r.state === 'done') return `${what} ${span} done, ${r.emitted} emitted`;
  if (r.state === 'pending') return `${what} ${span}: waiting for the instance that reads the trigger`;
  const where = r.runner && r.runner !== self ? ` (on ${r.runner.split('/')[0]})` : '';
  return `${what} ${span}: ${r.windowsDone}/${r.windowsTotal}, ${r.emitted} emitted${where}`;
}

export interface TriggerRunnerOptions {
  store: TriggerRunStore;
  /** The trigger's node id (the same on every instance). */
  trigger: string;
  name: string;
  /** This instance's runner id: the owner of the trigger's lease (`<instance>/<incarnation>`). */
  owner: () => string;
  /** Whether this instance reads the trigger now (holds its lease): only then it runs a run. */
  active: () => boolean;
  /** How a run taken from the store reads its windows (a backfill asked for anywhere, a run another runner left). */
  reader: (run: TriggerRun) => WindowReader;
  /** Window size and longest range of new runs (lib/triggers/gaps.ts `resyncWindows`). */
  sliceMs?: number;
  maxRangeMs?: number;
  /** How often the store is looked at: runs to take (reading instance) or to show (the others). Default 10 s. */
  everyMs?: number;
  /** Every step of the trigger's latest run (node status). */
  onProgress?: (run: TriggerRun) => void;
  /** An operator's request was recorded (on this instance). */
  onRequested?: (run: TriggerRun) => void;
  /** A run this instance took from the store (not one it started itself with `run`) ended here. */
  onEnd?: (run: TriggerRun) => void | Promise<void>;
  /** A failed look at the store (the runner carries on: the next look tries again). */
  onError?: (err: Error) => void;
  now?: () => number;
}

export class TriggerRunner {
  readonly trigger: string;
  readonly name: string;
  private readonly o: TriggerRunnerOptions;
  private readonly registry: TriggerRuns;
  /** Runs executing here, by id. */
  private readonly local = new Map<string, Promise<TriggerRun>>();
  /** Runs this instance is creating to run itself: not taken by a look at the store meanwhile. */
  private readonly reserved = new Set<string>();
  private last: TriggerRun | undefined;
  private looking: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: TriggerRunnerOptions, registry: TriggerRuns = triggerRuns) {
    this.o = options;
    this.trigger = options.trigger;
    this.name = options.name;
    this.registry = registry;
  }

  /** The trigger's latest run as last seen (its own progress at once, another instance's at each look). */
  get latest(): TriggerRun | undefined {
    return this.last;
  }

  /** Registers with the registry and looks at the store now and every `everyMs`. */
  start(): () => Promise<void> {
    const unregister = this.registry.add(this);
    this.timer = setInterval(() => void this.sync(), this.o.everyMs ?? 10_000);
    this.timer.unref?.();
    void this.sync();
    return async () => {
      unregister();
      await this.stop();
    };
  }

  /**
   * Ends the runs executing here after their current window (left `running`: the next holder of the lease, or this
   * trigger's next start, carries on from the last finished window). The flag is set synchronously.
   */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return Promise.allSettled([...this.local.values()]).then(() => undefined);
  }

  /**
   * An operator's request (or one from any instance): recorded `pending`, taken here at once when this instance reads
   * the trigger, else by the instance that does at its next look. Throws RunConflictError while another run of the
   * trigger is pending or running.
   */
  async request(kind: RunKind, range: Window, actor: string): Promise<TriggerRun> {
    const run = await this.create(kind, range, actor, false);
    this.o.onRequested?.(run);
    void this.sync();
    return run;
  }

  /**
   * A run this instance starts and runs itself (a gap it found as the reading instance), after the run of the trigger
   * it is making (or taking over); resolves when it ends, or is left to the next holder (state `running`).
   */
  async run(kind: RunKind, range: Window, actor: string, read?: WindowReader): Promise<TriggerRun> {
    for (;;) {
      let created: TriggerRun;
      try {
        created = await this.create(kind, range, actor, true);
      } catch (e) {
        if (!(e instanceof RunConflictError) || !e.run || this.stopped) throw e;
        if (!this.local.has(e.run.id) && this.o.active()) await this.sync();
        const going = this.local.get(e.run.id);
        if (!going) throw e;
        await going;
        continue;
      }
      try {
        return await this.execute(created, read ?? this.o.reader(created), false);
      } finally {
        this.reserved.delete(created.id);
      }
    }
  }

  /** Looks at the store once (after any look in progress): takes the trigger's pending or left run when this instance reads it, else shows it. */
  sync(): Promise<void> {
    this.looking = this.looking.then(() => this.look()).catch((err: unknown) => this.o.onError?.(err instanceof Error ? err : new Error(String(err))));
    return this.looking;
  }

  private async look(): Promise<void> {
    if (this.stopped) return;
    const [latest] = await this.o.store.triggerRunLatest([this.trigger]);
    if (!latest || this.local.has(latest.id) || this.reserved.has(latest.id)) return;
    const run = this.view(latest);
    if (isActive(latest) && this.o.active()) {
      this.execute(run, this.o.reader(run), true).catch((err: unknown) => this.o.onError?.(err instanceof Error ? err : new Error(String(err))));
      return;
    }
    const seen = this.last?.id === run.id ? this.last : undefined;
    if (seen && seen.updatedAt === run.updatedAt && seen.state === run.state) return;
    // a run ended before this runner looked stays out of the node status (it is in the list)
    this.show(run, isActive(run) || (seen !== undefined && isActive(seen)));
  }

  private async create(kind: RunKind, range: Window, actor: string, reserve: boolean): Promise<TriggerRun> {
    const now = (this.o.now ?? Date.now)();
    const { windows, truncatedFrom } = resyncWindows(range.from, range.to, { sliceMs: this.o.sliceMs, maxRangeMs: this.o.maxRangeMs });
    const from = windows[0]?.from ?? range.from;
    const run: NewTriggerRun = { id: crypto.randomUUID(), trigger: this.trigger, name: this.name, kind, from, to: range.to, sliceMs: windowSize(this.o.sliceMs), windowsTotal: windows.length, actor, startedAt: now };
    if (truncatedFrom !== undefined) run.error = `left out ${day(truncatedFrom)} → ${day(from)} (beyond the longest resync): start a backfill for it`;
    if (reserve) this.reserved.add(run.id);
    const created = await this.o.store.triggerRunCreate(run, now);
    if (!created) {
      this.reserved.delete(run.id);
      const current = await this.o.store.triggerRunActive(this.trigger);
      throw new RunConflictError(current ? this.view(current) : undefined);
    }
    const view = this.view(created);
    this.show(view, true);
    return view;
  }

  /** Takes the run and reads its windows from the last one finished; `taken`: the run came from the store (onEnd). */
  private execute(record: TriggerRun, read: WindowReader, taken: boolean): Promise<TriggerRun> {
    const p = this.loop(record, read, taken);
    this.local.set(record.id, p);
    return p.finally(() => this.local.delete(record.id));
  }

  private async loop(record: TriggerRun, read: WindowReader, taken: boolean): Promise<TriggerRun> {
    const now = this.o.now ?? Date.now;
    const owner = this.o.owner();
    const took = await this.o.store.triggerRunTake(record.id, owner, now());
    if (!took) return record;
    let run = this.view(took);
    this.show(run, true);
    const { windows } = resyncWindows(run.from, run.to, { sliceMs: run.sliceMs, maxRangeMs: Infinity });
    // stopped, or the lease went to another instance: the run stays `running` for the next holder
    const interrupted = () => this.stopped || !this.o.active();
    const counts: TriggerRunProgress = { windowsDone: run.windowsDone, emitted: run.emitted, skipped: run.skipped };
    let end: { state: 'done' | 'failed'; error?: string };
    try {
      for (let i = run.windowsDone; i < windows.length; i++) {
        if (interrupted()) return run;
        const r = await read(windows[i]);
        counts.windowsDone = i + 1;
        counts.emitted += r.emitted;
        counts.skipped += r.skipped;
        // one write per window (not per record); refused: another instance took the run over
        if (!(await this.o.store.triggerRunProgress(run.id, owner, counts, now()))) return run;
        run = this.view({ ...run, ...counts, updatedAt: now() });
        this.show(run, true);
      }
      end = { state: 'done' };
    } catch (e) {
      if (interrupted()) return run;
      end = { state: 'failed', error: (e as Error)?.message ?? String(e) };
    }
    const at = now();
    if (!(await this.o.store.triggerRunEnd(run.id, owner, { ...counts, ...end }, at))) return run;
    run = this.view({ ...run, ...counts, state: end.state, error: end.error ?? run.error, endedAt: at, updatedAt: at });
    this.show(run, true);
    if (taken) await this.o.onEnd?.(run);
    return run;
  }

  private view(r: TriggerRunRecord): TriggerRun {
    const run = { ...r, kind: r.kind as RunKind, text: '' };
    if (run.error === undefined) delete run.error;
    run.text = runText(run, this.o.owner());
    return run;
  }

  private show(run: TriggerRun, status: boolean): void {
    this.last = run;
    if (status) this.o.onProgress?.(run);
    this.registry.emit('change', run);
  }
}

/** The runtime's deployed trigger runners: the admin endpoint and the ops-feed read them. */
export class TriggerRuns extends EventEmitter {
  private readonly runners = new Map<string, TriggerRunner>();

  /** Adds a trigger's runner (TriggerRunner.start does); returns its removal. */
  add(runner: TriggerRunner): () => void {
    this.runners.set(runner.trigger, runner);
    return () => {
      if (this.runners.get(runner.trigger) === runner) this.runners.delete(runner.trigger);
      this.emit('change');
    };
  }

  target(trigger: string): TriggerRunner | undefined {
    return this.runners.get(trigger);
  }

  get(trigger: string): TriggerRun | undefined {
    return this.runners.get(trigger)?.latest;
  }

  /** The latest run per trigger as last seen (running first, then newest). */
  list(): TriggerRun[] {
    const runs = [...this.runners.values()].map((r) => r.latest).filter((r): r is TriggerRun => r !== undefined);
    return runs.sort((a, b) => (isActive(a) ? 0 : 1) - (isActive(b) ? 0 : 1) || b.startedAt - a.startedAt);
  }

  /** `list` after every runner looked at the store (another instance's progress as it stands now). */
  async refresh(): Promise<TriggerRun[]> {
    await Promise.all([...this.runners.values()].map((r) => r.sync()));
    return this.list();
  }
}

/** The runtime's one registry (the admin endpoint and ops-feed read it). */
export const triggerRuns = new TriggerRuns();

/** The runs of a trigger without a store (a single runtime): kept in this process, with the store's rules. */
export class MemoryTriggerRunStore implements TriggerRunStore {
  private readonly rows = new Map<string, TriggerRunRecord>();

  async triggerRunCreate(run: NewTriggerRun, now: number): Promise<TriggerRunRecord | undefined> {
    if (await this.triggerRunActive(run.trigger)) return undefined;
    const row: TriggerRunRecord = { ...run, windowsDone: 0, emitted: 0, skipped: 0, state: 'pending', updatedAt: now };
    this.rows.set(run.id, row);
    return { ...row };
  }

  async triggerRunGet(id: string): Promise<TriggerRunRecord | undefined> {
    const row = this.rows.get(id);
    return row && { ...row };
  }

  async triggerRunActive(trigger: string): Promise<TriggerRunRecord | undefined> {
    const row = [...this.rows.values()].find((r) => r.trigger === trigger && isActive(r));
    return row && { ...row };
  }

  async triggerRunTake(id: string, runner: string, now: number): Promise<TriggerRunRecord | undefined> {
    const row = this.rows.get(id);
    if (!row || !isActive(row)) return undefined;
    Object.assign(row, { state: 'running', runner, updatedAt: now });
    return { ...row };
  }

  async triggerRunProgress(id: string, runner: string, progress: TriggerRunProgress, now: number): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row || row.runner !== runner || row.state !== 'running') return false;
    Object.assign(row, progress, { updatedAt: now });
    return true;
  }

  async triggerRunEnd(id: string, runner: string, end: TriggerRunProgress & { state: 'done' | 'failed'; error?: string }, now: number): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row || row.runner !== runner || row.state !== 'running') return false;
    Object.assign(row, { windowsDone: end.windowsDone, emitted: end.emitted, skipped: end.skipped, state: end.state, updatedAt: now, endedAt: now });
    if (end.error !== undefined) row.error = end.error;
    // one finished run per trigger is all that is shown
    for (const [k, r] of this.rows) if (k !== id && r.trigger === row.trigger && !isActive(r)) this.rows.delete(k);
    return true;
  }

  async triggerRunLatest(triggers: readonly string[]): Promise<TriggerRunRecord[]> {
    return triggers.flatMap((t) => {
      const rows = [...this.rows.values()].filter((r) => r.trigger === t).sort((a, b) => Number(isActive(b)) - Number(isActive(a)) || b.startedAt - a.startedAt);
      return rows.length ? [{ ...rows[0] }] : [];
    });
  }
}
