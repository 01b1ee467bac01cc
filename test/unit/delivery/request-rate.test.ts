/**
 * The connection rate limit counts HTTP requests, not outbox writes (docs/benchmarks.md finding 6): an executor
 * whose writes make several requests each, and reads that make several, stay within `ratePerSecond` as the vendor
 * sees it (server-side arrival times); a 429 with Retry-After pauses the whole connection.
 */
import assert from 'node:assert/strict';
import axios, { type AxiosInstance } from 'axios';
import { harness, FAST, type Harness } from './harness';
import type { ConnectionExecutor, RequestGate } from '../../../lib/delivery/types';
import { attachGateToAxios, ConnectionGate } from '../../../lib/delivery/request-gate';
import { waitFor } from '../../support/wait';
import type { VendorRequest } from './vendor';

/** Most requests the vendor saw in any window of `ms` (sliding, starting at each arrival). */
function maxInWindow(requests: VendorRequest[], ms = 1000): number {
  const at = requests.map((r) => r.at).sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i] - at[j] >= ms) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

/** Like a NetSuite write: lookup, then the write, then a status poll - three requests on one axios instance. */
class ThreeRequestConnector implements ConnectionExecutor {
  readonly http: AxiosInstance;
  constructor(baseUrl: string) {
    this.http = axios.create({ baseURL: baseUrl, timeout: 5000 });
  }
  attachRequestGate(gate: RequestGate): () => void {
    return attachGateToAxios(this.http, gate);
  }
  async execute(operation: string, request: any, ctx: { idempotencyKey: string }) {
    const headers = { 'Idempotency-Key': ctx.idempotencyKey };
    await this.http.get(`/lookup/${ctx.idempotencyKey}`, { headers });
    const res = await this.http.post(`/${operation}`, request, { headers });
    await this.http.get(`/status/${ctx.idempotencyKey}`, { headers });
    return res.data;
  }
  /** A read of three requests (e.g. three SuiteQL pages). */
  async readThree(tag: string): Promise<number> {
    for (let i = 0; i < 3; i++) await this.http.get(`/read/${tag}/${i}`);
    return 3;
  }
}

