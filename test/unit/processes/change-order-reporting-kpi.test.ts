import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validate } from '../../../lib/model';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { registry } from '../../../lib/kpi/metrics';
import { tempDir } from '../../support/tmp';
import { ParkedAmendments, amendmentFromSalesforce, planAmendment, type ProjectState } from '../../../lib/processes/change-order';
import { overallRate, reconcile, rollup } from '../../../lib/processes/reporting';
import { KpiRecorder, durationStats } from '../../../lib/processes/kpi';

const project: ProjectState = {
  projectId: 'PRJ-006A', accountId: 'ACC-1001', billingEntity: 'NWA-US', currency: 'USD', erp: 'netsuite', erpProjectId: 'PRJ-006A', psaWorkspaceId: '42',
  startDate: '2026-11-01', endDate: '2027-03-31', budget: { amount: 100000, hours: 600 },
  billingSchedule: { type: 'milestones', milestones: [{ id: 'M1', name: 'Kick-off', dueDate: '2026-11-15', amount: { amount: 30000, currency: 'USD' }, status: 'invoiced' }, { id: 'M2', name: 'Acceptance', dueDate: '2027-03-31', amount: { amount: 70000, currency: 'USD' }, status: 'planned' }] },
};

describe('processes: change-order', () => {
  const amendment = amendmentFromSalesforce({ Id: 'a0A1', Name: 'CA-0001', Opportunity__c: '006A', Amendment_Type__c: 'Scope Change', Amount_Change__c: 12000, Hours_Change__c: 80, Effective_Date__c: '2026-12-01', Description__c: 'Extra interface' });

  it('plans the ERP billing schedule and PSA budget updates and the contract.amended data', () => {
    const plan = planAmendment(amendment, project);
    assert.equal(plan.status, 'ready');
    if (plan.status !== 'ready') return;
    assert.deepEqual(plan.budget, { amount: 112000, hours: 680 });
    assert.equal(plan.billingSchedule.type, 'milestones');
    assert.equal((plan.billingSchedule as any).milestones.length, 3);
    assert.equal(plan.erpWrite!.operation, 'updateProject');
    assert.equal(plan.erpWrite!.idempotencyKey, 'co:a0A1:erp');
    assert.deepEqual(plan.psaWrite!.request, { id: '42', workspace: { price: 112000, budgeted: true, due_date: '2027-03-31' } });
    assert.equal(validate('Contract', plan.contract).ok, true, JSON.stringify(validate('Contract', plan.contract)));
    const cut = planAmendment({ ...amendment, amountChange: -10000 }, project);
    assert.equal(cut.status === 'ready' && (cut.billingSchedule as any).milestones[1].amount.amount, 60000);
  });

  it('a Business Central or legacy project: PSA budget only, no ERP write, and the plan and the event data say the ERP schedule was not updated', () => {
    assert.equal(planAmendment(amendment, project).status === 'ready' && (planAmendment(amendment, project) as any).erpNotUpdated, undefined);
    for (const [erp, billingEntity, why] of [['businessCentral', 'NWA-UK', /Business Central API v2\.0 has no billing schedule/], ['legacy', 'NWA-FR', /legacy ERP interface takes customers and invoices only/]] as const) {
      const plan = planAmendment(amendment, { ...project, erp, billingEntity, currency: 'USD' });
      assert.equal(plan.status, 'ready');
      if (plan.status !== 'ready') return;
      assert.equal(plan.erpWrite, undefined);
      assert.deepEqual(plan.psaWrite!.request.workspace.price, 112000);
      assert.deepEqual([plan.erpNotUpdated!.system, plan.erpNotUpdated!.billingEntity], [erp, billingEntity]);
      assert.match(plan.erpNotUpdated!.reason, why);
      const desc = plan.contract.amendments[0].description as string;
      assert.ok(desc.startsWith('Extra interface [ERP billing schedule not updated (' + erp + ', ' + billingEntity + '): '), desc);
      assert.equal(validate('Contract', plan.contract).ok, true, JSON.stringify(validate('Contract', plan.contract)));
    }
    // a long CRM description is cut so the note still fits the schema's 1000 characters
    const long = planAmendment({ ...amendment, description: 'x'.repeat(1200) }, { ...project, erp: 'businessCentral', billingEntity: 'NWA-UK' });
    assert.ok(long.status === 'ready' && long.contract.amendments[0].description.length <= 1000 && long.contract.amendments[0].description.endsWith('amended schedule]'));
  });

  it('waits (with backoff) for a project that does not exist yet, then goes to the exception queue', () => {
    const w1 = planAmendment(amendment, undefined, { attempt: 1, now: () => 0, baseDelayMs: 1000 });
    assert.equal(w1.status, 'waiting');
    assert.equal(w1.status === 'waiting' && w1.retryAt, 1000);
    const w3 = planAmendment(amendment, undefined, { attempt: 3, now: () => 0, baseDelayMs: 1000 });
    assert.equal(w3.status === 'waiting' && w3.retryAt, 4000);
    const ex = planAmendment(amendment, undefined, { attempt: 6, maxWaits: 6 });
    assert.equal(ex.status, 'exception');
    assert.equal(ex.status === 'exception' && ex.ownerTeam, 'billing-ops');
    assert.match(ex.status === 'exception' ? ex.message : '', /PRJ-006A still does not exist/);
  });

  it('parks amendments durably in the store and hands them back when due', async () => {
    const tmp = tempDir();
    const store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
    try {
      const parked = new ParkedAmendments(store);
      await parked.park({ amendment, attempt: 1, retryAt: 100 }, 0);
      await parked.park({ amendment: { ...amendment, id: 'a0A2' }, attempt: 1, retryAt: 500 }, 0);
      assert.equal((await parked.due(200)).length, 1);
      const [due] = await parked.due(200);
      await parked.take(due);
      assert.equal((await parked.all()).length, 1);
    } finally {
      await store.close();
      tmp.cleanup();
    }
  });
});

