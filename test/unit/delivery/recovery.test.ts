import assert from 'node:assert/strict';
import { httpExecutor } from '../../../lib/delivery/http-executor';
import type { Completion } from '../../../lib/delivery/engine';
import { waitFor } from '../../support/wait';
import { FAST, harness, type Harness } from './harness';

describe('delivery engine: restart recovery and leases', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('an engine closed mid-flight leaves the rest in the store; a new engine on the same file delivers it, each write once', async function () {
    this.timeout(20000);
    h.vendor.respond = (req) => ({ status: 200, body: { id: req.key }, delayMs: 15 });
    const firstRun: Completion[] = [];
    h.engine.onCompletion('node-1', (c) => {
      firstRun.push(c);
    });
    const conn = h.connect({ concurrency: 2 });
    const submits = Array.from({ length: 40 }, (_, i) =>
      conn.submit({ operation: 'op', idempotencyKey: `w-${i}`, request: { i }, origin: 'node-1', context: { msgid: `m-${i}` } }).catch((e: Error) => e),
    );
    await waitFor(() => h.vendor.requests.length >= 10, 'some deliveries before the stop');
    await h.engine.close();
    const settled = await Promise.all(submits);
    const closedEarly = settled.filter((r) => r instanceof Error);
    assert.ok(closedEarly.length > 0 && closedEarly.length < 40, `${closedEarly.length} submits were still pending at close`);
    for (const e of closedEarly) assert.match((e as Error).message, /closed before the write completed/);
    const deliveredBefore = h.vendor.requests.length;

    // "Restart": a new store handle and engine on the same file.
    const second = h.reopen();
    const secondRun: Completion[] = [];
    second.engine.onCompletion('node-1', (c) => {
      secondRun.push(c);
    });
    second.engine.registerConnection('vendor:test', httpExecutor({ baseUrl: h.vendor.url }), { ...FAST, concurrency: 2 });
    await waitFor(async () => (await second.store.outboxBacklog()).find((b) => b.connection === 'vendor:test')?.delivered === 40, 'all 40 delivered', 15000);
    const counts = h.vendor.counts();
    assert.equal(counts.size, 40);
    assert.ok([...counts.values()].every((n) => n === 1), 'no write was sent twice');
    assert.ok(h.vendor.requests.length > deliveredBefore);
    // Every completion reaches node-1 exactly once across both runs, recovered ones flagged.
    await waitFor(() => firstRun.length + secondRun.length === 40, 'all completions handed to the origin');
    const keys = [...firstRun, ...secondRun].map((c) => c.item.idempotencyKey).sort();
    assert.deepEqual(keys, Array.from({ length: 40 }, (_, i) => `w-${i}`).sort());
    assert.ok(secondRun.every((c) => c.ok && (c.item.context as { msgid: string }).msgid === `m-${c.item.idempotencyKey.slice(2)}`));
    assert.deepEqual(await second.store.outboxUnacknowledged('node-1', 100), []);
  });

  it('re-claims items whose owner died mid-attempt once their lease expires', async function () {
    this.timeout(20000);
    const now = Date.now();
    for (let i = 0; i < 5; i++) await h.store.outboxEnqueue({ connection: 'vendor:test', operation: 'op', idempotencyKey: `l-${i}`, request: { i }, origin: 'node-2' }, now);
    // A previous process claimed them and was killed before finishing.
    const claimed = await h.store.outboxClaim('vendor:test', 10, now, 600, 'dead-process');
    assert.equal(claimed.length, 5);
    const recovered: Completion[] = [];
    h.engine.onCompletion('node-2', (c) => {
      recovered.push(c);
    });
    h.connect();
    await waitFor(() => recovered.length === 5, 'items of the dead owner delivered after the lease', 10000);
    assert.ok(h.vendor.requests[0].at >= now + 600 - 5, 'nothing was taken while the lease was valid');
    assert.equal(h.vendor.requests.length, 5);
    assert.ok(recovered.every((c) => c.ok));
    const item = await h.store.outboxFind('vendor:test', 'l-0');
    assert.equal(item?.attempts, 2, 'the crashed attempt counts');
  });

  it('hands completions that nobody was listening for to the origin when it registers (after a redeploy)', async () => {
    const conn = h.connect();
    await conn.submit({ operation: 'op', idempotencyKey: 'late-1', request: {}, origin: 'node-3' });
    h.vendor.respond = () => ({ status: 400, body: { message: 'nope' } });
    await assert.rejects(conn.submit({ operation: 'op', idempotencyKey: 'late-2', request: {}, origin: 'node-3' }));
    const got: Completion[] = [];
    h.engine.onCompletion('node-3', (c) => {
      got.push(c);
    });
    await waitFor(() => got.length === 2, 'both completions');
    assert.deepEqual(got.map((c) => [c.item.idempotencyKey, c.ok, c.recovered]), [['late-1', true, true], ['late-2', false, true]]);
    assert.match(got[1].error!.message, /nope/);
    await waitFor(async () => (await h.store.outboxUnacknowledged('node-3', 10)).length === 0, 'acknowledged');
  });

  it('a listener that throws leaves the completion unacknowledged for the next registration', async () => {
    const conn = h.connect();
    const off = h.engine.onCompletion('node-4', () => {
      throw new Error('flow not ready');
    });
    await conn.submit({ operation: 'op', idempotencyKey: 'ack-1', request: {}, origin: 'node-4' });
    await waitFor(async () => (await h.store.outboxFind('vendor:test', 'ack-1'))?.status === 'delivered', 'delivered');
    assert.equal((await h.store.outboxUnacknowledged('node-4', 10)).length, 1);
    off();
    const got: string[] = [];
    h.engine.onCompletion('node-4', (c) => {
      got.push(c.item.idempotencyKey);
    });
    await waitFor(() => got.length === 1, 'offered again');
    assert.deepEqual(got, ['ack-1']);
  });

  it('two engines on one store file share the work without sending anything twice', async function () {
    this.timeout(20000);
    h.vendor.respond = () => ({ status: 200, body: {}, delayMs: 5 });
    const other = h.reopen();
    const a = h.connect({ concurrency: 3 });
    other.engine.registerConnection('vendor:test', httpExecutor({ baseUrl: h.vendor.url }), { ...FAST, concurrency: 3 });
    await Promise.all(Array.from({ length: 60 }, (_, i) => a.submit({ operation: 'op', idempotencyKey: `s-${i}`, request: {} })));
    const counts = h.vendor.counts();
    assert.equal(counts.size, 60);
    assert.ok([...counts.values()].every((n) => n === 1));
  });
});
