/**
 * Faults: the target answers 20% 503, 10% 429 with Retry-After, loses 5% of its answers after applying the write
 * (so the key must absorb the re-send), and has a 3-second outage. Every write lands exactly once, the circuit
 * opens during the outage and closes after (onCircuitState), and the target never sees more requests in any
 * sliding second than the connection's configured rate (server-side arrival times).
 * The real delivery engine in this process, on a real SQLite file, over real HTTP.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { servicesFor } from '../../lib/fabric/services';
import { DeliveryEngine } from '../../lib/delivery/engine';
import { httpExecutor } from '../../lib/delivery/http-executor';
import type { CircuitState } from '../../lib/delivery/types';
import { record } from './support/report';
import { knob } from './support/child';
import { startTarget, missing, unexpectedEffects, type RunningTarget } from './support/target';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

describe('reliability: faults (503, 429 + Retry-After, lost answers, 3 s outage)', function () {
  const N = knob('RELIABILITY_FAULT_WRITES', 400);
  const RATE = 50;
  const OUTAGE_MS = 3000;
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  let store: SqliteStore;
  let engine: DeliveryEngine;

  before(async () => {
    tmp = tempDir('psfabric-rel-faults-');
    t = await startTarget();
    store = new SqliteStore({ path: path.join(tmp.dir, 'fabric.sqlite') });
    engine = new DeliveryEngine(store, servicesFor(store), { leaseMs: 10000, sweepMs: 250, log: () => undefined });
  });
  after(async () => {
    await engine?.close();
    await store?.close();
    await t?.close();
    tmp?.cleanup();
  });

  it(`delivers ${N} writes exactly once at <= ${RATE}/s; the circuit opens in the outage and closes after`, async function () {
    const conn = engine.registerConnection('reliability:faults', httpExecutor({ baseUrl: t.url }), {
      ratePerSecond: RATE,
      concurrency: 4,
      maxAttempts: 15,
      baseDelayMs: 100,
      maxDelayMs: 2000,
      breakerThreshold: 5,
      breakerHalfOpenAfterMs: 1000,
      attemptTimeoutMs: 5000,
    });
    const transitions: Array<{ state: CircuitState; at: number }> = [];
    conn.onCircuitState((state) => transitions.push({ state, at: Date.now() }));
    t.target.faults = { ...t.target.faults, errorRate: 0.2, errorStatus: 503, rate429: 0.1, retryAfterSeconds: 1 };
    t.target.ackLossRate = 0.05;
    const started = Date.now();
    const keys = Array.from({ length: N }, (_, i) => `f-${i}`);
    const results = keys.map((key, i) =>
      conn.submit({ operation: 'effects', idempotencyKey: key, request: { id: key, seq: i }, recordKey: `Write/${key}`, process: 'reliability', step: 'faults' }).then(
        (r) => ({ key, ok: true, duplicate: r.duplicate }),
        (err: Error) => ({ key, ok: false, error: err.message }),
      ),
    );
    // the outage starts once a third of the writes landed
    await waitFor(() => t.target.effects.size >= N / 3, 'a third of the writes', 60000);
    const outageStart = Date.now();
    const outageEnd = outageStart + OUTAGE_MS;
    t.target.faults = { ...t.target.faults, outageUntil: outageEnd };
    const outcomes = await Promise.all(results);
    const figures = {
      scenario: '2 faults',
      writes: N,
      kills: 0,
      resendsAbsorbed: t.target.duplicates(),
      duplicatedEffects: unexpectedEffects(t.target, keys),
      lost: missing(t.target, keys).length,
      exceptions: await store.exceptionCount({}),
      maxRate: t.target.maxRate(1000, started),
      notes: `${t.target.requests().filter((r) => r.fault).length} injected faults + ${t.target.ackLosses} lost answers; circuit ${transitions.map((x) => x.state).join('>')}`,
    };
    try {
      const failed = outcomes.filter((o) => !o.ok);
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} writes failed`);
      assert.equal(figures.lost, 0);
      assert.equal(t.target.effects.size, N);
      assert.equal(figures.exceptions, 0);
      // re-sends happen only where the answer was lost after the write was applied
      assert.ok(figures.resendsAbsorbed <= t.target.ackLosses, `${figures.resendsAbsorbed} re-sends but only ${t.target.ackLosses} lost answers`);
      const openedInOutage = transitions.some((x) => x.state === 'open' && x.at >= outageStart && x.at <= outageEnd + 500);
      assert.ok(openedInOutage, `circuit did not open during the outage: ${JSON.stringify(transitions.map((x) => ({ ...x, at: x.at - outageStart })))}`);
      const closedAfter = transitions.some((x) => x.state === 'closed' && x.at >= outageEnd);
      assert.ok(closedAfter, 'circuit did not close after the outage');
      assert.equal(conn.circuitState(), 'closed');
      assert.ok(figures.maxRate <= RATE, `target saw ${figures.maxRate} requests in one second, configured ${RATE}`);
      // nothing reached the vendor logic during the outage (held by the open circuit / Retry-After, or answered 503)
      const during = [...t.target.effects.values()].filter((e) => e.appliedAt > outageStart + 50 && e.appliedAt < outageEnd - 50);
      assert.equal(during.length, 0);
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    }
    record(figures);
  });
});
