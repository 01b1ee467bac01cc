/**
 * Contract test on what the Business Central connector really sends (issue 16 Deliver 4): every write operation is
 * driven against the sandbox, and every request body the sandbox recorded on API v2.0 is checked property by property
 * against the v2.0 property tables (shared/contracts/business-central/bc-api-v2.0-resources-from-docs.json), nested
 * deep-insert lines included. Requests to published pages (ODataV4, Project Card / Project Task Lines) have no
 * machine-readable contract; they are checked against the page fields docs/connectors/business-central.md names.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { businessCentralSandbox, BC_SANDBOX_DEFAULTS } from '../../../sandbox/business-central';
import { BusinessCentralConnector, BC_DEMO_TABLES, type CanonicalAccount, type CanonicalInvoice, type CanonicalProject } from '../../../lib/connectors/business-central';

const CONTRACTS = process.env.PSF_CONTRACTS_DIR ?? '/work/shared/contracts';
const BC_DOCS = path.join(CONTRACTS, 'business-central', 'bc-api-v2.0-resources-from-docs.json');
const RESOURCE_OF_SET: Record<string, string> = { customers: 'customer', projects: 'project', timeRegistrationEntries: 'timeRegistrationEntry', salesInvoices: 'salesInvoice', salesInvoiceLines: 'salesInvoiceLine', employees: 'employee', items: 'item' };
const PAGE_FIELDS: Record<string, string[]> = { PSF_Projects: ['No', 'Description', 'Bill_to_Customer_No'], PSF_ProjectTasks: ['Job_No', 'Job_Task_No', 'Description', 'Job_Task_Type'] };

(fs.existsSync(BC_DOCS) ? describe : describe.skip)('contracts: every Business Central request body the connector sent, against the v2.0 property tables', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  before(async () => {
    sb = await startSandboxes({ vendors: [businessCentralSandbox] });
  });
  after(async () => sb.close());

  it('customer, project (+ bill-to and task), time registration, sales invoice with lines, post: no property outside the contract', async () => {
    const docs = JSON.parse(fs.readFileSync(BC_DOCS, 'utf8')) as { resources: Record<string, { properties: Array<{ name: string }> }> };
    const props = (resource: string) => new Set(docs.resources[resource].properties.map((p) => p.name));
    const T = BC_SANDBOX_DEFAULTS;
    const c = new BusinessCentralConnector({ tenantId: T.tenantId, environment: T.environment, company: 'NWA UK', clientId: T.clients[0].clientId, clientSecret: T.clients[0].clientSecret, baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${T.tenantId}/oauth2/v2.0/token`, tables: BC_DEMO_TABLES['NWA UK'] });
    const ctx = { idempotencyKey: 'k', attempt: 1 };
    const account: CanonicalAccount = { id: 'ACC-7001', legalName: 'Contract Test Ltd', billingEntity: 'NWA-UK', country: 'GB', currency: 'EUR', primaryContact: { id: 'p', email: 'ap@contract.example' } as any, taxRegistrations: [{ scheme: 'VAT', number: 'GB700100100', country: 'GB' }], addresses: [{ type: 'billing', line1: '1 Test St', city: 'Leeds', postalCode: 'LS1 1AA', country: 'GB' }] };
    const project: CanonicalProject = { id: 'PRJ-CONTRACT', accountId: 'ACC-7001', code: 'CONTRACT', name: 'Contract test', billingEntity: 'NWA-UK', currency: 'EUR', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-005' } };
    const customer = (await c.execute('upsertCustomer', { account } as any, ctx)) as any;
    await c.execute('upsertCustomer', { account: { ...account, legalName: 'Contract Test Limited' } } as any, ctx);
    const p = (await c.execute('createProject', { project, account: { ...account, legalName: 'Contract Test Limited' } } as any, ctx)) as any;
    await c.execute('createTimeRegistrationEntries', { entries: [{ id: 'TE-C1', person: { id: 'CON-006' }, projectId: 'PRJ-CONTRACT', date: '2026-12-02', hours: 4, role: 'Consultant', billable: true, status: 'approved' }], projectNumber: p.number } as any, ctx);
    const invoice: CanonicalInvoice = {
      id: 'INV-CONTRACT-REC', accountId: 'ACC-7001', billingEntity: 'NWA-UK', currency: 'EUR', issueDate: '2026-12-31', dueDate: '2027-01-30', status: 'draft', purchaseOrder: 'PO-1',
      lines: [{ lineNumber: 1, description: 'Consultant time', role: 'Consultant', quantity: 4, unit: 'hour', unitPrice: { amount: 120, currency: 'EUR' }, amount: { amount: 480, currency: 'EUR' }, sourceRefs: [{ type: 'timeentry', id: 'TE-C1', hours: 4 }] }],
      subtotal: { amount: 480, currency: 'EUR' }, taxTotal: { amount: 0, currency: 'EUR' }, total: { amount: 480, currency: 'EUR' },
    };
    await c.execute('createSalesInvoice', { invoice, customerNumber: customer.number, post: true } as any, ctx);

    const writes = sb.sandboxes.bc.requests().filter((r) => (r.method === 'POST' || r.method === 'PATCH') && !r.path.includes('/oauth/'));
    const checked = new Set<string>();
    const problems: string[] = [];
    for (const r of writes) {
      const url = r.path.split('?')[0];
      const page = /\/ODataV4\/Company\([^)]*\)\/(\w+)/.exec(decodeURIComponent(url));
      if (page) {
        assert.ok(PAGE_FIELDS[page[1]], `a page the docs name: ${page[1]}`);
        for (const k of Object.keys((r.body ?? {}) as object)) if (!PAGE_FIELDS[page[1]].includes(k)) problems.push(`${r.method} ${page[1]}: ${k}`);
        checked.add(page[1]);
        continue;
      }
      if (url.endsWith('/Microsoft.NAV.post')) {
        assert.ok(r.body === undefined || r.body === '' || Object.keys(r.body as object).length === 0, 'a bound action has no body');
        checked.add('Microsoft.NAV.post');
        continue;
      }
      const set = /\/(\w+)(?:\([^)]*\))?$/.exec(url)![1];
      const resource = RESOURCE_OF_SET[set];
      assert.ok(resource, `a v2.0 entity set: ${set} (${url})`);
      const allowed = props(resource);
      for (const [k, v] of Object.entries((r.body ?? {}) as Record<string, unknown>)) {
        if (set === 'salesInvoices' && k === 'salesInvoiceLines') {
          for (const line of v as Array<Record<string, unknown>>) for (const lk of Object.keys(line)) if (!props('salesInvoiceLine').has(lk)) problems.push(`salesInvoiceLine: ${lk}`);
          continue;
        }
        if (!allowed.has(k)) problems.push(`${r.method} ${set}: ${k}`);
      }
      checked.add(`${r.method} ${set}`);
    }
    assert.deepEqual(problems, [], 'every property the connector sent is in the contract');
    for (const expected of ['POST customers', 'PATCH customers', 'POST projects', 'PSF_Projects', 'PSF_ProjectTasks', 'POST timeRegistrationEntries', 'POST salesInvoices', 'Microsoft.NAV.post']) assert.ok(checked.has(expected), `drove ${expected} (checked: ${[...checked].join(', ')})`);
  });
});
