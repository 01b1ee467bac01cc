/** The exception-queue commands shared by the fabric-exceptions node and the admin HTTP API. */
import type { ExceptionQueue } from '../../lib/exceptions';
import { ExceptionQueueError } from '../../lib/exceptions';
import type { ExceptionFilter, ExceptionStatus, Json } from '../../lib/store/store';

const STATUSES: ExceptionStatus[] = ['open', 'replayed', 'discarded', 'resolved'];
const MAX_LIMIT = 1000;

/** A filter from untrusted input (query string, msg.payload): known keys only, typed. */
export function parseFilter(input: unknown): ExceptionFilter {
  const src = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const filter: ExceptionFilter = {};
  const s = (k: string): string | undefined => (typeof src[k] === 'string' && (src[k] as string) !== '' ? (src[k] as string) : undefined);
  const n = (k: string): number | undefined => {
    const v = src[k];
    if (v === undefined || v === '' || v === null) return undefined;
    const num = Number(v);
    if (!Number.isFinite(num) || num < 0) throw new ExceptionQueueError('bad-request', `${k} must be a non-negative number`);
    return Math.floor(num);
  };
  const rawStatus = src.status;
  if (rawStatus !== undefined && rawStatus !== '') {
    const list = (Array.isArray(rawStatus) ? rawStatus : String(rawStatus).split(',')).map((x) => String(x).trim()).filter(Boolean);
    for (const st of list) if (!(STATUSES as string[]).includes(st)) throw new ExceptionQueueError('bad-request', `status must be one of ${STATUSES.join(', ')}`);
    filter.status = list.length === 1 ? (list[0] as ExceptionStatus) : (list as ExceptionStatus[]);
  }
  for (const k of ['process', 'step', 'ownerTeam', 'recordKey', 'correlationId'] as const) {
    const v = s(k);
    if (v !== undefined) filter[k] = v;
  }
  const errorClass = s('errorClass');
  if (errorClass) filter.errorClass = errorClass as ExceptionFilter['errorClass'];
  const olderThan = n('olderThan');
  if (olderThan !== undefined) filter.olderThan = olderThan;
  const limit = n('limit');
  if (limit !== undefined) filter.limit = Math.min(limit, MAX_LIMIT);
  const offset = n('offset');
  if (offset !== undefined) filter.offset = offset;
  return filter;
}

function parseId(value: unknown): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id <= 0) throw new ExceptionQueueError('bad-request', `exception id must be a positive integer, got ${JSON.stringify(value)}`);
  return id;
}

export const HTTP_STATUS: Record<string, number> = { 'not-found': 404, 'not-open': 409, busy: 409, 'no-replay-target': 409, 'no-replayer': 503, 'replay-failed': 502, 'bad-request': 400 };

/** Command names of earlier versions, and the command each is now (the ops-feed's name for bulk replay is the one). */
const RENAMED: Record<string, string> = { 'replay-bulk': 'bulk-replay' };

/** The commands shared by the node and the admin API. */
export async function runCommand(queue: ExceptionQueue, command: string, payload: unknown, actor: string): Promise<unknown> {
  const p = (payload && typeof payload === 'object' ? payload : {}) as Record<string, unknown>;
  switch (RENAMED[command] ?? command) {
    case 'list': {
      const filter = parseFilter(payload);
      const { limit: _l, offset: _o, ...countFilter } = filter;
      const [items, total] = await Promise.all([queue.list({ limit: 100, ...filter }), queue.count(countFilter)]);
      return { total, items };
    }
    case 'count':
      return queue.count(parseFilter(payload));
    case 'get': {
      const id = parseId(typeof payload === 'object' && payload !== null ? p.id : payload);
      const record = await queue.get(id);
      if (!record) throw new ExceptionQueueError('not-found', `exception ${id} does not exist`, id);
      return record;
    }
    case 'replay':
      return queue.replay(parseId(p.id), { actor, payload: p.payload === undefined ? undefined : (p.payload as Json) });
    case 'discard':
      return queue.discard(parseId(p.id), { actor, reason: typeof p.reason === 'string' ? p.reason : '' });
    case 'bulk-replay':
      return queue.replayMany(parseFilter(payload), { actor });
    default:
      throw new ExceptionQueueError('bad-request', `unknown command "${command}" (expected list, get, count, replay, discard or bulk-replay)`);
  }
}

