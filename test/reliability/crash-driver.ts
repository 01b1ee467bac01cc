/**
 * Child process of the crash and duplicate-storm scenarios: the real delivery engine (lib/delivery) on a real
 * SQLite file delivering writes to the reliability target over HTTP. The parent SIGKILLs it at random points and
 * starts it again; on start it submits only the writes not yet in the outbox (the rest is recovered by the engine
 * from the store: pending items, and items a killed process had leased once their lease runs out).
 *
 * env: RELIABILITY_DB (SQLite file), RELIABILITY_TARGET (base URL of /reliability), RELIABILITY_WRITES (count),
 *      RELIABILITY_PREFIX (key prefix), RELIABILITY_FROM (first index, default 0), RELIABILITY_RATE, RELIABILITY_CONCURRENCY,
 *      RELIABILITY_RESUBMIT=1 (submit every write even if already in the outbox: a second path / an upstream replay).
 * IPC out: { ready }, { completion: key, ok, recovered, duplicate? }; IPC in: 'stop' (close the engine, exit 0).
 */
import { SqliteStore } from '../../lib/store/sqlite-store';
import { servicesFor } from '../../lib/fabric/services';
import { DeliveryEngine } from '../../lib/delivery/engine';
import { httpExecutor } from '../../lib/delivery/http-executor';

const ORIGIN = 'reliability-driver';
export const CONNECTION = 'reliability:target';

async function main(): Promise<void> {
  const env = process.env;
  const store = new SqliteStore({ path: env.RELIABILITY_DB! });
  const services = servicesFor(store);
  const engine = new DeliveryEngine(store, services, { leaseMs: 3000, sweepMs: 250, log: () => undefined });
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  const conn = engine.registerConnection(CONNECTION, httpExecutor({ baseUrl: env.RELIABILITY_TARGET! }), {
    ratePerSecond: Number(env.RELIABILITY_RATE ?? 400),
    concurrency: Number(env.RELIABILITY_CONCURRENCY ?? 8),
    maxAttempts: 20,
    baseDelayMs: 20,
    maxDelayMs: 500,
    breakerThreshold: 20,
    breakerHalfOpenAfterMs: 300,
    attemptTimeoutMs: 2000,
  });
  engine.onCompletion(ORIGIN, ({ item, ok, recovered }) => send({ completion: item.idempotencyKey, ok, recovered }));
  process.on('message', (m) => {
    if (m === 'stop') void engine.close().then(() => store.close()).then(() => process.exit(0));
  });
  send({ ready: true, pid: process.pid });

  const n = Number(env.RELIABILITY_WRITES ?? 5000);
  const from = Number(env.RELIABILITY_FROM ?? 0);
  const prefix = env.RELIABILITY_PREFIX ?? 'w';
  const resubmit = env.RELIABILITY_RESUBMIT === '1';
  for (let i = from; i < from + n; i++) {
    const key = `${prefix}-${i}`;
    if (!resubmit && (await store.outboxFind(CONNECTION, key))) continue;
    conn
      .submit({ operation: 'effects', idempotencyKey: key, request: { id: key, seq: i, amount: i % 97 }, origin: resubmit ? undefined : ORIGIN, recordKey: `Write/${key}`, process: 'reliability', step: 'deliver' })
      .then((r) => {
        if (resubmit) send({ completion: key, ok: true, recovered: false, duplicate: r.duplicate });
      })
      .catch((err: Error) => {
        if (resubmit) send({ completion: key, ok: false, error: err.message });
      });
  }
}

main().catch((err) => {
  console.error(`crash-driver failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
