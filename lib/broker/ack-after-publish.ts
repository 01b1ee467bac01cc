/**
 * The broker acknowledges a QoS 1 PUBLISH only after aedes has published it (docs/runtime.md, "The broker acknowledges
 * only what it has kept").
 *
 * aedes 1.2 (lib/handlers/publish.js, `enqueuePublish`) runs `authorizePublish`, then for QoS 1 writes the PUBACK and
 * only then calls `broker.publish`, which queues the message for the persistent subscriptions (`outgoingEnqueueCombi`),
 * stores a retained one and hands it to the connected subscribers. A crash between the two loses a message the
 * publisher was told is kept, and the publisher (the legacy ERP) will not send it again. Its QoS 2 path already stores
 * first and answers PUBREC in the publish callback.
 *
 * Neither the handler nor aedes' `write` can be replaced from outside, so the order is changed with the two hooks aedes
 * calls on the broker instance at call time:
 *  1. `authorizePublish` (wrapped): once the user's check passed, a QoS 1 PUBLISH received from a client is published
 *     here, with the original `publish`; the check's callback, which lets the handler go on to write the PUBACK, is
 *     called only when that publish has completed (with the level persistence: the queue entries and the retained
 *     message fsynced, level-persistence.ts). A failed publish fails the check: no PUBACK, the connection is closed
 *     (as for a refused publish), and the client sends the message again on its next connection.
 *  2. `publish` (wrapped): the handler's own `broker.publish` call for that same packet object, right after the PUBACK,
 *     finds it already published and only calls back, so it is not published twice. Every other publish (QoS 0, QoS 2,
 *     wills, $SYS, the API) goes to the original unchanged.
 * The handler still calls back (and so reads the client's next packets) only after the PUBACK was written.
 */

/** The slice of an aedes instance this touches. */
export interface AedesPublishHooks {
  authorizePublish(client: unknown, packet: any, done: (err?: Error | null) => void): void;
  publish(packet: any, client?: unknown, done?: (err?: Error | null) => void): void;
}

export function acknowledgeAfterPublish(aedes: AedesPublishHooks): void {
  const authorize = aedes.authorizePublish.bind(aedes);
  const publish = aedes.publish.bind(aedes) as (packet: any, client: unknown, done: (err?: Error | null) => void) => void;
  // the parser's packet objects: the handler passes the same object to authorizePublish and then to publish
  const publishedBeforeAck = new WeakSet<object>();

  aedes.authorizePublish = (client, packet, done) => {
    authorize(client, packet, (err) => {
      // `cmd` is set on packets parsed from the wire, not on wills (also checked through authorizePublish)
      if (err || !client || packet?.cmd !== 'publish' || packet.qos !== 1) return done(err);
      publish(packet, client, (pubErr) => {
        if (pubErr) return done(pubErr);
        publishedBeforeAck.add(packet);
        done(null);
      });
    });
  };

  aedes.publish = (packet, client, done) => {
    if (typeof client === 'function') return publish(packet, null, client as (err?: Error | null) => void);
    if (packet && typeof packet === 'object' && publishedBeforeAck.delete(packet)) return (done ?? noop)(null);
    return publish(packet, client, done ?? noop);
  };
}

function noop(): void {}
