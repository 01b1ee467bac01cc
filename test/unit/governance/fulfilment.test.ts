/**
 * lib/governance/fulfilment.ts without Node-RED: the decisions on a portal time entry / project (ownership, look-ups,
 * one PSA record per id) and the status reports. The Kantata side is an in-memory stand-in of the two calls used;
 * the end-to-end behaviour against the sandboxes is test/integration/templates/experience-api-writes.test.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { IdempotencyService } from '../../../lib/idempotency';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';
import { entryBlocked, fulfilProject, fulfilTimeEntry, invoicePosted, parseRequested, statusEvent, type PsaAccess } from '../../../lib/governance/fulfilment';

const TRACK = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A real IdempotencyService on a real SQLite file (one per call, closed after each test). */
const opened: Array<{ service: IdempotencyService; store: SqliteStore }> = [];
let tmp: ReturnType<typeof tempDir>;
function realIdempotency(): IdempotencyService {
  const store = new SqliteStore({ path: path.join(tmp.dir, `idempotency-${opened.length}.sqlite`) });
  const service = new IdempotencyService(store);
  opened.push({ service, store });
  return service;
}

/** Kantata with one workspace (4001, USD), one user (daniel, rate 210) and an outbox that dedupes by key. */
function fakePsa(approvedOnCreate = false) {
  const writes: Array<{ operation: string; request: any; idempotencyKey: string }> = [];
  const delivered = new Map<string, any>();
  let seq = 9000;
  const psa: PsaAccess = {
    async page(collection, params) {
      if (collection === 'workspaces') return { records: params.only === '4001' || params.external_reference_service_model_ref === 'PRJ-A' ? [{ id: '4001', currency: 'USD' }] : [] };
      if (collection === 'users') return { records: params.by_email_address === 'daniel@example.test' || params.only === '100002' ? [{ id: '100002', email_address: 'daniel@example.test' }] : [] };
      if (collection === 'time_entries') return { records: [{ rate_in_cents: 21000 }] };
      return { records: [] };
    },
    async submit(w) {
      const seen = delivered.get(w.idempotencyKey);
      if (seen) return { response: seen, duplicate: true };
      writes.push(w as any);
      const response = w.operation === 'createTimeEntry' ? { id: String(++seq), approved: approvedOnCreate } : { workspace: { id: String(++seq) }, created: true };
      delivered.set(w.idempotencyKey, response);
      return { response, duplicate: false };
    },
  };
  return { psa, writes };
}

const entry = (extra: Record<string, unknown> = {}) => ({
  id: 'TE-P-1', version: 1, person: { id: 'CON-002', email: 'daniel@example.test' }, projectId: 'KAN-WS-4001', date: '2026-11-20', hours: 2.5,
  role: 'Solution Architect', billable: true, rate: { amount: 210, currency: 'USD', unit: 'hour' }, status: 'submitted', ...extra,
});
const requested = (n: number, entity: string, data: unknown) => parseRequested({ specversion: '1.0', source: '/ps-fabric/experience-api', id: TRACK(n), correlationid: TRACK(n), type: `com.psfabric.${entity}.requested.v1`, data });