describe('delivery: the rate limit counts HTTP requests', function () {
  this.timeout(30000);
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => h.cleanup());

  it('an executor making 3 requests per write at 10/s: the vendor never sees more than 10 requests in any second', async () => {
    const connector = new ThreeRequestConnector(h.vendor.url);
    const conn = h.engine.registerConnection('vendor:three', connector, { ...FAST, ratePerSecond: 10, concurrency: 4 });
    const writes = Array.from({ length: 10 }, (_, i) =>
      conn.submit({ operation: 'upsert', idempotencyKey: `w-${i}`, request: { n: i }, recordKey: `R/${i}`, process: 'test', step: 'three' }),
    );
    // reads through the handle share the same quota, one token per request they make
    const reads = [conn.call(() => connector.readThree('a')), conn.call(() => connector.readThree('b'))];
    const results = await Promise.all(writes);
    assert.deepEqual(await Promise.all(reads), [3, 3]);
    assert.equal(results.length, 10);
    const reqs = h.vendor.requests;
    assert.equal(reqs.length, 10 * 3 + 6, 'every write made its 3 requests once, every read its 3');
    const posts = reqs.filter((r) => r.method === 'POST');
    assert.equal(new Set(posts.map((r) => r.key)).size, 10, 'each write delivered once');
    assert.equal(posts.length, 10);
    const peak = maxInWindow(reqs);
    assert.ok(peak <= 10, `at most 10 requests in any 1 s window at the vendor, saw ${peak}`);
    // and the limit is used, not merely respected: 36 requests at ~9.5/s take about 3.7 s
    const span = reqs[reqs.length - 1].at - reqs[0].at;
    assert.ok(span >= 3300 && span < 8000, `36 requests paced over ${span} ms`);
    assert.equal(await h.store.exceptionCount({}), 0);
  });

  it('ExecutionContext.throttle: an executor without its own client takes one token per request it routes through it', async () => {
    const conn = h.engine.registerConnection(
      'vendor:ctx',
      {
        async execute(operation, request, ctx) {
          const send = (path: string) => ctx.throttle!(() => fetch(h.vendor.url + path, { method: 'POST', headers: { 'idempotency-key': ctx.idempotencyKey } }).then((r) => r.json()));
          await send('/a');
          await send('/b');
          return (await send('/' + operation)) as any;
        },
      },
      { ...FAST, ratePerSecond: 10, concurrency: 3 },
    );
    await Promise.all(Array.from({ length: 6 }, (_, i) => conn.submit({ operation: 'op', idempotencyKey: `c-${i}`, request: {} })));
    assert.equal(h.vendor.requests.length, 18);
    const peak = maxInWindow(h.vendor.requests);
    assert.ok(peak <= 10, `at most 10 in any second, saw ${peak}`);
  });

  it('a 429 with Retry-After pauses the whole connection: the other in-flight writes wait instead of hitting the wall', async () => {
    const connector = new ThreeRequestConnector(h.vendor.url);
    let first429 = 0;
    h.vendor.respond = (req, n) => {
      if (n === 4) {
        first429 = req.at;
        return { status: 429, body: { error: 'slow down' }, headers: { 'retry-after': '1' } };
      }
      return { status: 200, body: { id: 'v-' + req.key } };
    };
    const conn = h.engine.registerConnection('vendor:pause', connector, { ...FAST, ratePerSecond: 20, concurrency: 4 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => conn.submit({ operation: 'upsert', idempotencyKey: `p-${i}`, request: { n: i } })));
    assert.ok(first429 > 0);
    const after = h.vendor.requests.filter((r) => r.at > first429);
    // Requests already on the wire when the 429 was sent arrive during the pause however loaded the machine is: at
    // most one for each of the other writes in flight (concurrency 4). A write that went on with its next request
    // after the 429 would show up twice.
    const duringPause = after.filter((r) => r.at < first429 + 950);
    const shown = duringPause.map((r) => `${r.method} ${r.path} ${r.key} +${r.at - first429}`);
    assert.ok(duringPause.length <= 3, `at most the 3 other writes' requests already on the wire arrive during the pause: ${shown.join(', ')}`);
    assert.equal(new Set(duringPause.map((r) => r.key)).size, duringPause.length, `no write sent another request while the vendor asked to wait: ${shown.join(', ')}`);
    assert.ok(after.some((r) => r.at >= first429 + 990), 'the connection resumes after the Retry-After');
    const posts = h.vendor.requests.filter((r) => r.method === 'POST' && r.path === '/upsert');
    const delivered = new Set(posts.filter((r) => r !== h.vendor.requests[3]).map((r) => r.key));
    assert.equal(delivered.size, 6, 'every write delivered');
    assert.equal(await h.store.exceptionCount({}), 0);
  });

  it('a write waiting for tokens is not timed out by attemptTimeoutMs (waits in the gate do not count)', async () => {
    const connector = new ThreeRequestConnector(h.vendor.url);
    // 3 requests per write at 4/s with 3 writes at once: the last write's requests wait ~2 s for tokens, longer than the 1.5 s attempt timeout
    const conn = h.engine.registerConnection('vendor:slow', connector, { ...FAST, ratePerSecond: 4, concurrency: 3, attemptTimeoutMs: 1500, maxAttempts: 1 });
    await Promise.all(Array.from({ length: 3 }, (_, i) => conn.submit({ operation: 'upsert', idempotencyKey: `s-${i}`, request: {} })));
    assert.equal(h.vendor.requests.length, 9);
    assert.equal(await h.store.exceptionCount({}), 0);
  });
});

describe('ConnectionGate: the bucket holds over the times requests really start', () => {
  it('a late timer (event loop blocked) does not let the requests reserved after it start closer than the interval', async () => {
    const gate = new ConnectionGate('vendor:late', { ratePerSecond: 20, burst: 1, margin: 1, maxRetryAfterMs: 60_000 });
    const startedAt: number[] = [];
    const takes = Array.from({ length: 4 }, () => gate.acquire().then(() => startedAt.push(Date.now())));
    await waitFor(() => startedAt.length === 1, 'the first request');
    // hold the event loop past the reserved times of the second and third requests: their timers fire late, together
    const until = Date.now() + 3 * gate.intervalMs;
    while (Date.now() < until) {
      /* a busy event loop */
    }
    await Promise.all(takes);
    const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]);
    // (-1: the times are taken a turn after each grant, in whole milliseconds)
    for (const gap of gaps) assert.ok(gap >= gate.intervalMs - 1, `requests ${gate.intervalMs} ms apart at least, got gaps ${gaps.join(', ')} ms`);
  });
});
