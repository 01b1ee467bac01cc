/**
 * The broker's production persistence: aedes-persistence-level 9.x on classic-level, with its writes coalesced
 * (coalescing-level.ts) and `outgoingUpdate` done as one write.
 *
 * aedes calls `outgoingUpdate` once per QoS 1/2 delivery to a persistent session, before the packet is written
 * to the socket, to record the message id it assigned. The library does it as get + del + put + put, each
 * awaited on its own (four LevelDB round trips, and a crash between them leaves the queue entry and the
 * by-message-id index disagreeing). Here it is the same get followed by ONE atomic batch with the same three
 * operations on the same keys in the same order; the key layout below is the library's (asyncPersistence.js,
 * `outgoingKey` / `outgoingByIdKey` / `padId`), and test/unit/broker/level-persistence.test.ts checks it
 * against the library's own outgoingStream / outgoingClearMessageId.
 *
 * The calls after which aedes acknowledges something to a client (ACKNOWLEDGED_WRITES) resolve only once their writes
 * are fsynced (`CoalescingLevel.durably`): with ack-after-publish.ts this is what makes a PUBACK mean "kept"
 * (docs/runtime.md, "The broker acknowledges only what it has kept").
 */
import { createRequire } from 'node:module';
import { CoalescingLevel, type CoalescingLevelOptions } from './coalescing-level';

const persistenceEntry = require.resolve('aedes-persistence-level/asyncPersistence.js');
// msgpack-lite as the library resolves it (its dependency, not ours), so both encode alike
const libRequire = createRequire(persistenceEntry);
const msgpack = libRequire('msgpack-lite') as { encode(v: unknown): Buffer; decode(b: Buffer): any };

function padId(id: unknown): string | undefined {
  return id?.toString().padStart(16, '0');
}

function outgoingKey(clientId: string, brokerId: string, brokerCounter: number): string {
  return `outgoing:${encodeURIComponent(clientId)}:${brokerId}:${padId(brokerCounter)}`;
}

/**
 * The key range of one client's outgoing queue (the library's `outgoingKey` layout), or of the part of it queued by
 * the broker `brokerId`; its keys sort by broker counter within a broker id (padded).
 */
export function outgoingQueueRange(clientId: string, brokerId?: string): { gte: string; lt: string } {
  const prefix = `outgoing:${encodeURIComponent(clientId)}:${brokerId === undefined ? '' : `${brokerId}:`}`;
  return { gte: prefix, lt: `${prefix.slice(0, -1)};` };
}

/** The broker counter of an outgoing queue key (its last part). */
export function outgoingKeyCounter(key: string): number {
  return Number(key.slice(key.lastIndexOf(':') + 1));
}

function outgoingByIdKey(clientId: string, messageId: number): string {
  return `outgoing-id:${encodeURIComponent(clientId)}:${padId(messageId)}`;
}

/**
 * Queue a QoS 1/2 message for every persistent subscription (the publish's completion, hence its PUBACK / PUBREC),
 * store a retained message (the same), store an inbound QoS 2 message (before its PUBREC), store subscriptions (SUBACK:
 * a lost subscription would silently lose every later message for it).
 */
const ACKNOWLEDGED_WRITES = ['outgoingEnqueueCombi', 'storeRetained', 'incomingStorePacket', 'addSubscriptions'] as const;

export interface LevelPersistenceHandle {
  persistence: any;
  db: CoalescingLevel;
}

/** `db` is an opened classic-level / level database owned by this broker. */
export function createLevelPersistence(db: any, options: CoalescingLevelOptions = {}): LevelPersistenceHandle {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const LevelPersistence = require(persistenceEntry);
  const coalesced = new CoalescingLevel(db, options);
  const persistence = new LevelPersistence(coalesced);
  const libraryUpdate = persistence.outgoingUpdate.bind(persistence) as (client: any, packet: any) => Promise<void>;
  persistence.outgoingUpdate = async (client: { id: string }, packet: any): Promise<void> => {
    // without brokerId (PUBREL after PUBREC) the library first looks the packet up by message id: keep its path
    if (!packet.brokerId) return libraryUpdate(client, packet);
    const prekey = outgoingKey(client.id, packet.brokerId, packet.brokerCounter);
    const blob = await coalesced.get(prekey);
    if (blob === undefined) throw new Error('no such packet');
    const previous = msgpack.decode(blob);
    const value = msgpack.encode(packet);
    const ops: Array<{ type: 'put' | 'del'; key: string; value?: Buffer }> = [];
    if (previous.messageId > 0) ops.push({ type: 'del', key: outgoingByIdKey(client.id, previous.messageId) });
    ops.push({ type: 'put', key: outgoingByIdKey(client.id, packet.messageId), value });
    ops.push({ type: 'put', key: prekey, value });
    await coalesced.batch(ops);
  };
  for (const name of ACKNOWLEDGED_WRITES) {
    const own = persistence[name].bind(persistence) as (...args: any[]) => Promise<unknown>;
    persistence[name] = (...args: any[]): Promise<unknown> => {
      // a message nobody is subscribed to persistently has nothing to keep
      if (name === 'outgoingEnqueueCombi' && !(args[0]?.length > 0)) return own(...args);
      return coalesced.durably(() => own(...args));
    };
  }
  return { persistence, db: coalesced };
}
