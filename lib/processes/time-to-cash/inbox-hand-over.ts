/**
 * Which source messages (inbox entries) the entries of a time-to-cash plan came from, and when each is handed over.
 *
 * t2c-plan gets entries one msg at a time (the PSA poll: one msg, one inbox identity) or as a join of complete msgs
 * (the legacy ERP's time-entry lines: each part keeps its own identity). It builds new msgs out of them (one per
 * invoice, one per blocked entry), so a source message is handed over once every new msg holding one of its entries
 * is durable (lib/inbox shareInboxHandOver); a source message none of them holds (its entries already billed,
 * duplicates, not billable) needs no durable write and is handed over at once.
 */
import { inboxRefOf, shareInboxHandOver, type InboxRef } from '../../inbox';

/** The entries of a t2c-plan input with their source messages. */
export interface EntrySources {
  /** Canonical entries (CloudEvent envelopes unwrapped), in input order. */
  items: Array<Record<string, unknown>>;
  /** The records as given (envelopes kept: a workspace context may sit beside the data). */
  raw: unknown[];
  /** Entry id -> the inbox entries it came from. */
  sourcesOf: Map<string, InboxRef[]>;
  /** The input msg's own identity when no joined part carried one; handed over when it held no entry with an id. */
  own?: InboxRef;
}

const keyOf = (r: InboxRef) => `${r.source}|${r.messageId}`;

function isCompleteMsg(x: unknown): x is Record<string, unknown> & { payload: unknown } {
  return !!x && typeof x === 'object' && typeof (x as { _msgid?: unknown })._msgid === 'string' && 'payload' in x;
}

/** Reads a t2c-plan msg: `payload` an entry, an array of entries, `{timeEntries}`, or an array of complete msgs (a join). */
export function entrySources(msg: Record<string, unknown>): EntrySources {
  const payload = msg.payload as unknown;
  const timeEntries = payload && typeof payload === 'object' ? (payload as { timeEntries?: unknown }).timeEntries : undefined;
  const given: unknown[] = Array.isArray(payload) ? payload : Array.isArray(timeEntries) ? timeEntries : [payload];
  const sourcesOf = new Map<string, InboxRef[]>();
  const raw: unknown[] = [];
  let partRefs = false;
  for (const x of given) {
    if (!isCompleteMsg(x)) {
      raw.push(x);
      continue;
    }
    const ref = inboxRefOf(x);
    for (const p of Array.isArray(x.payload) ? x.payload : [x.payload]) {
      raw.push(p);
      const id = (unwrap(p) as { id?: unknown } | undefined)?.id;
      if (ref && typeof id === 'string') {
        partRefs = true;
        sourcesOf.set(id, [...(sourcesOf.get(id) ?? []), ref]);
      }
    }
  }
  const items = raw.map(unwrap).filter((x): x is Record<string, unknown> => !!x && typeof x === 'object');
  const own = partRefs ? undefined : inboxRefOf(msg);
  if (own) for (const it of items) if (typeof it.id === 'string') sourcesOf.set(it.id, [...(sourcesOf.get(it.id) ?? []), own]);
  return { items, raw, sourcesOf, own };
}

function unwrap(x: unknown): unknown {
  const e = x as { specversion?: unknown; data?: unknown } | null | undefined;
  return e && e.specversion && e.data ? e.data : x;
}

export interface HandOver {
  /** The inbox identity of new msg i (`_fabricInbox`), undefined for one that holds no source's entry. */
  shares: Array<InboxRef | undefined>;
  /** Source messages no new msg holds an entry of: hand them over now. */
  untouched: InboxRef[];
}

/** `parts[i]` = the entry ids new msg i carries. */
export function planHandOver(sources: EntrySources, parts: string[][]): HandOver {
  const refsOf = (ids: string[]) => ids.flatMap((id) => sources.sourcesOf.get(id) ?? []);
  const shares = shareInboxHandOver(parts.map(refsOf));
  const covered = new Set(refsOf(parts.flat()).map(keyOf));
  const untouched = new Map<string, InboxRef>();
  for (const refs of sources.sourcesOf.values()) for (const r of refs) if (!covered.has(keyOf(r))) untouched.set(keyOf(r), r);
  if (sources.own && sources.sourcesOf.size === 0) untouched.set(keyOf(sources.own), sources.own);
  return { shares, untouched: [...untouched.values()] };
}
