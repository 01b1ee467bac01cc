/**
 * quote-to-project through the real runtime (shared fixture): opportunities closed in the Salesforce sandbox are picked
 * up by the real salesforce-trigger; the customer and the ERP project land in the ERP of the billing entity (NetSuite
 * job, Business Central project), the project shell in Kantata, the Jira project + epic, project.created on the bus and
 * a Teams card. A duplicate (another producer on fabric/v1/opportunity/closed-won) creates nothing more; a Business
 * Central outage delays the run, which completes after recovery; a deal with a missing tax registration opens a
 * sales-ops exception, creates nothing, and after the data is fixed in Salesforce a replay completes the run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { templateFlows } from '../../../runtime/templates';
import { ACCOUNTS, OPPORTUNITIES } from '../../../sandbox/seed/firm';
import { JIRA_API_TOKEN, JIRA_EMAIL } from '../../../sandbox/jira';
import { waitFor } from '../../support/wait';
import { closeWonAndWait, templatesFabric, type TemplatesFabric } from './fixture';

function dealData(oppId: string): Record<string, unknown> {
  const o = OPPORTUNITIES.find((x) => x.sfId === oppId)!;
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  return {
    opportunity: { Id: o.sfId, Name: o.name, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel, Delivery_Manager_Id__c: o.deliveryManagerId,
      OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) } },
    account: { Id: a.sfId, Name: a.name, External_Id__c: a.externalId, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: a.taxRegistration ?? null },
  };
}

async function salesforcePatch(t: TemplatesFabric, sobject: string, id: string, fields: Record<string, unknown>): Promise<number> {
  const base = t.fabric.sandboxes!.url;
  const tok = await (await fetch(`${base}/salesforce/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=psfabric-sandbox-client&client_secret=psfabric-sandbox-secret' })).json() as { access_token: string };
  const res = await fetch(`${base}/salesforce/services/data/v62.0/sobjects/${sobject}/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  return res.status;
}

describe('templates: quote-to-project through the real runtime', function () {
  this.timeout(90000);
  let t: TemplatesFabric;

  before(async () => {
    t = await templatesFabric();
  });

  it('deploys the four templates and their shared config nodes, with credentials and no secret in the flow file', async () => {
    const file = path.join(t.fabric.userDir, 'flows.json');
    const flows = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ id: string; type: string; label?: string }>;
    const tabs = flows.filter((n) => n.type === 'tab').map((n) => n.label);
    for (const tab of ['quote-to-project', 'time-to-cash', 'change-order-to-billing', 'performance-to-reporting']) assert.ok(tabs.includes(tab), `tab ${tab} missing: ${tabs.join(', ')}`);
    assert.equal(flows.filter((n) => n.id === 'psf-store').length, 1);
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!text.includes('psf-demo-bc-secret') && !text.includes('jira-sandbox-api-token'));
    const cred = JSON.parse(fs.readFileSync(path.join(t.fabric.userDir, 'flows_cred.json'), 'utf8'));
    assert.equal(typeof cred.$, 'string', 'credentials are encrypted');
    assert.ok(templateFlows().length > 0);
  });

  it('happy path: close-won in Salesforce -> NetSuite customer, Kantata project, Jira project + epic, project.created, Teams card', async () => {
    const created = await closeWonAndWait(t, '006Hs00000GlobexEHR');
    assert.equal(created.body.data.status, 'active');
    assert.ok(created.body.data.externalIds.kantata, JSON.stringify(created.body.data.externalIds));
    assert.ok(created.body.data.externalIds.jira);
    const customers = await t.sb('/netsuite/_sandbox/records/customer');
    assert.ok(JSON.stringify(customers).includes('ACC-1002'), 'NetSuite customer ACC-1002');
    const ws = await t.sb('/kantata/_sandbox/records/workspaces');
    const mine = ws.filter((w: any) => JSON.stringify(w).includes('PRJ-006Hs00000GlobexEHR'));
    assert.equal(mine.length, 1);
    // created with the budget as its price (the change-order test, which may run first on the shared runtime, amends it later)
    const wsCreate = ((await t.sb('/kantata/_sandbox/requests')) as Array<{ method: string; path: string; body: any; status?: number }>).filter((r) => r.method === 'POST' && /\/workspaces$/.test(r.path.split('?')[0]) && JSON.stringify(r.body).includes('PRJ-006Hs00000GlobexEHR') && (r.status ?? 200) < 300);
    assert.equal(wsCreate.length, 1, 'one workspace create');
    assert.equal((wsCreate[0].body.workspace ?? wsCreate[0].body.workspaces?.[0] ?? wsCreate[0].body).price, 96000, 'budget as the workspace price');
    const budgetUpdates = ((await t.sb('/kantata/_sandbox/requests')) as Array<{ method: string; path: string }>).filter((r) => r.method === 'PUT' && r.path.split('?')[0].endsWith(`/workspaces/${mine[0].id}`)).length;
    if (!budgetUpdates) assert.equal(mine[0].price, 96000, 'budget as the workspace price');
    const projects = await t.sb('/jira/_sandbox/records/projects');
    assert.ok(projects.some((p: any) => p.key === created.body.data.externalIds.jira));
    const issues = await t.sb('/jira/_sandbox/records/issues');
    assert.ok(JSON.stringify(issues).includes(created.body.data.externalIds.jira), 'epic in the delivery project');
    await waitFor(async () => (await t.sb('/teams/_sandbox/records/messages')).some((m: any) => String(m.title).includes('Globex')), 'Teams card', 20000, 200);
    // the project can be looked up from the opportunity's Salesforce id, with its id in every system it reached
    const xref = await (await fetch(`${t.fabric.url}/ps-fabric/xref?entity=project&system=salesforce&id=006Hs00000GlobexEHR`)).json() as { records: Array<{ key: string; ids: Array<{ system: string; vendorId: string; vendorNumber?: string }> }> };
    assert.equal(xref.records.length, 1, JSON.stringify(xref));
    assert.equal(xref.records[0].key, 'PRJ-006Hs00000GlobexEHR');
    const bySystem = new Map(xref.records[0].ids.map((i) => [i.system, i]));
    assert.deepEqual([...bySystem.keys()].sort(), ['jira', 'kantata', 'netsuite', 'salesforce']);
    assert.equal(bySystem.get('jira')?.vendorNumber, created.body.data.externalIds.jira);
    assert.equal(bySystem.get('kantata')?.vendorId, String(mine[0].id));
    const account = await (await fetch(`${t.fabric.url}/ps-fabric/xref?entity=account&id=ACC-1002`)).json() as { records: Array<{ ids: Array<{ system: string }> }> };
    assert.deepEqual(account.records[0].ids.map((i) => i.system).sort(), ['netsuite', 'salesforce']);
    const metrics = await (await fetch(`${t.fabric.url}/metrics`)).text();
    assert.match(metrics, /psfabric_kpi_quote_to_project_lead_time_seconds\S*\{[^}]*billing_entity="NWA-US"[^}]*\} [1-9]/, 'lead time recorded (process instance completed)');
  });

  it('routes the customer and the ERP project to the ERP of the billing entity: NWA-UK -> Business Central NWA UK, NWA-DE -> Business Central NWA DE', async () => {
    const thamesEv = await closeWonAndWait(t, '006Hs00000ThamesCRM');
    const bavariaEv = await closeWonAndWait(t, '006Hs00000BavariaCL');
    const companies = await t.sb('/bc/_sandbox/records/companies') as Array<{ id: string; name: string }>;
    const company = (id: string) => companies.find((c) => c.id === id)?.name;
    // numbered by each company's number series (the config default): the connector typed no number
    const customers = await t.sb('/bc/_sandbox/records/customers') as Array<{ number: string; displayName: string; _companyId: string }>;
    const thames = customers.filter((c) => /^Thames Water/.test(c.displayName));
    const bavaria = customers.filter((c) => /^Bavaria Versicherung/.test(c.displayName));
    assert.equal(thames.length, 1, JSON.stringify(customers.map((c) => c.displayName)));
    assert.match(thames[0].number, /^C\d+$/);
    assert.equal(bavaria.length, 1);
    assert.equal(company(thames[0]._companyId), 'NWA UK');
    assert.equal(company(bavaria[0]._companyId), 'NWA DE');
    assert.ok(!JSON.stringify(await t.sb('/netsuite/_sandbox/records/customer')).includes('ACC-2002'));
    // the BC project in the same company, numbered by the series, named with its project id, billed to the customer,
    // with its task; the number BC gave it is the project's businessCentral external id
    const projects = await t.sb('/bc/_sandbox/records/projects') as Array<{ number: string; displayName: string; _companyId: string; _billToCustomerNo: string }>;
    const thamesP = projects.filter((p) => p.displayName === 'Thames Water - Field Service CRM (PRJ-006Hs00000ThamesCRM)');
    const bavariaP = projects.filter((p) => p.displayName === 'Bavaria Versicherung - Claims Portal (PRJ-006Hs00000BavariaCL)');
    assert.equal(thamesP.length, 1, JSON.stringify(projects.map((p) => p.displayName)));
    assert.equal(bavariaP.length, 1);
    assert.deepEqual([company(thamesP[0]._companyId), thamesP[0]._billToCustomerNo], ['NWA UK', thames[0].number]);
    assert.deepEqual([company(bavariaP[0]._companyId), bavariaP[0]._billToCustomerNo], ['NWA DE', bavaria[0].number]);
    assert.match(thamesP[0].number, /^J\d{5}$/);
    assert.equal(thamesEv.body.data.externalIds.businessCentral, thamesP[0].number);
    assert.equal(bavariaEv.body.data.externalIds.businessCentral, bavariaP[0].number);
    const tasks = await t.sb('/bc/_sandbox/records/projectTasks') as Array<{ Job_No: string; Job_Task_No: string }>;
    assert.ok(tasks.some((x) => x.Job_No === thamesP[0].number && x.Job_Task_No === '1000'));
    assert.ok(!JSON.stringify(await t.sb('/netsuite/_sandbox/records/job')).includes('006Hs00000ThamesCRM'), 'no NetSuite job for a UK deal');
  });

  it('duplicate trigger of a Business Central deal: still one BC customer and one BC project', async function () {
    await closeWonAndWait(t, '006Hs00000ThamesCRM');
    const text = await (await fetch(`${t.fabric.url}/metrics`)).text();
    const m = /psfabric_process_runs_total\{process="quote-to-project",outcome="duplicate"\} (\d+)/.exec(text);
    const dupBefore = m ? Number(m[1]) : 0;
    const bcPosts = async () => ((await t.sb('/bc/_sandbox/requests')) as Array<{ method: string; path: string }>).filter((r) => r.method === 'POST' && /\/(projects|customers)$/.test(r.path.split('?')[0])).length;
    const postsBefore = await bcPosts();
    t.publish('fabric/v1/opportunity/closed-won', dealData('006Hs00000ThamesCRM'), 'close-thames-again');
    await waitFor(async () => {
      const now = /psfabric_process_runs_total\{process="quote-to-project",outcome="duplicate"\} (\d+)/.exec(await (await fetch(`${t.fabric.url}/metrics`)).text());
      return now && Number(now[1]) > dupBefore;
    }, 'duplicate counted', 20000, 100);
    assert.equal((await t.sb('/bc/_sandbox/records/projects')).filter((p: any) => p.displayName.endsWith('(PRJ-006Hs00000ThamesCRM)')).length, 1);
    assert.equal((await t.sb('/bc/_sandbox/records/customers')).filter((c: any) => /^Thames Water/.test(c.displayName)).length, 1);
    assert.equal(await bcPosts(), postsBefore, 'no BC create sent for the duplicate');
  });

  it('Business Central outage: the deal completes after recovery with one BC customer and one BC project', async () => {
    // a deal of a UK account published by another producer (not in the Salesforce sandbox, so the seed stays as it is)
    const oppId = '006Hs00000ThamesOUT';
    const deal = dealData('006Hs00000ThamesCRM') as { opportunity: Record<string, unknown>; account: Record<string, unknown> };
    deal.opportunity = { ...deal.opportunity, Id: oppId, Name: 'Thames Water - Outage Drill' };
    const seq = (await t.sb('/bc/_sandbox/requests')).reduce((m: number, r: any) => Math.max(m, r.seq), 0);
    await t.sb('/bc/_sandbox/faults', 'PUT', { outageMs: 5000 });
    try {
      t.publish('fabric/v1/opportunity/closed-won', deal, 'thames-outage-drill');
      await waitFor(async () => (await t.sb(`/bc/_sandbox/requests?since=${seq}`)).some((r: any) => r.status === 503), 'a BC request hit the outage', 20000, 200);
      const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId), 'project.created after the outage', 60000, 100);
      const projects = (await t.sb('/bc/_sandbox/records/projects')).filter((p: any) => p.displayName.endsWith(`(PRJ-${oppId})`));
      assert.equal(projects.length, 1);
      assert.equal(created.body.data.externalIds.businessCentral, projects[0].number);
    } finally {
      await t.sb('/bc/_sandbox/faults', 'PUT', {});
    }
    assert.equal((await t.sb('/bc/_sandbox/records/customers')).filter((c: any) => /^Thames Water/.test(c.displayName)).length, 1);
    assert.equal((await t.sb('/kantata/_sandbox/records/workspaces')).filter((w: any) => JSON.stringify(w).includes(`PRJ-${oppId}`)).length, 1);
  });

  it('duplicate trigger: still one customer, one workspace, one Jira project', async function () {
    const text = await (await fetch(`${t.fabric.url}/metrics`)).text();
    const m = /psfabric_process_runs_total\{process="quote-to-project",outcome="duplicate"\} (\d+)/.exec(text);
    const dupBefore = m ? Number(m[1]) : 0;
    const before = (await t.sb('/kantata/_sandbox/records/workspaces')).length;
    const jiraBefore = (await t.sb('/jira/_sandbox/records/projects')).length;
    t.publish('fabric/v1/opportunity/closed-won', dealData('006Hs00000GlobexEHR'), 'close-again');
    const count = t.events.filter((e) => e.topic === 'fabric/v1/project/created').length;
    await waitFor(async () => {
      const now = /psfabric_process_runs_total\{process="quote-to-project",outcome="duplicate"\} (\d+)/.exec(await (await fetch(`${t.fabric.url}/metrics`)).text());
      return now && Number(now[1]) > dupBefore;
    }, 'duplicate counted', 20000, 100);
    assert.equal((await t.sb('/kantata/_sandbox/records/workspaces')).length, before);
    assert.equal((await t.sb('/jira/_sandbox/records/projects')).length, jiraBefore);
    assert.equal(t.events.filter((e) => e.topic === 'fabric/v1/project/created').length, count);
    assert.equal((await t.sb('/netsuite/_sandbox/records/customer')).filter((c: any) => JSON.stringify(c).includes('ACC-1002')).length, 1);
  });

  it('missing tax registration: sales-ops exception naming the field, nothing created; fix in Salesforce + replay completes the run', async () => {
    const wsBefore = (await t.sb('/kantata/_sandbox/records/workspaces')).length;
    await t.sb('/salesforce/_sandbox/close-won/006Hs00000InitechQA', 'POST');
    const ex = await waitFor(async () => (await t.fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' })).find((e) => e.recordKey === 'Opportunity/006Hs00000InitechQA'), 'sales-ops exception', 30000, 100);
    assert.equal(ex.ownerTeam, 'sales-ops');
    assert.match(ex.message, /Tax_Registration__c/);
    assert.equal((await t.sb('/kantata/_sandbox/records/workspaces')).length, wsBefore);
    assert.ok(!JSON.stringify(await t.sb('/netsuite/_sandbox/records/customer')).includes('ACC-1003'));

    // the data owner fixes the account in Salesforce, then the exception is replayed through the admin API
    assert.ok([200, 204].includes(await salesforcePatch(t, 'Account', '001Hs00001InitechAA', { Tax_Registration__c: 'US-EIN-74-1112223' })));
    const replay = await t.admin(`/ps-fabric/exceptions/${ex.id}/replay`, {});
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === '006Hs00000InitechQA'), 'project.created after replay', 60000, 100);
    assert.ok(created.body.data.externalIds.kantata);
    assert.ok(JSON.stringify(await t.sb('/netsuite/_sandbox/records/customer')).includes('ACC-1003'));
    assert.equal((await t.sb('/kantata/_sandbox/records/workspaces')).filter((w: any) => JSON.stringify(w).includes('PRJ-006Hs00000InitechQA')).length, 1);
    await waitFor(async () => (await t.fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' })).every((e) => e.recordKey !== 'Opportunity/006Hs00000InitechQA'), 'exception resolved', 20000, 100);
  });

  it('a write that fails permanently at the vendor: exactly one exception (the outbox\'s, replayable), reported by the Catch path; replaying it completes the run', async () => {
    // a deal of its own, on the legacy-ERP route (no ERP write), so the first write Jira refuses is its project
    const oppId = '006Hs00000JiraFLT1';
    const data = dealData('006Hs00000LumiereOM') as { opportunity: Record<string, unknown>; account: Record<string, unknown> };
    data.opportunity = { ...data.opportunity, Id: oppId, Name: 'Lumiere Retail - Fault Drill' };
    data.account = { ...data.account, Id: '001Hs00000JiraFLT1', External_Id__c: 'ACC-FLT-1', Name: 'Lumiere Faults SARL' };
    const exceptions = t.fabric.fabric.services.exceptions;
    const mine = async () => (await exceptions.list({ process: 'quote-to-project', limit: 10000 })).filter((e) => JSON.stringify(e).includes(oppId));
    assert.deepEqual(await mine(), []);
    const since = Date.now();
    await t.sb('/jira/_sandbox/faults', 'PUT', { errorRate: 1, errorStatus: 422 });
    let queued: Awaited<ReturnType<typeof mine>>[number] | undefined;
    try {
      t.publish('fabric/v1/opportunity/closed-won', data, `cw-${oppId}`);
      queued = await waitFor(async () => (await mine()).find((e) => e.replayTarget?.kind === 'outbox'), 'the outbox\'s exception for the Jira write', 60000, 100);
      // the Catch node's fabric-exception has handled the same failure: its audit entry (it added a second exception
      // before the queued one was linked; now it reports the queued one)
      await waitFor(async () => (await exceptions.audit.list({ since, limit: 10000 })).find((a) => a.actor === 'node:q2p-exc-int'), 'the Catch path handled the failure', 30000, 100);
    } finally {
      await t.sb('/jira/_sandbox/faults', 'PUT', {});
    }
    const all = await mine();
    assert.ok(queued);
    assert.deepEqual(all.map((e) => e.id), [queued.id], `one exception per failure: ${JSON.stringify(all.map((e) => ({ id: e.id, step: e.step, message: e.message, replayTarget: e.replayTarget })))}`);
    const reported = (await exceptions.audit.list({ action: 'exception.reported', since, limit: 10000 })).filter((a) => (a.details as { exceptionId?: number } | undefined)?.exceptionId === queued.id);
    assert.deepEqual(reported.map((a) => a.actor), ['node:q2p-exc-int'], 'the Catch path reported the queued exception');

    const replay = await t.admin(`/ps-fabric/exceptions/${queued.id}/replay`, {});
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId), 'project.created after the replay', 60000, 100);
    assert.ok((await t.sb('/jira/_sandbox/records/projects')).some((p: any) => p.key === created.body.data.externalIds.jira), 'the Jira project exists');
    await waitFor(async () => (await exceptions.get(queued.id))?.status === 'resolved', 'the exception resolved by the completed write', 20000, 100);
    assert.equal((await mine()).length, 1, 'no exception added by the replay');
  });

  it('a delivery manager the PSA and Jira do not have: an exception naming the person at each; invited there, a replay completes the run with their ids (cross-reference)', async () => {
    // a deal of its own (the seed's are shared with the other template tests), closed won on the bus
    const oppId = '006Hs00000NinaPPL1';
    const email = 'nina.neuhaus@northwind-advisory.example';
    const open = async () => t.fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' });
    const data = dealData('006Hs00000LumiereOM') as { opportunity: Record<string, unknown>; account: Record<string, unknown> };
    data.opportunity = { ...data.opportunity, Id: oppId, Name: 'Lumiere Retail - People Pilot', Delivery_Manager_Email__c: email };
    data.account = { ...data.account, Id: '001Hs00000NinaPPL1', External_Id__c: 'ACC-PPL-1', Name: 'Lumiere People SARL' };
    t.publish('fabric/v1/opportunity/closed-won', data, `cw-${oppId}`);
    const psa = await waitFor(async () => (await open()).find((e) => e.recordKey === `Project/PRJ-${oppId}` && e.replayTarget?.kind === 'outbox' && /Kantata user/.test(e.message)), 'the Kantata write\'s exception', 60000, 100);
    assert.ok(psa.message.includes(email), psa.message);
    assert.equal((await t.sb('/kantata/_sandbox/records/workspaces')).filter((w: any) => JSON.stringify(w).includes(`PRJ-${oppId}`)).length, 1, 'the workspace is there, the participation waits');
    const user = await t.sb('/kantata/_sandbox/users', 'POST', { full_name: 'Nina Neuhaus', email_address: email });
    const first = await t.admin(`/ps-fabric/exceptions/${psa.id}/replay`, {});
    assert.equal(first.status, 200, JSON.stringify(first.body));

    const lead = await waitFor(async () => (await open()).find((e) => e.recordKey === `Project/PRJ-${oppId}` && e.replayTarget?.kind === 'outbox' && /Jira project lead/.test(e.message)), 'the Jira write\'s exception', 60000, 100);
    assert.ok(lead.message.includes(email), lead.message);
    const site = `${t.fabric.sandboxes!.url}/jira`;
    const invite = await fetch(`${site}/rest/api/3/user`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`${JIRA_EMAIL}:${JIRA_API_TOKEN}`).toString('base64') }, body: JSON.stringify({ emailAddress: email, displayName: 'Nina Neuhaus', products: ['jira-software'] }) });
    assert.equal(invite.status, 201);
    const account = (await invite.json()) as { accountId: string };
    const second = await t.admin(`/ps-fabric/exceptions/${lead.id}/replay`, {});
    assert.equal(second.status, 200, JSON.stringify(second.body));

    const created = await waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId), 'project.created after the replays', 60000, 100);
    const ws = created.body.data.externalIds.kantata;
    assert.ok((await t.sb('/kantata/_sandbox/records/participations')).some((p: any) => p.workspace_id === String(ws) && p.user_id === String(user.id)), 'the delivery manager is on the workspace');
    const project = (await t.sb('/jira/_sandbox/records/projects')).find((p: any) => p.key === created.body.data.externalIds.jira);
    assert.equal(project.leadAccountId, account.accountId);
    const ids = await (await fetch(`${t.fabric.url}/ps-fabric/xref?entity=person&id=${encodeURIComponent(email.toUpperCase())}`)).json() as { records: Array<{ ids: Array<{ system: string; vendorId: string }> }> };
    assert.deepEqual(ids.records[0].ids.map((i) => [i.system, i.vendorId]), [['jira', account.accountId], ['kantata', String(user.id)]]);
  });
});