describe('processes: reporting', () => {
  it('rolls up utilisation, realisation, margin, unbilled approved hours and DSO per project and region', () => {
    const r = rollup({
      from: '2026-11-01', to: '2026-11-30',
      projects: [{ projectId: 'P1', region: 'Americas', currency: 'USD' }, { projectId: 'P2', region: 'UK&I', currency: 'GBP' }],
      people: [{ id: 'A', region: 'Americas', costRate: 50 }, { id: 'B', region: 'UK&I', costRate: 40 }],
      timeEntries: [
        { id: '1', projectId: 'P1', personId: 'A', date: '2026-11-02', hours: 8, billable: true, status: 'billed', rate: 100 },
        { id: '2', projectId: 'P1', personId: 'A', date: '2026-11-03', hours: 8, billable: true, status: 'approved', rate: 100 },
        { id: '3', projectId: 'P1', personId: 'A', date: '2026-11-04', hours: 4, billable: false, status: 'approved' },
        { id: '4', projectId: 'P2', personId: 'B', date: '2026-11-04', hours: 6, billable: true, status: 'approved', rate: 90 },
      ],
      invoices: [{ id: 'I1', projectId: 'P1', issueDate: '2026-11-10', total: 720, outstanding: 720 }],
    });
    const p1 = r.projects.find((p) => p.projectId === 'P1')!;
    assert.equal(p1.hours, 20);
    assert.equal(p1.billableHours, 16);
    assert.equal(p1.unbilledApprovedHours, 8);
    assert.equal(p1.revenue, 720);
    assert.equal(p1.cost, 1000);
    assert.equal(p1.margin, -280);
    assert.equal(p1.realisation, 0.9);
    assert.equal(p1.dso, 30);
    const uk = r.regions.find((x) => x.region === 'UK&I')!;
    assert.equal(uk.unbilledApprovedHours, 6);
    assert.ok(uk.utilisation! > 0 && uk.utilisation! < 1);
    assert.equal(r.totals.unbilledApprovedHours, 14);
  });

  it('reconciles customers across CRM, ERP and PSA and reports mismatches and a rate', () => {
    const rep = reconcile('customer', {
      crm: [{ key: 'ACC-1', name: 'Acme' }, { key: 'ACC-2', name: 'Globex' }, { key: 'ACC-3', name: 'Initech', currency: 'USD' }],
      erp: [{ key: 'ACC-1', name: 'ACME ' }, { key: 'ACC-3', name: 'Initech', currency: 'EUR' }],
      psa: [{ key: 'ACC-1', name: 'Acme' }, { key: 'ACC-2', name: 'Globex' }, { key: 'ACC-3', name: 'Initech' }],
    });
    assert.equal(rep.total, 3);
    assert.equal(rep.matched, 1);
    assert.equal(rep.rate, 0.3333);
    assert.deepEqual(rep.mismatches.map((m) => [m.key, m.kind, m.missingIn ?? m.field]), [['ACC-2', 'missing', ['erp']], ['ACC-3', 'different', 'currency']]);
    assert.equal(overallRate([rep, { entity: 'project', total: 1, matched: 1, rate: 1, mismatches: [] }]), 0.5);
  });
});

