import assert from 'node:assert/strict';
import { FabricError } from '../../../lib/delivery/errors';
import { registry } from '../../../lib/kpi/metrics';
import { waitFor } from '../../support/wait';
import { harness, type Harness } from './harness';

describe('delivery engine: outbox semantics', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('delivers each submitted write exactly once and records write.delivered in the audit trail', async () => {
    const conn = h.connect({ concurrency: 4 });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        conn.submit({ operation: 'upsertCustomer', idempotencyKey: `k-${i}`, request: { n: i }, recordKey: `Account/a-${i}`, correlationId: `c-${i}`, process: 'quote-to-project', step: 'erp-customer' }),
      ),
    );
    assert.equal(results.length, 40);
    for (const [i, r] of results.entries()) {
      assert.equal(r.duplicate, false);
      assert.equal(r.item.status, 'delivered');
      assert.deepEqual(r.response, { id: `v-k-${i}`, ok: true });
    }
    const counts = h.vendor.counts();
    assert.equal(counts.size, 40);
    assert.ok([...counts.values()].every((n) => n === 1), 'each key reached the vendor once');
    assert.equal(h.vendor.requests[0].path, '/upsertCustomer');
    const stored = await h.store.outboxFind('vendor:test', 'k-7');
    assert.equal(stored?.status, 'delivered');
    assert.equal(stored?.attempts, 1);
    const audit = await h.store.auditList({ recordKey: 'Account/a-7' });
    assert.equal(audit.length, 1);
    assert.equal(audit[0].action, 'write.delivered');
    assert.equal(audit[0].targetSystem, 'vendor:test');
    assert.equal(audit[0].correlationId, 'c-7');
    assert.equal(audit[0].process, 'quote-to-project');
    const text = await registry.metrics();
    assert.match(text, /psfabric_delivery_attempts_total\{connection="vendor:test",outcome="success"\} \d+/);
    assert.match(text, /psfabric_outbox_backlog\{connection="vendor:test",status="pending"\} 0/);
    assert.match(text, /psfabric_delivery_latency_seconds_count\{connection="vendor:test"\} \d+/);
    assert.match(text, /psfabric_circuit_state\{connection="vendor:test"\} 0/);
  });

  it('de-duplicates on (connection, idempotencyKey): concurrent and later repeats send nothing again', async () => {
    const conn = h.connect();
    const [a, b] = await Promise.all([
      conn.submit({ operation: 'op', idempotencyKey: 'same', request: { v: 1 } }),
      conn.submit({ operation: 'op', idempotencyKey: 'same', request: { v: 2 } }),
    ]);
    assert.equal(a.item.id, b.item.id);
    assert.deepEqual([a.duplicate, b.duplicate].sort(), [false, true]);
    const later = await conn.submit({ operation: 'op', idempotencyKey: 'same', request: { v: 3 } });
    assert.equal(later.duplicate, true);
    assert.deepEqual(later.response, { id: 'v-same', ok: true });
    assert.equal(h.vendor.requests.length, 1);
    assert.deepEqual(h.vendor.requests[0].body, { v: 1 });
  });

  it('retries transient failures with backoff until success, passing the attempt number and idempotency key', async () => {
    h.vendor.respond = (req, n) => (n <= 2 ? { status: 503, body: { message: 'busy' } } : { status: 201, body: { id: 'x' } });
    const conn = h.connect({ maxAttempts: 5 });
    const r = await conn.submit({ operation: 'op', idempotencyKey: 'retry-1', request: { a: 1 } });
    assert.deepEqual(r.response, { id: 'x' });
    assert.equal(r.item.attempts, 3);
    assert.deepEqual(h.vendor.keys(), ['retry-1', 'retry-1', 'retry-1']);
    assert.equal((await h.store.outboxFind('vendor:test', 'retry-1'))?.status, 'delivered');
    assert.equal(await h.store.exceptionCount({}), 0);
  });

  it('honours Retry-After given in seconds', async () => {
    h.vendor.respond = (req, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' }, body: { message: 'slow down' } } : { status: 200, body: {} });
    const conn = h.connect({ baseDelayMs: 1, maxDelayMs: 2 });
    await conn.submit({ operation: 'op', idempotencyKey: 'ra-s', request: {} });
    const [first, second] = h.vendor.requests;
    assert.ok(second.at - first.at >= 950, `second try came ${second.at - first.at} ms after the 429`);
    assert.ok(second.at - first.at < 3000, `second try came late: ${second.at - first.at} ms`);
    assert.match(await registry.metrics(), /psfabric_delivery_http_429_total\{connection="vendor:test"\} [1-9]/);
  });

  it('honours Retry-After given as an HTTP date', async () => {
    let until = 0;
    h.vendor.respond = (req, n) => {
      if (n > 1) return { status: 200, body: {} };
      until = (Math.floor(Date.now() / 1000) + 2) * 1000; // HTTP dates have one-second resolution
      return { status: 503, headers: { 'retry-after': new Date(until).toUTCString() }, body: { message: 'maintenance' } };
    };
    const conn = h.connect({ baseDelayMs: 1, maxDelayMs: 2 });
    await conn.submit({ operation: 'op', idempotencyKey: 'ra-d', request: {} });
    const second = h.vendor.requests[1];
    assert.ok(second.at >= until - 50, `second try came ${until - second.at} ms before the date`);
    assert.ok(second.at < until + 2000);
  });

  it('sends a permanent failure to the exception queue at once, with the redacted request and vendor response', async () => {
    h.vendor.respond = () => ({
      status: 400,
      body: { errorCode: 'REQUIRED_FIELD_MISSING', message: 'Required fields are missing: [Name]', debug: { access_token: 'vendor-secret-token' } },
    });
    const conn = h.connect();
    const err = await conn
      .submit({
        operation: 'upsertCustomer',
        idempotencyKey: 'perm-1',
        request: { name: '', password: 'hunter2', nested: { apiKey: 'k-123' } },
        recordKey: 'Account/a-9',
        correlationId: 'corr-9',
        process: 'quote-to-project',
        step: 'erp-customer',
      })
      .then(() => assert.fail('should reject'), (e: unknown) => e);
    assert.ok(err instanceof FabricError);
    assert.equal(err.errorClass, 'validation');
    assert.equal(err.status, 400);
    assert.equal(h.vendor.requests.length, 1, 'a permanent failure is not retried');
    const [ex] = await h.store.exceptionList({ recordKey: 'Account/a-9' });
    assert.ok(ex);
    assert.equal(ex.status, 'open');
    assert.equal(ex.errorClass, 'validation');
    assert.equal(ex.process, 'quote-to-project');
    assert.equal(ex.step, 'erp-customer');
    assert.equal(ex.correlationId, 'corr-9');
    assert.equal(ex.attempts, 1);
    assert.match(ex.message, /REQUIRED_FIELD_MISSING: Required fields are missing: \[Name\]/);
    assert.deepEqual(ex.replayTarget && { kind: ex.replayTarget.kind, ...(ex.replayTarget as object) }, {
      kind: 'outbox',
      connection: 'vendor:test',
      operation: 'upsertCustomer',
      idempotencyKey: 'perm-1',
      outboxId: (await h.store.outboxFind('vendor:test', 'perm-1'))!.id,
    });
    const response = ex.response as { status: number; body: Record<string, unknown> };
    assert.equal(response.status, 400);
    assert.equal(response.body.errorCode, 'REQUIRED_FIELD_MISSING');
    // The outbox keeps the request as it must be sent; everything else persisted is redacted.
    const failed = await h.store.outboxFind('vendor:test', 'perm-1');
    const persisted = JSON.stringify(ex) + JSON.stringify(failed?.response) + String(failed?.lastError);
    for (const secret of ['hunter2', 'k-123', 'vendor-secret-token']) assert.ok(!persisted.includes(secret), `${secret} was persisted`);
    assert.deepEqual(ex.request, { name: '', password: '[redacted]', nested: { apiKey: '[redacted]' } });
    assert.equal((await h.store.outboxFind('vendor:test', 'perm-1'))?.status, 'failed');
    // the error names the exception it is queued as, so a Catch path behind the writing node links instead of adding one
    assert.equal(err.exceptionId, ex.id);
    // A later submit of the same key does not send it again either, and names the same exception.
    await assert.rejects(conn.submit({ operation: 'upsertCustomer', idempotencyKey: 'perm-1', request: {}, recordKey: 'Account/a-9' }), (e: unknown) => e instanceof FabricError && /exception queue/.test(e.message) && e.exceptionId === ex.id);
    assert.equal(h.vendor.requests.length, 1);
  });

  it('gives up after maxAttempts transient failures and raises a transient-exhausted exception', async () => {
    h.vendor.respond = () => ({ status: 502, body: { message: 'bad gateway' } });
    const conn = h.connect({ maxAttempts: 3 });
    await assert.rejects(conn.submit({ operation: 'op', idempotencyKey: 'ex-1', request: {}, recordKey: 'Invoice/i-1', process: 'time-to-cash', step: 'erp-invoice' }), (e: unknown) => e instanceof FabricError && e.retry === 'transient');
    assert.equal(h.vendor.requests.length, 3);
    const [ex] = await h.store.exceptionList({ recordKey: 'Invoice/i-1' });
    assert.equal(ex.errorClass, 'transient-exhausted');
    assert.equal(ex.attempts, 3);
    assert.match(ex.message, /after 3 attempts/);
    assert.equal((await h.store.outboxFind('vendor:test', 'ex-1'))?.status, 'failed');
  });

  it('replays an exception with an edited payload under the same idempotency key and auto-resolves it on success', async () => {
    h.vendor.respond = (req) => (req.body?.name ? { status: 200, body: { id: 'ok' } } : { status: 422, body: { message: 'name is required' } });
    const conn = h.connect();
    const completions: Array<{ ok: boolean; key: string }> = [];
    h.engine.onCompletion('node-a', (c) => {
      completions.push({ ok: c.ok, key: c.item.idempotencyKey });
    });
    await assert.rejects(conn.submit({ operation: 'op', idempotencyKey: 'rp-1', request: { name: '' }, recordKey: 'Account/r-1', origin: 'node-a', process: 'p', step: 's' }));
    const [ex] = await h.store.exceptionList({ recordKey: 'Account/r-1', status: 'open' });
    assert.equal(ex.ownerTeam, 'sales-ops', 'the ownership matrix owner of accounts');
    // Through the real ExceptionQueue, as the admin API and the fabric-exceptions node do it.
    const replayed = await h.services.exceptions.replay(ex.id, { actor: 'alice', payload: { name: 'Fixed Ltd' } });
    assert.equal(replayed.status, 'replayed');
    await waitFor(async () => (await h.store.outboxFind('vendor:test', 'rp-1'))?.status === 'delivered', 'replayed item delivered');
    assert.deepEqual(h.vendor.requests.map((r) => [r.key, r.body]), [['rp-1', { name: '' }], ['rp-1', { name: 'Fixed Ltd' }]]);
    await waitFor(async () => (await h.store.exceptionGet(ex.id))?.status === 'resolved', 'exception auto-resolved');
    await waitFor(() => completions.length === 2, 'both completions reach the origin');
    const actions = (await h.store.auditList({ recordKey: 'Account/r-1', limit: 20 })).map((a) => a.action).reverse();
    assert.deepEqual(actions, ['exception.added', 'exception.edited', 'exception.replayed', 'write.delivered', 'exception.resolved']);
    assert.deepEqual(completions, [{ ok: false, key: 'rp-1' }, { ok: true, key: 'rp-1' }]);
  });

  it('call() runs reads through retry and the breaker without persisting them', async () => {
    const conn = h.connect({ maxAttempts: 4 });
    let n = 0;
    const value = await conn.call(async (attempt) => {
      n = attempt;
      if (attempt < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
      return 'read-ok';
    });
    assert.equal(value, 'read-ok');
    assert.equal(n, 3);
    await assert.rejects(conn.call(async () => { throw { response: { status: 404, headers: {}, data: { message: 'no such record' } } }; }), (e: unknown) => e instanceof FabricError && e.errorClass === 'not-found');
    assert.deepEqual(await h.store.outboxBacklog(), []);
  });

  it('rejects pending submits on close and keeps the items for the next registration', async () => {
    h.vendor.respond = () => ({ status: 503, body: {} });
    const conn = h.connect({ baseDelayMs: 60_000, maxDelayMs: 60_000 });
    const p = conn.submit({ operation: 'op', idempotencyKey: 'close-1', request: {} });
    await waitFor(() => h.vendor.requests.length === 1, 'first attempt');
    await waitFor(async () => (await h.store.outboxFind('vendor:test', 'close-1'))?.status === 'pending', 'retry scheduled');
    await conn.close();
    await assert.rejects(p, /closed before the write completed/);
    assert.equal((await h.store.outboxFind('vendor:test', 'close-1'))?.status, 'pending');
  });
});
