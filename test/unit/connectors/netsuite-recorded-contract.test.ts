/**
 * Contract test on what the NetSuite connector really sends (issue 16 Deliver 4): every write operation is driven
 * against the sandbox, and every record body the sandbox recorded (customer with its address book, job, time bill,
 * invoice with its item lines, the job update of a change order) is checked property by property against NetSuite's
 * record fields (test/fixtures/contracts/netsuite-record-fields.json: the SuiteTalk schema's field names, which REST
 * shares; NetSuite has no account-independent REST contract). A custom field passes only when the sandbox account's
 * customisation declares it, as a firm's account must (docs/connectors/netsuite.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS, NETSUITE_ACCOUNT_CUSTOMISATION, NETSUITE_SANDBOX_FIELDS } from '../../../sandbox/netsuite';
import { NetSuiteConnector, NETSUITE_DEMO_TABLES, type CanonicalAccount, type CanonicalInvoice, type CanonicalProject, type CanonicalTimeEntry } from '../../../lib/connectors/netsuite';

interface Contract {
  records: Record<string, { fields: string[]; sublists?: Record<string, { fields: string[]; subrecords?: Record<string, string[]> }> }>;
}
const CONTRACT = JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/contracts/netsuite-record-fields.json'), 'utf8')) as Contract;
const lower = (xs: string[]) => new Set(xs.map((x) => x.toLowerCase()));

/** Problems of one record body against the contract (names case-insensitive, as NetSuite matches them). */
export function netsuiteBodyProblems(type: string, body: Record<string, unknown>): string[] {
  const rec = CONTRACT.records[type];
  if (!rec) return [`${type}: not a record type of the contract`];
  const custom = NETSUITE_ACCOUNT_CUSTOMISATION.entityFields[type as 'job'] ?? [];
  const allowed = lower([...rec.fields, ...Object.keys(rec.sublists ?? {}), ...custom]);
  const problems: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!allowed.has(k.toLowerCase())) {
      problems.push(/^cust(entity|body|col)_/.test(k) ? `${type}.${k}: custom field the account does not declare` : `${type}.${k}: not a field of ${type}`);
      continue;
    }
    const sub = Object.entries(rec.sublists ?? {}).find(([name]) => name.toLowerCase() === k.toLowerCase())?.[1];
    if (!sub) continue;
    if (v === null) continue;
    const items = (v as { items?: unknown }).items;
    if (typeof v !== 'object' || !Array.isArray(items)) {
      problems.push(`${type}.${k}: a sublist is { items: [...] }`);
      continue;
    }
    const lineAllowed = lower([...sub.fields, ...Object.keys(sub.subrecords ?? {}), ...(type === 'invoice' ? NETSUITE_ACCOUNT_CUSTOMISATION.invoiceLineFields : [])]);
    items.forEach((line, i) => {
      for (const [lk, lv] of Object.entries(line as Record<string, unknown>)) {
        if (!lineAllowed.has(lk.toLowerCase())) problems.push(`${type}.${k}.items[${i}].${lk}: not a field of the ${k} sublist`);
        const subrecord = Object.entries(sub.subrecords ?? {}).find(([name]) => name.toLowerCase() === lk.toLowerCase())?.[1];
        if (subrecord) for (const sk of Object.keys(lv as object)) if (!lower(subrecord).has(sk.toLowerCase())) problems.push(`${type}.${k}.items[${i}].${lk}.${sk}: not a field of ${lk}`);
      }
    });
  }
  return problems;
}

