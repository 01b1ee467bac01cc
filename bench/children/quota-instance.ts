/**
 * Child process for the shared-quota scenario: one PS Fabric instance as far as delivery goes - a DeliveryEngine on
 * the shared PostgreSQL store (BENCH_PG_URL, BENCH_PG_SCHEMA), delivering the outbox items the parent enqueued to a
 * sandbox endpoint through the product's Teams connector. Several of these share the store; their connection limits
 * are shared (the PostgreSQL default).
 */
import { PostgresStore } from '../../lib/store/postgres-store';
import { DeliveryEngine } from '../../lib/delivery';
import { TeamsWebhookClient } from '../../lib/connectors/teams/client';
import type { ConnectionHandle } from '../../lib/delivery';
import { serveParent } from '../lib/util';
import inspector from 'node:inspector';
import fs from 'node:fs';
import path from 'node:path';

/**
 * BENCH_PHASE_PROF=<dir>: a CPU profile of this instance per phase (from its start to its stats), written as
 * `<dir>/<instance>-<connection>.cpuprofile`, so the phases an instance sits idle in do not mix into it.
 */
function phaseProfiler(dir: string | undefined) {
  if (!dir) return { start: async () => undefined, stop: async (_name: string) => undefined };
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  return {
    async start() {
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: 500 });
      await post('Profiler.start');
    },
    async stop(name: string) {
      const { profile } = await post('Profiler.stop');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${process.env.BENCH_INSTANCE ?? process.pid}-${name.replace(/[^\w.-]+/g, '_')}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

async function main(): Promise<void> {
  const store = new PostgresStore({ connectionString: process.env.BENCH_PG_URL!, schema: process.env.BENCH_PG_SCHEMA!, poolMax: 8 });
  await store.ready;
  // PostgreSQL round trips of this instance (diagnosis: store cost per write), counted at the pool
  let roundTrips = 0;
  let queryMs = 0;
  let maxWaiting = 0;
  const pool = (store as unknown as { pool: { query: (...args: unknown[]) => Promise<unknown>; waitingCount: number } }).pool;
  const query = pool.query.bind(pool);
  pool.query = async (...args: unknown[]) => {
    roundTrips++;
    const t0 = performance.now();
    maxWaiting = Math.max(maxWaiting, pool.waitingCount);
    try {
      return await query(...args);
    } finally {
      queryMs += performance.now() - t0;
    }
  };
  const engine = new DeliveryEngine(store, {}, { owner: process.env.BENCH_INSTANCE ?? `bench-${process.pid}`, sweepMs: 500, log: () => undefined });
  const handles: ConnectionHandle[] = [];
  const profiler = phaseProfiler(process.env.BENCH_PHASE_PROF);
  let phase = '';
  let delivered = 0;
  const ipc = serveParent(
    async (msg) => {
      if (msg.type === 'start') {
        const { url, connection, concurrency } = msg as { url: string; connection: string; concurrency: number };
        phase = connection;
        await profiler.start();
        // the product's Teams connector (Workflows webhook), as a deployed teams-notify delivers
        const http = new TeamsWebhookClient(url).executor();
        const counting = {
          async execute(operation: string, request: any, ctx: any) {
            const r = await http.execute(operation, request, ctx);
            delivered++;
            return r;
          },
        };
        // BENCH_QUOTA_SHARED=0: diagnosis only (the same run with per-instance limits: is sharing the cost?)
        handles.push(engine.registerConnection(connection, counting, { ratePerSecond: 0, concurrency, maxAttempts: 8, shared: process.env.BENCH_QUOTA_SHARED !== '0' }));
        return {};
      }
      if (msg.type === 'stats') {
        const d = delivered;
        const trips = roundTrips;
        const stats = { delivered: d, roundTrips: trips, queryMsAvg: trips ? queryMs / trips : 0, poolMaxWaiting: maxWaiting };
        delivered = 0;
        roundTrips = 0;
        queryMs = 0;
        maxWaiting = 0;
        await profiler.stop(phase);
        for (const h of handles.splice(0)) await h.close();
        return stats;
      }
      throw new Error(`unknown request ${msg.type}`);
    },
    async () => {
      await engine.close();
      await store.close();
    },
  );
  ipc.ready({});
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
