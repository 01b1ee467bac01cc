/**
 * The cross-reference of record ids (lib/xref) with real parts: the SQLite store on disk, the delivery engine, the
 * vendor sandboxes over HTTP.
 *  - Business Central under its default number series: quote-to-project creates a new customer (BC numbers it), and a
 *    time-to-cash invoice for that customer lands at BC with the number BC gave (issue 16 row 9; fails on the code that
 *    derived the customer number from the account id). The number is written by the write, read by a replay and by
 *    a new process on the same file.
 *  - SIGKILL: a child process records ids and is killed; every id it acknowledged is there when the file is reopened.
 *  - People: a project lead Jira cannot resolve lands in the exception queue naming the person and the site; once the
 *    person exists at the sandbox a replay completes the write, and the account is cached for the next project.
 *    Kantata participations and Business Central employees are resolved by email the same way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import axios from 'axios';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { businessCentralSandbox, businessCentralControl, BC_SANDBOX_DEFAULTS } from '../../../sandbox/business-central';
import { jiraSandbox, JIRA_EMAIL, JIRA_API_TOKEN } from '../../../sandbox/jira';
import { kantataSandbox, KANTATA_STATIC_TOKEN } from '../../../sandbox/kantata';
import { KantataClient } from '../../../lib/connectors/kantata/client';
import { BusinessCentralConnector, BC_DEMO_TABLES, type CanonicalInvoice, type CanonicalTimeEntry } from '../../../lib/connectors/business-central';
import { JiraClient } from '../../../lib/connectors/jira/client';
import { registerConnection } from '../../../lib/connectors/glue';
import { openFabric, type FabricHandle } from '../../../lib/fabric/services';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { CrossReference, personKey, xrefKeyOfRecord } from '../../../lib/xref';
import { dealFromSalesforce, planQuoteToProject } from '../../../lib/processes/quote-to-project';
import { erpInvoiceRequest } from '../../../lib/processes/time-to-cash';
import { FabricError } from '../../../lib/delivery/errors';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const TENANT = BC_SANDBOX_DEFAULTS.tenantId;
const CLIENT = BC_SANDBOX_DEFAULTS.clients[0];
const FAST = { ratePerSecond: 0, concurrency: 2, maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 20 };

/** A closed-won deal of a customer Business Central has never seen (not in the sandbox seed), billed by NWA UK. */
function newCustomerDeal() {
  return dealFromSalesforce({
    opportunity: {
      Id: '006Hs00000HarbourX1', Name: 'Harbour Lights - ERP Rollout', StageName: 'Closed Won', Amount: 48000, CurrencyIsoCode: 'GBP', CloseDate: '2026-11-20', Billing_Model__c: 'time-and-materials',
      Delivery_Manager_Id__c: 'CON-001', Delivery_Manager_Email__c: 'dm@firm.example', LastModifiedDate: '2026-11-20T10:00:00.000+0000',
      OpportunityLineItems: { records: [{ SortOrder: 1, Workstream__c: 'Rollout', Role__c: 'Consultant', Hours__c: 200, Rate__c: 120 }] },
    },
    account: {
      Id: '001Hs00000HarbourX1', Name: 'Harbour Lights Ltd', External_Id__c: 'ACC-9101', BillingStreet: '1 Quay Street', BillingCity: 'Bristol', BillingPostalCode: 'BS1 4DJ', BillingCountry: 'GB',
      CurrencyIsoCode: 'GBP', Billing_Entity__c: 'NWA-UK', Tax_Registration__c: 'GB555000111',
    },
  });
}

function invoiceFor(accountId: string, id: string): CanonicalInvoice {
  return {
    id, accountId, billingEntity: 'NWA-UK', projectId: 'PRJ-006Hs00000HarbourX1', currency: 'GBP', issueDate: '2026-11-30', dueDate: '2026-12-30', status: 'draft',
    lines: [{ lineNumber: 1, description: 'Consultant - November 2026', role: 'Consultant', quantity: 8, unit: 'hour', unitPrice: { amount: 120, currency: 'GBP' }, amount: { amount: 960, currency: 'GBP' }, sourceRefs: [{ type: 'timeentry', id: `TE-${id}`, hours: 8 }] }],
    subtotal: { amount: 960, currency: 'GBP' }, taxTotal: { amount: 192, currency: 'GBP' }, total: { amount: 1152, currency: 'GBP' },
  } as CanonicalInvoice;
}

