/**
 * performance-to-reporting through the real runtime (shared fixture): the roll-up (triggered like the editor's inject
 * button) publishes figures per project and region and reconciles lists it reads from CRM, ERP and PSA; a reconciliation
 * run over lists given on a request reports a seeded mismatch and a rate; one without lists finds a project renamed in the PSA.
 */
import assert from 'node:assert/strict';
import { waitFor } from '../../support/wait';
import { closeWonAndWait, templatesFabric, type TemplatesFabric } from './fixture';

describe('templates: performance-to-reporting through the real runtime', function () {
  this.timeout(60000);
  let t: TemplatesFabric;
  before(async () => {
    t = await templatesFabric();
  });

  it('roll-up reads every page of PSA time entries and publishes utilisation / unbilled figures per region on fabric/v1/kpi/rollup', async () => {
    // more than one page (200) of time entries: unapproved ones, so the time-to-cash poller leaves them alone
    if ((await t.sb('/kantata/_sandbox/records/time_entries')).length <= 450) await t.sb('/kantata/_sandbox/generate-time', 'POST', { count: 450, workspaceId: '400001', approved: false });
    const entries = (await t.sb('/kantata/_sandbox/records/time_entries')) as Array<{ date_performed: string; time_in_minutes: number }>;
    assert.ok(entries.length > 400, String(entries.length));
    const novHours = entries.filter((e) => e.date_performed >= '2026-11-01' && e.date_performed <= '2026-11-30').reduce((sum, e) => sum + (e.time_in_minutes || 0) / 60, 0);
    const before = t.events.filter((e) => e.topic === 'fabric/v1/kpi/rollup').length;
    const reconBefore = t.events.filter((e) => e.topic === 'fabric/v1/kpi/reconciliation').length;
    const res = await t.admin('/inject/rep-tick');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const ev = await waitFor(() => t.events.filter((e) => e.topic === 'fabric/v1/kpi/rollup')[before], 'roll-up published', 30000, 100);
    const figures = ev.body;
    assert.ok(Array.isArray(figures.regions) && figures.regions.length > 0, JSON.stringify(figures).slice(0, 500));
    assert.ok(figures.regions.some((r: any) => r.region === 'Americas'), JSON.stringify(figures.regions.map((r: any) => r.region)));
    assert.ok(figures.regions.every((r: any) => typeof r.unbilledApprovedHours === 'number'));
    assert.ok(Array.isArray(figures.projects) && figures.projects.length > 0);
    const rolled = figures.projects.reduce((sum: number, p: any) => sum + p.hours, 0);
    assert.ok(novHours > 0 && Math.abs(rolled - novHours) < 0.05, `roll-up has ${rolled} h, the PSA ${novHours} h in Nov 2026 (${entries.length} entries)`);
    // the scheduled tick also reconciles, reading the lists itself: nobody sends a reconcile-request
    const recon = await waitFor(async () => {
      const found = t.events.filter((e) => e.topic === 'fabric/v1/kpi/reconciliation').slice(reconBefore).find((e) => e.body.source === 'read' && !e.body.requestId);
      if (found) return found;
      throw new Error(await whyNoReconciliation());
    }, 'reconciliation of the tick', 30000, 100);
    assert.deepEqual(recon.body.reports.map((r: any) => r.entity).sort(), ['customer', 'project']);
    assert.ok(recon.body.reports.every((r: any) => r.total >= 3 && typeof r.rate === 'number'), JSON.stringify(recon.body.reports.map((r: any) => [r.entity, r.total, r.rate])));
  });

  let runs = 0;
  /** Publishes a reconcile-request (with lists or without) and waits for the reconciliation of that request. */
  async function reconcileRun(data: unknown): Promise<{ body: any }> {
    runs += 1;
    const id = `recon-test-${Date.now()}-${runs}`;
    t.publish('fabric/v1/kpi/reconcile-request', data, id);
    return waitFor(async () => {
      const found = t.events.find((e) => e.topic === 'fabric/v1/kpi/reconciliation' && e.body.requestId === id);
      if (found) return found;
      const inbox = await t.fabric.fabric.services.store.inboxGet('mqtt:rep-recon-in', `ce:/test#${id}`);
      throw new Error(`request in the inbox: ${inbox ? inbox.status : 'not received'}; ${await whyNoReconciliation()}`);
    }, `reconciliation of ${id}`, 30000, 100);
  }

  /** The open exceptions and the reconciliations / roll-ups seen so far: the message of a timed-out wait. */
  async function whyNoReconciliation(): Promise<string> {
    const open = await t.fabric.fabric.services.exceptions.list({ status: 'open' });
    const seen = t.events.filter((e) => e.topic === 'fabric/v1/kpi/reconciliation').map((e) => [e.body.source, e.body.requestId ?? null]);
    const rollups = t.events.filter((e) => e.topic === 'fabric/v1/kpi/rollup').length;
    return `open exceptions ${JSON.stringify(open.map((e) => [e.process, e.step, e.message.slice(0, 200)]))}, reconciliations ${JSON.stringify(seen)}, roll-ups ${rollups}`;
  }

  it('reconciliation given lists on the request reports a seeded mismatch and the reconciliation rate', async () => {
    // customers as each system holds them: the Salesforce accounts (CRM), the ERPs' customers, the PSA's clients; the
    // seeded mismatch: the ERP spells one customer differently and lacks another
    const accounts = (await t.sb('/salesforce/_sandbox/records/Account')) as Array<{ External_Id__c: string; Name: string; CurrencyIsoCode: string }>;
    const crm = accounts.map((a) => ({ key: a.External_Id__c, name: a.Name, currency: a.CurrencyIsoCode }));
    assert.ok(crm.length >= 4);
    const erp = crm.slice(1).map((c, i) => (i === 0 ? { ...c, name: `${c.name} (old name)` } : c));
    const psa = crm.map((c) => ({ ...c }));
    const ev = await reconcileRun({ customer: { crm, erp, psa } });
    assert.equal(ev.body.source, 'given');
    const report = ev.body.reports.find((r: any) => r.entity === 'customer');
    assert.ok(report.mismatches.some((m: any) => m.key === crm[0].key && m.kind === 'missing' && m.missingIn.includes('erp')), JSON.stringify(report.mismatches));
    assert.ok(report.mismatches.some((m: any) => m.key === crm[1].key && m.kind === 'different' && m.field === 'name'));
    assert.equal(report.total, crm.length);
    assert.equal(report.matched, crm.length - 2);
    assert.ok(Math.abs(ev.body.rate - (crm.length - 2) / crm.length) < 1e-9, String(ev.body.rate));
    const metrics = await (await fetch(`${t.fabric.url}/metrics`)).text();
    assert.match(metrics, /psfabric_kpi_reconciliation_rate\{entity="customer"\} 0\.\d+/);
  });

  it('reconciliation without lists reads CRM, ERPs and PSA itself and finds a project renamed in the Kantata sandbox, with the right rate', async () => {
    // a UK deal closed through quote-to-project: its BC project (number = opportunity id) matches CRM and PSA
    await closeWonAndWait(t, '006Hs00000ThamesCRM');
    const base = (await reconcileRun({})).body;
    assert.equal(base.source, 'read');
    const cust = base.reports.find((r: any) => r.entity === 'customer');
    const proj = base.reports.find((r: any) => r.entity === 'project');
    // the seed firm's delivered deals are in every system under the same keys and names
    for (const key of ['ACC-1001', 'ACC-2001', 'ACC-3001', 'ACC-2002']) assert.ok(!cust.mismatches.some((m: any) => m.key === key), `${key}: ${JSON.stringify(cust.mismatches)}`);
    const acme = 'PRJ-006Hs00000AcmeWMS01';
    for (const key of [acme, 'PRJ-006Hs00000BritRailS', 'PRJ-006Hs00000RheinSAP1', 'PRJ-006Hs00000ThamesCRM']) assert.ok(!proj.mismatches.some((m: any) => m.key === key), `${key}: ${JSON.stringify(proj.mismatches)}`);
    assert.ok(cust.total >= 3 && proj.total >= 3, JSON.stringify({ cust: cust.total, proj: proj.total }));
    // prospects (no closed-won deal, in no ERP / PSA) are not compared
    assert.ok(!cust.mismatches.some((m: any) => m.key === 'ACC-1003' && m.kind === 'missing'), JSON.stringify(cust.mismatches));

    // seeded mismatch: the Acme project is renamed in the PSA (Kantata API, sandbox token)
    const workspaces = (await t.sb('/kantata/_sandbox/records/workspaces')) as Array<{ id: string; title: string; custom_fields: Array<{ custom_field_id: string; value: string }> }>;
    const ws = workspaces.find((w) => w.custom_fields.some((c) => String(c.custom_field_id) === '502' && c.value === '006Hs00000AcmeWMS01'))!;
    assert.ok(ws, 'Acme workspace');
    const kantata = async (title: string) => {
      const res = await fetch(`${t.fabric.sandboxes!.url}/kantata/api/v1/workspaces/${ws.id}`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: 'Bearer kantata-sandbox-token' }, body: JSON.stringify({ workspace: { title } }) });
      assert.equal(res.status, 200, await res.text());
    };
    const title = ws.title;
    await kantata(`${title} (renamed in PSA)`);
    try {
      const after = (await reconcileRun({})).body;
      const p2 = after.reports.find((r: any) => r.entity === 'project');
      const c2 = after.reports.find((r: any) => r.entity === 'customer');
      const m = p2.mismatches.find((x: any) => x.key === acme);
      assert.ok(m && m.kind === 'different' && m.field === 'name' && m.values.psa === `${title} (renamed in PSA)` && m.values.crm === title, JSON.stringify(p2.mismatches));
      assert.equal(p2.total, proj.total);
      assert.equal(p2.matched, proj.matched - 1);
      assert.ok(Math.abs(p2.rate - Math.round(((proj.matched - 1) / proj.total) * 10000) / 10000) < 1e-9, String(p2.rate));
      assert.deepEqual([c2.total, c2.matched], [cust.total, cust.matched]);
      const overall = Math.round(((cust.matched + proj.matched - 1) / (cust.total + proj.total)) * 10000) / 10000;
      assert.ok(Math.abs(after.rate - overall) < 1e-9, `${after.rate} vs ${overall}`);
      const metrics = await (await fetch(`${t.fabric.url}/metrics`)).text();
      const rate = /psfabric_kpi_reconciliation_rate\{entity="project"\} ([\d.]+)/.exec(metrics);
      assert.ok(rate && Math.abs(Number(rate[1]) - p2.rate) < 1e-9, String(rate?.[1]));
    } finally {
      await kantata(title);
    }
  });
});