describe('contracts: every NetSuite record body the connector sent, against NetSuite record fields', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox] });
  });
  after(async () => sb.close());

  it('the checker refuses an unknown property, an undeclared custom field and an unknown line field', () => {
    assert.deepEqual(netsuiteBodyProblems('customer', { companyName: 'x', subsidiary: { id: '1' } }), []);
    assert.deepEqual(netsuiteBodyProblems('customer', { companyName: 'x', billingEntity: 'NWA-US' }), ['customer.billingEntity: not a field of customer']);
    assert.deepEqual(netsuiteBodyProblems('job', { custentity_psf_budget_amount: 1, custentity_other: 2 }), ['job.custentity_other: custom field the account does not declare']);
    assert.deepEqual(netsuiteBodyProblems('invoice', { item: { items: [{ item: { id: '1' }, custcol_psf_source_refs: 'a', hours: 1 }] } }), ['invoice.item.items[0].hours: not a field of the item sublist']);
    assert.deepEqual(netsuiteBodyProblems('job', { estimatedLaborHours: 10 }), ['job.estimatedLaborHours: not a field of job'], 'what the connector used to send for the budgeted hours');
  });

  it("the sandbox's standard fields are NetSuite's (no field the sandbox and the connector agree on but NetSuite lacks)", () => {
    for (const [type, fields] of Object.entries(NETSUITE_SANDBOX_FIELDS.standard)) {
      if (!fields.length) continue;
      assert.deepEqual(netsuiteBodyProblems(type, Object.fromEntries(fields.map((f) => [f, null]))), [], type);
    }
    assert.deepEqual(netsuiteBodyProblems('invoice', { item: { items: [Object.fromEntries(NETSUITE_SANDBOX_FIELDS.invoiceLine.map((f) => [f, null]))] } }), []);
  });

  it('the custom fields the sandbox account declares are the ones docs/connectors/netsuite.md tells a firm to create', () => {
    const doc = fs.readFileSync(path.join(__dirname, '../../../../docs/connectors/netsuite.md'), 'utf8');
    const setup = doc.slice(doc.indexOf('## Setup'), doc.indexOf('## Operations'));
    const documented = new Set([...setup.matchAll(/`(cust(?:entity|col|body)_\w+)`/g)].map((m) => m[1]));
    const declared = new Set([...Object.values(NETSUITE_ACCOUNT_CUSTOMISATION.entityFields).flat(), ...NETSUITE_ACCOUNT_CUSTOMISATION.invoiceLineFields]);
    assert.deepEqual([...documented].sort(), [...declared].sort());
  });

  it('customer, project, time bills, invoice with lines, change-order update: no property outside the contract', async () => {
    const T = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];
    const c = new NetSuiteConnector({ accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl: `${sb.url}/netsuite`, auth: { type: 'tba', ...T }, tables: NETSUITE_DEMO_TABLES, asyncPollIntervalMs: 10 });
    const ctx = (k: string) => ({ idempotencyKey: k, attempt: 1 });
    const account: CanonicalAccount = {
      id: 'ACC-7002', version: 1, legalName: 'Contract Test Inc', billingEntity: 'NWA-US', country: 'US', currency: 'USD', status: 'active', paymentTermsDays: 30,
      primaryContact: { id: 'p', email: 'ap@contract.example' } as any, taxRegistrations: [{ scheme: 'EIN', number: 'US-EIN-70-0200200', country: 'US' }],
      addresses: [{ type: 'billing', line1: '1 Test Way', line2: 'Suite 2', city: 'Austin', region: 'TX', postalCode: '78701', country: 'US' }],
    };
    await c.execute('upsertCustomer', { account } as any, ctx('cust'));
    const project: CanonicalProject = { id: 'PRJ-NS-CONTRACT', accountId: 'ACC-7002', code: 'NSCONTRACT', name: 'NetSuite contract test', billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', endDate: '2027-03-31', deliveryManager: { id: 'CON-002' }, budget: { amount: { amount: 50000, currency: 'USD' }, hours: 320 } } as CanonicalProject;
    await c.execute('createProject', { project } as any, ctx('proj'));
    const entries: CanonicalTimeEntry[] = [{ id: 'TE-NSC-1', person: { id: 'CON-004' }, projectId: 'PRJ-NS-CONTRACT', date: '2026-12-02', hours: 6, role: 'Consultant', billable: true, status: 'approved', rate: { amount: 140, currency: 'USD', unit: 'hour' }, notes: 'contract' }];
    await c.execute('createTimeBills', { entries } as any, ctx('tb'));
    const invoice: CanonicalInvoice = {
      id: 'INV-NSC-1', accountId: 'ACC-7002', billingEntity: 'NWA-US', projectId: 'PRJ-NS-CONTRACT', currency: 'USD', issueDate: '2026-12-31', dueDate: '2027-01-30', status: 'draft', purchaseOrder: 'PO-7',
      lines: [{ lineNumber: 1, description: 'Consultant time', role: 'Consultant', quantity: 6, unit: 'hour', unitPrice: { amount: 140, currency: 'USD' }, amount: { amount: 840, currency: 'USD' }, sourceRefs: [{ type: 'timeentry', id: 'TE-NSC-1', hours: 6 }] }],
      subtotal: { amount: 840, currency: 'USD' }, taxTotal: { amount: 0, currency: 'USD' }, total: { amount: 840, currency: 'USD' },
    };
    await c.execute('createInvoice', { invoice } as any, ctx('inv'));
    await c.execute('updateProject', { projectExternalId: 'PRJ-NS-CONTRACT', billingSchedule: { type: 'time-and-materials', invoiceFrequency: 'monthly', cap: { amount: 60000, currency: 'USD' } } } as any, ctx('co'));

    const writes = sb.sandboxes.netsuite.requests().filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && /\/record\/v1\//.test(r.path));
    const problems: string[] = [];
    const checked = new Set<string>();
    for (const r of writes) {
      const type = /\/record\/v1\/(\w+)/.exec(r.path)![1];
      problems.push(...netsuiteBodyProblems(type, (r.body ?? {}) as Record<string, unknown>));
      checked.add(`${r.method} ${type}`);
    }
    assert.deepEqual(problems, [], 'every property the connector sent is a NetSuite field or a declared custom field');
    for (const expected of ['PUT customer', 'POST job', 'POST timebill', 'POST invoice', 'PATCH job']) assert.ok(checked.has(expected), `drove ${expected} (checked: ${[...checked].join(', ')})`);
    const job = writes.find((r) => r.method === 'POST' && r.path.endsWith('/record/v1/job'))!.body as Record<string, unknown>;
    assert.equal(job.estimatedTimeOverride, '320:00', 'the budgeted hours go to Estimated Work, a duration');
  });
});
