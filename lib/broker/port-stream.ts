/**
 * A Duplex over a MessagePort, so a connection accepted on one thread (a WebSocket on the runtime's HTTP server) can be
 * served by the broker in another (broker-thread.ts). Both ends of a MessageChannel use it.
 *
 * MessagePorts have no flow control of their own: without one, a fast WebSocket publisher would fill the worker's
 * queue unboundedly, and aedes would never see a subscriber's socket "need a drain" (QoS 0 shedding and the drain
 * timeout rely on it, broker.ts). So the sender counts bytes not yet acknowledged by the receiver and holds its write
 * callback past WINDOW bytes; the receiver acknowledges bytes once its readable side has taken them (immediately when
 * `push` accepts them, otherwise when the consumer reads again). Backpressure therefore crosses the thread boundary.
 */
import { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';

const WINDOW = 256 * 1024;
/** Acknowledge in batches: one control message per ACK_EVERY bytes rather than per chunk. */
const ACK_EVERY = WINDOW / 4;

type Control = { t: 'ack'; n: number } | { t: 'end' };

export function messagePortStream(port: MessagePort): Duplex {
  let inflight = 0;
  let held: (() => void) | undefined;
  let unacked = 0;
  let paused = false;
  const ack = () => {
    if (unacked === 0) return;
    port.postMessage({ t: 'ack', n: unacked } satisfies Control);
    unacked = 0;
  };
  const duplex = new Duplex({
    read() {
      paused = false;
      ack();
    },
    write(chunk: Buffer, _encoding, callback) {
      // copy into an exact-size buffer and transfer it: cloning a pooled Buffer would copy its whole 8 KiB slab
      const copy = Uint8Array.prototype.slice.call(chunk);
      inflight += copy.byteLength;
      try {
        port.postMessage(copy, [copy.buffer]);
      } catch (err) {
        return callback(err as Error);
      }
      if (inflight <= WINDOW) return callback();
      held = () => callback();
    },
    final(callback) {
      port.postMessage({ t: 'end' } satisfies Control);
      callback();
    },
    destroy(err, callback) {
      port.close();
      const release = held;
      held = undefined;
      release?.();
      callback(err);
    },
  });
  port.on('message', (m: Uint8Array | Control) => {
    if (m instanceof Uint8Array) {
      if (duplex.destroyed) return;
      unacked += m.byteLength;
      if (!duplex.push(Buffer.from(m.buffer, m.byteOffset, m.byteLength))) paused = true;
      else if (!paused && unacked >= ACK_EVERY) ack();
      return;
    }
    if (m.t === 'ack') {
      inflight -= m.n;
      if (held && inflight <= WINDOW) {
        const release = held;
        held = undefined;
        release();
      }
    } else if (m.t === 'end') {
      duplex.push(null);
    }
  });
  // the other end closed its port, or its thread died: this connection is over
  port.on('close', () => duplex.destroy());
  return duplex;
}

/** Pipes two duplexes into each other; when either closes, the other is destroyed. */
export function joinStreams(a: Duplex, b: Duplex): void {
  a.on('error', () => {});
  b.on('error', () => {});
  a.pipe(b);
  b.pipe(a);
  a.once('close', () => b.destroy());
  b.once('close', () => a.destroy());
}
