import assert from 'node:assert/strict';
import { validate } from '../../../lib/model';
import { batch, classifyEntries, groupEntries, planTimeToCash, postedInvoice, type ProjectContext, type TimeEntry } from '../../../lib/processes/time-to-cash';

const projects: Record<string, ProjectContext> = {
  'KAN-WS-1': { projectId: 'KAN-WS-1', accountId: 'ACC-1001', billingEntity: 'NWA-US', currency: 'USD', status: 'active', psaWorkspaceId: '1', rateCard: { Consultant: 140 } },
  'KAN-WS-2': { projectId: 'KAN-WS-2', accountId: 'ACC-2001', billingEntity: 'NWA-UK', currency: 'GBP', status: 'active', psaWorkspaceId: '2' },
  'FR01-LUM-OM': { projectId: 'FR01-LUM-OM', accountId: 'ACC-4001', billingEntity: 'NWA-FR', currency: 'EUR', status: 'active' },
  'KAN-WS-9': { projectId: 'KAN-WS-9', accountId: 'ACC-9', billingEntity: 'NWA-US', currency: 'USD', status: 'completed' },
};

function te(id: string, projectId: string, date: string, extra: Partial<TimeEntry> = {}): TimeEntry {
  const currency = projects[projectId]?.currency ?? 'USD';
  return { id, version: 1, person: { id: 'CON-004', name: 'Luis Romero' }, projectId, date, hours: 8, role: 'Consultant', billable: true, rate: { amount: 140, currency, unit: 'hour' }, status: 'approved', approvedAt: '2026-11-21T09:00:00Z', externalIds: id.startsWith('KAN-') ? { kantata: id.slice(7) } : id.startsWith('LEG-') ? { legacy: id.slice(4) } : {}, ...extra };
}

