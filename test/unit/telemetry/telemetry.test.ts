/**
 * lib/telemetry and runtime/telemetry: W3C trace context parsing, the OTEL_* switch (off by default, clear errors),
 * the no-op path when off, the CloudEvents tracing extension, and the outbox: an item keeps the trace it was written
 * in (`context.trace`), each attempt is a span of it with the record's business keys, the vendor gets a CLIENT span's
 * traceparent, and a failed item's exception audit entry records the trace id (real SQLite store, real HTTP, real SDK).
 */
import assert from 'node:assert/strict';
import { SpanKind as OtelKind } from '@opentelemetry/api';
import { businessAttributes, carrierFrom, contextWithTrace, currentTrace, parseTraceparent, traceOfContext, withSpan } from '../../../lib/telemetry';
import { telemetryConfig } from '../../../runtime/telemetry';
import { toEnvelope, validateEnvelope } from '../../../lib/model/envelope';
import { startTestTracing, type TestTracing } from '../../support/tracing';
import { harness, type Harness } from '../delivery/harness';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('telemetry: W3C trace context and the OTEL_* switch', () => {
  it('parses traceparent and rejects invalid ones (all-zero ids, version ff, wrong lengths)', () => {
    assert.deepEqual(parseTraceparent(TP), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
    for (const bad of ['', 'x', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', 42, undefined]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
    assert.deepEqual(carrierFrom({ traceparent: [TP], tracestate: ['a=1', 'b=2'] }), { traceparent: TP, tracestate: 'a=1,b=2' });
    assert.equal(carrierFrom({ traceparent: 'nope' }), undefined);
  });

  it('names the business keys: record key, the entity id attribute, correlation id, process', () => {
    assert.deepEqual(businessAttributes({ recordKey: 'TimeEntry/te-9', correlationId: 'c1', process: 'time-to-cash' }), { 'psfabric.record_key': 'TimeEntry/te-9', 'psfabric.time_entry_id': 'te-9', 'psfabric.correlation_id': 'c1', 'psfabric.process': 'time-to-cash' });
    assert.equal(businessAttributes({ recordKey: 'Opportunity/006X' })['psfabric.opportunity_id'], '006X');
    assert.equal(businessAttributes({ recordKey: 'Invoice/INV-1' })['psfabric.invoice_id'], 'INV-1');
    // a time entry on an invoice: its own key, and the invoice it is part of
    assert.deepEqual(businessAttributes({ recordKey: 'TimeEntry/KAN-TE-1', partOf: 'Invoice/INV-1' }), { 'psfabric.part_of': 'Invoice/INV-1', 'psfabric.invoice_id': 'INV-1', 'psfabric.record_key': 'TimeEntry/KAN-TE-1', 'psfabric.time_entry_id': 'KAN-TE-1' });
  });

  it('is off by default; an endpoint or OTEL_TRACES_EXPORTER turns it on; none / OTEL_SDK_DISABLED turn it off; bad values fail loudly', () => {
    assert.equal(telemetryConfig({}), undefined);
    assert.deepEqual(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), { otlpUrl: 'http://collector:4318/v1/traces', console: false });
    assert.deepEqual(telemetryConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom' }), { otlpUrl: 'http://c:4318/custom', console: false });
    assert.deepEqual(telemetryConfig({ OTEL_TRACES_EXPORTER: 'otlp' }), { otlpUrl: 'http://localhost:4318/v1/traces', console: false });
    assert.deepEqual(telemetryConfig({ OTEL_TRACES_EXPORTER: 'console' }), { console: true });
    assert.equal(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.equal(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.throws(() => telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported.*http\/json/);
    assert.throws(() => telemetryConfig({ OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER: "zipkin" is not supported/);
    assert.throws(() => telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /not an http\(s\) URL/);
  });

  it('when off: no span, no context, envelopes without traceparent, outbox context unchanged', async () => {
    let seen: unknown = 'not called';
    await withSpan('x', {}, async (span) => {
      seen = span;
      assert.equal(currentTrace(), undefined);
    });
    assert.equal(seen, undefined);
    const env = toEnvelope({ entity: 'project', event: 'created', source: '/test', data: { id: 'p1' } });
    assert.equal('traceparent' in env, false);
    assert.deepEqual(contextWithTrace({ origin: 'n1' }), { origin: 'n1' });
  });

  it('the envelope schema accepts the distributed tracing extension and rejects a malformed traceparent', () => {
    const env = toEnvelope({ entity: 'project', event: 'created', source: '/test', data: { id: 'PRJ-1' }, traceparent: TP, tracestate: 'vendor=1' });
    assert.equal(env.traceparent, TP);
    assert.equal(env.tracestate, 'vendor=1');
    const schemaOnly = { data: false } as const;
    assert.deepEqual(validateEnvelope(env, schemaOnly), { ok: true });
    const bad = validateEnvelope({ ...env, traceparent: 'not-a-traceparent' }, schemaOnly);
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.errors.some((e) => e.path === '/traceparent'), JSON.stringify(bad));
  });
});

describe('telemetry: traced runs (real SDK, in-memory exporter)', () => {
  let tracing: TestTracing;
  let h: Harness | undefined;
  beforeEach(() => {
    tracing = startTestTracing();
  });
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    await tracing.stop();
  });

  it('an envelope built inside a span carries that span as its traceparent', async () => {
    await withSpan('step', {}, async (span) => {
      const env = toEnvelope({ entity: 'project', event: 'created', source: '/test', data: { id: 'PRJ-2' } });
      const p = parseTraceparent(env.traceparent);
      assert.ok(p);
      assert.equal(p.traceId, span!.spanContext().traceId);
      assert.equal(p.spanId, span!.spanContext().spanId);
    });
  });

  it('an outbox write keeps its trace; each attempt is a span with the business keys; the vendor gets a CLIENT span traceparent', async () => {
    h = await harness();
    let calls = 0;
    h.vendor.respond = (req) => (++calls === 1 ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { id: 'v-' + req.key } });
    const handle = h.connect({}, 'vendor:traced');
    let traceId = '';
    await withSpan('process-step q2p-write', { parent: null }, async (span) => {
      traceId = span!.spanContext().traceId;
      await handle.submit({ operation: 'createProject', request: { name: 'P' }, idempotencyKey: 'k-traced-1', correlationId: 'corr-1', recordKey: 'Project/PRJ-9', process: 'quote-to-project', step: 'kantata createProject' });
    });
    const item = (await h.store.outboxFind('vendor:traced', 'k-traced-1'))!;
    assert.equal(parseTraceparent(traceOfContext(item.context)?.traceparent)?.traceId, traceId, 'context.trace stored with the item');

    const spans = tracing.spans().filter((s) => s.spanContext().traceId === traceId);
    const attempts = spans.filter((s) => s.name === 'vendor:traced createProject');
    assert.equal(attempts.length, 2, 'a 503 then a success: two attempt spans');
    assert.deepEqual(attempts.map((s) => s.attributes['psfabric.attempt']).sort(), [1, 2]);
    for (const a of attempts) {
      assert.equal(a.attributes['psfabric.record_key'], 'Project/PRJ-9');
      assert.equal(a.attributes['psfabric.project_id'], 'PRJ-9');
      assert.equal(a.attributes['psfabric.correlation_id'], 'corr-1');
      assert.equal(a.attributes['psfabric.process'], 'quote-to-project');
    }
    assert.equal(attempts.filter((s) => s.status.code === 2).length, 1, 'the failed attempt is marked as an error');
    const clients = spans.filter((s) => s.kind === OtelKind.CLIENT);
    assert.equal(clients.length, 2);
    const attemptIds = new Set(attempts.map((s) => s.spanContext().spanId));
    for (const c of clients) assert.ok(attemptIds.has(c.parentSpanContext?.spanId ?? ''), 'CLIENT span below its attempt');
    const sent = h.vendor.requests.map((r) => parseTraceparent(r.headers.traceparent));
    assert.deepEqual(sent.map((p) => p?.traceId), [traceId, traceId]);
    assert.deepEqual(new Set(sent.map((p) => p!.spanId)), new Set(clients.map((c) => c.spanContext().spanId)), 'each request names its CLIENT span');
    const audit = await h.store.auditList({ action: 'write.delivered', limit: 10 });
    assert.equal((audit[0]?.details as { traceId?: string }).traceId, traceId, 'the delivery audit entry links to the trace');
  });

  it("a permanently failed write's exception audit entry records the trace id of the run", async () => {
    h = await harness();
    h.vendor.respond = () => ({ status: 422, body: { error: 'bad customer' } });
    const handle = h.connect({}, 'vendor:rejecting');
    let traceId = '';
    await withSpan('process-step q2p-write', { parent: null }, async (span) => {
      traceId = span!.spanContext().traceId;
      await assert.rejects(handle.submit({ operation: 'upsertCustomer', request: { n: 1 }, idempotencyKey: 'k-rejected', recordKey: 'Account/ACC-1', process: 'quote-to-project' }));
    });
    const [ex] = await h.services.exceptions.list({ recordKey: 'Account/ACC-1' });
    assert.ok(ex);
    const added = (await h.store.auditList({ action: 'exception.added', limit: 10 })).find((a) => (a.details as { exceptionId?: number }).exceptionId === ex.id);
    assert.equal((added?.details as { traceId?: string }).traceId, traceId);
  });
});
