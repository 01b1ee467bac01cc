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
import type { InboxEntry, InboxRecord, Store } from '../store/store';

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

// ------------------------------------------------------------------------------------------------
// Inbox identity and hand-over (docs/store-and-guarantees.md: a message committed to the inbox is `received` until a
// durable hand-over point marks it `processed`; a trigger re-emits its `received` entries on start).
// ------------------------------------------------------------------------------------------------

/** The inbox identity a trigger puts on the messages it emits: `msg._fabricInbox`. */
export interface InboxRef {
  source: string;
  messageId: string;
}

/** The msg property carrying the inbox identity (copied by Node-RED with the rest of the msg). */
export const INBOX_REF_PROPERTY = '_fabricInbox';

/** The message's inbox identity, if it came from a trigger with an inbox (fabric-mqtt-in). */
export function inboxRefOf(msg: unknown): InboxRef | undefined {
  const ref = (msg as Record<string, unknown> | null | undefined)?.[INBOX_REF_PROPERTY] as Partial<InboxRef> | undefined;
  if (ref && typeof ref === 'object' && typeof ref.source === 'string' && typeof ref.messageId === 'string') return { source: ref.source, messageId: ref.messageId };
  return undefined;
}

/**
 * A run of several writes (quote-to-project: ERP customer, project, PSA, Jira ...) must not be handed over at its
 * first write, or a crash after it loses the rest. `holdInboxHandOver` moves the identity to this property: the
 * outbox submit of each step (which reads `inboxRefOf`) leaves the entry `received`, so the trigger replays the run
 * after a crash; the points that end a run (`releaseInboxHandOver`, an exception stored, a repeat dropped) mark it.
 * Node-RED copies it with the msg, and the outbox keeps it with a write's context, so a resumed write carries it on.
 */
export const HELD_INBOX_PROPERTY = '_fabricInboxHeld';

export function holdInboxHandOver(msg: Record<string, unknown>): void {
  const ref = inboxRefOf(msg);
  if (!ref) return;
  msg[HELD_INBOX_PROPERTY] = ref;
  delete msg[INBOX_REF_PROPERTY];
}

/** The run is complete: the msg's next hand-over point (publish, exception ...) marks its inbox entry. */
export function releaseInboxHandOver(msg: Record<string, unknown>): void {
  const held = heldRefOf(msg);
  if (!held) return;
  msg[INBOX_REF_PROPERTY] = held;
  delete msg[HELD_INBOX_PROPERTY];
}

function heldRefOf(msg: unknown): InboxRef | undefined {
  const ref = (msg as Record<string, unknown> | null | undefined)?.[HELD_INBOX_PROPERTY];
  return isRef(ref) ? { source: ref.source, messageId: ref.messageId } : undefined;
}

type MarkingStore = Pick<Store, 'inboxMarkProcessed'>;
/** Which store holds each source's inbox: registered by the trigger that owns the source while it runs. */
const sourceStores = new Map<string, { store: MarkingStore }>();

/** Called by a trigger on start; returns the unregister function (for its close; a later registration is kept). */
export function registerInboxSource(source: string, store: MarkingStore): () => void {
  const registration = { store };
  sourceStores.set(source, registration);
  return () => {
    if (sourceStores.get(source) === registration) sourceStores.delete(source);
  };
}

/**
 * The one function every durable hand-over point calls AFTER its own durable write (outbox submit, exception
 * stored, QoS >= 1 publish acknowledged, duplicate dropped, parked): marks the message's inbox entry processed
 * in the store of its source, so it is not re-emitted on the next start (a held identity included: these points end
 * a run). Never throws (a failed mark only
 * means a harmless replay that downstream idempotency absorbs); a msg without an inbox identity is ignored.
 */
export async function markInboxProcessed(msgOrRef: unknown, fallback?: MarkingStore): Promise<void> {
  const ref = inboxRefOf(msgOrRef) ?? heldRefOf(msgOrRef) ?? (isRef(msgOrRef) ? msgOrRef : undefined);
  if (!ref) return;
  if (ref.source === SHARED_SOURCE) return handOverShare(ref.messageId, fallback);
  const store = sourceStores.get(ref.source)?.store ?? fallback;
  if (!store) return;
  try {
    await store.inboxMarkProcessed(ref.source, ref.messageId);
  } catch {
    // the store is closing or failed: the entry stays `received` and is replayed once more
  }
}

// ------------------------------------------------------------------------------------------------
// Shared hand-over: a step that builds new msgs out of several source messages (process-step t2c-plan turns a
// batch of legacy TE messages into one msg per invoice) gives each new msg a *share* as its inbox identity. A share
// covers the source entries whose records are in that msg; a source entry is marked processed once every share
// covering it has been handed over (each at its own durable point: outbox submit, exception stored, ...).
// Shares live in memory: after a crash the source entries are still `received` and are replayed (idempotent writes).
// ------------------------------------------------------------------------------------------------

