/**
 * Traces keyed to business records, through the real runtime (shared template fixture) and the real OpenTelemetry SDK
 * (runtime/telemetry.ts) exporting OTLP/HTTP JSON to an in-process collector:
 *  - one quote-to-project run (a new deal closed in the Salesforce sandbox) is ONE trace: the Salesforce reads, the
 *    process steps, every outbox attempt, the NetSuite / Kantata / Jira / Teams calls (each vendor received the
 *    trace's `traceparent` header) and the project.created event on the bus (CloudEvents `traceparent`), every span
 *    connected to the trace's root, the attempt spans carrying the record's business keys;
 *  - a time-to-cash run: each approved time entry is a span (`psfabric.time_entry_id`) naming its invoice, in the trace
 *    of the invoice's ERP write, the PSA update and invoice.posted;
 *  - an exception raised in a traced run shows that run's trace id in the console's exception detail (OpsReadModel,
 *    what the dashboard's exception console renders).
 */
import assert from 'node:assert/strict';
import { startTelemetry, type RunningTelemetry } from '../../../runtime/telemetry';
import { parseTraceparent } from '../../../lib/telemetry';
import { OpsReadModel } from '../../../lib/ops/read-model';
import { SPAN_KIND as KIND, startCollector, type CollectedSpan, type OtlpCollector } from '../../support/otlp-collector';
import { waitFor } from '../../support/wait';
import { templatesFabric, type TemplatesFabric } from './fixture';

