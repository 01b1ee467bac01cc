/**
 * Resyncs and backfills of the deployed triggers: who can run one (`register`), what runs and how far it got
 * (`list`, shown in node status and on the operations dashboard), and the one loop that runs one (`run`).
 * Process-wide, like the metrics: the admin endpoint and the ops-feed read it without knowing the trigger nodes.
 */
import { EventEmitter } from 'node:events';
import { resyncWindows, type GapKind, type Window } from './gaps';

export type RunKind = GapKind | 'backfill';

export interface TriggerRun {
  trigger: string;
  /** The trigger's label (node name or type). */
  name: string;
  kind: RunKind;
  from: number;
  to: number;
  windowsDone: number;
  windowsTotal: number;
  /** Records handed on (new at the trigger's inbox / messages out). */
  emitted: number;
  /** Records read again that had been handled already. */
  skipped: number;
  state: 'running' | 'done' | 'failed';
  error?: string;
  startedAt: number;
  endedAt?: number;
  /** One line for node status and the dashboard. */
  text: string;
}

/** What a trigger does for one window: read it through the ordinary query API and hand it on idempotently. */
export type WindowReader = (w: Window) => Promise<{ emitted: number; skipped: number }>;

export interface BackfillTarget {
  name: string;
  /** Starts a backfill of [from, to); resolves once it is accepted (it runs in the background). */
  backfill(range: Window, actor: string): Promise<TriggerRun>;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

export function runText(r: Pick<TriggerRun, 'kind' | 'from' | 'to' | 'windowsDone' | 'windowsTotal' | 'emitted' | 'state' | 'error'>): string {
  const what = r.kind === 'backfill' ? 'backfill' : `resync (${r.kind})`;
  const span = `${day(r.from)} → ${day(r.to)}`;
  if (r.state === 'failed') return `${what} ${span} failed at ${r.windowsDone}/${r.windowsTotal}: ${r.error ?? ''}`;
  if (r.state === 'done') return `${what} ${span} done, ${r.emitted} emitted`;
  return `${what} ${span}: ${r.windowsDone}/${r.windowsTotal}, ${r.emitted} emitted`;
}

export class TriggerRuns extends EventEmitter {
  private readonly targets = new Map<string, BackfillTarget>();
  private readonly runs = new Map<string, TriggerRun>();

  register(trigger: string, target: BackfillTarget): () => void {
    this.targets.set(trigger, target);
    return () => {
      if (this.targets.get(trigger) === target) this.targets.delete(trigger);
      this.runs.delete(trigger);
      this.emit('change');
    };
  }

  target(trigger: string): BackfillTarget | undefined {
    return this.targets.get(trigger);
  }

  /** The latest run per trigger (running first, then newest). */
  list(): TriggerRun[] {
    return [...this.runs.values()].sort((a, b) => (a.state === 'running' ? 0 : 1) - (b.state === 'running' ? 0 : 1) || b.startedAt - a.startedAt);
  }

  get(trigger: string): TriggerRun | undefined {
    return this.runs.get(trigger);
  }

  /**
   * Runs [range.from, range.to) window by window through `read`, one trigger at most one run at a time (a second
   * start while one runs is refused). `onProgress` sees every step; the returned promise settles when it ends.
   */
  start(trigger: string, name: string, kind: RunKind, range: Window, read: WindowReader, opts: { sliceMs?: number; maxRangeMs?: number; onProgress?: (r: TriggerRun) => void; now?: () => number } = {}): { run: TriggerRun; done: Promise<TriggerRun> } {
    const current = this.runs.get(trigger);
    if (current?.state === 'running') throw new Error(`a ${current.kind === 'backfill' ? 'backfill' : 'resync'} of this trigger is already running (${current.text}); wait for it to finish`);
    const now = opts.now ?? Date.now;
    const { windows, truncatedFrom } = resyncWindows(range.from, range.to, opts);
    const run: TriggerRun = { trigger, name, kind, from: windows[0]?.from ?? range.from, to: range.to, windowsDone: 0, windowsTotal: windows.length, emitted: 0, skipped: 0, state: 'running', startedAt: now(), text: '' };
    if (truncatedFrom !== undefined) run.error = `left out ${day(truncatedFrom)} → ${day(run.from)} (beyond the longest resync): start a backfill for it`;
    const step = () => {
      run.text = runText(run);
      opts.onProgress?.(run);
      this.emit('change', run);
    };
    this.runs.set(trigger, run);
    step();
    const done = (async () => {
      try {
        for (const w of windows) {
          const r = await read(w);
          run.emitted += r.emitted;
          run.skipped += r.skipped;
          run.windowsDone += 1;
          step();
        }
        run.state = 'done';
      } catch (e) {
        run.state = 'failed';
        run.error = (e as Error)?.message ?? String(e);
      }
      run.endedAt = now();
      step();
      return run;
    })();
    return { run, done };
  }
}

/** The runtime's one registry (the admin endpoint and ops-feed read it). */
export const triggerRuns = new TriggerRuns();
