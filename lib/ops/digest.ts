/**
 * Owner-team digests: new exceptions are batched per owner team over a window (default 5 minutes) and each team
 * gets one message listing them, so business exceptions reach the people accountable for them without a message
 * per record. The message is a Teams MessageCard (lib/connectors/teams) sent through the delivery engine
 * (`teamsDigestSender`: persisted, retried, rate limited), or anything else a `DigestSender` does.
 *
 * A digest that cannot be delivered ends in the exception queue like any other write; exceptions of the digest
 * process itself are never digested (no loop).
 */
import { adaptiveCardMessage } from '../connectors/teams/client';
import type { ExceptionRecord, Json } from '../store/store';
import type { ConnectionHandle } from '../delivery/types';
import type { ExceptionQueue } from '../exceptions';

export const DIGEST_PROCESS = 'ops-digest';

export interface Digest {
  team: string;
  windowStart: number;
  windowEnd: number;
  exceptions: ExceptionRecord[];
  /** More than `maxItems` arrived: only the first are listed. */
  omitted: number;
}

export type DigestSender = (digest: Digest) => Promise<void>;

export interface DigestOptions {
  windowMs?: number;
  /** Exceptions listed per digest (the rest are counted). */
  maxItems?: number;
  now?: () => number;
  /** Teams that get no digest (e.g. the run team watching the dashboard anyway). */
  skipTeams?: string[];
  onError?: (err: unknown, digest: Digest) => void;
}

interface Batch {
  windowStart: number;
  items: ExceptionRecord[];
  omitted: number;
  timer: NodeJS.Timeout;
}

export class DigestNotifier {
  readonly windowMs: number;
  readonly maxItems: number;
  private readonly now: () => number;
  private readonly batches = new Map<string, Batch>();
  private readonly skip: Set<string>;
  private unsubscribe: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  sent = 0;

  constructor(private readonly sender: DigestSender, private readonly options: DigestOptions = {}) {
    this.windowMs = options.windowMs && options.windowMs > 0 ? options.windowMs : 5 * 60_000;
    this.maxItems = options.maxItems && options.maxItems > 0 ? options.maxItems : 20;
    this.now = options.now ?? Date.now;
    this.skip = new Set(options.skipTeams ?? []);
  }

  /** Listens to the queue's new exceptions. */
  attach(queue: Pick<ExceptionQueue, 'on' | 'off'>): this {
    const onAdded = (record: ExceptionRecord) => this.add(record);
    queue.on('added', onAdded);
    this.unsubscribe = () => queue.off('added', onAdded);
    return this;
  }

  add(record: ExceptionRecord): void {
    if (record.process === DIGEST_PROCESS || this.skip.has(record.ownerTeam)) return;
    let batch = this.batches.get(record.ownerTeam);
    if (!batch) {
      const timer = setTimeout(() => void this.flushTeam(record.ownerTeam), this.windowMs);
      timer.unref?.();
      batch = { windowStart: this.now(), items: [], omitted: 0, timer };
      this.batches.set(record.ownerTeam, batch);
    }
    if (batch.items.length < this.maxItems) batch.items.push(record);
    else batch.omitted++;
  }

  /** Teams with a batch waiting, and how many exceptions each holds. */
  pending(): Record<string, number> {
    return Object.fromEntries([...this.batches].map(([team, b]) => [team, b.items.length + b.omitted]));
  }

  flushTeam(team: string): Promise<void> {
    const batch = this.batches.get(team);
    if (!batch) return Promise.resolve();
    this.batches.delete(team);
    clearTimeout(batch.timer);
    const digest: Digest = { team, windowStart: batch.windowStart, windowEnd: this.now(), exceptions: batch.items, omitted: batch.omitted };
    const p = this.sender(digest).then(
      () => {
        this.sent++;
      },
      (err: unknown) => this.options.onError?.(err, digest),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Sends every waiting batch now. */
  async flush(): Promise<void> {
    await Promise.all([...this.batches.keys()].map((team) => this.flushTeam(team)));
    await Promise.all([...this.inFlight]);
  }

  /** Stops listening; `flush` false drops the waiting batches. */
  async close(flush = true): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (flush) await this.flush();
    for (const b of this.batches.values()) clearTimeout(b.timer);
    this.batches.clear();
  }
}

/** The Adaptive Card message of a digest: one fact per exception (process / step, record, error), a link to the console. */
export function digestCard(digest: Digest, dashboardUrl?: string): Record<string, unknown> {
  const n = digest.exceptions.length + digest.omitted;
  const facts = digest.exceptions.map((e) => ({
    title: `#${e.id} ${e.process} / ${e.step}`,
    value: `${e.recordKey ? e.recordKey + ': ' : ''}${e.message}`.slice(0, 400),
  }));
  if (digest.omitted) facts.push({ title: '…', value: `${digest.omitted} more` });
  return adaptiveCardMessage({
    title: `${n} new PS Fabric exception${n === 1 ? '' : 's'} for ${digest.team}`,
    text: `Raised between ${new Date(digest.windowStart).toISOString()} and ${new Date(digest.windowEnd).toISOString()}. Fix the source data, then replay from the exception console.`,
    facts,
    link: dashboardUrl ? { title: 'Open the exception console', url: dashboardUrl } : undefined,
  });
}

/**
 * Sends digests as Teams Adaptive Cards through a delivery-engine connection whose executor is the Teams webhook
 * client (`postCard`). `webhookFor(team)` picks the connection per team (undefined = no digest for that team).
 */
export function teamsDigestSender(connectionFor: (team: string) => Pick<ConnectionHandle, 'submit'> | undefined, dashboardUrl?: string): DigestSender {
  return async (digest) => {
    const handle = connectionFor(digest.team);
    if (!handle) return;
    await handle.submit({
      operation: 'postCard',
      request: { card: digestCard(digest, dashboardUrl) } as unknown as Json,
      idempotencyKey: `digest:${digest.team}:${digest.windowStart}:${digest.exceptions.map((e) => e.id).join(',')}`,
      process: DIGEST_PROCESS,
      step: 'notify-owner-team',
      recordKey: `Digest/${digest.team}`,
    });
  };
}
