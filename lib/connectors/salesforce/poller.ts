/**
 * Change polling on SystemModstamp with a durable watermark. The watermark is a JSON string the caller
 * persists (store.watermarkSet) after it has committed what it received:
 *   { "ts": <epoch ms of the newest SystemModstamp seen>, "seen": { "<Id>": <its SystemModstamp ms> } }
 * Each poll asks for SystemModstamp >= ts - overlapMs (whole seconds, so it also works where SOQL
 * ignores milliseconds) and drops every (Id, SystemModstamp) pair already seen. Records that share a
 * timestamp, or commit a little late, are therefore neither missed nor returned twice.
 */
import type { SalesforceClient } from './client';
import { soqlDateTime } from './client';

export interface PollWatermark {
  ts: number;
  seen: Record<string, number>;
}

export interface PollOptions {
  sobject?: string;
  /** Fields to select; Id and SystemModstamp are always added. */
  fields?: string[];
  /** Extra SOQL condition, e.g. `StageName = 'Closed Won'`. */
  where?: string;
  /** Re-read window behind the watermark (clock skew, late commits). Default 5 s. */
  overlapMs?: number;
  /** Where a first poll (no watermark) starts; default now - overlap. */
  startAt?: number;
  /** Called per page so a large backlog is handled in pieces. */
  onPage?: (records: Record<string, any>[]) => void | Promise<void>;
  now?: () => number;
}

export interface PollResult {
  /** New or changed records since the watermark, oldest first. */
  records: Record<string, any>[];
  /** The watermark to persist once these records are committed. */
  watermark: string;
}

export function parseWatermark(text: string | undefined): PollWatermark | undefined {
  if (!text) return undefined;
  try {
    const w = JSON.parse(text) as PollWatermark;
    if (typeof w.ts === 'number' && w.seen && typeof w.seen === 'object') return w;
  } catch {
    // fall through: an unreadable watermark is treated as absent
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : { ts: ms, seen: {} };
}

function modstamp(value: unknown): number {
  return Date.parse(String(value).replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
}

export function buildPollSoql(opts: PollOptions, ts: number): string {
  const sobject = opts.sobject ?? 'Opportunity';
  const fields = Array.from(new Set(['Id', 'SystemModstamp', ...(opts.fields ?? [])]));
  const overlap = opts.overlapMs ?? 5000;
  const since = soqlDateTime(Math.floor((ts - overlap) / 1000) * 1000);
  const where = opts.where && opts.where.trim() ? `(${opts.where}) AND ` : '';
  return `SELECT ${fields.join(', ')} FROM ${sobject} WHERE ${where}SystemModstamp >= ${since} ORDER BY SystemModstamp ASC, Id ASC`;
}

export async function pollChanges(client: SalesforceClient, watermark: string | undefined, opts: PollOptions = {}): Promise<PollResult> {
  const now = opts.now ?? Date.now;
  const overlap = opts.overlapMs ?? 5000;
  const wm: PollWatermark = parseWatermark(watermark) ?? { ts: opts.startAt ?? now() - overlap, seen: {} };
  const seen = { ...wm.seen };
  let ts = wm.ts;
  const fresh: Record<string, any>[] = [];
  await client.queryPages(buildPollSoql(opts, wm.ts), async (page) => {
    const batch: Record<string, any>[] = [];
    for (const rec of page.records) {
      const at = modstamp(rec.SystemModstamp);
      if (Number.isNaN(at) || seen[rec.Id] === at) continue;
      seen[rec.Id] = at;
      if (at > ts) ts = at;
      batch.push(rec);
    }
    fresh.push(...batch);
    if (opts.onPage && batch.length) await opts.onPage(batch);
  });
  // Keep only what the next poll's window can return again.
  const floor = Math.floor((ts - overlap) / 1000) * 1000;
  for (const [id, at] of Object.entries(seen)) if (at < floor) delete seen[id];
  return { records: fresh, watermark: JSON.stringify({ ts, seen }) };
}

/**
 * Every record whose SystemModstamp is in [from, to), oldest first, handed on page by page: how a gap resync or
 * an operator backfill reads one window through the ordinary query API (no watermark of its own).
 */
export async function readModifiedBetween(client: SalesforceClient, from: number, to: number, opts: Pick<PollOptions, 'sobject' | 'fields' | 'where'>, onPage: (records: Record<string, any>[]) => Promise<void>): Promise<void> {
  const sobject = opts.sobject ?? 'Opportunity';
  const fields = Array.from(new Set(['Id', 'SystemModstamp', ...(opts.fields ?? [])]));
  const where = opts.where && opts.where.trim() ? `(${opts.where}) AND ` : '';
  const soql = `SELECT ${fields.join(', ')} FROM ${sobject} WHERE ${where}SystemModstamp >= ${soqlDateTime(Math.floor(from / 1000) * 1000)} AND SystemModstamp < ${soqlDateTime(Math.ceil(to / 1000) * 1000)} ORDER BY SystemModstamp ASC, Id ASC`;
  await client.queryPages(soql, async (page) => {
    if (page.records.length) await onPage(page.records);
  });
}