describe('processes: time-to-cash', () => {
  it('groups per customer, project and month; one line per entry with its source ref; routes each entity to its ERP', () => {
    const entries = [
      te('KAN-TE-1', 'KAN-WS-1', '2026-11-02'), te('KAN-TE-2', 'KAN-WS-1', '2026-11-03'), te('KAN-TE-3', 'KAN-WS-1', '2026-12-01'),
      te('KAN-TE-4', 'KAN-WS-2', '2026-11-05', { rate: { amount: 115, currency: 'GBP', unit: 'hour' } }),
      te('LEG-FR-TE-1', 'FR01-LUM-OM', '2026-11-05', { rate: { amount: 120, currency: 'EUR', unit: 'hour' } }),
    ];
    const plan = planTimeToCash({ timeEntries: entries }, projects);
    assert.equal(plan.invoices.length, 4);
    assert.deepEqual(plan.invoices.map((w) => w.erp).sort(), ['businessCentral', 'legacy', 'netsuite', 'netsuite']);
    const nov = plan.invoices.find((w) => w.invoice.projectId === 'KAN-WS-1' && w.invoice.periodStart === '2026-11-01')!;
    assert.equal(nov.invoice.lines.length, 2);
    assert.deepEqual(nov.invoice.lines.map((l: any) => l.sourceRefs[0].id), ['KAN-TE-1', 'KAN-TE-2']);
    assert.equal(nov.invoice.total.amount, 2240);
    assert.equal(nov.operation, 'createInvoice');
    assert.deepEqual(nov.markInvoiced.kantata.timeEntryIds, ['1', '2']);
    assert.equal(nov.markInvoiced.kantata.workspaceId, '1');
    const fr = plan.invoices.find((w) => w.erp === 'legacy')!;
    assert.deepEqual(fr.markInvoiced.legacy, ['FR-TE-1']);
    assert.equal(fr.operation, 'postInvoice');
    const bc = plan.invoices.find((w) => w.erp === 'businessCentral')!;
    assert.equal(bc.request.post, true);
    for (const w of plan.invoices) assert.equal(validate('Invoice', w.invoice).ok, true, JSON.stringify(validate('Invoice', w.invoice)));
    assert.equal(validate('Invoice', postedInvoice(nov, { id: '9001' })).ok, true);
  });

  it('is deterministic: the same entries give the same invoice ids and keys (no double billing on a re-run)', () => {
    const entries = [te('KAN-TE-1', 'KAN-WS-1', '2026-11-02'), te('KAN-TE-2', 'KAN-WS-1', '2026-11-03')];
    const a = planTimeToCash({ timeEntries: entries }, projects);
    const b = planTimeToCash({ timeEntries: [...entries].reverse() }, projects);
    assert.deepEqual(a.invoices.map((w) => w.idempotencyKey), b.invoices.map((w) => w.idempotencyKey));
    const c = planTimeToCash({ timeEntries: entries }, projects, { alreadyBilled: (id) => id === 'KAN-TE-1' });
    assert.notEqual(c.invoices[0].invoice.id, a.invoices[0].invoice.id);
    assert.deepEqual(c.invoices[0].entryIds, ['KAN-TE-2']);
  });

  it('de-duplicates, skips unbillable / unapproved / invoiced, blocks master-data problems with field-level reasons', () => {
    const entries = [
      te('KAN-TE-1', 'KAN-WS-1', '2026-11-02'), te('KAN-TE-1', 'KAN-WS-1', '2026-11-02'),
      te('KAN-TE-5', 'KAN-WS-1', '2026-11-02', { billable: false, rate: undefined }),
      te('KAN-TE-6', 'KAN-WS-1', '2026-11-02', { status: 'submitted' }),
      te('KAN-TE-7', 'KAN-WS-1', '2026-11-02', { status: 'billed' }),
      te('KAN-TE-8', 'KAN-WS-404', '2026-11-02'),
      te('KAN-TE-9', 'KAN-WS-9', '2026-11-02'),
      te('KAN-TE-10', 'KAN-WS-1', '2026-11-02', { rate: { amount: 150, currency: 'USD', unit: 'hour' } }),
      te('KAN-TE-11', 'KAN-WS-1', '2026-11-02', { rate: undefined }),
    ];
    const c = classifyEntries({ timeEntries: entries }, projects);
    assert.deepEqual(c.duplicates, ['KAN-TE-1']);
    assert.deepEqual(c.skipped.map((s) => s.id), ['KAN-TE-5', 'KAN-TE-6', 'KAN-TE-7']);
    assert.deepEqual(c.blocked.map((b) => [b.entry.id, b.cause]), [['KAN-TE-8', 'master-data'], ['KAN-TE-9', 'master-data'], ['KAN-TE-10', 'master-data']]);
    assert.match(c.blocked[0].problems[0].message, /KAN-WS-404 is not known/);
    assert.match(c.blocked[1].problems[0].message, /completed, not open/);
    assert.match(c.blocked[2].problems[0].message, /differs from the rate card/);
    const filled = c.billable.find((b) => b.entry.id === 'KAN-TE-11')!;
    assert.equal(filled.rate, 140, 'a missing rate comes from the rate card');
  });

  it('month-end burst: 2,000 entries split into parts within the ERP line limit and batches, each entry billed exactly once', () => {
    const entries: TimeEntry[] = [];
    for (let i = 0; i < 2000; i++) entries.push(te(`KAN-TE-${1000 + i}`, i % 3 === 0 ? 'KAN-WS-2' : 'KAN-WS-1', `2026-11-${String(1 + (i % 28)).padStart(2, '0')}`, i % 3 === 0 ? { rate: { amount: 115, currency: 'GBP', unit: 'hour' } } : {}));
    const plan = planTimeToCash({ timeEntries: entries }, projects, { maxLinesPerInvoice: 250, batchSize: 3 });
    const billed = plan.invoices.flatMap((w) => w.entryIds);
    assert.equal(billed.length, 2000);
    assert.equal(new Set(billed).size, 2000);
    assert.ok(plan.invoices.every((w) => w.invoice.lines.length <= 250));
    assert.equal(plan.invoices.length, 9, 'split into parts');
    // a part's id names its entries, not its place in this run's split: planned alone, they get the same id
    const part = plan.invoices[4];
    const alone = planTimeToCash({ timeEntries: entries.filter((e) => part.entryIds.includes(e.id)) }, projects, { maxLinesPerInvoice: 250 });
    assert.deepEqual(alone.invoices.map((w) => w.invoice.id), [part.invoice.id]);
    assert.equal(new Set(plan.invoices.map((w) => w.invoice.id)).size, plan.invoices.length);
    assert.equal(plan.batches.flat().length, plan.invoices.length);
    assert.ok(plan.batches.every((b) => b.length <= 3));
    assert.equal(plan.totals.lines, 2000);
  });

  it('groups are ordered and stable; batch() splits evenly', () => {
    const c = classifyEntries({ timeEntries: [te('KAN-TE-2', 'KAN-WS-1', '2026-11-03'), te('KAN-TE-1', 'KAN-WS-1', '2026-11-03')] }, projects);
    const g = groupEntries(c.billable, projects);
    assert.deepEqual(g[0].items.map((i) => i.entry.id), ['KAN-TE-1', 'KAN-TE-2']);
    assert.deepEqual(batch([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  });
});
