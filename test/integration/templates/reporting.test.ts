/**
 * performance-to-reporting through the real runtime (shared fixture): the roll-up (triggered like the editor's inject
 * button) publishes figures per project and region; a reconciliation run over customers as CRM, ERP and PSA hold them
 * reports a seeded mismatch and a rate.
 */
import assert from 'node:assert/strict';
import { waitFor } from '../../support/wait';
import { templatesFabric, type TemplatesFabric } from './fixture';

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
  });

  it('reconciliation reports a seeded mismatch and the reconciliation rate', async () => {
    // customers as each system holds them: the Salesforce accounts (CRM), the ERPs' customers, the PSA's clients; the
    // seeded mismatch: the ERP spells one customer differently and lacks another
    const accounts = (await t.sb('/salesforce/_sandbox/records/Account')) as Array<{ External_Id__c: string; Name: string; CurrencyIsoCode: string }>;
    const crm = accounts.map((a) => ({ key: a.External_Id__c, name: a.Name, currency: a.CurrencyIsoCode }));
    assert.ok(crm.length >= 4);
    const erp = crm.slice(1).map((c, i) => (i === 0 ? { ...c, name: `${c.name} (old name)` } : c));
    const psa = crm.map((c) => ({ ...c }));
    t.publish('fabric/v1/kpi/reconcile-request', { customer: { crm, erp, psa } });
    const ev = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/kpi/reconciliation' && e.body.reports?.length), 'reconciliation published', 30000, 100);
    const report = ev.body.reports.find((r: any) => r.entity === 'customer');
    assert.ok(report.mismatches.some((m: any) => m.key === crm[0].key && m.kind === 'missing' && m.missingIn.includes('erp')), JSON.stringify(report.mismatches));
    assert.ok(report.mismatches.some((m: any) => m.key === crm[1].key && m.kind === 'different' && m.field === 'name'));
    assert.equal(report.total, crm.length);
    assert.equal(report.matched, crm.length - 2);
    assert.ok(Math.abs(ev.body.rate - (crm.length - 2) / crm.length) < 1e-9, String(ev.body.rate));
    const metrics = await (await fetch(`${t.fabric.url}/metrics`)).text();
    assert.match(metrics, /psfabric_kpi_reconciliation_rate\{entity="customer"\} 0\.\d+/);
  });
});
