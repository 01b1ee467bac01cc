/**
 * Child process for scenario 4: N writes to one sandbox endpoint (Teams incoming webhook), first as plain axios
 * calls with `concurrency` in flight, then through the durable outbox (SQLite store, synchronous=FULL,
 * DeliveryEngine + httpExecutor, no rate limit, the same concurrency). Alternating rounds, same process.
 */
import path from 'node:path';
import axios from 'axios';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { servicesFor } from '../../lib/fabric/services';
import { DeliveryEngine, httpExecutor } from '../../lib/delivery';
import { pool, serveParent, tmpDir } from '../lib/util';
import { adaptiveCardMessage } from '../../lib/connectors/teams/client';

async function main(): Promise<void> {
  const tmp = tmpDir('psf-bench-delivery-');
  // BENCH_SYNC=NORMAL: diagnosis only (is the outbox fsync-bound?); the product runs synchronous=FULL
  // BENCH_GROUP_COMMIT=0: diagnosis only (one commit per store write, as before group commit)
  const store = new SqliteStore({ path: path.join(tmp.dir, 'outbox.sqlite'), synchronous: process.env.BENCH_SYNC === 'NORMAL' ? 'NORMAL' : 'FULL', groupCommit: process.env.BENCH_GROUP_COMMIT !== '0', groupCommitWindowMs: Number(process.env.BENCH_COMMIT_WINDOW_MS) || 0 });
  const services = servicesFor(store);
  const engine = new DeliveryEngine(store, services, { log: () => undefined });
  let conn: ReturnType<DeliveryEngine['registerConnection']> | undefined;
  let round = 0;
  const ipc = serveParent(
    async (msg) => {
      const { url, count, concurrency } = msg as { url: string; count: number; concurrency: number };
      const card = (i: number) => adaptiveCardMessage({ title: `bench write ${round}-${i}` });
      round++;
      if (msg.type === 'axios') {
        let failures = 0;
        const t0 = performance.now();
        await pool(count, concurrency, async (i) => {
          try {
            await axios.post(url, card(i), { headers: { 'Idempotency-Key': `ax-${round}-${i}` } });
          } catch {
            failures++;
          }
        });
        const ms = performance.now() - t0;
        return { ms, failures };
      }
      if (msg.type === 'outbox') {
        conn ??= engine.registerConnection('bench:teams', httpExecutor({ baseUrl: url, route: (_op, request) => ({ method: 'POST', path: '', body: request }) }), { ratePerSecond: 0, concurrency, maxAttempts: 3 });
        let failures = 0;
        let duplicates = 0;
        const commits0 = { ...store.commitStats };
        const t0 = performance.now();
        // callers submit as fast as they can, each waiting for its delivery: `concurrency` producers
        await pool(count, concurrency * 4, async (i) => {
          try {
            const r = await conn!.submit({ operation: 'postCard', idempotencyKey: `ob-${round}-${i}`, request: card(i) as any, process: 'bench', step: 'delivery' });
            if (r.duplicate) duplicates++;
          } catch {
            failures++;
          }
        });
        const ms = performance.now() - t0;
        // store transactions (fsyncs) per outbox write: 0 without group commit (each write its own autocommit)
        const commits = store.commitStats.commits - commits0.commits;
        return { ms, failures, duplicates, commits, storeWrites: store.commitStats.writes - commits0.writes };
      }
      throw new Error(`unknown request ${msg.type}`);
    },
    async () => {
      await engine.close();
      await store.close();
      tmp.cleanup();
    },
  );
  ipc.ready({});
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
