/**
 * The exception console's actions (replay, edit-and-replay, bulk replay by filter with progress, discard with a
 * reason), on the ExceptionQueue. One bulk replay at a time per console; its progress is readable while it runs.
 */
import type { BulkReplayResult, ExceptionQueue } from '../exceptions';
import { ExceptionQueueError } from '../exceptions';
import type { ExceptionRecord, Json } from '../store/store';
import type { ExceptionRowFilter, OpsReadModel } from './read-model';

export interface BulkProgress {
  running: boolean;
  total: number;
  done: number;
  replayed: number;
  failed: number;
  startedAt: number;
  finishedAt?: number;
  /** `12/40 replayed (1 failed)`. */
  text: string;
  errors: Array<{ id: number; error: string }>;
}

type Queue = Pick<ExceptionQueue, 'replay' | 'replayMany' | 'discard'>;

/** An edited payload as the operator typed it: JSON text or an already parsed value. */
export function parsePayload(edited: unknown): Json {
  if (typeof edited !== 'string') return (edited ?? null) as Json;
  try {
    return JSON.parse(edited) as Json;
  } catch (err) {
    throw new ExceptionQueueError('bad-request', `the edited payload is not valid JSON: ${(err as Error).message}`);
  }
}

function progressText(p: Omit<BulkProgress, 'text'>): string {
  const failed = p.failed ? ` (${p.failed} failed)` : '';
  return p.running ? `bulk replay ${p.done}/${p.total}${failed}` : `bulk replay done: ${p.replayed}/${p.total} replayed${failed}`;
}

export class OpsConsole {
  private bulk: BulkProgress | undefined;

  constructor(private readonly queue: Queue, private readonly model: Pick<OpsReadModel, 'exceptionRows'>, private readonly now: () => number = Date.now) {}

  replay(id: number, actor: string): Promise<ExceptionRecord> {
    return this.queue.replay(Number(id), { actor });
  }

  /** Replays with the operator's payload (JSON text or value); it replaces the stored request. */
  async editAndReplay(id: number, payload: unknown, actor: string): Promise<ExceptionRecord> {
    return this.queue.replay(Number(id), { actor, payload: parsePayload(payload) });
  }

  discard(id: number, reason: string, actor: string): Promise<ExceptionRecord> {
    return this.queue.discard(Number(id), { actor, reason: String(reason ?? '') });
  }

  /** The last (or running) bulk replay's progress. */
  progress(): BulkProgress | undefined {
    return this.bulk && { ...this.bulk, errors: [...this.bulk.errors] };
  }

  /**
   * Replays every open exception matching the console filter, oldest first, one at a time, calling `onProgress`
   * after each. Region / entity / text filters are applied by the read model; process and owner team by the store.
   */
  async bulkReplay(filter: ExceptionRowFilter, actor: string, onProgress?: (p: BulkProgress) => void): Promise<BulkReplayResult> {
    if (this.bulk?.running) throw new ExceptionQueueError('busy', `a bulk replay is already running (${this.bulk.done}/${this.bulk.total})`);
    const state: BulkProgress = { running: true, total: 0, done: 0, replayed: 0, failed: 0, startedAt: this.now(), text: '', errors: [] };
    this.bulk = state;
    const report = () => {
      state.text = progressText(state);
      onProgress?.({ ...state, errors: [...state.errors] });
    };
    try {
      let result: BulkReplayResult;
      if (filter.region || filter.entity || filter.text) {
        const rows = await this.model.exceptionRows({ ...filter, status: 'open', limit: filter.limit ?? 100000 });
        const ids = rows.map((r) => r.id).reverse();
        state.total = ids.length;
        report();
        result = { total: ids.length, replayed: [], failed: [] };
        for (const id of ids) {
          try {
            await this.queue.replay(id, { actor });
            result.replayed.push(id);
            state.replayed++;
          } catch (err) {
            const error = err instanceof Error ? err.message : String(err);
            result.failed.push({ id, error });
            state.failed++;
            state.errors.push({ id, error });
          }
          state.done++;
          report();
        }
      } else {
        result = await this.queue.replayMany(
          { status: 'open', process: filter.process || undefined, ownerTeam: filter.ownerTeam || undefined, limit: filter.limit },
          {
            actor,
            onProgress: (p) => {
              state.total = p.total;
              state.done = p.done;
              state.replayed = p.replayed;
              state.failed = p.failed;
              report();
            },
          },
        );
        state.total = result.total;
        state.errors = result.failed.slice(0, 50);
      }
      return result;
    } finally {
      state.running = false;
      state.finishedAt = this.now();
      report();
    }
  }
}
