/**
 * What the embedded broker may still deliver again to the runtime's own sessions. lib/retention asks before it purges
 * inbox entries (docs/store-and-guarantees.md, "Retention: never what a redelivery still needs").
 *
 * Why: a QoS 1/2 message delivered to a persistent session stays in that session's outgoing queue until the client
 * acknowledges it, and the runtime acknowledges only after its inbox commit (connection.ts). A message the runtime
 * committed and then died before acknowledging is re-sent when the session reconnects, however long that takes: aedes
 * keeps persistent sessions and their queues without expiry. Its inbox entry is what recognises the re-send; removed
 * first, the message would be processed a second time.
 *
 * Which sessions: only those of internal users (BrokerUser.internal, the runtime's own connections) feed an inbox.
 * Their client ids are recorded when they connect, with the level persistence also in its database (outside the
 * library's key ranges), so a restarted broker knows them before they reconnect. Queues of other clients (an on-prem
 * ERP's invoice postings) never reach an inbox and hold nothing back.
 *
 * How old a held message is: a queued packet carries its broker id (new at every start: aedes picks a random one) and
 * its broker counter (aedes.counter, counting up from 0 at the start), no time. The broker notes (time, counter) of its
 * run at its start and at each query. A packet whose counter exceeds a noted counter of its broker id was created after
 * that moment, and its inbox entry, committed after its delivery, was received after it too: entries received before
 * the latest such moment cannot be its. The bound lags the truth by at most one query interval.
 *  - With the level persistence the notes are kept in the database too (`~psfabric:counter:<broker id>:<counter>:<time>`,
 *    each written before anything later is queued, and a queued message is fsynced, so a held packet's notes are on
 *    disk), so a packet held since before a restart is bounded by the notes of the run that queued it.
 *  - A packet of a broker id with no note (queued by a version without them) may belong to an entry of any age:
 *    `since: 0`, the whole inbox is kept until its session has reconnected and acknowledged it.
 * Only the first key per broker id of a queue is read, so a backlog of a million queued messages costs the query nothing
 * more. Notes no held packet needs any more are removed at each query.
 *
 * Retained messages: aedes sends a topic's retained message to every new subscription, and the runtime subscribes
 * again at every reconnect and redeploy, so a retained message comes back as long as it is retained, whatever its age.
 * Each question also reads every retained message once (one pass over the retained store, yielding to the broker's
 * event loop every RETAINED_BATCH messages) and returns the inbox ids a trigger may have given them (message-id.ts);
 * the inbox purge keeps those entries. A retained message cleared (empty payload) or replaced is no longer read, and
 * its entry ages out as any other.
 */
import { outgoingKeyCounter, outgoingQueueRange } from './level-persistence';
import { inboxMessageIdsOf } from './message-id';
import type { CoalescingLevel } from './coalescing-level';

/** Messages the broker holds for the runtime's own sessions and may deliver (again). */
export interface HeldForRedelivery {
  /**
   * Every inbox entry received at or after this time (ms since the epoch) may belong to a held message; 0 when a
   * message held since before the broker's start is among them (its entry may be of any age). Absent when no
   * session holds anything (only retained messages were found).
   */
  since?: number;
  /** The client ids of the sessions holding them (for the operator: a session that never reconnects holds for ever). */
  clientIds: string[];
  /** The inbox ids of the messages retained on topics (sent again at every subscription); absent when none. */
  retained?: string[];
}

const INTERNAL_SESSION_PREFIX = '~psfabric:internal-session:';
const NOTE_PREFIX = '~psfabric:counter:';
const pad = (n: number) => String(n).padStart(16, '0');
/** The key range of one broker's notes, or of those with a counter below `below`. */
function notesRange(brokerId?: string, below?: number): { gte: string; lt: string } {
  const prefix = brokerId === undefined ? NOTE_PREFIX : `${NOTE_PREFIX}${brokerId}:`;
  return { gte: prefix, lt: below === undefined ? `${prefix.slice(0, -1)};` : prefix + pad(below) };
}
const noteKey = (brokerId: string, counter: number, at: number) => `${NOTE_PREFIX}${brokerId}:${pad(counter)}:${at}`;
const EMPTY = Buffer.alloc(0);
/** Noted (time, counter) pairs kept; dropping old ones only makes the bound older (still safe). */
const MAX_SAMPLES = 1024;
/** Retained messages read between two yields to the broker's event loop. */
const RETAINED_BATCH = 256;

export class RedeliveryTracker {
  private readonly internal = new Set<string>();
  /** This run's notes, (time, aedes.counter) ascending: the start (counter 0) until `prune` finds it no longer needed. */
  private readonly samples: Array<[number, number]>;

  /** `startedAt`: taken before the aedes instance was created (its counter starts at 0 then). */
  constructor(
    private readonly aedes: { id: string; counter: number; persistence: any },
    private readonly db: CoalescingLevel | undefined,
    startedAt: number,
  ) {
    this.samples = [[startedAt, 0]];
  }

  /** Loads the internal sessions recorded by earlier runs and notes this run's start (level persistence). */
  async load(): Promise<void> {
    if (!this.db) return;
    const [at, counter] = this.samples[0];
    await this.db.put(noteKey(this.aedes.id, counter, at), EMPTY);
    for await (const key of this.db.keys({ gte: INTERNAL_SESSION_PREFIX, lt: `${INTERNAL_SESSION_PREFIX.slice(0, -1)};` })) {
      this.internal.add(decodeURIComponent(key.slice(INTERNAL_SESSION_PREFIX.length)));
    }
  }

