/**
 * Worker side of broker-thread.ts: runs the embedded broker (`startBroker`, unchanged) with the options it was given,
 * and talks to the main thread only through messages (log lines, stats, replies, bridged connections).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startBroker, type RunningBroker, type BrokerStats } from './broker';
import type { FromWorker, ToWorker, WorkerBrokerOptions } from './broker-thread';
import { messagePortStream } from './port-stream';

/** Stats are posted when they changed, at most this often: /healthz reads a mirror, not a live value. */
const STATS_EVERY_MS = 200;

const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);

/** Buffers lose their class crossing threads (they arrive as Uint8Array); tls wants Buffers. */
function asBuffer<T>(v: T): T | Buffer {
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

async function main(): Promise<void> {
  const options = (workerData as { options: WorkerBrokerOptions }).options;
  if (options.tls) options.tls = { ...options.tls, cert: asBuffer(options.tls.cert), key: asBuffer(options.tls.key), ca: options.tls.ca && asBuffer(options.tls.ca) };
  let broker: RunningBroker;
  try {
    broker = await startBroker({
      ...options,
      log: {
        info: (msg) => send({ type: 'log', level: 'info', msg }),
        warn: (msg) => send({ type: 'log', level: 'warn', msg }),
        error: (msg) => send({ type: 'log', level: 'error', msg }),
      },
    });
  } catch (err) {
    send({ type: 'startError', message: (err as Error).message });
    process.exit(1);
  }

  const snapshot = (): BrokerStats => ({ ...broker.stats });
  let lastSent = '';
  const postStats = (force: boolean) => {
    const stats = snapshot();
    const healthy = broker.healthy();
    const key = JSON.stringify(stats) + healthy;
    if (!force && key === lastSent) return;
    lastSent = key;
    send({ type: 'stats', stats, healthy });
  };
  const statsTimer = setInterval(() => postStats(false), STATS_EVERY_MS);
  statsTimer.unref();

  // Messages are handled in the order they were posted, so an addUser is in effect before any later request's reply.
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'conn':
        broker.handle(messagePortStream(m.port), m.meta);
        break;
      case 'addUser':
        broker.addUser(m.user);
        break;
      case 'request': {
        const reply = (value?: unknown) => send({ type: 'reply', id: m.id, value });
        const fail = (err: Error) => send({ type: 'reply', id: m.id, error: err.message });
        if (m.what === 'sync') {
          // fresh stats first: after `await sync()` the main thread's mirror is current
          postStats(true);
          reply();
        } else if (m.what === 'held') broker.heldForRedelivery().then(reply, fail);
        else broker.clientSubscriptions(m.prefix ?? '').then(reply, fail);
        break;
      }
      case 'close':
        clearInterval(statsTimer);
        broker.close().then(
          () => process.exit(0),
          (err: Error) => {
            send({ type: 'log', level: 'error', msg: `mqtt: closing the broker failed: ${err.message}` });
            process.exit(1);
          },
        );
        break;
      case 'crash':
        setImmediate(() => {
          throw new Error('broker worker crash requested by a test');
        });
        break;
    }
  });

  send({ type: 'ready', port: broker.port, host: broker.host, url: broker.url, tlsUrl: broker.tlsUrl, persistence: broker.persistence, stats: snapshot(), healthy: broker.healthy() });
}

void main();
