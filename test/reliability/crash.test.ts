/**
 * Crash: a child process (crash-driver.ts: the real delivery engine on a real SQLite file) delivers RELIABILITY_CRASH_WRITES
 * (default 5,000) writes to the reliability target over HTTP; the parent SIGKILLs it at three random points (after random
 * counts of acknowledged deliveries) and starts it again each time. At the end the target has each write's effect exactly
 * once and none missing; re-sends (items in flight at a kill) are bounded and absorbed by the idempotency key.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { record } from './support/report';
import { start, kill9, rng, seed, knob, type Child } from './support/child';
import { startTarget, missing, unexpectedEffects, type RunningTarget } from './support/target';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const DRIVER = path.join(__dirname, 'crash-driver.js');

describe('reliability: crash (SIGKILL x3 while delivering)', function () {
  const N = knob('RELIABILITY_CRASH_WRITES', 5000);
  const KILLS = 3;
  const CONCURRENCY = 8;
  const RATE = knob('RELIABILITY_CRASH_RATE', 500);
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  let child: Child | undefined;

  before(async () => {
    tmp = tempDir('psfabric-rel-crash-');
    t = await startTarget();
  });
  after(async () => {
    await kill9(child);
    await t?.close();
    tmp?.cleanup();
  });

  it(`delivers ${N} writes exactly once across ${KILLS} SIGKILLs`, async function () {
    const s = seed();
    const random = rng(s);
    const db = path.join(tmp.dir, 'fabric.sqlite');
    const acked = new Set<string>();
    const thresholds = Array.from({ length: KILLS }, () => Math.floor(N * (0.1 + 0.8 * random()))).sort((a, b) => a - b);
    const onMessage = (m: any) => {
      if (m?.completion && m.ok) acked.add(m.completion);
    };
    const env = { RELIABILITY_DB: db, RELIABILITY_TARGET: t.url, RELIABILITY_WRITES: String(N), RELIABILITY_RATE: String(RATE), RELIABILITY_CONCURRENCY: String(CONCURRENCY) };
    const keys = Array.from({ length: N }, (_, i) => `w-${i}`);
    const figures = { scenario: '1 crash', writes: N, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: 0 as number | '', notes: `seed ${s}, kills after ${thresholds.join('/')} acks` };
    try {
      child = await start(DRIVER, env, onMessage);
      for (const at of thresholds) {
        await waitFor(() => acked.size >= at, `${at} acknowledged deliveries`, 120000, 5);
        await kill9(child);
        figures.kills += 1;
        child = await start(DRIVER, env, onMessage);
      }
      await waitFor(() => t.target.effects.size >= N && acked.size >= N, `all ${N} effects at the target (have ${t.target.effects.size})`, 240000, 100);
      child.proc.send('stop');
      await child.exited;
      child = undefined;

      const store = new SqliteStore({ path: db });
      try {
        const backlog = await store.outboxBacklog();
        const notDelivered = backlog.reduce((a, b) => a + b.pending + b.inflight + b.failed, 0);
        figures.exceptions = await store.exceptionCount({});
        assert.equal(notDelivered, 0, `outbox items not delivered: ${JSON.stringify(backlog)}`);
      } finally {
        await store.close();
      }
      const lost = missing(t.target, keys);
      figures.lost = lost.length;
      figures.duplicatedEffects = unexpectedEffects(t.target, keys);
      figures.resendsAbsorbed = t.target.duplicates();
      figures.maxRate = t.target.maxRate();
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} writes never reached the target`);
      assert.equal(t.target.effects.size, N, 'effects for keys that were never written');
      assert.equal(figures.exceptions, 0);
      // Only items in flight at a kill (at most `concurrency` each) may be re-sent.
      assert.ok(figures.resendsAbsorbed <= KILLS * CONCURRENCY, `${figures.resendsAbsorbed} re-sends for ${KILLS} kills (at most ${KILLS * CONCURRENCY} expected)`);
      assert.ok(figures.maxRate <= RATE, `target saw ${figures.maxRate} requests in one second, limit ${RATE}`);
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    }
    record(figures);
  });
});