  /**
   * A client of an internal user connected with a persistent session. Its record is written before it can subscribe;
   * the subscription's own fsynced write (level-persistence.ts) syncs it too, so a session that can hold anything is
   * known after a crash.
   */
  noteInternal(clientId: string): void {
    if (this.internal.has(clientId)) return;
    this.internal.add(clientId);
    void this.db?.put(INTERNAL_SESSION_PREFIX + encodeURIComponent(clientId), EMPTY).catch(() => this.internal.delete(clientId));
  }

  /** What is held now; undefined when the runtime's sessions hold nothing and no message is retained. */
  async held(now = Date.now()): Promise<HeldForRedelivery | undefined> {
    await this.note(now);
    let since = Infinity;
    const clientIds: string[] = [];
    /** The oldest held counter per broker id (for pruning the notes). */
    const oldest = new Map<string, number>();
    for (const clientId of this.internal) {
      const firsts = this.db ? await this.firstsInLevel(clientId) : await this.firstsInMemory(clientId);
      if (firsts.length === 0) continue;
      clientIds.push(clientId);
      for (const { brokerId, counter } of firsts) {
        oldest.set(brokerId, Math.min(oldest.get(brokerId) ?? Infinity, counter));
        since = Math.min(since, await this.createdAfter(brokerId, counter));
      }
    }
    await this.prune(oldest);
    const retained = await this.retainedIds();
    if (!clientIds.length && !retained.length) return undefined;
    return { ...(clientIds.length ? { since } : {}), clientIds, ...(retained.length ? { retained } : {}) };
  }

  /** The inbox ids of every message retained now (both persistences stream them from their retained store). */
  private async retainedIds(): Promise<string[]> {
    const ids: string[] = [];
    let read = 0;
    for await (const packet of this.aedes.persistence.createRetainedStream('#') as AsyncIterable<{ topic: string; payload: Buffer | string }>) {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? '');
      if (payload.length) ids.push(...inboxMessageIdsOf(packet.topic, payload));
      if (++read % RETAINED_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return ids;
  }

  private async note(now: number): Promise<void> {
    const last = this.samples[this.samples.length - 1];
    const counter = this.aedes.counter;
    if (!(now > last[0] && counter > last[1])) return;
    this.samples.push([now, counter]);
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(1, 1);
    await this.db?.put(noteKey(this.aedes.id, counter, now), EMPTY);
  }

  /** The latest noted time before which a packet of `brokerId` with this counter cannot have been created (0: none). */
  private async createdAfter(brokerId: string, counter: number): Promise<number> {
    if (brokerId === this.aedes.id) {
      for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i][1] < counter) return this.samples[i][0];
      return 0;
    }
    if (!this.db) return 0;
    for await (const key of this.db.keys({ ...notesRange(brokerId, counter), reverse: true, limit: 1 })) return Number(key.slice(key.lastIndexOf(':') + 1));
    return 0;
  }

  /**
   * Keeps only the notes a held packet may still need: of this run, the latest one below its oldest held counter and
   * those after it (the newest when nothing is held: later packets have higher counters), plus the one before, for a
   * packet created before this query but not queued yet; of earlier runs, those of broker ids still holding something.
   */
  private async prune(oldest: Map<string, number>): Promise<void> {
    const mine = oldest.get(this.aedes.id) ?? Infinity;
    let keepFrom = this.samples.length - 1;
    while (keepFrom > 0 && this.samples[keepFrom][1] >= mine) keepFrom--;
    if (keepFrom > 1) this.samples.splice(0, keepFrom - 1);
    if (!this.db) return;
    await this.db.clear(notesRange(this.aedes.id, this.samples[0][1]));
    const earlier = new Set<string>();
    for await (const key of this.db.keys(notesRange())) {
      const brokerId = key.slice(NOTE_PREFIX.length, key.indexOf(':', NOTE_PREFIX.length));
      if (brokerId !== this.aedes.id && !oldest.has(brokerId)) earlier.add(brokerId);
    }
    for (const brokerId of earlier) await this.db.clear(notesRange(brokerId));
  }

  private async firstKey(range: { gte: string; lt: string }): Promise<string | undefined> {
    for await (const key of this.db!.keys({ ...range, limit: 1 })) return key;
    return undefined;
  }

  /** The first (lowest counter) queued packet of each broker id in one client's queue: one key read per broker id. */
  private async firstsInLevel(clientId: string): Promise<Array<{ brokerId: string; counter: number }>> {
    const all = outgoingQueueRange(clientId);
    const firsts: Array<{ brokerId: string; counter: number }> = [];
    for (let from = all.gte; ;) {
      const key = await this.firstKey({ gte: from, lt: all.lt });
      if (key === undefined) return firsts;
      const brokerId = key.slice(all.gte.length, key.lastIndexOf(':'));
      firsts.push({ brokerId, counter: outgoingKeyCounter(key) });
      from = outgoingQueueRange(clientId, brokerId).lt;
    }
  }

  /** The in-memory persistence (lab use: nothing from an earlier run) holds each queue in enqueue order: the first is the oldest. */
  private async firstsInMemory(clientId: string): Promise<Array<{ brokerId: string; counter: number }>> {
    for await (const packet of this.aedes.persistence.outgoingStream({ id: clientId }) as AsyncIterable<{ brokerId: string; brokerCounter: number }>) {
      return [{ brokerId: packet.brokerId, counter: packet.brokerCounter }];
    }
    return [];
  }
}