describe('cross-reference of record ids (lib/xref)', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  const handles: FabricHandle[] = [];
  const connections: Array<{ close(): Promise<void> }> = [];
  const open = (file: string) => {
    const h = openFabric({ kind: 'sqlite', path: file });
    handles.push(h);
    return h;
  };

  before(async () => {
    sb = await startSandboxes({ vendors: [businessCentralSandbox, jiraSandbox, kantataSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    tmp = tempDir('psf-xref-');
    sb.sandboxes.bc.reset();
    sb.sandboxes.jira.reset();
    sb.sandboxes.kantata.reset();
    businessCentralControl(sb.sandboxes.bc).settings.manualNos = { customers: false, projects: false };
  });
  afterEach(async () => {
    for (const c of connections.splice(0)) await c.close();
    for (const h of handles.splice(0)) await h.release();
    tmp.cleanup();
  });

  const bcConnector = () => new BusinessCentralConnector({ tenantId: TENANT, environment: BC_SANDBOX_DEFAULTS.environment, company: 'NWA UK', clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret, baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${TENANT}/oauth2/v2.0/token`, tables: BC_DEMO_TABLES['NWA UK'], numbering: 'series' });
  const bcRows = (set: string) => Object.values(sb.sandboxes.bc.state[set] ?? {}) as Array<Record<string, any>>;

  it('Business Central series numbering: an invoice for a customer quote-to-project just created bills the number BC assigned (written by the write, read by a replay and after a restart)', async () => {
    const file = path.join(tmp.dir, 'fabric.sqlite');
    let fabric = open(file);
    let bc = registerConnection(fabric.store, fabric.services, 'bc:NWA UK', bcConnector(), FAST);
    connections.push(bc);
    const plan = planQuoteToProject(newCustomerDeal());
    assert.equal(plan.writes.erpCustomer.system, 'businessCentral');

    // time-to-cash reaches the customer before quote-to-project created it: nothing is guessed, the invoice waits
    const early = invoiceFor('ACC-9101', 'INV-NWA-UK-2026-11-ACC-9101');
    await assert.rejects(
      bc.submit({ operation: 'createSalesInvoice', request: erpInvoiceRequest('businessCentral', early) as never, idempotencyKey: early.id, process: 'time-to-cash', recordKey: `Invoice/${early.id}` }),
      (e: FabricError) => e.errorClass === 'not-found' && /account ACC-9101/.test(e.message),
    );
    const [waiting] = await fabric.services.exceptions.list({ status: 'open', recordKey: `Invoice/${early.id}` });
    assert.ok(waiting, 'the invoice is in the exception queue');
    assert.equal(bcRows('salesInvoices').filter((i) => i.externalDocumentNumber === early.id).length, 0);

    // quote-to-project: BC numbers the new customer from its series; the project is billed to that number
    const customer = (await bc.submit({ operation: 'upsertCustomer', request: plan.writes.erpCustomer.request as never, idempotencyKey: plan.writes.erpCustomer.idempotencyKey, process: 'quote-to-project', recordKey: plan.writes.erpCustomer.recordKey })).response as Record<string, any>;
    assert.equal(customer.created, true);
    assert.notEqual(customer.number, 'ACC-9101', 'BC assigned the number, nothing typed');
    const xref = new CrossReference(fabric.store);
    const [row] = await xref.of('account', 'ACC-9101');
    assert.deepEqual([row.system, row.connection, row.vendorId, row.vendorNumber], ['businessCentral', 'bc:NWA UK', customer.id, customer.number]);
    const project = (await bc.submit({ operation: 'createProject', request: plan.writes.erpProject!.request as never, idempotencyKey: plan.writes.erpProject!.idempotencyKey, process: 'quote-to-project', recordKey: plan.writes.erpProject!.recordKey })).response as Record<string, any>;
    assert.equal(project.billToCustomerNumber, customer.number);
    assert.equal((await xref.of('project', plan.project.id))[0]?.vendorNumber, project.number);

    // the operator replays the waiting invoice: it reads the recorded number and lands at BC
    await fabric.services.exceptions.replay(waiting.id, { actor: 'test' });
    const landed = await waitFor(() => bcRows('salesInvoices').find((i) => i.externalDocumentNumber === early.id && i.status === 'Open'), 'the replayed invoice posted at BC');
    assert.equal(landed.customerNumber, customer.number);
    assert.equal((await xref.of('invoice', early.id))[0]?.vendorId, landed.id);

    // a restart: new store handle on the same file, a new connector with nothing cached
    for (const c of connections.splice(0)) await c.close();
    for (const h of handles.splice(0)) await h.release();
    fabric = open(file);
    bc = registerConnection(fabric.store, fabric.services, 'bc:NWA UK', bcConnector(), FAST);
    connections.push(bc);
    const since = sb.sandboxes.bc.requests().length;
    const next = invoiceFor('ACC-9101', 'INV-NWA-UK-2026-12-ACC-9101');
    const second = (await bc.submit({ operation: 'createSalesInvoice', request: erpInvoiceRequest('businessCentral', next) as never, idempotencyKey: next.id, process: 'time-to-cash', recordKey: `Invoice/${next.id}` })).response as Record<string, any>;
    assert.equal(second.customerNumber, customer.number);
    const lookups = sb.sandboxes.bc.requests().slice(since).filter((r) => /\/customers/.test(r.path));
    assert.deepEqual(lookups, [], 'the number came from the cross-reference, no customer search');
  });

  it('survives a SIGKILL: every id the killed process acknowledged is there when the file is reopened', async function () {
    const file = path.join(tmp.dir, 'killed.sqlite');
    const child = spawn(process.execPath, [path.join(__dirname, 'xref-writer.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await waitFor(() => (out.match(/^ack /gm) ?? []).length >= 200 || err, 'the child acknowledged 200 ids', 30000);
    assert.equal(err, '');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const acked = [...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1]));
    const store = new SqliteStore({ path: file });
    try {
      const xref = new CrossReference(store);
      for (const n of acked) {
        const [row] = await xref.of('account', `ACC-K${n}`);
        assert.ok(row, `acknowledged id ${n} is there`);
        assert.equal(row.vendorNumber, `C${n}`);
      }
    } finally {
      await store.close();
    }
  });

  it('people: a Jira project lead nobody has lands in the exception queue naming the person and the site; once invited, a replay completes it and the account is cached', async () => {
    const fabric = open(path.join(tmp.dir, 'people.sqlite'));
    const site = `${sb.url}/jira`;
    const jira = registerConnection(fabric.store, fabric.services, 'jira:sandbox', new JiraClient({ baseUrl: site, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN } }).executor(), FAST);
    connections.push(jira);
    const request = { key: 'HLERP', ref: 'PRJ-006Hs00000HarbourX1', name: 'Harbour Lights - ERP Rollout', lead: { email: 'Nora.Lead@firm.example', name: 'Nora Lead' }, description: 'Delivery space (PRJ-006Hs00000HarbourX1)' };
    await assert.rejects(
      jira.submit({ operation: 'createProject', request, idempotencyKey: 'q2p:006Hs00000HarbourX1:jira-project', process: 'quote-to-project', step: 'jira-project', recordKey: 'Project/PRJ-006Hs00000HarbourX1' }),
      (e: FabricError) => e.retry === 'permanent' && /Nora Lead <Nora\.Lead@firm\.example>/.test(e.message) && e.message.includes(site),
    );
    const [ex] = await fabric.services.exceptions.list({ status: 'open', recordKey: 'Project/PRJ-006Hs00000HarbourX1' });
    assert.match(ex.message, /Nora Lead <Nora\.Lead@firm\.example>.*cannot be resolved on/);
    assert.equal(ex.ownerTeam, 'pmo', 'the team that owns the project record');
    assert.equal(Object.values(sb.sandboxes.jira.state.projects).filter((p: any) => p.key.startsWith('HLERP')).length, 0, 'no project with an invented lead');

    // the person is invited to the site (as an admin does in Jira), then the operator replays
    const auth = { username: JIRA_EMAIL, password: JIRA_API_TOKEN };
    const invited = (await axios.post(`${site}/rest/api/3/user`, { emailAddress: 'nora.lead@firm.example', displayName: 'Nora Lead', products: ['jira-software'] }, { auth })).data;
    await fabric.services.exceptions.replay(ex.id, { actor: 'test' });
    const created = await waitFor(() => Object.values(sb.sandboxes.jira.state.projects).find((p: any) => p.description && JSON.stringify(p.description).includes('PRJ-006Hs00000HarbourX1')) as any, 'the project at Jira after the replay');
    assert.equal(created.leadAccountId, invited.accountId);
    const xref = new CrossReference(fabric.store);
    assert.equal((await xref.get('person', 'NORA.LEAD@firm.example', 'jira', 'jira:sandbox'))?.vendorId, invited.accountId);
    assert.equal((await xref.get('project', 'PRJ-006Hs00000HarbourX1', 'jira', 'jira:sandbox'))?.vendorNumber, created.key);
    assert.equal((await fabric.services.exceptions.get(ex.id))?.status !== 'open', true, 'the exception is closed');

    // the next project led by the same person: no user search, the cached account
    const searches = () => sb.sandboxes.jira.requests().filter((r) => r.path.includes('/user/search')).length;
    const before = searches();
    await jira.submit({ operation: 'createProject', request: { ...request, key: 'HLTWO', ref: 'PRJ-two', name: 'Second', description: 'Delivery space (PRJ-two)' }, idempotencyKey: 'q2p:two:jira-project', recordKey: 'Project/PRJ-two' });
    assert.equal(searches(), before);
  });

  it('people: Kantata participations and Business Central employees are resolved by email; nobody with the email fails naming the person', async () => {
    const store = new SqliteStore({ path: path.join(tmp.dir, 'kantata.sqlite') });
    try {
      const xref = new CrossReference(store);
      const kantata = new KantataClient({ baseUrl: `${sb.url}/kantata`, auth: { type: 'token', accessToken: KANTATA_STATIC_TOKEN } });
      const users = Object.values(sb.sandboxes.kantata.state.users) as Array<Record<string, any>>;
      const someone = users.find((u) => u.email_address && u.id !== '100000')!;
      const ctx = { idempotencyKey: 'k', attempt: 1, xref: xref.forConnection('kantata:sandbox') };
      const shell = (await kantata.execute('createProjectShell', { externalRef: 'PRJ-K1', workspace: { title: 'K1', currency: 'GBP' }, participations: [{ email: String(someone.email_address).toUpperCase(), name: someone.full_name, role: 'maven', access_level: 'admin' }] }, ctx)) as any;
      assert.equal(shell.participations[0].user_id, String(someone.id));
      assert.equal((await xref.get('person', someone.email_address, 'kantata', 'kantata:sandbox'))?.vendorId, String(someone.id));
      assert.equal((await xref.get('project', 'PRJ-K1', 'kantata', 'kantata:sandbox'))?.vendorId, String(shell.workspace.id));
      await assert.rejects(
        kantata.execute('createProjectShell', { externalRef: 'PRJ-K2', workspace: { title: 'K2', currency: 'GBP' }, participations: [{ email: 'ghost@firm.example', name: 'Gus Ghost', role: 'maven' }] }, ctx),
        (e: FabricError) => e.errorClass === 'validation' && /Gus Ghost <ghost@firm\.example>/.test(e.message) && /Kantata/.test(e.message),
      );

      const bc = bcConnector();
      const bcCtx = { idempotencyKey: 'k', attempt: 1, xref: xref.forConnection('bc:NWA UK') };
      const uk = bcRows('companies').find((c) => c.name === 'NWA UK')!;
      const employee = bcRows('employees').find((e) => e._companyId === uk.id && e.email)!;
      const project = bcRows('projects').find((p) => p._companyId === uk.id)!;
      const entry = { id: 'TE-X1', projectId: 'PRJ-none', date: '2026-11-30', hours: 3, person: { id: 'PSA-USER-77', email: employee.email, name: employee.displayName } } as unknown as CanonicalTimeEntry;
      const out = (await bc.execute('createTimeRegistrationEntries', { entries: [entry], projectNumber: project.number, jobTaskNumber: '1000' } as never, bcCtx)) as any;
      const reg = bcRows('timeRegistrationEntries').find((t) => t.id === out.entries[0].id)!;
      assert.equal(reg.employeeNumber, employee.number, 'the BC employee with that email, not the PSA person id');
      assert.equal((await xref.get('person', personKey(employee.email), 'businessCentral', 'bc:NWA UK'))?.vendorNumber, employee.number);
      await assert.rejects(
        bc.execute('createTimeRegistrationEntries', { entries: [{ ...entry, id: 'TE-X2', person: { id: 'P-9', email: 'ghost@firm.example', name: 'Gus Ghost' } }], projectNumber: project.number } as never, bcCtx),
        (e: FabricError) => e.errorClass === 'not-found' && /Gus Ghost <ghost@firm\.example>/.test(e.message) && /not an employee/.test(e.message),
      );
    } finally {
      await store.close();
    }
  });

  it('maps exception record keys to cross-referenced records', () => {
    assert.deepEqual(xrefKeyOfRecord('Account/ACC-1'), { entity: 'account', key: 'ACC-1' });
    assert.deepEqual(xrefKeyOfRecord('Opportunity/006X'), { entity: 'project', key: 'PRJ-006X' });
    assert.deepEqual(xrefKeyOfRecord('Person/Maya@Firm.example'), { entity: 'person', key: 'maya@firm.example' });
    assert.equal(xrefKeyOfRecord('TimeEntry/TE-1'), undefined);
    assert.equal(xrefKeyOfRecord('nothing'), undefined);
  });
});

describe('cross-reference reconciliation over many records (lib/xref)', function () {
  this.timeout(30000);
  it('reads every record whole across pages, even when a record\'s rows straddle a page end', async () => {
    const tmp = tempDir('psf-xref-recon-');
    const store = new SqliteStore({ path: path.join(tmp.dir, 'recon.sqlite') });
    try {
      const xref = new CrossReference(store, () => 1);
      // 700 projects: each in kantata, every third also in jira, the rest in jira only when even; 1 page = 500 rows
      const expectedMissing: string[] = [];
      for (let i = 0; i < 700; i++) {
        const key = `PRJ-${String(i).padStart(4, '0')}`;
        await xref.record({ entity: 'project', key, system: 'kantata', connection: 'kantata:x', vendorId: `k${i}` });
        if (i % 3 === 0 || i % 2 === 0) await xref.record({ entity: 'project', key, system: 'jira', connection: 'jira:x', vendorId: `j${i}` });
        else expectedMissing.push(key);
        if (i % 5 === 0) await xref.record({ entity: 'project', key, system: 'netsuite', connection: 'netsuite:x', vendorId: `n${i}` });
      }
      const r = await xref.reconcile({ entity: 'project', systems: [['kantata'], ['jira']] });
      assert.equal(r.checked, 700);
      assert.deepEqual(r.missing.map((m) => m.key), expectedMissing);
      assert.equal(r.complete, 700 - expectedMissing.length);
      assert.ok(r.missing.every((m) => m.missingIn.join() === 'jira' && m.presentIn.some((p) => p.system === 'kantata')));
      const capped = await xref.reconcile({ entity: 'project', systems: [['kantata'], ['jira'], ['netsuite']], maxMissing: 10 });
      assert.equal(capped.missing.length, 10);
      assert.equal(capped.truncated, true);
      assert.equal(capped.checked, 700);
    } finally {
      await store.close();
      tmp.cleanup();
    }
  });
});
