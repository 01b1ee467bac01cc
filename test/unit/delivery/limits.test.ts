import assert from 'node:assert/strict';
import type { CircuitState } from '../../../lib/delivery/types';
import { registry } from '../../../lib/kpi/metrics';
import { waitFor } from '../../support/wait';
import { harness, type Harness } from './harness';

/** Most requests seen by the server in any window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

describe('delivery engine: rate limit, concurrency cap, circuit breaker', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('never sends faster than ratePerSecond (server-side timestamps, sliding one-second windows)', async function () {
    this.timeout(20000);
    const rate = 25;
    const conn = h.connect({ ratePerSecond: rate, concurrency: 8 });
    await Promise.all(Array.from({ length: 60 }, (_, i) => conn.submit({ operation: 'op', idempotencyKey: `r-${i}`, request: { i } })));
    const times = h.vendor.requests.map((r) => r.at);
    assert.equal(times.length, 60);
    const peak = maxInWindow(times, 1000);
    assert.ok(peak <= rate + 1, `peak ${peak} requests in one second, limit ${rate}`);
    const span = Math.max(...times) - Math.min(...times);
    assert.ok(span >= ((60 - 1) * 1000) / rate - 150, `60 requests took only ${span} ms`);
    // Also no burst in short windows: at 25/s there are 40 ms between requests.
    assert.ok(maxInWindow(times, 200) <= 6 + 1, `burst of ${maxInWindow(times, 200)} in 200 ms`);
  });

  it('with burst > 1 it behaves as a token bucket: a short burst, then the refill rate', async function () {
    this.timeout(20000);
    const conn = h.connect({ ratePerSecond: 20, burst: 5, concurrency: 10 });
    await Promise.all(Array.from({ length: 45 }, (_, i) => conn.submit({ operation: 'op', idempotencyKey: `b-${i}`, request: {} })));
    const times = h.vendor.requests.map((r) => r.at);
    const peak = maxInWindow(times, 1000);
    assert.ok(peak <= 20 + 5, `peak ${peak} in one second, bucket allows 25`);
    const span = Math.max(...times) - Math.min(...times);
    assert.ok(span >= ((45 - 5) * 1000) / 20 - 150, `45 requests took only ${span} ms`);
  });

  it('keeps at most `concurrency` requests in flight at the vendor', async () => {
    h.vendor.respond = () => ({ status: 200, body: {}, delayMs: 40 });
    const conn = h.connect({ concurrency: 3 });
    await Promise.all(Array.from({ length: 24 }, (_, i) => conn.submit({ operation: 'op', idempotencyKey: `c-${i}`, request: {} })));
    assert.equal(h.vendor.requests.length, 24);
    assert.equal(h.vendor.maxConcurrent, 3);
  });

  it('opens the breaker after N consecutive failures, holds items while open (only probes reach the vendor) and closes after recovery', async function () {
    this.timeout(20000);
    let down = true;
    h.vendor.respond = () => (down ? { status: 503, body: { message: 'outage' } } : { status: 200, body: { ok: 1 } });
    const conn = h.connect({ concurrency: 1, breakerThreshold: 3, breakerHalfOpenAfterMs: 250, maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 10 });
    const states: CircuitState[] = [];
    conn.onCircuitState((s) => states.push(s));
    const done = Promise.all(Array.from({ length: 5 }, (_, i) => conn.submit({ operation: 'op', idempotencyKey: `o-${i}`, request: {} })));
    await waitFor(() => conn.circuitState() === 'open', 'breaker opens');
    assert.equal(h.vendor.requests.length, 3, 'three failures opened it');
    assert.match(await registry.metrics(), /psfabric_circuit_state\{connection="vendor:test"\} 2/);
    // Let two probes fail (open -> half-open -> open), then bring the vendor back.
    await waitFor(() => states.filter((s) => s === 'open').length >= 3, 'two failed probes', 5000);
    const opens = states.filter((s) => s === 'open').length;
    down = false;
    const results = await done;
    assert.equal(results.length, 5);
    assert.equal(conn.circuitState(), 'closed');
    assert.deepEqual(states.slice(-2), ['half-open', 'closed']);
    const failing = h.vendor.requests.filter((r, i) => i < h.vendor.requests.length - 5).length;
    // 3 opening failures + one per failed probe; everything else waited.
    assert.ok(failing <= 3 + opens, `${failing} failing requests for ${opens} opens`);
    assert.equal(new Set(h.vendor.requests.slice(-5).map((r) => r.key)).size, 5);
    // Probes spaced by halfOpenAfter: no two failing requests after the third are closer than ~250 ms.
    const failingTimes = h.vendor.requests.slice(2, failing).map((r) => r.at);
    for (let i = 1; i < failingTimes.length; i++) assert.ok(failingTimes[i] - failingTimes[i - 1] >= 230, `probe ${i} came ${failingTimes[i] - failingTimes[i - 1]} ms after the previous failure`);
    assert.match(await registry.metrics(), /psfabric_circuit_state\{connection="vendor:test"\} 0/);
  });

  it('does not count 429 or permanent errors against the breaker', async () => {
    h.vendor.respond = (req) => (req.key.startsWith('p') ? { status: 400, body: { message: 'bad' } } : { status: 429, headers: { 'retry-after': '0' }, body: {} });
    const conn = h.connect({ breakerThreshold: 2, maxAttempts: 3 });
    await Promise.allSettled(['p1', 'p2', 'p3', 't1', 't2'].map((k) => conn.submit({ operation: 'op', idempotencyKey: k, request: {} })));
    assert.equal(conn.circuitState(), 'closed');
  });
});
