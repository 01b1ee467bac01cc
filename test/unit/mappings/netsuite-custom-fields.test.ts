/**
 * NetSuite custom fields as config-node settings: each setting changes the field the connector writes (checked on the
 * records the sandbox holds), an absent field degrades as docs/connectors/netsuite.md says, and the setup check names
 * a mapped field the account lacks (metadata catalog) and a permission the role lacks.
 */
import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS } from '../../../sandbox/netsuite';
import { checkNetSuiteCustomFields, DEFAULT_NETSUITE_CUSTOM_FIELDS, NetSuiteConnector, NETSUITE_DEMO_TABLES, type CanonicalAccount, type CanonicalInvoice, type CanonicalProject, type NetSuiteCustomFields } from '../../../lib/connectors/netsuite';
import { checkSetup } from '../../../lib/connectors/netsuite/setup-check';
import { classify } from '../../../lib/delivery/errors';

const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];

describe('NetSuite custom field mapping and setup check', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  let baseUrl: string;
  const connector = (customFields?: Partial<NetSuiteCustomFields>) =>
    new NetSuiteConnector({ accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl, auth: { type: 'tba', ...TBA }, tables: NETSUITE_DEMO_TABLES, asyncPollIntervalMs: 10, customFields: customFields ? checkNetSuiteCustomFields(customFields) : undefined });
  const ctx = (idempotencyKey: string) => ({ idempotencyKey, attempt: 1 });
  const state = (type: string) => Object.values(sb.sandboxes.netsuite.state[type] ?? {}) as Array<Record<string, any>>;
  const sandbox = (method: string, path: string, data?: unknown) => axios.request({ method, url: `${baseUrl}/_sandbox${path}`, data, validateStatus: () => true });

  const account: CanonicalAccount = { id: 'ACC-1003', legalName: 'Initech Software LLC', billingEntity: 'NWA-US', country: 'US', currency: 'USD' };
  const project: CanonicalProject = { id: 'PRJ-MAP-1', accountId: 'ACC-1003', code: 'MAP-1', name: 'Initech - Mapping', billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002' }, budget: { amount: { amount: 80000, currency: 'USD' }, hours: 500 } };
  const invoice: CanonicalInvoice = {
    id: 'INV-MAP-1', accountId: 'ACC-1003', billingEntity: 'NWA-US', projectId: 'PRJ-MAP-1', currency: 'USD', issueDate: '2026-12-31', dueDate: '2027-01-30', status: 'draft',
    lines: [{ lineNumber: 1, description: 'Consultant time', role: 'Consultant', quantity: 8, unitPrice: { amount: 140, currency: 'USD' }, amount: { amount: 1120, currency: 'USD' }, sourceRefs: [{ type: 'timeentry', id: 'TE-1' }, { type: 'timeentry', id: 'TE-2' }] }],
    subtotal: { amount: 1120, currency: 'USD' }, taxTotal: { amount: 0, currency: 'USD' }, total: { amount: 1120, currency: 'USD' },
  };

  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox] });
    baseUrl = `${sb.url}/netsuite`;
  });
  after(async () => sb.close());
  beforeEach(() => sb.sandboxes.netsuite.reset());

  it('validates the setting naming it and what was expected', () => {
    assert.deepEqual(checkNetSuiteCustomFields(undefined), DEFAULT_NETSUITE_CUSTOM_FIELDS);
    assert.equal(checkNetSuiteCustomFields({ budgetAmount: '' }).budgetAmount, null);
    assert.throws(() => checkNetSuiteCustomFields({ sourceRefs: 'custentity_wrong_kind' }), /'sourceRefs'.*custcol_/);
    assert.throws(() => checkNetSuiteCustomFields({ budget: 'custentity_x' }), /names 'budget', which is not one of sourceRefs/);
    assert.throws(() => checkNetSuiteCustomFields(['x']), /must be a JSON object/);
  });

  it('writes the project, change order and invoice fields under the names the setting gives', async () => {
    for (const [record, field, type] of [['job', 'custentity_acme_budget', 'number'], ['job', 'custentity_acme_schedule', 'string'], ['job', 'custentity_acme_cap', 'number'], ['invoice', 'custcol_acme_billed_ids', 'string']]) {
      assert.equal((await sandbox('PUT', `/schema/${record}/fields/${field}`, { type })).status, 200);
    }
    for (const [record, field] of [['job', 'custentity_psf_budget_amount'], ['job', 'custentity_psf_billing_schedule'], ['job', 'custentity_psf_billing_cap'], ['invoice', 'custcol_psf_source_refs']]) {
      assert.equal((await sandbox('DELETE', `/schema/${record}/fields/${field}`)).status, 204);
    }
    const c = connector({ budgetAmount: 'custentity_acme_budget', billingSchedule: 'custentity_acme_schedule', billingCap: 'custentity_acme_cap', sourceRefs: 'custcol_acme_billed_ids' });
    await c.execute('upsertCustomer', { account } as any, ctx('cust'));
    const p = (await c.execute('createProject', { project } as any, ctx('proj'))) as any;
    const job = sb.sandboxes.netsuite.state.job[p.id];
    assert.equal(job.custentity_acme_budget, 80000);
    assert.equal(job.custentity_psf_budget_amount, undefined);
    await c.execute('updateProject', { projectExternalId: 'PRJ-MAP-1', billingSchedule: { type: 'time-and-materials', invoiceFrequency: 'monthly', cap: { amount: 90000, currency: 'USD' } } } as any, ctx('co'));
    assert.equal(JSON.parse(job.custentity_acme_schedule).invoiceFrequency, 'monthly');
    assert.equal(job.custentity_acme_cap, 90000);
    const inv = (await c.execute('createInvoice', { invoice } as any, ctx('inv'))) as any;
    assert.deepEqual(inv.lines[0].sourceRefs, ['TE-1', 'TE-2']);
    const line = state('invoice').find((r) => r.externalId === 'INV-MAP-1')!.item.items[0];
    assert.equal(line.custcol_acme_billed_ids, 'TE-1,TE-2');
    assert.equal(line.custcol_psf_source_refs, undefined);
  });

  it('without the optional project fields writes the rest; without the cap field refuses a capped change order; without the source refs column refuses the invoice', async () => {
    for (const [record, field] of [['job', 'custentity_psf_budget_amount'], ['job', 'custentity_psf_billing_schedule'], ['job', 'custentity_psf_billing_cap'], ['invoice', 'custcol_psf_source_refs']]) await sandbox('DELETE', `/schema/${record}/fields/${field}`);
    const c = connector({ budgetAmount: '', billingSchedule: '', billingCap: '', sourceRefs: '' });
    await c.execute('upsertCustomer', { account } as any, ctx('cust'));
    const p = (await c.execute('createProject', { project } as any, ctx('proj'))) as any;
    const job = sb.sandboxes.netsuite.state.job[p.id];
    assert.equal(job.estimatedTimeOverride, '500:00', 'the budgeted hours are a standard field (Estimated Work)');
    assert.ok(!Object.keys(job).some((k) => k.startsWith('custentity')));
    await c.execute('updateProject', { projectExternalId: 'PRJ-MAP-1', billingSchedule: { type: 'milestones', milestones: [] } } as any, ctx('co-ms'));
    assert.equal(job.jobBillingType, 'FBM');
    await assert.rejects(c.execute('updateProject', { projectExternalId: 'PRJ-MAP-1', billingSchedule: { type: 'time-and-materials', invoiceFrequency: 'monthly', cap: { amount: 1, currency: 'USD' } } } as any, ctx('co-cap')), (err: unknown) => {
      const e = classify(err);
      return e.errorClass === 'validation' && /billingCap/.test(e.message) && /cap of 1 USD/.test(e.message);
    });
    const writesBefore = sb.sandboxes.netsuite.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/record/v1/invoice')).length;
    await assert.rejects(c.execute('createInvoice', { invoice } as any, ctx('inv')), (err: unknown) => {
      const e = classify(err);
      return e.errorClass === 'validation' && /sourceRefs/.test(e.message) && /Long Text transaction line field/.test(e.message);
    });
    assert.equal(sb.sandboxes.netsuite.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/record/v1/invoice')).length, writesBefore, 'no invoice sent');
    assert.equal(state('invoice').length, 0);
  });

  it('the default setting against an account without the fields: the connector reads the metadata catalog once and degrades instead of sending a field NetSuite would refuse', async () => {
    for (const [record, field] of [['job', 'custentity_psf_budget_amount'], ['job', 'custentity_psf_billing_schedule'], ['invoice', 'custcol_psf_source_refs']]) await sandbox('DELETE', `/schema/${record}/fields/${field}`);
    const c = connector();
    await c.execute('upsertCustomer', { account } as any, ctx('cust'));
    const p = (await c.execute('createProject', { project } as any, ctx('proj'))) as any;
    const job = sb.sandboxes.netsuite.state.job[p.id];
    assert.equal(job.custentity_psf_budget_amount, undefined);
    assert.equal(job.estimatedTimeOverride, '500:00');
    await c.execute('updateProject', { projectExternalId: 'PRJ-MAP-1', billingSchedule: { type: 'time-and-materials', invoiceFrequency: 'monthly', cap: { amount: 70000, currency: 'USD' } } } as any, ctx('co'));
    assert.equal(job.custentity_psf_billing_cap, 70000, 'the cap field the account has is written');
    assert.equal(job.custentity_psf_billing_schedule, undefined);
    await assert.rejects(c.execute('createInvoice', { invoice } as any, ctx('inv')), (err: unknown) => /sourceRefs/.test(classify(err).message));
    assert.equal(state('invoice').length, 0);
    const catalogReads = sb.sandboxes.netsuite.requests().filter((r) => r.path.includes('/metadata-catalog/'));
    assert.deepEqual(catalogReads.map((r) => r.path.split('/').pop()).sort(), ['invoice', 'job'], 'each record type read once');
    assert.equal(sb.sandboxes.netsuite.requests().filter((r) => r.status === 400).length, 0, 'no write refused by NetSuite');
  });

  it('serves the metadata catalog as JSON Schema with the custom fields, and refuses another Accept', async () => {
    const c = connector();
    const job = (await c.client.request('GET', '/record/v1/metadata-catalog/job', { headers: { Accept: 'application/schema+json' } })).data;
    assert.equal(job.properties.custentity_psf_budget_amount.type, 'number');
    const inv = (await c.client.request('GET', '/record/v1/metadata-catalog/invoice', { headers: { Accept: 'application/schema+json' } })).data;
    assert.equal(inv.definitions['invoice-itemElement'].properties.custcol_psf_source_refs.type, 'string');
    await assert.rejects(c.client.request('GET', '/record/v1/metadata-catalog/job'), (err: any) => err.response?.status === 400);
  });

  it('setup check: all OK against the sandbox as seeded', async () => {
    const r = await checkSetup(connector().client, { customFields: DEFAULT_NETSUITE_CUSTOM_FIELDS });
    assert.deepEqual(r.problems, []);
    assert.equal(r.ok, true);
    assert.deepEqual(r.checks.map((x) => [x.check, x.ok]), [['auth', true], ['api-version', true], ['fields', true], ['permissions', true]]);
  });

  it('setup check: names a mapped field the account lacks, one of the wrong type, an empty setting, a missing permission and a refused login', async () => {
    await sandbox('DELETE', '/schema/invoice/fields/custcol_psf_source_refs');
    await sandbox('PUT', '/schema/job/fields/custentity_psf_budget_amount', { type: 'string' });
    await sandbox('DELETE', '/permissions/timebill');
    const r = await checkSetup(connector().client, { customFields: checkNetSuiteCustomFields({ billingSchedule: '' }) });
    assert.equal(r.ok, false);
    const missing = r.problems.find((p) => p.what.startsWith('custcol_psf_source_refs'))!;
    assert.equal(missing.severity, 'error');
    assert.match(missing.what, /Custom fields > sourceRefs/);
    assert.match(missing.fix, /Transaction Line Field.*Long Text.*with ID _psf_source_refs/);
    assert.match(r.problems.find((p) => p.what.startsWith('custentity_psf_budget_amount'))!.what, /has type string/);
    const empty = r.problems.find((p) => /billingSchedule/.test(p.what))!;
    assert.equal(empty.severity, 'warning');
    assert.match(empty.what, /setting Custom fields > billingSchedule is empty/);
    const perm = r.problems.find((p) => p.check === 'permissions')!;
    assert.match(perm.what, /timebill/);
    assert.match(perm.fix, /Transactions > Track Time \(Full\)/);

    const bad = new NetSuiteConnector({ accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl, auth: { type: 'tba', ...TBA, tokenSecret: 'wrong' } });
    const denied = await checkSetup(bad.client, { customFields: DEFAULT_NETSUITE_CUSTOM_FIELDS });
    assert.equal(denied.ok, false);
    assert.deepEqual(denied.checks.map((x) => x.check), ['auth']);
    assert.match(denied.problems[0].fix, /Access Tokens/);
  });

  it('the sandbox restores removed fields and permissions on reset', async () => {
    await sandbox('DELETE', '/schema/invoice/fields/custcol_psf_source_refs');
    await sandbox('DELETE', '/permissions/job');
    sb.sandboxes.netsuite.reset();
    const r = await checkSetup(connector().client, { customFields: DEFAULT_NETSUITE_CUSTOM_FIELDS });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
  });
});
