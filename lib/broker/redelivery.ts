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
 * How old a held message is: a queued packet carries its broker id and broker counter, no time.
 *  - The broker id is new at every start (aedes picks a random one), so a packet of another broker id was queued
 *    before this start and its inbox entry may be of any age: `since: 0`, every inbox entry is kept until the session
 *    has reconnected and acknowledged it.
 *  - A packet of this run has counter c. Each query notes (now, aedes.counter); a packet whose counter exceeds a noted
 *    value was created after that moment, and its inbox entry, committed after its delivery, was received after it too.
 *    So entries received before the latest such moment are safe; the bound lags the truth by at most one query interval.
 * Only the first keys of a queue are read (three `limit: 1` range reads per internal session), so a backlog of a
 * million queued messages costs the query nothing more.
 */
import { outgoingKeyCounter, outgoingQueueRange } from './level-persistence';
import type { CoalescingLevel } from './coalescing-level';

/** Messages the broker holds for the runtime's own sessions and may deliver (again). */
export interface HeldForRedelivery {
  /**
   * Every inbox entry received at or after this time (ms since the epoch) may belong to a held message; 0 when a
   * message held since before the broker's start is among them (its entry may be of any age).
   */
  since: number;
  /** The client ids of the sessions holding them (for the operator: a session that never reconnects holds for ever). */
  clientIds: string[];
}

const INTERNAL_SESSION_PREFIX = '~psfabric:internal-session:';
const EMPTY = Buffer.alloc(0);
/** Noted (time, counter) pairs kept; dropping old ones only makes the bound older (still safe). */
const MAX_SAMPLES = 1024;

export class RedeliveryTracker {
  private readonly internal = new Set<string>();
  /** (time, aedes.counter) pairs, ascending; the first is the broker's start with counter 0, always kept. */
  private readonly samples: Array<[number, number]>;

  /** `startedAt`: taken before the aedes instance was created (its counter starts at 0 then). */
  constructor(
    private readonly aedes: { id: string; counter: number; persistence: any },
    private readonly db: CoalescingLevel | undefined,
    startedAt: number,
  ) {
    this.samples = [[startedAt, 0]];
  }

  /** Loads the internal sessions recorded by earlier runs (level persistence). */
  async load(): Promise<void> {
    if (!this.db) return;
    for await (const key of this.db.keys({ gte: INTERNAL_SESSION_PREFIX, lt: `${INTERNAL_SESSION_PREFIX.slice(0, -1)};` })) {
      this.internal.add(decodeURIComponent(key.slice(INTERNAL_SESSION_PREFIX.length)));
    }
  }

  /**
   * A client of an internal user connected. Its record is written before it can subscribe; the subscription's own
   * fsynced write (level-persistence.ts) syncs it too, so a session that can hold anything is known after a crash.
   */
  noteInternal(clientId: string): void {
    if (this.internal.has(clientId)) return;
    this.internal.add(clientId);
    void this.db?.put(INTERNAL_SESSION_PREFIX + encodeURIComponent(clientId), EMPTY).catch(() => this.internal.delete(clientId));
  }

  /** What is held now; undefined when the runtime's sessions hold nothing. */
  async held(now = Date.now()): Promise<HeldForRedelivery | undefined> {
    this.note(now);
    let since = Infinity;
    const clientIds: string[] = [];
    for (const clientId of this.internal) {
      const oldest = this.db ? await this.oldestInLevel(clientId) : await this.oldestInMemory(clientId);
      if (oldest === undefined) continue;
      clientIds.push(clientId);
      since = Math.min(since, oldest);
    }
    return clientIds.length ? { since, clientIds } : undefined;
  }

  private note(now: number): void {
    const last = this.samples[this.samples.length - 1];
    if (now > last[0] && this.aedes.counter > last[1]) this.samples.push([now, this.aedes.counter]);
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(1, 1);
  }

  /** The latest noted time before which a packet with this counter cannot have been created. */
  private createdAfter(counter: number): number {
    for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i][1] < counter) return this.samples[i][0];
    return 0;
  }

  private async firstKey(range: { gte: string; lt: string }): Promise<string | undefined> {
    for await (const key of this.db!.keys({ ...range, limit: 1 })) return key;
    return undefined;
  }

  private async oldestInLevel(clientId: string): Promise<number | undefined> {
    const all = outgoingQueueRange(clientId);
    const mine = outgoingQueueRange(clientId, this.aedes.id);
    // queued by an earlier broker (a key of another broker id, before or after this run's in key order)
    if (await this.firstKey({ gte: all.gte, lt: mine.gte })) return 0;
    if (await this.firstKey({ gte: mine.lt, lt: all.lt })) return 0;
    const first = await this.firstKey(mine);
    return first === undefined ? undefined : this.createdAfter(outgoingKeyCounter(first));
  }

  /** The in-memory persistence (lab use) holds one array per client in enqueue order: its first packet is the oldest. */
  private async oldestInMemory(clientId: string): Promise<number | undefined> {
    for await (const packet of this.aedes.persistence.outgoingStream({ id: clientId }) as AsyncIterable<{ brokerId: string; brokerCounter: number }>) {
      return packet.brokerId === this.aedes.id ? this.createdAfter(packet.brokerCounter) : 0;
    }
    return undefined;
  }
}
