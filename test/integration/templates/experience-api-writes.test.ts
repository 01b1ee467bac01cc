/**
 * Experience-API writes end to end through the real runtime (shared templates fixture: every template deployed, the
 * sandboxes, the embedded broker): a portal with an API key creates a project and time entries, polls the status URL,
 * and finds the records in the systems of record (Kantata workspace; Kantata entry billed on a NetSuite invoice line).
 * Bad requests end `failed` with the field named and an exception for the owner team; repeated POSTs create nothing
 * twice; read-only resources refuse writes.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/wait';
import { templatesFabric, type TemplatesFabric } from './fixture';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

describe('experience API writes: portal -> process layer -> systems of record', function () {
  this.timeout(150000);
  let t: TemplatesFabric;
  let key = '';
  const run = crypto.randomBytes(3).toString('hex').toUpperCase();
  const projectId = `PRJ-PORTAL-${run}`;
  let workspaceId = '';

  async function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
    const r = await fetch(`${t.fabric.url}${p}`, { method, headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined, headers: r.headers };
  }
  async function post(p: string, body: unknown): Promise<string> {
    const r = await api('POST', p, body);
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.statusUrl, `/api/v1/requests/${r.json.trackingId}`);
    return r.json.statusUrl;
  }
  /** Polls the status URL, as a portal would, until the request reaches one of `statuses`. */
  async function until(statusUrl: string, statuses: string[], timeoutMs = 60000): Promise<any> {
    return waitFor(async () => {
      const s = await api('GET', statusUrl);
      assert.equal(s.status, 200, JSON.stringify(s.json));
      return statuses.includes(s.json.status) ? s.json : undefined;
    }, `${statusUrl} -> ${statuses.join('|')}`, timeoutMs, 200);
  }
  const kantata = async (collection: string) => (await t.sb(`/kantata/_sandbox/records/${collection}`)) as any[];
  async function netsuiteLines(ref: string): Promise<Array<{ invoice: string; amount: number }>> {
    const out: Array<{ invoice: string; amount: number }> = [];
    for (const inv of await t.sb('/netsuite/_sandbox/records/invoice')) {
      for (const l of inv.item?.items ?? []) if (String(l.custcol_psf_source_refs ?? '').split(/[,\s]+/).includes(ref)) out.push({ invoice: inv.externalId, amount: Number(l.amount) });
    }
    return out;
  }
  async function exceptionsFor(recordKey: string): Promise<any[]> {
    const r = await fetch(`${t.fabric.url}/ps-fabric/exceptions?recordKey=${encodeURIComponent(recordKey)}&limit=500`);
    const body = (await r.json()) as any;
    return (Array.isArray(body) ? body : body.items ?? body.exceptions ?? []).filter((e: any) => e.recordKey === recordKey);
  }

  const project = () => {
    const p = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'canonical', 'project.json'), 'utf8'))[0];
    delete p.externalIds;
    return { ...p, id: projectId, version: 1, code: `PORTAL-${run}`, name: `Portal project ${run}` };
  };
  const entry = (id: string, extra: Record<string, unknown> = {}) => ({
    id, version: 1, person: { id: 'CON-002', name: 'Daniel Okafor', email: 'daniel.okafor@northwind-advisory.example' },
    projectId: `KAN-WS-${workspaceId}`, date: '2026-11-20', hours: 6.5, role: 'Solution Architect', billable: true, rate: { amount: 210, currency: 'USD', unit: 'hour' }, status: 'submitted', notes: 'portal entry', ...extra,
  });

  before(async () => {
    t = await templatesFabric();
    const r = await t.admin('/ps-fabric/api-keys', { name: `portal-${run}`, scopes: ['projects:read', 'projects:write', 'timeentries:read', 'timeentries:write', 'requests:read'], rateLimit: { perSecond: 1000, burst: 1000 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    key = r.body.key;
  });

  it('POST /api/v1/projects: the project is created in the PSA once, project.created is published, the status ends completed and the project reads back', async () => {
    const statusUrl = await post('/api/v1/projects', project());
    const done = await until(statusUrl, ['completed', 'failed']);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.match(done.references?.psa ?? '', /^KAN-WS-\d+$/);
    workspaceId = done.references.psa.replace('KAN-WS-', '');
    const ws = (await kantata('workspaces')).filter((w) => (w.external_references ?? []).some((x: any) => x.service_model_ref === projectId));
    assert.equal(ws.length, 1, 'one workspace for the project');
    assert.equal(ws[0].id, workspaceId);
    assert.equal(ws[0].title, `Portal project ${run}`);
    const trackingId = statusUrl.split('/').pop();
    const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.correlationid === trackingId), 'project.created', 10000);
    assert.equal(created.body.data.id, projectId);
    assert.equal(created.body.data.externalIds.kantata, workspaceId);
    const read = await api('GET', `/api/v1/projects/KAN-WS-${workspaceId}`);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.equal(read.json.name, `Portal project ${run}`);
    assert.equal(read.json.billingEntity, 'NWA-US');
    assert.equal(read.json.deliveryManager.email, 'maya.patel@northwind-advisory.example');
  });

  it('a repeated project POST creates nothing twice and completes with the same workspace', async () => {
    const before = t.events.filter((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.id === projectId).length;
    const again = await until(await post('/api/v1/projects', project()), ['completed', 'failed']);
    assert.equal(again.status, 'completed', JSON.stringify(again));
    assert.equal(again.references.psa, `KAN-WS-${workspaceId}`);
    assert.match(again.detail, /already in the PSA/);
    const ws = (await kantata('workspaces')).filter((w) => (w.external_references ?? []).some((x: any) => x.service_model_ref === projectId));
    assert.equal(ws.length, 1);
    assert.equal(t.events.filter((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.id === projectId).length, before, 'no second project.created');
  });

  it('POST /api/v1/time-entries (v1) and /api/v2/time-entries: recorded in the PSA, billed after approval, completed with the invoice; a repeat creates nothing twice', async () => {
    assert.ok(workspaceId, 'needs the project of the first test');
    const v1 = await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-1`));
    const v2 = await post('/api/v2/time-entries', { ...entry(`TE-PORTAL-${run}-2`, { hours: 3 }), workLocation: 'remote' });
    const p1 = await until(v1, ['processing', 'failed']);
    const p2 = await until(v2, ['processing', 'failed']);
    assert.equal(p1.status, 'processing', JSON.stringify(p1));
    assert.equal(p2.status, 'processing', JSON.stringify(p2));
    assert.match(p1.detail, /waiting for approval in the PSA/);
    const psa1 = p1.references.psa.replace('KAN-TE-', '');
    const psa2 = p2.references.psa.replace('KAN-TE-', '');
    const inPsa = (await kantata('time_entries')).filter((e) => e.id === psa1 || e.id === psa2);
    assert.deepEqual(inPsa.map((e) => [e.workspace_id, e.time_in_minutes, e.approved]).sort(), [[workspaceId, 180, false], [workspaceId, 390, false]]);

    // a repeated POST of the first entry: nothing new in the PSA, the request follows the same entry
    const dup = await until(await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-1`)), ['processing', 'completed', 'failed']);
    assert.equal(dup.references?.psa, p1.references.psa, JSON.stringify(dup));
    assert.equal((await kantata('time_entries')).filter((e) => e.workspace_id === workspaceId).length, 2, 'two PSA entries for three requests');

    // approval is the PSA's (the ownership matrix: capture belongs to the PSA); then time-to-cash bills them
    await t.sb('/kantata/_sandbox/approve', 'POST', { ids: [psa1, psa2] });
    const c1 = await until(v1, ['completed', 'failed'], 90000);
    const c2 = await until(v2, ['completed', 'failed'], 90000);
    assert.equal(c1.status, 'completed', JSON.stringify(c1));
    assert.equal(c2.status, 'completed', JSON.stringify(c2));
    assert.match(c1.detail, /billed on invoice/);
    const lines1 = await netsuiteLines(`KAN-TE-${psa1}`);
    const lines2 = await netsuiteLines(`KAN-TE-${psa2}`);
    assert.equal(lines1.length, 1, `entry 1 on ${lines1.length} NetSuite invoice lines`);
    assert.equal(lines2.length, 1, `entry 2 on ${lines2.length} NetSuite invoice lines`);
    assert.equal(lines1[0].invoice, c1.references.invoice);
    const d2 = await until(`/api/v1/requests/${dup.trackingId}`, ['completed'], 30000);
    assert.equal(d2.references.invoice, c1.references.invoice, 'the repeated request completes with the same invoice');
    // the request completes when the invoice is posted; marking the entries invoiced in the PSA is the template's next
    // durable write, so wait for it rather than read it at once
    await waitFor(async () => {
      const billed = (await kantata('time_entries')).filter((e) => e.id === psa1 || e.id === psa2);
      assert.ok(billed.length === 2 && billed.every((e) => e.is_invoiced), `marked invoiced in the PSA: ${JSON.stringify(billed.map((e) => [e.id, e.is_invoiced]))}`);
      return true;
    }, 'entries marked invoiced in the PSA', 30000, 100);
    // a repeat after billing: completed at once with the same invoice, still nothing new in the PSA or the ERP
    const late = await until(await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-1`)), ['completed', 'failed'], 30000);
    assert.equal(late.status, 'completed', JSON.stringify(late));
    assert.equal(late.references.invoice, c1.references.invoice);
    assert.match(late.detail, /nothing created again/);
    assert.equal((await kantata('time_entries')).filter((e) => e.workspace_id === workspaceId).length, 2);
    assert.equal((await netsuiteLines(`KAN-TE-${psa1}`)).length, 1);
  });

  it('a bad entry ends failed with the field named and an exception for the owner team; nothing reaches the PSA', async () => {
    const before = (await kantata('time_entries')).length;
    const withRate = await until(await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-RATE`, { rate: { amount: 500, currency: 'USD', unit: 'hour' } })), ['failed', 'completed', 'processing']);
    assert.equal(withRate.status, 'failed', JSON.stringify(withRate));
    assert.deepEqual(withRate.errors.map((e: any) => e.path), ['/rate/amount']);
    assert.match(withRate.errors[0].message, /500 differs from the PSA bill rate 210/);
    const invoiced = await until(await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-INV`, { invoiceId: 'INV-BY-PORTAL' })), ['failed', 'completed', 'processing']);
    assert.equal(invoiced.status, 'failed', JSON.stringify(invoiced));
    assert.deepEqual(invoiced.errors.map((e: any) => e.path), ['/invoiceId']);
    assert.match(invoiced.errors[0].message, /owned by erp.*finance-ops/);
    const unknownProject = await until(await post('/api/v1/time-entries', entry(`TE-PORTAL-${run}-PRJ`, { projectId: 'KAN-WS-999999' })), ['failed', 'completed', 'processing']);
    assert.equal(unknownProject.status, 'failed', JSON.stringify(unknownProject));
    assert.equal(unknownProject.errors[0].path, '/projectId');
    assert.equal((await kantata('time_entries')).length, before, 'nothing created in the PSA');
    const exc = await waitFor(async () => (await exceptionsFor(`TimeEntry/TE-PORTAL-${run}-INV`))[0], 'the ownership exception', 10000, 200);
    assert.equal(exc.ownerTeam, 'finance-ops');
    assert.equal(exc.errorClass, 'ownership');
    const excRate = await waitFor(async () => (await exceptionsFor(`TimeEntry/TE-PORTAL-${run}-RATE`))[0], 'the rate exception', 10000, 200);
    assert.equal(excRate.ownerTeam, 'finance-ops');
    const exc2 = await waitFor(async () => (await exceptionsFor(`TimeEntry/TE-PORTAL-${run}-PRJ`))[0], 'the unknown-project exception', 10000, 200);
    assert.equal(exc2.ownerTeam, 'delivery-ops');
  });

  it('read-only resources refuse writes with 405 and the reason; the OpenAPI document has no write for them', async () => {
    for (const r of ['customers', 'contracts', 'resources', 'invoices', 'revenue-events']) {
      const res = await api('POST', `/api/v1/${r}`, { id: 'X-1' });
      assert.equal(res.status, 405, `${r}: ${JSON.stringify(res.json)}`);
      assert.equal(res.headers.get('allow'), 'GET');
      assert.match(res.json.error, /read-only/);
    }
    const doc = await api('GET', '/api/v1/openapi.json');
    for (const r of ['customers', 'contracts', 'resources', 'invoices', 'revenue-events']) assert.equal(doc.json.paths[`/api/v1/${r}`].post, undefined, r);
    assert.ok(doc.json.paths['/api/v1/projects'].post && doc.json.paths['/api/v1/time-entries'].post && doc.json.paths['/api/v2/time-entries'].post);
  });
});
