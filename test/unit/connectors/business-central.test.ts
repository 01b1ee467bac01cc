import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { businessCentralSandbox, businessCentralControl, BC_SANDBOX_DEFAULTS } from '../../../sandbox/business-central';
import { BusinessCentralConnector, BC_DEMO_TABLES, type CanonicalAccount, type CanonicalInvoice, type CanonicalProject, type CanonicalTimeEntry } from '../../../lib/connectors/business-central';
import { classify, PermanentError, TransientError } from '../../../lib/delivery/errors';

const TENANT = BC_SANDBOX_DEFAULTS.tenantId;
const ENV = BC_SANDBOX_DEFAULTS.environment;
const CLIENT = BC_SANDBOX_DEFAULTS.clients[0];

describe('Business Central connector against the BC sandbox', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  const connector = (company = 'NWA UK', secret = CLIENT.clientSecret, numbering: 'series' | 'manual' = 'series') =>
    new BusinessCentralConnector({ tenantId: TENANT, environment: ENV, company, clientId: CLIENT.clientId, clientSecret: secret, baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${TENANT}/oauth2/v2.0/token`, tables: BC_DEMO_TABLES[company], numbering });
  const rows = (set: string) => Object.values(sb.sandboxes.bc.state[set] ?? {}) as Array<Record<string, any>>;
  const ctx = { idempotencyKey: 'k', attempt: 1 };

  before(async () => {
    sb = await startSandboxes({ vendors: [businessCentralSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.bc.reset();
    businessCentralControl(sb.sandboxes.bc).settings.pageSize = 20000;
    businessCentralControl(sb.sandboxes.bc).settings.manualNos = { customers: false, projects: false };
    businessCentralControl(sb.sandboxes.bc).revokeTokens();
  });

  const account: CanonicalAccount = {
    id: 'ACC-2002', legalName: 'Thames Water Services Ltd', billingEntity: 'NWA-UK', country: 'GB', currency: 'GBP', status: 'active',
    taxRegistrations: [{ scheme: 'VAT', number: 'GB987654321', country: 'GB' }],
    addresses: [{ type: 'billing', line1: 'Clearwater Ct', city: 'Reading', postalCode: 'RG1 8DB', country: 'GB' }],
  };

  it('gets an Entra token (client credentials, .default scope), caches it and refreshes once on 401', async () => {
    const c = connector();
    const companies = await c.client.list('companies');
    assert.deepEqual(companies.map((x) => x.name).sort(), ['NWA DE', 'NWA UK']);
    await c.client.listIn('customers');
    const tokenCalls = () => sb.sandboxes.bc.requests().filter((r) => r.path.includes('/oauth2/v2.0/token')).length;
    assert.equal(tokenCalls(), 1);
    businessCentralControl(sb.sandboxes.bc).revokeTokens();
    await c.client.listIn('customers');
    assert.equal(tokenCalls(), 2);
    const body = sb.sandboxes.bc.requests().find((r) => r.path.includes('/oauth2/v2.0/token'))!.body as string;
    assert.match(body, /scope=https%3A%2F%2Fapi\.businesscentral\.dynamics\.com%2F\.default/);
  });

  it('rejects a wrong client secret with an AADSTS error, classified auth', async () => {
    await assert.rejects(connector('NWA UK', 'wrong').client.list('companies'), (err: unknown) => {
      const e = classify(err);
      return e instanceof PermanentError && e.errorClass === 'auth' && /invalid_client/.test(e.message) && (e.response as any).error_codes[0] === 7000215;
    });
  });

  it('upserts a customer: BC numbers it from the series, found again by tax registration, PATCH with If-Match, tax area and LCY currency mapped', async () => {
    const c = connector();
    const first = (await c.execute('upsertCustomer', { account } as any, ctx)) as any;
    assert.equal(first.created, true);
    assert.equal(first.number, 'C10001', 'the number series assigns the number; the connector types none');
    assert.equal((sb.sandboxes.bc.requests().find((r) => r.method === 'POST' && /\/customers(\?|$)/.test(r.path))!.body as any).number, undefined);
    assert.equal(first.currencyCode, '', 'GBP is the UK company LCY: BC leaves it empty');
    assert.equal(first.taxRegistrationNumber, 'GB987654321');
    assert.equal(first.taxAreaDisplayName, 'Domestic customers');
    const same = (await c.execute('upsertCustomer', { account } as any, ctx)) as any;
    assert.equal(same.updated, false);
    const renamed = (await c.execute('upsertCustomer', { account: { ...account, legalName: 'Thames Water Utilities Ltd', country: 'DE', currency: 'EUR' } } as any, ctx)) as any;
    assert.equal(renamed.updated, true);
    assert.equal(renamed.currencyCode, 'EUR');
    assert.equal(renamed.taxAreaDisplayName, 'Other customers', 'a German customer of the UK company is export (GB is outside the EU)');
    assert.equal(rows('customers').filter((x) => x.number === 'C10001').length, 1);
    assert.equal(rows('customers').filter((x) => x.taxRegistrationNumber === 'GB987654321').length, 1);
    const patch = sb.sandboxes.bc.requests().find((r) => r.method === 'PATCH')!;
    assert.match(patch.headers['if-match'], /^W\/"/);
  });

  it('answers 412 on a stale etag and 400 without If-Match; upsert re-reads once after a 412', async () => {
    const c = connector();
    const cust = (await c.client.listIn('customers', { filter: "number eq 'ACC-2001'" }))[0];
    const stale = cust['@odata.etag']!;
    await c.client.patch('customers', cust.id, { phoneNumber: '+44 20 1111 2222' }, stale);
    await assert.rejects(c.client.patch('customers', cust.id, { phoneNumber: '+44 20 3333 4444' }, stale), (err: unknown) => {
      const e = classify(err);
      return e.status === 412 && e.errorClass === 'conflict' && (e.response as any).error.code === 'Request_EntityChanged';
    });
    await assert.rejects(c.client.request('PATCH', `${await c.client.companyPath()}/customers(${cust.id})`, { data: { phoneNumber: 'x' } }), (err: unknown) => {
      const e = classify(err);
      return e.status === 400 && (e.response as any).error.code === 'BadRequest_InvalidToken';
    });
    // A concurrent writer changes the record between the connector's read and write: one re-read, then success.
    const origPatch = c.client.patch.bind(c.client);
    let interfered = false;
    c.client.patch = (async (set: string, id: string, body: Record<string, unknown>, etag: string) => {
      if (!interfered) {
        interfered = true;
        await origPatch(set, id, { phoneNumber: '+44 20 0000 0000' }, etag);
      }
      return origPatch(set, id, body, etag);
    }) as typeof c.client.patch;
    const britrail: CanonicalAccount = { id: 'ACC-2001', externalIds: { businessCentral: 'ACC-2001' }, legalName: 'Britannia Rail Group plc', billingEntity: 'NWA-UK', country: 'GB', currency: 'GBP', taxRegistrations: [{ scheme: 'VAT', number: 'GB123456789', country: 'GB' }] };
    const res = (await c.execute('upsertCustomer', { account: britrail } as any, ctx)) as any;
    assert.equal(res.displayName, 'Britannia Rail Group plc');
    assert.equal(sb.sandboxes.bc.requests().filter((r) => r.method === 'PATCH' && r.status === 412).length, 2);
  });

  const project: CanonicalProject = { id: 'PRJ-THAMES-CRM', accountId: 'ACC-2002', code: 'THAMES-CRM', name: 'Thames Water - Field Service CRM', billingEntity: 'NWA-UK', currency: 'GBP', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-07', deliveryManager: { id: 'CON-005' } };

  it('creates a project once from the number series, billed to the account\'s customer, with its task; time is registered on that task once, even when retried', async () => {
    const c = connector();
    const customer = (await c.execute('upsertCustomer', { account } as any, ctx)) as any;
    const p1 = (await c.execute('createProject', { project, account } as any, ctx)) as any;
    const p2 = (await c.execute('createProject', { project, account } as any, ctx)) as any;
    assert.equal(p1.created, true);
    assert.equal(p1.number, 'J00001', 'BC assigns the project number');
    assert.equal(p1.displayName, 'Thames Water - Field Service CRM (PRJ-THAMES-CRM)');
    assert.equal(p1.billToCustomerNumber, customer.number);
    assert.equal(p1.jobTaskNumber, '1000');
    assert.equal(p1.id, p2.id);
    assert.equal(p2.created, false, 'the retry finds the project by its name and code');
    assert.equal(sb.sandboxes.bc.requests().filter((r) => r.method === 'POST' && /\/projects(\?|$)/.test(r.path)).length, 1);
    assert.equal(sb.sandboxes.bc.requests().filter((r) => r.method === 'POST' && /PSF_ProjectTasks/.test(r.path)).length, 1);
    const card = (await c.client.pageFind('PSF_Projects', "No eq 'J00001'"))[0];
    assert.equal(card.Bill_to_Customer_No, customer.number);
    const entries: CanonicalTimeEntry[] = [
      { id: 'TE-80001', person: { id: 'CON-006' }, projectId: 'THAMES-CRM', date: '2026-12-07', hours: 8, role: 'Senior Consultant', billable: true, status: 'approved' },
      { id: 'TE-80002', person: { id: 'CON-006' }, projectId: 'THAMES-CRM', date: '2026-12-07', hours: 8, role: 'Senior Consultant', billable: true, status: 'approved' },
    ];
    const a = (await c.execute('createTimeRegistrationEntries', { entries, projectNumber: p1.number } as any, ctx)) as any;
    const b = (await c.execute('createTimeRegistrationEntries', { entries, projectNumber: p1.number } as any, ctx)) as any;
    assert.deepEqual(a.entries.map((e: any) => e.created), [true, true]);
    assert.deepEqual(b.entries.map((e: any) => e.created), [false, false]);
    assert.deepEqual(new Set(b.entries.map((e: any) => e.id)), new Set(a.entries.map((e: any) => e.id)));
    assert.deepEqual(rows('timeRegistrationEntries').filter((e) => e.jobNumber === 'J00001').map((e) => e.jobTaskNumber), ['1000', '1000']);
  });

  it('the sandbox refuses what BC refuses: a typed number where the series has no Manual Nos., an unknown bill-to customer, time on a project without the task', async () => {
    const c = connector();
    const path = `${await c.client.companyPath()}/customers`;
    await assert.rejects(c.client.request('POST', path, { data: { number: 'ACC-2002', displayName: 'Thames Water Services Ltd' } }), (err: unknown) => {
      const e = classify(err);
      return e instanceof PermanentError && e.status === 400 && (e.response as any).error.code === 'Application_DialogException' && /Manual Nos\. in No\. Series CUST/.test((e.response as any).error.message);
    });
    // manual numbering against a series without Manual Nos.: the connector's typed number is refused, nothing created
    await assert.rejects(connector('NWA UK', CLIENT.clientSecret, 'manual').execute('upsertCustomer', { account } as any, ctx), (err: unknown) => /Manual Nos\./.test((classify(err).response as any).error.message));
    assert.equal(rows('customers').filter((x) => x.displayName === account.legalName).length, 0);
    const created = await c.client.create('projects', { displayName: 'No customer yet' });
    await assert.rejects(c.client.pagePatch('PSF_Projects', `'${created.number}'`, { Bill_to_Customer_No: 'NO-SUCH' }, '*'), (err: unknown) => (classify(err).response as any).error.code === 'Internal_InvalidTableRelation');
    await assert.rejects(c.execute('createProject', { project, account } as any, ctx), (err: unknown) => err instanceof PermanentError && /bill-to customer/.test(err.message), 'no customer for the account: the project is not created');
    await assert.rejects(c.client.create('timeRegistrationEntries', { employeeNumber: 'CON-006', jobNumber: created.number, jobTaskNumber: '1000', date: '2026-12-07', quantity: 2 }), (err: unknown) => /Project Task does not exist/.test((classify(err).response as any).error.message));
  });

  it('manual numbering where the series allows Manual Nos.: the canonical id and project code are typed and looked up by number', async () => {
    businessCentralControl(sb.sandboxes.bc).settings.manualNos = { customers: true, projects: true };
    const c = connector('NWA UK', CLIENT.clientSecret, 'manual');
    const cust = (await c.execute('upsertCustomer', { account } as any, ctx)) as any;
    assert.equal(cust.number, 'ACC-2002');
    const p = (await c.execute('createProject', { project, account } as any, ctx)) as any;
    assert.equal(p.number, 'THAMES-CRM');
    assert.equal(p.billToCustomerNumber, 'ACC-2002');
    assert.equal(((await c.execute('createProject', { project, customerNumber: 'ACC-2002' } as any, ctx)) as any).created, false);
  });

  const invoice: CanonicalInvoice = {
    id: 'INV-NWA-UK-2026-11-ACC-2001', accountId: 'ACC-2001', billingEntity: 'NWA-UK', projectId: '006Hs00000BritRailS', currency: 'GBP', issueDate: '2026-11-30', dueDate: '2026-12-30', status: 'draft',
    lines: [
      { lineNumber: 1, description: 'Senior Consultant - November 2026', role: 'Senior Consultant', quantity: 15.5, unit: 'hour', unitPrice: { amount: 150, currency: 'GBP' }, amount: { amount: 2325, currency: 'GBP' }, sourceRefs: [{ type: 'timeentry', id: 'TE-00031', hours: 8 }, { type: 'timeentry', id: 'TE-00033', hours: 7.5 }] },
      { lineNumber: 2, description: 'Consultant - November 2026', role: 'Consultant', quantity: 6, unit: 'hour', unitPrice: { amount: 115, currency: 'GBP' }, amount: { amount: 690, currency: 'GBP' }, sourceRefs: [{ type: 'timeentry', id: 'TE-00032', hours: 6 }] },
    ],
    subtotal: { amount: 3015, currency: 'GBP' }, taxTotal: { amount: 603, currency: 'GBP' }, total: { amount: 3618, currency: 'GBP' },
  };

  it('deep-inserts a sales invoice with lines traceable to time entries, finds it again on retry, and posts it once', async () => {
    const c = connector();
    const first = (await c.execute('createSalesInvoice', { invoice } as any, ctx)) as any;
    assert.equal(first.created, true);
    assert.equal(first.status, 'Draft');
    assert.deepEqual(first.salesInvoiceLines.map((l: any) => l.description2), ['TE-00031', 'TE-00033', 'TE-00032']);
    assert.deepEqual(first.salesInvoiceLines.map((l: any) => l.quantity), [8, 7.5, 6]);
    assert.equal(first.totalAmountExcludingTax, 3015);
    assert.equal(first.totalAmountIncludingTax, 3618);
    const retry = (await c.execute('createSalesInvoice', { invoice } as any, ctx)) as any;
    assert.equal(retry.id, first.id);
    assert.equal(retry.created, false);
    assert.equal(rows('salesInvoices').filter((x) => x.externalDocumentNumber === invoice.id).length, 1);
    assert.equal(sb.sandboxes.bc.requests().filter((r) => r.method === 'POST' && /salesInvoices(\?|$)/.test(r.path.split('/').pop()!)).length, 1);

    const posted = (await c.execute('postSalesInvoice', { invoiceId: first.id } as any, ctx)) as any;
    assert.equal(posted.posted, true);
    assert.equal(posted.status, 'Open');
    assert.match(posted.number, /^PS-INV/);
    const again = (await c.execute('postSalesInvoice', { externalDocumentNumber: invoice.id } as any, ctx)) as any;
    assert.equal(again.posted, false, 'a retried post finds the invoice posted and stops');
    await assert.rejects(c.client.action('salesInvoices', first.id, 'post'), (err: unknown) => classify(err).status === 400);
  });

  it('a deep insert with a bad line creates nothing (400 with the OData error kept)', async () => {
    const c = connector();
    const bad = { ...invoice, id: 'INV-BAD', lines: [{ ...invoice.lines[0], role: 'Astronaut' }] };
    const tables = { ...BC_DEMO_TABLES['NWA UK'], items: { Astronaut: 'NO-SUCH-ITEM' } };
    const c2 = new BusinessCentralConnector({ tenantId: TENANT, environment: ENV, company: 'NWA UK', clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret, baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${TENANT}/oauth2/v2.0/token`, tables });
    void c;
    await assert.rejects(c2.execute('createSalesInvoice', { invoice: bad } as any, ctx), (err: unknown) => {
      const e = classify(err);
      return e.status === 400 && e.errorClass === 'validation' && (e.response as any).error.code === 'Internal_InvalidTableRelation';
    });
    assert.equal(rows('salesInvoices').filter((x) => x.externalDocumentNumber === 'INV-BAD').length, 0);
  });

  it('surfaces 429 with Retry-After through classify (transient, retryAfterMs)', async () => {
    const c = connector();
    await c.client.companyPath();
    sb.sandboxes.bc.faults = { ...sb.sandboxes.bc.faults, rate429: 1, retryAfterSeconds: 7 };
    await assert.rejects(c.client.listIn('customers'), (err: unknown) => {
      const e = classify(err);
      return e instanceof TransientError && e.status === 429 && e.retryAfterMs === 7000 && (e.response as any).error.code === 'Application_TooManyRequests';
    });
  });

  it('follows @odata.nextLink until the collection is complete', async () => {
    businessCentralControl(sb.sandboxes.bc).settings.pageSize = 2;
    const c = connector();
    const employees = await c.client.listIn('employees');
    assert.equal(employees.length, 3);
    const gets = sb.sandboxes.bc.requests().filter((r) => r.path.includes('/employees'));
    assert.equal(gets.length, 2);
    assert.match(gets[1].path, /\$skiptoken=2/);
  });
});