/** The `source` of a share's inbox identity (`{ source: SHARED_SOURCE, messageId: <share token> }`). */
export const SHARED_SOURCE = 'fabric:shared-hand-over';
interface SharedEntry { ref: InboxRef; remaining: number }
const shares = new Map<string, { entries: SharedEntry[]; at: number }>();
let shareSeq = 0;
/** A share not handed over within this time is forgotten (its sources stay `received` and are replayed). */
const SHARE_TTL_MS = 24 * 3600_000;

/**
 * One inbox identity per new msg: `parts[i]` lists the source inbox entries whose records msg i carries. Returns
 * the identity to put on msg i (`msg._fabricInbox`), or undefined for a part that covers no source. Sources no part
 * covers are not touched (mark them yourself when they need no durable write).
 */
export function shareInboxHandOver(parts: InboxRef[][], now = Date.now()): Array<InboxRef | undefined> {
  for (const [token, s] of shares) if (now - s.at > SHARE_TTL_MS) shares.delete(token);
  const entries = new Map<string, SharedEntry>();
  const keyOf = (r: InboxRef) => `${r.source}\u0000${r.messageId}`;
  // one pass per part (a part can hold an invoice's thousands of entries): each source message counted once per part
  const keysOfPart = parts.map((part) => {
    const keys = new Set<string>();
    for (const r of part) {
      const k = keyOf(r);
      if (keys.has(k)) continue;
      keys.add(k);
      const e = entries.get(k) ?? { ref: { source: r.source, messageId: r.messageId }, remaining: 0 };
      e.remaining += 1;
      entries.set(k, e);
    }
    return keys;
  });
  return keysOfPart.map((keys) => {
    if (keys.size === 0) return undefined;
    const token = `${process.pid}-${now.toString(36)}-${(shareSeq += 1).toString(36)}`;
    shares.set(token, { entries: [...keys].map((k) => entries.get(k)!), at: now });
    return { source: SHARED_SOURCE, messageId: token };
  });
}

async function handOverShare(token: string, fallback?: MarkingStore): Promise<void> {
  const share = shares.get(token);
  if (!share) return; // handed over already (a second hand-over point on the same msg) or forgotten
  shares.delete(token);
  const done: InboxRef[] = [];
  for (const e of share.entries) {
    e.remaining -= 1;
    if (e.remaining === 0) done.push(e.ref);
  }
  // all in the same turn: one group commit for an invoice's hundreds of entries, not one commit (and WAL sync) each
  await Promise.all(done.map((ref) => markInboxProcessed(ref, fallback)));
}

function isRef(v: unknown): v is InboxRef {
  const r = v as Partial<InboxRef> | null | undefined;
  return !!r && typeof r === 'object' && typeof r.source === 'string' && typeof r.messageId === 'string' && !(INBOX_REF_PROPERTY in r);
}

export interface ReplayOptions {
  /** Start-up replays an entry gets before it is abandoned. Default 3. */
  maxReplays?: number;
  /** Entries read per start. Default 10,000 (the rest follow on the next start). */
  limit?: number;
  now?: () => number;
  /** Re-emits one entry (the caller builds the msg, with `redelivered: true`). */
  emit(record: InboxRecord, replay: number): void | Promise<void>;
  /** Told about an entry given up (after `maxReplays` replays): raise an exception, log a warning. */
  abandoned(record: InboxRecord): void | Promise<void>;
}

export interface ReplayResult {
  replayed: number;
  abandoned: number;
}

/**
 * A trigger's start-up replay: every `received` entry of `source` is re-emitted once (its replay counted
 * first, so a crash while emitting still counts), or abandoned when it was already replayed `maxReplays` times
 * without any hand-over point marking it (a flow that drops it on purpose, e.g. a switch without a match).
 */
export async function replayInbox(store: Pick<Store, 'inboxPending' | 'inboxNoteReplay' | 'inboxAbandon'>, source: string, options: ReplayOptions): Promise<ReplayResult> {
  const maxReplays = Math.max(0, options.maxReplays ?? 3);
  const now = options.now ?? Date.now;
  const result: ReplayResult = { replayed: 0, abandoned: 0 };
  for (const record of await store.inboxPending(source, options.limit ?? 10_000)) {
    if (record.replays >= maxReplays) {
      if (await store.inboxAbandon(source, record.messageId, now())) {
        result.abandoned += 1;
        await options.abandoned(record);
      }
      continue;
    }
    const replays = await store.inboxNoteReplay(source, record.messageId);
    if (replays === 0) continue; // processed meanwhile
    result.replayed += 1;
    await options.emit({ ...record, replays }, replays);
  }
  return result;
}