describe('governance: fulfilment of experience-API writes', () => {
  beforeEach(() => {
    tmp = tempDir('psfabric-fulfilment-');
  });
  afterEach(async () => {
    for (const { service, store } of opened.splice(0)) {
      service.close();
      await store.close();
    }
    tmp.cleanup();
  });

  it('two requests for one entry in flight at once: one PSA entry, and the invoice completes both', async () => {
    const { psa, writes } = fakePsa();
    // answers that take a round trip back, as on PostgreSQL (SQLite answers in the same turn and hides the interleaving)
    const real = realIdempotency();
    const roundTrip = () => new Promise((resolve) => setImmediate(resolve));
    const idempotency = { claim: real.claim.bind(real), recordOutcome: real.recordOutcome.bind(real), get: async (scope: string, key: string) => { const read = await real.get(scope, key); await roundTrip(); return read; } };
    const [a, b] = await Promise.all([fulfilTimeEntry(requested(51, 'timeentry', entry()), { psa, idempotency }), fulfilTimeEntry(requested(52, 'timeentry', entry()), { psa, idempotency })]);
    assert.equal(writes.length, 1);
    assert.equal(a.reports[0].references?.psa, b.reports[0].references?.psa);
    const done = await invoicePosted([a.reports[0].references!.psa], { id: 'INV-9', erp: 'netsuite' }, { idempotency });
    assert.deepEqual(done.map((r) => r.trackingId).sort(), [TRACK(51), TRACK(52)]);
  });

  it('records a portal time entry in the PSA once (the rate is the PSA\'s, not written from the request) and reports processing', async () => {
    const { psa, writes } = fakePsa();
    const idempotency = realIdempotency();
    const out = await fulfilTimeEntry(requested(1, 'timeentry', entry()), { psa, idempotency });
    assert.equal(out.reports[0].status, 'processing');
    assert.equal(out.reports[0].references?.psa, 'KAN-TE-9001');
    assert.equal(out.pollPsa, true);
    assert.deepEqual(writes.map((w) => [w.operation, w.idempotencyKey]), [['createTimeEntry', 'experience-api:timeentry:TE-P-1']]);
    assert.deepEqual(writes[0].request.time_entry, { workspace_id: '4001', user_id: '100002', date_performed: '2026-11-20', time_in_minutes: 150, billable: true, notes: 'portal time entry TE-P-1', rate_in_cents: 21000 });
    const again = await fulfilTimeEntry(requested(2, 'timeentry', entry()), { psa, idempotency });
    assert.equal(again.reports[0].references?.psa, 'KAN-TE-9001');
    assert.match(again.reports[0].detail, /nothing created again/);
    assert.equal(writes.length, 1);
    // the invoice completes both requests
    const done = await invoicePosted(['KAN-TE-9001', 'KAN-TE-1'], { id: 'INV-1', erp: 'netsuite' }, { idempotency });
    assert.deepEqual(done.map((r) => [r.trackingId, r.status, r.references?.invoice]), [[TRACK(1), 'completed', 'INV-1'], [TRACK(2), 'completed', 'INV-1']]);
    const late = await fulfilTimeEntry(requested(3, 'timeentry', entry()), { psa, idempotency });
    assert.equal(late.reports[0].status, 'completed');
    assert.equal(late.reports[0].references?.invoice, 'INV-1');
  });

  it('fails with the field named: invoiceId (owned by the ERP), a rate other than the PSA\'s, an unknown project or person; nothing written', async () => {
    const { psa, writes } = fakePsa();
    const idempotency = realIdempotency();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ invoiceId: 'INV-9' }, '/invoiceId', 'finance-ops'],
      [{ rate: { amount: 500, currency: 'USD', unit: 'hour' } }, '/rate/amount', 'finance-ops'],
      [{ rate: { amount: 210, currency: 'EUR', unit: 'hour' } }, '/rate/currency', 'finance-ops'],
      [{ projectId: 'KAN-WS-777' }, '/projectId', 'delivery-ops'],
      [{ person: { id: 'CON-099', email: 'nobody@example.test' } }, '/person/email', 'delivery-ops'],
    ];
    for (const [i, [extra, path, team]] of cases.entries()) {
      const out = await fulfilTimeEntry(requested(10 + i, 'timeentry', entry(extra)), { psa, idempotency });
      assert.equal(out.reports[0].status, 'failed', JSON.stringify(extra));
      assert.deepEqual(out.reports[0].errors?.map((e) => e.path), [path]);
      assert.equal(out.exception?.ownerTeam, team, path);
      assert.equal(out.exception?.recordKey, 'TimeEntry/TE-P-1');
    }
    assert.equal(writes.length, 0);
  });

  it('an entry approved on creation and billed before its request was linked completes at once', async () => {
    const { psa } = fakePsa(true);
    const idempotency = realIdempotency();
    await idempotency.claim('time-to-cash:billed', 'KAN-TE-9001');
    const out = await fulfilTimeEntry(requested(40, 'timeentry', entry()), { psa, idempotency });
    assert.equal(out.reports[0].status, 'completed');
    assert.match(out.reports[0].detail, /billed by time-to-cash/);
  });

  it('an entry time-to-cash blocks fails its requests with the plan\'s field errors', async () => {
    const { psa } = fakePsa();
    const idempotency = realIdempotency();
    await fulfilTimeEntry(requested(20, 'timeentry', entry()), { psa, idempotency });
    const r = await entryBlocked('KAN-TE-9001', 'timeentry KAN-TE-9001 cannot be invoiced: project closed', [{ path: '/projectId', message: 'project is closed' }], { idempotency });
    assert.deepEqual(r.map((x) => [x.trackingId, x.status, x.errors?.[0].path]), [[TRACK(20), 'failed', '/projectId']]);
    assert.deepEqual(await entryBlocked('KAN-TE-1', 'x', [], { idempotency }), [], 'entries no portal asked for are not reported');
  });

  it('creates a project in the PSA once and reports the workspace; the status event carries the report', async () => {
    const { psa, writes } = fakePsa();
    const idempotency = realIdempotency();
    const project = { id: 'PRJ-N', version: 1, accountId: 'ACC-1', name: 'New', billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002', email: 'daniel@example.test' }, workstreams: [{ id: 'W1', name: 'Build', budgetHours: 10 }], budget: { amount: { amount: 1000, currency: 'USD' }, hours: 10 } };
    const first = await fulfilProject(requested(30, 'project', project), { psa, idempotency });
    assert.equal(first.reports[0].status, 'completed');
    assert.equal(first.created?.externalIds.kantata, '9001');
    assert.equal(writes[0].request.externalRef, 'PRJ-N');
    assert.deepEqual(writes[0].request.participations, [{ user_id: '100002', role: 'maven', access_level: 'admin' }]);
    const again = await fulfilProject(requested(31, 'project', project), { psa, idempotency });
    assert.equal(again.created, undefined, 'no second project.created');
    assert.equal(again.reports[0].references?.psa, 'KAN-WS-9001');
    assert.equal(writes.length, 1);
    const ev = statusEvent(again.reports[0]) as any;
    assert.equal(ev.type, 'com.psfabric.request.updated.v1');
    assert.equal(ev.data.trackingId, TRACK(31));
    const noDm = await fulfilProject(requested(32, 'project', { ...project, id: 'PRJ-M', deliveryManager: { id: 'X', email: 'nobody@example.test' } }), { psa, idempotency });
    assert.equal(noDm.reports[0].status, 'failed');
    assert.equal(noDm.exception?.ownerTeam, 'pmo');
  });
});
