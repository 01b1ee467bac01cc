/**
 * lib/processes/reporting/sources: what the performance-to-reporting template reads, shaped for the roll-up and the
 * reconciliation; region from the ERP routing table, Kantata custom fields from the connector's field map.
 */
import assert from 'node:assert/strict';
import { routingTable } from '../../../lib/processes/common';
import { reconcileInputFromReads, reconcileRequestMessage, reconcileRequestProblems, reportingPeriod, rollupInputFromKantata } from '../../../lib/processes/reporting/sources';

describe('processes/reporting sources', () => {
  describe('reportingPeriod', () => {
    const now = new Date('2026-12-06T08:00:00Z');
    it('from + to as given, else the month named, else the month to date', () => {
      assert.deepEqual(reportingPeriod({ from: '2026-10-01', to: '2026-10-15' }, now), { from: '2026-10-01', to: '2026-10-15' });
      assert.deepEqual(reportingPeriod({ period: '2026-11' }, now), { from: '2026-11-01', to: '2026-11-30' });
      assert.deepEqual(reportingPeriod({ period: '2024-02' }, now), { from: '2024-02-01', to: '2024-02-29' });
      assert.deepEqual(reportingPeriod({ period: '' }, now), { from: '2026-12-01', to: '2026-12-06' });
      assert.deepEqual(reportingPeriod({}, now), { from: '2026-12-01', to: '2026-12-06' });
    });
    it('refuses a period that is not a month, and half a range, naming what was given', () => {
      assert.throws(() => reportingPeriod({ period: 'November' }, now), /msg\.period must be a month YYYY-MM .*"November"/);
      assert.throws(() => reportingPeriod({ period: '2026-13' }, now), /YYYY-MM/);
      assert.throws(() => reportingPeriod({ from: '2026-11-01' }, now), /from and msg\.to must both be dates/);
      assert.throws(() => reportingPeriod({ from: '2026-11-30', to: '2026-11-01' }, now), /from <= to/);
    });
  });

  describe('rollupInputFromKantata', () => {
    const workspaces = {
      '7': { id: '7', currency: 'GBP', custom_fields: [{ custom_field_id: '501', value: 'NWA-UK' }] },
      '8': { id: '8', currency: 'USD', custom_fields: [] },
    };
    const entries = [
      { id: 1, workspace_id: '7', user_id: 11, date_performed: '2026-11-03', time_in_minutes: 480, billable: true, approved: true, is_invoiced: false, rate_in_cents: 15000 },
      { id: 2, workspace_id: '7', user_id: 12, date_performed: '2026-11-04', time_in_minutes: 90, billable: false, approved: false, is_invoiced: false },
      { id: 3, workspace_id: '8', user_id: 11, date_performed: '2026-11-05', time_in_minutes: 60, billable: true, approved: true, is_invoiced: true, rate_in_cents: 10000 },
    ];
    it('one project per workspace with the region of its billing entity from the routing table; entries in hours', () => {
      const input = rollupInputFromKantata(entries, workspaces, { period: { from: '2026-11-01', to: '2026-11-30' }, fieldNames: { '501': 'billingEntity' } });
      assert.deepEqual(input.projects, [
        { projectId: 'KAN-WS-7', region: 'UK&I', currency: 'GBP' },
        { projectId: 'KAN-WS-8', region: 'unknown', currency: 'USD' },
      ]);
      assert.deepEqual(input.timeEntries.map((e) => [e.id, e.hours, e.status, e.rate, e.billable]), [['1', 8, 'approved', 150, true], ['2', 1.5, 'submitted', 0, false], ['3', 1, 'billed', 100, true]]);
      assert.deepEqual([input.from, input.to, input.people, input.invoices], ['2026-11-01', '2026-11-30', [], []]);
    });
    it('takes the region from a routing override and the billing entity from another field id', () => {
      const routing = routingTable({ 'NWA-UK': { region: 'Britain' } });
      const ws = { '7': { id: '7', currency: 'GBP', custom_fields: [{ custom_field_id: '9001', value: 'NWA-UK' }] } };
      const input = rollupInputFromKantata(entries.slice(0, 1), ws, { period: { from: '2026-11-01', to: '2026-11-30' }, routing, fieldNames: { '9001': 'billingEntity' } });
      assert.equal(input.projects[0].region, 'Britain');
    });
  });

  describe('reconcile-request', () => {
    it('accepts no data (read the lists) and record lists with keys', () => {
      assert.deepEqual(reconcileRequestProblems({ id: 'r1' }), []);
      assert.deepEqual(reconcileRequestProblems({ id: 'r1', data: { customer: { crm: [{ key: 'ACC-1' }], psa: [] }, expectedIn: {} } }), []);
    });
    it('names every problem with its path', () => {
      assert.deepEqual(reconcileRequestProblems('x'), [{ path: '', message: 'must be a CloudEvent object, got string' }]);
      assert.deepEqual(reconcileRequestProblems({ data: [] }), [{ path: '/data', message: 'must be an object with customer / project lists (or absent to read them), got an array' }]);
      const problems = reconcileRequestProblems({ data: { customers: 1, customer: { crm: [{}], ledger: [] }, project: { erp: 'none' } } });
      assert.deepEqual(problems.map((p) => p.path), ['/data/customers', '/data/customer/crm/0/key', '/data/customer/ledger', '/data/project/erp']);
      assert.match(reconcileRequestMessage('r9', problems), /^reconcile-request r9 is not valid: \/data\/customers is not a reconcile-request field/);
      const many = Array.from({ length: 7 }, (_, i) => ({ path: `/p${i}`, message: 'bad' }));
      assert.match(reconcileRequestMessage(undefined, many), /^reconcile-request is not valid: .*; and 2 more$/);
    });
  });

  describe('reconcileInputFromReads', () => {
    it('keys customers and projects by our external ids in every system; legacy-ERP entities expected in CRM + PSA only', () => {
      const input = reconcileInputFromReads({
        accounts: [
          { Id: '001A', Name: 'Acme', External_Id__c: 'ACC-1', Billing_Entity__c: 'NWA-UK', Tax_Registration__c: 'GB123' },
          { Id: '001B', Name: 'Lumière', External_Id__c: 'ACC-2', Billing_Entity__c: 'NWA-FR' },
          { Id: '001C', Name: 'Prospect', External_Id__c: 'ACC-3', Billing_Entity__c: 'NWA-US' },
        ],
        opportunities: [{ Id: '006A', Name: 'Acme rollout', AccountId: '001A', CurrencyIsoCode: 'GBP' }, { Id: '006B', Name: 'Lumière OM', AccountId: '001B', CurrencyIsoCode: 'EUR' }],
        nsCustomers: [],
        bcUkCustomers: [{ id: 'c1', number: 'C00010', displayName: 'Acme', taxRegistrationNumber: '123' }],
        bcUkProjects: [{ id: 'p1', number: 'PR00010', displayName: 'Acme rollout (PRJ-006A)' }],
        nsJobs: [{ id: 5, externalid: '006X', companyname: 'Other' }],
        workspaces: [
          { id: 'w1', title: 'Acme rollout', currency: 'GBP', client_name: 'Acme', custom_fields: [{ custom_field_id: '502', value: '006A' }, { custom_field_id: '503', value: 'ACC-1' }] },
          { id: 'w2', title: 'Lumière OM', currency: 'EUR', client_name: 'Lumière', custom_fields: [{ custom_field_id: '502', value: '006B' }, { custom_field_id: '503', value: 'ACC-2' }] },
        ],
      }, { fieldNames: { '502': 'opportunityId', '503': 'accountExternalId' } });
      assert.deepEqual(input.customer.erp, [{ key: 'ACC-1', systemId: 'bc-uk:c1', name: 'Acme' }]);
      assert.deepEqual(input.project.erp, [{ key: 'PRJ-006X', systemId: 'netsuite:5', name: 'Other' }, { key: 'PRJ-006A', systemId: 'bc-uk:p1', name: 'Acme rollout' }]);
      assert.deepEqual(input.customer.crm.map((c) => c.key), ['ACC-1', 'ACC-2'], 'the prospect without a deal is not compared');
      assert.deepEqual(input.customer.psa.map((c) => [c.key, c.systemId]), [['ACC-1', 'kantata:w1'], ['ACC-2', 'kantata:w2']]);
      assert.deepEqual(input.project.psa.map((p) => p.key), ['PRJ-006A', 'PRJ-006B']);
      assert.deepEqual(input.project.crm.map((p) => p.key), ['PRJ-006A', 'PRJ-006B']);
      assert.deepEqual(input.expectedIn, { customer: { 'ACC-2': ['crm', 'psa'] }, project: { 'PRJ-006B': ['crm', 'psa'] } });
    });
  });
});
