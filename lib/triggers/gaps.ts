/**
 * Gaps in a trigger's durable position and the bounded delta resync that heals them (plain TS, no Node-RED).
 *
 * A gap is any moment where the source no longer serves what follows the trigger's last watermark:
 *  - `replay-expired`  the Salesforce replay id is older than the event retention (the subscribe is refused),
 *  - `cdc-gap`         Salesforce sent a gap event (GAP_CREATE/UPDATE/DELETE/UNDELETE: record ids given) or an
 *                      overflow event (GAP_OVERFLOW: only the entity is given),
 *  - `cursor-expired`  the vendor refuses the poller's cursor (older than the change window it serves),
 *  - `poller-stalled`  the poller has not run for longer than its window,
 *  - `stream-lost`     a CDC subscription stalled before it had committed a replay id to resume from.
 * Healing re-reads from the last watermark through the ordinary query API in bounded windows (`resyncWindows`)
 * and hands every record to the trigger's ordinary idempotent path, so a record already handled is not handled
 * twice. Operator backfills (`parseBackfillRange`) take the same path.
 */

export type GapKind = 'replay-expired' | 'cdc-gap' | 'cursor-expired' | 'poller-stalled' | 'stream-lost';

export const GAP_KINDS: readonly GapKind[] = ['replay-expired', 'cdc-gap', 'cursor-expired', 'poller-stalled', 'stream-lost'];

/** Salesforce's CDC event retention (72 hours): the default window of a Salesforce trigger. */
export const SALESFORCE_EVENT_RETENTION_MS = 72 * 3600 * 1000;

/** Longest span one resync or backfill may cover; older data is the operator's call (a backfill). */
export const DEFAULT_MAX_RANGE_MS = 31 * 24 * 3600 * 1000;

/** Size of one resync window: each is read, handed on and committed before the next. */
export const DEFAULT_SLICE_MS = 3600 * 1000;

export interface Window {
  from: number;
  to: number;
}

/** The window size `resyncWindows` uses for a `sliceMs` setting (at least a second). */
export function windowSize(sliceMs?: number): number {
  return Math.max(1000, sliceMs ?? DEFAULT_SLICE_MS);
}

/** True when the last successful run is known and older than the window allows. */
export function isStalled(lastRunAt: number | undefined, now: number, windowMs: number): boolean {
  return lastRunAt !== undefined && Number.isFinite(lastRunAt) && windowMs > 0 && now - lastRunAt > windowMs;
}

/**
 * The Bayeux `/meta/subscribe` error Salesforce answers for a replay id outside the retention:
 * `400::The replayId {N} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 ...`;
 * the Pub/Sub API's error code for the same is `sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted`.
 */
export function isExpiredReplayError(message: string): boolean {
  return /replay\s?id\b.*(invalid|not valid)/i.test(message) || /subscription\.fetch\.replayid\.corrupted/.test(message);
}

/**
 * Splits [from, to) into consecutive windows of at most `sliceMs`. A range longer than `maxRangeMs` is cut to its
 * newest `maxRangeMs` and reported as `truncatedFrom` (what was left out), so a resync stays bounded and the
 * caller can say what the operator must backfill.
 */
export function resyncWindows(from: number, to: number, opts: { sliceMs?: number; maxRangeMs?: number } = {}): { windows: Window[]; truncatedFrom?: number } {
  const slice = windowSize(opts.sliceMs);
  const max = opts.maxRangeMs ?? DEFAULT_MAX_RANGE_MS;
  if (!(Number.isFinite(from) && Number.isFinite(to)) || to <= from) return { windows: [] };
  let start = from;
  let truncatedFrom: number | undefined;
  if (to - from > max) {
    truncatedFrom = from;
    start = to - max;
  }
  const windows: Window[] = [];
  for (let a = start; a < to; a += slice) windows.push({ from: a, to: Math.min(to, a + slice) });
  return truncatedFrom === undefined ? { windows } : { windows, truncatedFrom };
}

export class BackfillRangeError extends Error {}

/** Reads `{ from, to }` (ISO 8601 or epoch ms) of an operator backfill; throws a BackfillRangeError saying what to fix. */
export function parseBackfillRange(body: unknown, now: number, maxRangeMs = DEFAULT_MAX_RANGE_MS): Window {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const read = (key: 'from' | 'to'): number => {
    const v = b[key];
    if (v === undefined || v === null || v === '') throw new BackfillRangeError(`"${key}" is required: an ISO 8601 date-time such as 2026-11-01T00:00:00Z`);
    const ms = typeof v === 'number' ? v : typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
    if (!Number.isFinite(ms)) throw new BackfillRangeError(`"${key}" must be an ISO 8601 date-time such as 2026-11-01T00:00:00Z (got ${JSON.stringify(v).slice(0, 60)})`);
    return ms;
  };
  const from = read('from');
  const to = Math.min(read('to'), now);
  if (from >= to) throw new BackfillRangeError(`"from" (${new Date(from).toISOString()}) must be before "to" and before now (${new Date(to).toISOString()})`);
  if (to - from > maxRangeMs) throw new BackfillRangeError(`the range is ${Math.ceil((to - from) / 86400000)} days; at most ${Math.floor(maxRangeMs / 86400000)} days per backfill: split it`);
  return { from, to };
}