describe('processes: KPIs', () => {
  it('records process instances and computes the KPIs; registers them on /metrics', async () => {
    const tmp = tempDir();
    const store = new SqliteStore({ path: path.join(tmp.dir, 'k.sqlite') });
    let now = 1_000_000;
    const kpi = new KpiRecorder(store, () => now);
    const untrack = kpi.track();
    try {
      await kpi.processStart('quote-to-project', 'OPP-1', { startedAt: now - 60_000 });
      await kpi.processStart('quote-to-project', 'OPP-1', { startedAt: now });
      now += 1000;
      assert.equal(await kpi.processComplete('quote-to-project', 'OPP-1', 'completed', { labels: { billingEntity: 'NWA-US' } }), 61_000);
      await kpi.processStart('time-to-cash', 'INV-1', { startedAt: now - 5000 });
      await kpi.processComplete('time-to-cash', 'INV-1', 'completed', { labels: { erp: 'netsuite' } });
      assert.equal((await kpi.quoteToProjectLeadTime({ slaMs: 30_000 })).breaches, 1);
      assert.equal((await kpi.timeEntryPostingLatency()).avgMs, 5000);
      await store.exceptionAdd({ process: 'time-to-cash', step: 'master-data', errorClass: 'validation', message: 'x', ownerTeam: 'billing-ops', recordKey: 'TimeEntry/1' }, now);
      await store.exceptionAdd({ process: 'quote-to-project', step: 'validate', errorClass: 'validation', message: 'y', ownerTeam: 'sales-ops', recordKey: 'Opportunity/1' }, now);
      assert.equal(await kpi.invoicesBlockedByMasterData(), 1);
      assert.deepEqual(await kpi.exceptionBacklogByOwner(), { 'billing-ops': 1, 'sales-ops': 1 });
      await kpi.setUnbilledApprovedHours({ Americas: 12.5 });
      await kpi.setReconciliationRate({ customer: 0.75 });
      assert.deepEqual(await kpi.unbilledApprovedHours(), { Americas: 12.5 });
      assert.deepEqual(await kpi.reconciliationRate(), { customer: 0.75 });
      const text = await registry.metrics();
      for (const name of ['psfabric_kpi_quote_to_project_lead_time_seconds', 'psfabric_kpi_time_entry_posting_latency_seconds', 'psfabric_kpi_invoices_blocked_master_data 1', 'psfabric_kpi_exception_backlog{owner_team="sales-ops"} 1', 'psfabric_kpi_unbilled_approved_hours{region="Americas"} 12.5', 'psfabric_kpi_reconciliation_rate{entity="customer"} 0.75']) {
        assert.ok(text.includes(name), `metrics lack ${name}`);
      }
      assert.deepEqual(durationStats([]).count, 0);
    } finally {
      untrack();
      await store.close();
      tmp.cleanup();
    }
    void fs;
  });
});