async function salesforce(t: TemplatesFabric, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const base = t.fabric.sandboxes!.url;
  const tok = await (await fetch(`${base}/salesforce/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=psfabric-sandbox-client&client_secret=psfabric-sandbox-secret' })).json() as { access_token: string };
  const res = await fetch(`${base}/salesforce/services/data/v62.0${path}`, { method, headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A new deal (with its lines) for an existing account, not yet closed: the trigger picks it up once closed. */
async function newDeal(t: TemplatesFabric, accountId: string, name: string): Promise<string> {
  const opp = await salesforce(t, 'POST', '/sobjects/Opportunity', { Name: name, AccountId: accountId, StageName: 'Negotiation/Review', CloseDate: '2026-12-30', Amount: 50400, CurrencyIsoCode: 'USD', Billing_Model__c: 'time-and-materials', Delivery_Manager_Id__c: 'CON-001' });
  assert.equal(opp.status, 201, JSON.stringify(opp.body));
  const line = await salesforce(t, 'POST', '/sobjects/OpportunityLineItem', { OpportunityId: opp.body.id, Name: 'Build', SortOrder: 1, Workstream__c: 'Build', Role__c: 'Consultant', Hours__c: 360, Rate__c: 140 });
  assert.equal(line.status, 201, JSON.stringify(line.body));
  return opp.body.id as string;
}

describe('traces: a quote-to-project run is one trace keyed to its business records (OTLP collector in-process)', function () {
  this.timeout(120000);
  let t: TemplatesFabric;
  let collector: OtlpCollector;
  let telemetry: RunningTelemetry | undefined;

  before(async () => {
    collector = await startCollector();
    t = await templatesFabric();
    telemetry = startTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'ps-fabric-traces-test' });
    assert.ok(telemetry, 'the OTEL_* environment turns tracing on');
  });

  after(async () => {
    await telemetry?.shutdown();
    await collector?.close();
  });

  /** Flushes the SDK until the collector holds spans of `traceId` that satisfy `ready`. */
  async function spansOf(traceId: string, ready: (spans: CollectedSpan[]) => boolean, what: string): Promise<CollectedSpan[]> {
    return waitFor(async () => {
      await telemetry!.flush();
      const spans = collector.spans.filter((s) => s.traceId === traceId);
      return ready(spans) ? spans : undefined;
    }, what, 30000, 200);
  }

  it('closed-won -> ERP customer + project, Kantata, Jira, Teams, project.created: one connected trace, vendors got its traceparent', async () => {
    const oppId = await newDeal(t, '001Hs00001GlobexAAA', 'Globex - Trace Walkthrough');
    await t.sb(`/salesforce/_sandbox/close-won/${oppId}`, 'POST');
    const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId), 'project.created', 60000, 100);

    // the bus event carries the trace (CloudEvents distributed tracing extension)
    const tp = parseTraceparent(created.body.traceparent);
    assert.ok(tp, `project.created has a traceparent: ${JSON.stringify(created.body)}`);
    const traceId = tp.traceId;

    const isClient = (s: CollectedSpan, vendor: RegExp) => s.kind === KIND.CLIENT && vendor.test(String(s.attributes['psfabric.connection'] ?? ''));
    const vendors: Array<[string, RegExp]> = [['Salesforce', /salesforce/i], ['NetSuite', /netsuite/i], ['Kantata', /kantata/i], ['Jira', /jira/i], ['Teams', /teams/i]];
    // ONE trace: every vendor's CLIENT span and the bus event's PRODUCER span in it, and every span's parent in it too
    // (a parent still open is exported a moment after its children: wait for the tree to be complete)
    const connected = (ss: CollectedSpan[]) => ss.every((s) => !s.parentSpanId || ss.some((p) => p.spanId === s.parentSpanId));
    const spans = await spansOf(traceId, (ss) => vendors.every(([, re]) => ss.some((s) => isClient(s, re))) && ss.some((s) => s.kind === KIND.PRODUCER && s.name.includes('fabric/v1/project/created')) && connected(ss), 'every vendor call and the bus event in one connected trace');
    const ids = new Set(spans.map((s) => s.spanId));
    const roots = spans.filter((s) => !s.parentSpanId);
    assert.equal(roots.length, 1, `one root: ${roots.map((s) => s.name).join(', ')}`);
    assert.match(roots[0].name, /^salesforce-trigger /);
    assert.ok(spans.every((s) => s.service === 'ps-fabric-traces-test'), 'OTEL_SERVICE_NAME names the service');

    // business keys: the opportunity span, the process steps and every outbox attempt carry the record's keys
    assert.ok(spans.some((s) => s.attributes['psfabric.opportunity_id'] === oppId && s.attributes['psfabric.record_key'] === `Opportunity/${oppId}`), 'opportunity span');
    const steps = spans.filter((s) => s.name.startsWith('process-step '));
    assert.ok(steps.some((s) => s.name === 'process-step q2p-plan') && steps.some((s) => s.name === 'process-step q2p-complete'), steps.map((s) => s.name).join(', '));
    const attempts = spans.filter((s) => typeof s.attributes['psfabric.outbox_id'] === 'number' || typeof s.attributes['psfabric.outbox_id'] === 'string');
    for (const [vendor, re] of vendors.slice(1)) assert.ok(attempts.some((s) => re.test(String(s.attributes['psfabric.connection']))), `an outbox attempt span for ${vendor}`);
    for (const a of attempts) {
      assert.equal(a.attributes['psfabric.process'], 'quote-to-project', `${a.name}: process`);
      assert.ok(a.attributes['psfabric.record_key'], `${a.name}: record key`);
      assert.ok(a.attributes['psfabric.correlation_id'], `${a.name}: correlation id`);
      assert.ok(Number(a.attributes['psfabric.attempt']) >= 1, `${a.name}: attempt`);
    }
    // the project writes (ERP project, Kantata workspace, Jira project and epic, Teams) name the project
    assert.ok(attempts.some((s) => typeof s.attributes['psfabric.project_id'] === 'string' && s.attributes['psfabric.record_key'] === `Project/${s.attributes['psfabric.project_id']}`), 'an attempt span with psfabric.project_id');
    // each vendor call's CLIENT span is a child of an attempt span or of a trigger/step read
    for (const [vendor, re] of vendors) assert.ok(spans.some((s) => isClient(s, re) && s.parentSpanId && ids.has(s.parentSpanId)), `${vendor} CLIENT span in the tree`);

    // the vendors received the trace's traceparent header (sandbox request logs)
    for (const [vendor, path] of [['Salesforce', '/salesforce/_sandbox/requests'], ['NetSuite', '/netsuite/_sandbox/requests'], ['Kantata', '/kantata/_sandbox/requests'], ['Jira', '/jira/_sandbox/requests'], ['Teams', '/teams/_sandbox/requests']] as const) {
      const reqs = (await t.sb(path)) as Array<{ headers?: Record<string, string> }>;
      const traced = reqs.filter((r) => parseTraceparent(r.headers?.traceparent)?.traceId === traceId);
      assert.ok(traced.length > 0, `${vendor} received traceparent 00-${traceId}-...`);
      for (const r of traced) assert.ok(ids.has(parseTraceparent(r.headers!.traceparent)!.spanId), `${vendor}'s traceparent names a CLIENT span of the trace`);
    }

    // the delivery audit links to the trace
    const audit = await t.fabric.fabric.store.auditList({ action: 'write.delivered', limit: 500 });
    assert.ok(audit.some((a) => (a.details as { traceId?: string } | undefined)?.traceId === traceId), 'write.delivered audit entries carry the trace id');
  });

  it('time-to-cash: each approved time entry is a span naming its invoice, in the trace of the invoice write, the PSA update and invoice.posted', async () => {
    const gen = (await t.sb('/kantata/_sandbox/generate-time', 'POST', { count: 3, workspaceId: '400001' })) as { firstId: string };
    const entries = Array.from({ length: 3 }, (_, i) => `KAN-TE-${Number(gen.firstId) + i}`);
    // the plan step marks one span per entry (psfabric.time_entry_id), naming the invoice it is on (psfabric.invoice_id)
    const entrySpans = await waitFor(async () => {
      await telemetry!.flush();
      const found = entries.map((id) => collector.spans.find((s) => s.attributes['psfabric.time_entry_id'] === id && typeof s.attributes['psfabric.invoice_id'] === 'string'));
      return found.every(Boolean) ? (found as CollectedSpan[]) : undefined;
    }, 'a span per approved time entry, with its invoice', 60000, 200);
    for (const e of entrySpans) {
      assert.equal(e.attributes['psfabric.record_key'], `TimeEntry/${e.attributes['psfabric.time_entry_id']}`);
      assert.equal(e.attributes['psfabric.part_of'], `Invoice/${e.attributes['psfabric.invoice_id']}`);
      assert.equal(e.attributes['psfabric.process'], 'time-to-cash');
    }
    for (const invoiceId of new Set(entrySpans.map((e) => String(e.attributes['psfabric.invoice_id'])))) {
      const traceId = entrySpans.find((e) => e.attributes['psfabric.invoice_id'] === invoiceId)!.traceId;
      // the invoice's NetSuite write and the Kantata mark-invoiced are attempt spans of that trace, keyed to the invoice
      const spans = await spansOf(traceId, (ss) => ['netsuite', 'kantata'].every((c) => ss.some((s) => s.attributes['psfabric.invoice_id'] === invoiceId && typeof s.attributes['psfabric.outbox_id'] !== 'undefined' && new RegExp(c, 'i').test(String(s.attributes['psfabric.connection'])))), `the invoice ${invoiceId} writes in trace ${traceId}`);
      assert.ok(spans.some((s) => s.kind === KIND.CLIENT && /netsuite/i.test(String(s.attributes['psfabric.connection']))), 'the NetSuite call is a CLIENT span of the trace');
      // and invoice.posted on the bus carries the same trace
      const posted = await waitFor(() => t.events.find((ev) => ev.topic === 'fabric/v1/invoice/posted' && ev.body.subject === invoiceId), `invoice.posted for ${invoiceId}`, 30000, 100);
      assert.equal(parseTraceparent(posted.body.traceparent)?.traceId, traceId, 'invoice.posted carries the trace of its entries');
    }
  });

  it("an exception of a traced run shows the run's trace id in the console's exception detail", async () => {
    // an account without a tax registration: quote-to-project routes the deal to sales-ops instead of creating anything
    const acc = await salesforce(t, 'POST', '/sobjects/Account', { Name: 'Tracewell Analytics Inc', External_Id__c: 'ACC-1909', Billing_Entity__c: 'NWA-US', CurrencyIsoCode: 'USD', BillingStreet: '9 Span St', BillingCity: 'Austin', BillingPostalCode: '78701', BillingCountry: 'US' });
    assert.equal(acc.status, 201, JSON.stringify(acc.body));
    const oppId = await newDeal(t, acc.body.id, 'Tracewell - Observability Rollout');
    await t.sb(`/salesforce/_sandbox/close-won/${oppId}`, 'POST');
    const ex = await waitFor(async () => (await t.fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' })).find((e) => e.recordKey === `Opportunity/${oppId}`), 'sales-ops exception', 30000, 100);

    const detail = await waitFor(async () => {
      const d = await new OpsReadModel(t.fabric.fabric.store).exceptionDetail(ex.id);
      return d?.traceId ? d : undefined;
    }, 'trace id in the exception detail', 10000, 100);
    assert.match(detail.traceId!, /^[0-9a-f]{32}$/);
    // it is the trace of this deal's run: the collector has its opportunity span
    await spansOf(detail.traceId!, (ss) => ss.some((s) => s.attributes['psfabric.opportunity_id'] === oppId), "the exception's trace in the collector");
  });
});
