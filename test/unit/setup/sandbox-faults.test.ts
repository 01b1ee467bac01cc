/**
 * What the setup check finds is what the templates would meet: the sandboxes' tenant faults (removed permissions,
 * hidden fields, an unserved API version) are enforced on the ordinary API calls, not only reported, and the reset
 * restores them.
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { salesforceSandbox } from '../../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../../sandbox/salesforce/auth';
import { jiraSandbox, JIRA_EMAIL, JIRA_API_TOKEN } from '../../../sandbox/jira';
import { SalesforceClient } from '../../../lib/connectors/salesforce';
import { JiraClient } from '../../../lib/connectors/jira/client';

describe('sandbox tenant faults for the setup check', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  const clients: SalesforceClient[] = [];
  const sf = (apiVersion = '62.0') => {
    const c = new SalesforceClient({ loginUrl: `${sb.url}/salesforce`, apiVersion, auth: { type: 'client-credentials', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } });
    clients.push(c);
    return c;
  };
  const jira = () => new JiraClient({ baseUrl: `${sb.url}/jira`, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN } });
  const control = async (vendor: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sb.url}/${vendor}/_sandbox/${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal(res.status, 204, await res.text());
  };
  const code = (err: unknown) => JSON.stringify((err as { response?: unknown }).response ?? (err as Error).message);

  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox, jiraSandbox] });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sb.close();
  });
  beforeEach(() => {
    sb.sandboxes.salesforce.reset();
    sb.sandboxes.jira.reset();
  });

  it('Salesforce: no Read on an object refuses its queries, no Create refuses creates, no field Edit refuses setting the field; reset grants all again', async () => {
    await control('salesforce', 'PUT', 'access/Contract_Amendment__c', { read: false });
    await control('salesforce', 'PUT', 'access/Contact', { create: false });
    await control('salesforce', 'PUT', 'access/Account/fields/Industry', { edit: false });
    const c = sf();
    await assert.rejects(c.query('SELECT Id FROM Contract_Amendment__c'), (e) => /INVALID_TYPE/.test(code(e)));
    assert.equal((await c.describe('Contract_Amendment__c'))!.fields.length > 0, true);
    await assert.rejects(c.create('Contact', { LastName: 'Nobody' }), (e) => /INSUFFICIENT_ACCESS_OR_READONLY/.test(code(e)));
    await assert.rejects(c.create('Account', { Name: 'No Industry Ltd', Industry: 'Consulting' }), (e) => /INVALID_FIELD_FOR_INSERT_UPDATE/.test(code(e)));
    const industry = ((await c.describe('Account')) as any).fields.find((f: any) => f.name === 'Industry');
    assert.equal(industry.updateable, false);
    sb.sandboxes.salesforce.reset();
    assert.ok((await c.query('SELECT Id FROM Contract_Amendment__c')).totalSize >= 0);
    assert.ok((await c.create('Contact', { LastName: 'Somebody' })).id);
  });

  it('Salesforce: a field without Read is gone from describe and SOQL; an unserved API version answers 404 NOT_FOUND', async () => {
    await control('salesforce', 'PUT', 'access/Opportunity/fields/Billing_Model__c', { read: false });
    const c = sf();
    assert.equal((await c.describe('Opportunity'))!.fields.some((f) => f.name === 'Billing_Model__c'), false);
    await assert.rejects(c.query('SELECT Billing_Model__c FROM Opportunity'), (e) => /INVALID_FIELD|No such column/.test(code(e)));
    await assert.rejects(sf('30.0').query('SELECT Id FROM Account'), (e: any) => e.status === 404);
  });

  it('Jira: without Administer Jira no project is created, without Create Issues no issue, without Browse users and groups user search answers nothing; reset restores', async () => {
    const j = jira();
    const lead = (await j.request<any[]>('GET', '/user/search', { params: { query: 'a' } }))[0];
    assert.ok(lead, 'user search answers with the permission');
    await control('jira', 'DELETE', 'permissions/ADMINISTER');
    await control('jira', 'DELETE', 'permissions/CREATE_ISSUES');
    await control('jira', 'DELETE', 'permissions/USER_PICKER');
    await assert.rejects(j.request('POST', '/project', { data: { key: 'NOADM', name: 'No admin', projectTypeKey: 'software', leadAccountId: lead.accountId } }), (e: any) => e.status === 403);
    const project = (await j.request<any>('GET', '/project/search')).values[0];
    await assert.rejects(j.request('POST', '/issue', { data: { fields: { project: { key: project.key }, issuetype: { name: 'Task' }, summary: 'x' } } }), (e: any) => e.status === 400 && /permission to create issues/.test(code(e)));
    assert.deepEqual(await j.request('GET', '/user/search', { params: { query: 'a' } }), []);
    const perms = (await j.request<any>('GET', '/mypermissions', { params: { permissions: 'ADMINISTER,BROWSE_PROJECTS' } })).permissions;
    assert.equal(perms.ADMINISTER.havePermission, false);
    assert.equal(perms.BROWSE_PROJECTS.havePermission, true);
    await assert.rejects(j.request('GET', '/mypermissions'), (e: any) => e.status === 400);
    sb.sandboxes.jira.reset();
    assert.equal((await j.request<any>('GET', '/mypermissions', { params: { permissions: 'ADMINISTER' } })).permissions.ADMINISTER.havePermission, true);
  });

  it('Jira: without Browse Projects no project or issue is visible', async () => {
    const j = jira();
    const project = (await j.request<any>('GET', '/project/search')).values[0];
    const key = `${project.key}-1`;
    assert.ok(await j.getIssue(key), 'visible with the permission');
    await control('jira', 'DELETE', 'permissions/BROWSE_PROJECTS');
    assert.deepEqual((await j.request<any>('GET', '/project/search')).values, []);
    assert.equal(await j.getProject(project.key), undefined);
    assert.equal(await j.getIssue(key), undefined);
  });
});
