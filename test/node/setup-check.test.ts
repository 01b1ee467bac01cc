/**
 * The setup check through a real Node-RED runtime against the Salesforce and Jira sandboxes: the admin endpoint
 * (`POST/GET /ps-fabric/connections/check`) answers every connection OK against the demo tenants, then finds and names
 * each kind of problem the sandboxes can be put into (a missing field, a field hidden by field-level security, a
 * missing object permission, a missing Jira permission, a deleted custom field, refused credentials, an API version the
 * org does not serve), shows it as the status of the nodes using the connection and on the dashboard's feed.
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { salesforceSandbox } from '../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../sandbox/salesforce/auth';
import { jiraSandbox, JIRA_EMAIL, JIRA_API_TOKEN, EPIC_NAME_FIELD } from '../../sandbox/jira';
import { setupChecks } from '../../lib/setup/registry';
import type { ConnectionCheck } from '../../lib/setup/types';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

const nodes = ['fabric-store/fabric-store', 'salesforce-config/salesforce-config', 'salesforce/salesforce', 'jira-config/jira-config', 'jira/jira', 'ops-feed/ops-feed']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('setup check (admin endpoint, Node-RED runtime, Salesforce and Jira sandboxes)', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox, jiraSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.salesforce.reset();
    sb.sandboxes.jira.reset();
    tmp = tempDir('psfabric-setup-check-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

   
  const admin = () => (helper as unknown as { request(): any }).request();
  const statuses: Record<string, Array<{ fill?: string; text?: string }>> = {};
  const kpis: any[] = [];

  /** Deploys a Salesforce and a Jira connection, a user of each and an ops-feed; waits for the deploy-time checks. */
  async function deploy(opts: { sf?: Record<string, unknown>; jira?: Record<string, unknown>; sfCreds?: Record<string, string>; jiraCreds?: Record<string, string>; extra?: Array<Record<string, unknown>> } = {}) {
    kpis.length = 0;
    await helper.load(
      nodes,
      [
        { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
        { id: 'sfc', type: 'salesforce-config', name: 'SF', loginUrl: `${sb.url}/salesforce`, apiVersion: '62.0', authType: 'client-credentials', store: 'store', ratePerSecond: 50, concurrency: 4, maxAttempts: 2, ...opts.sf },
        { id: 'sfq', type: 'salesforce', salesforce: 'sfc', operation: 'query', soql: 'SELECT Id FROM Account', wires: [[]] },
        { id: 'jc', type: 'jira-config', name: 'Jira', baseUrl: `${sb.url}/jira`, authType: 'basic', store: 'store', ...opts.jira },
        { id: 'jp', type: 'jira', jira: 'jc', operation: 'createProject', wires: [[]] },
        { id: 'ops', type: 'ops-feed', store: 'store', interval: 3600, wires: [['kpi'], [], [], [], []] },
        { id: 'kpi', type: 'helper' },
        ...(opts.extra ?? []),
      ],
      { sfc: opts.sfCreds ?? { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }, jc: opts.jiraCreds ?? { email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN } },
    );
    helper.getNode('kpi').on('input', (m: any) => kpis.push(m.payload));
    for (const id of ['sfq', 'jp']) {
      statuses[id] = [];
      const n = helper.getNode(id);
      const status = n.status.bind(n);
      n.status = (s: any) => {
        statuses[id].push(s);
        return status(s);
      };
    }
    await waitFor(() => setupChecks.result('sfc') && setupChecks.result('jc'), 'the checks run at deploy');
  }

  async function check(body: Record<string, unknown>): Promise<{ ok: boolean; connections: ConnectionCheck[] }> {
    const res = await admin().post('/ps-fabric/connections/check').set('X-PS-Fabric-Request', '1').send(body).expect(200);
    return res.body;
  }
  const one = async (id: string) => (await check({ id })).connections[0];
  const sandbox = async (vendor: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sb.url}/${vendor}/_sandbox/${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal(res.status, 204, `${method} ${path}: ${await res.text()}`);
  };
  const problem = (r: ConnectionCheck, check: string, what: RegExp) => {
    const p = r.problems.find((x) => x.check === check && what.test(x.what));
    assert.ok(p, `no ${check} problem matching ${what} in ${JSON.stringify(r.problems, null, 1)}`);
    return p;
  };

  it('the demo tenants: every connection OK with what was checked, the quota headroom, and no status or problem on the users', async () => {
    await deploy();
    const all = await check({});
    assert.equal(all.ok, true, JSON.stringify(all.connections.flatMap((c) => c.problems)));
    assert.deepEqual(all.connections.map((c) => c.connection).sort(), ['jc', 'sfc']);
    const sf = all.connections.find((c) => c.connection === 'sfc')!;
    assert.equal(sf.vendor, 'salesforce');
    assert.equal(sf.name, 'SF');
    assert.deepEqual(sf.checks.map((c) => [c.check, c.ok]), [['auth', true], ['api-version', true], ['fields', true], ['permissions', true], ['quota', true]]);
    assert.deepEqual(sf.problems, []);
    const daily = (sf.headroom as any).dailyApiRequests;
    assert.ok(daily.max > 0 && daily.remaining > 0 && daily.remaining <= daily.max, JSON.stringify(sf.headroom));
    const jira = all.connections.find((c) => c.connection === 'jc')!;
    assert.deepEqual(jira.checks.map((c) => [c.check, c.ok]), [['auth', true], ['api-version', true], ['fields', true], ['permissions', true]]);
    assert.match(jira.checks.find((c) => c.check === 'fields')!.detail!, new RegExp(`Epic Name ${EPIC_NAME_FIELD}`));
    assert.ok(!Number.isNaN(Date.parse(jira.checkedAt)));
    // the last results without calling anyone
    const last = (await admin().get('/ps-fabric/connections/check').expect(200)).body;
    assert.equal(last.ok, true);
    assert.equal(last.connections.length, 2);
    assert.ok(!statuses.sfq.some((s) => /setup/.test(String(s.text))), JSON.stringify(statuses.sfq));
  });

  it('Salesforce: a missing field, a field hidden by field-level security and a missing object permission are each named with their fix; the users show it, and so does the dashboard feed', async () => {
    await deploy({ extra: [{ id: 'sfw', type: 'salesforce', salesforce: 'sfc', operation: 'create', sobject: 'Account', wires: [[]] }] });
    assert.equal(setupChecks.result('sfc')!.ok, true);
    await sandbox('salesforce', 'DELETE', 'schema/Opportunity/fields/Billing_Model__c');
    await sandbox('salesforce', 'PUT', 'access/Account/fields/Tax_Registration__c', { read: false });
    await sandbox('salesforce', 'PUT', 'access/Contract_Amendment__c', { read: false });
    await sandbox('salesforce', 'PUT', 'access/Account', { create: false });
    const r = await one('sfc');
    assert.equal(r.ok, false);
    const missing = problem(r, 'fields', /^Opportunity\.Billing_Model__c does not exist/);
    assert.equal(missing.severity, 'error');
    assert.match(missing.fix, /Setup > Object Manager > Opportunity > Fields & Relationships > Billing_Model__c > Set Field-Level Security/);
    assert.match(problem(r, 'fields', /^Account\.Tax_Registration__c /).fix, /Field-Level Security/);
    const query = problem(r, 'permissions', /cannot query Contract_Amendment__c/);
    assert.match(query.fix, /Object Settings > Contract_Amendment__c/);
    assert.match(problem(r, 'permissions', /lacks Create on Account/).fix, /Object Permissions: Create/);
    assert.equal(r.checks.find((c) => c.check === 'fields')!.ok, false);
    assert.equal(r.checks.find((c) => c.check === 'auth')!.ok, true);
    // the nodes using the connection show it (status text from the config node's catalog)
    await waitFor(() => statuses.sfq.some((s) => s.fill === 'red' && /setup\.problems/.test(String(s.text))), 'the red setup status on the salesforce node');
    assert.ok(!statuses.jp.some((s) => /setup/.test(String(s.text))), 'the Jira node is not told about Salesforce');
    // the dashboard's KPI snapshot carries the row, keyed by connection name like the outbox and circuit rows
    helper.getNode('ops').receive({ topic: 'refresh' });
    await waitFor(() => kpis.some((k) => k.setup?.some((s: any) => s.connection === 'salesforce:SF' && s.ok === false && s.errors === 4)), 'the setup row on the dashboard feed');
    // fixed in the org: the next check says so, on the users too
    sb.sandboxes.salesforce.reset();
    assert.equal((await one('sfc')).ok, true);
    await waitFor(() => statuses.sfq.at(-1)?.fill === 'green' && /setup\.ok/.test(String(statuses.sfq.at(-1)?.text)), 'the green setup status after the fix');
  });

  it("Salesforce: mapped names are checked under the org's names, and a missing optional field is a warning with its fallback", async () => {
    await deploy({ sf: { fieldNames: JSON.stringify({ Billing_Model__c: 'Engagement_Type__c' }) } });
    await sandbox('salesforce', 'DELETE', 'schema/OpportunityLineItem/fields/Hours__c');
    const r = await one('sfc');
    const mapped = problem(r, 'fields', /^Opportunity\.Engagement_Type__c \(mapped from Billing_Model__c\) does not exist/);
    assert.equal(mapped.severity, 'error');
    const optional = problem(r, 'fields', /^OpportunityLineItem\.Hours__c /);
    assert.equal(optional.severity, 'warning');
    assert.match(optional.what, /Quantity counts as hours/);
  });

  it('Salesforce: refused credentials and an API version the org does not serve are found and named; the other steps are not run on a failed login', async () => {
    await deploy({ sfCreds: { clientId: DEFAULT_CLIENT_ID, clientSecret: 'not-the-secret' } });
    const bad = await one('sfc');
    assert.equal(bad.ok, false);
    assert.match(problem(bad, 'auth', /Salesforce refused the login/).fix, /Client Credentials Flow/);
    assert.deepEqual(bad.checks.filter((c) => !c.ok).map((c) => c.check), ['auth', 'api-version', 'fields', 'permissions', 'quota']);
    assert.ok(!JSON.stringify(bad).includes('not-the-secret'), 'the secret is not in the answer');
    await helper.unload();

    await deploy({ sf: { apiVersion: '30.0' } });
    const old = await one('sfc');
    assert.equal(old.ok, false);
    const p = problem(old, 'api-version', /does not serve REST API version 30\.0/);
    assert.match(p.what, /62\.0/);
    assert.match(p.fix, /Set API version in this config node/);
    assert.deepEqual(old.checks.filter((c) => !c.ok).map((c) => c.check), ['api-version', 'fields', 'permissions']);
  });

  it('Jira: a missing global permission, Browse users and groups, and a deleted Epic Name field are named with where to grant or create them', async () => {
    await deploy({ jira: { epicNameField: EPIC_NAME_FIELD } });
    assert.equal(setupChecks.result('jc')!.ok, true, JSON.stringify(setupChecks.result('jc')!.problems));
    await sandbox('jira', 'DELETE', 'permissions/ADMINISTER');
    await sandbox('jira', 'DELETE', 'permissions/USER_PICKER');
    await sandbox('jira', 'DELETE', `fields/${EPIC_NAME_FIELD}`);
    const r = await one('jc');
    assert.equal(r.ok, false);
    const admin = problem(r, 'permissions', /lacks the Administer Jira permission/);
    assert.match(admin.fix, /Global permissions > Administer Jira/);
    assert.match(problem(r, 'permissions', /lacks the Browse users and groups permission/).what, /project lead is found by email/);
    assert.match(problem(r, 'fields', new RegExp(`Epic Name field ${EPIC_NAME_FIELD} set in this config node does not exist`)).fix, /Custom fields/);
    await waitFor(() => statuses.jp.some((s) => s.fill === 'red' && /setup\.problems/.test(String(s.text))), 'the red setup status on the jira node');
    // what the check found is what the templates meet: creating a project is refused without Administer Jira
    const created = await fetch(`${sb.url}/jira/rest/api/3/project`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic ' + Buffer.from(`${JIRA_EMAIL}:${JIRA_API_TOKEN}`).toString('base64') }, body: JSON.stringify({ key: 'SETUP', name: 'Setup', projectTypeKey: 'software', leadAccountId: 'x' }) });
    assert.equal(created.status, 403);
  });

  it("Jira: an Epic Name field setting that is not the site's Epic Name leaves the Epic create screen's required field unfilled, which is named", async () => {
    await deploy({ jira: { epicNameField: 'customfield_10015' } });
    const r = await one('jc');
    assert.equal(r.ok, false);
    const p = problem(r, 'fields', new RegExp(`Epic create screen of project [A-Z]+ requires Epic Name \\(${EPIC_NAME_FIELD}\\), which PS Fabric does not fill`));
    assert.match(p.fix, /set Epic Name field in this config node to it/);
  });

  it('Jira: a refused API token is found and named', async () => {
    await deploy({ jiraCreds: { email: JIRA_EMAIL, apiToken: 'wrong-token' } });
    const r = await one('jc');
    assert.equal(r.ok, false);
    assert.match(problem(r, 'auth', /Jira refused the credentials .*\(401\)/).fix, /id\.atlassian\.com > Security/);
    assert.ok(!JSON.stringify(r).includes('wrong-token'));
  });

  it('a config node whose settings were refused reports them as its setup problem, without calling the vendor', async () => {
    await deploy({ sf: { fieldNames: JSON.stringify({ Not_A_Field__c: 'X__c' }) } });
    const r = await one('sfc');
    assert.equal(r.ok, false);
    // the node's own (translated) configuration error; the test helper's RED._ answers with the catalog key
    const configError = helper.getNode('sfc').configError as string;
    assert.match(configError, /badConfig|Not_A_Field__c/);
    assert.equal(problem(r, 'config', /settings were refused/).what, `This config node's settings were refused: ${configError}`);
    assert.deepEqual(r.checks.map((c) => c.check), ['config']);
  });

  it('the endpoint refuses a body it does not understand and an id that has no check, saying what it takes', async () => {
    await deploy();
    const bad = await admin().post('/ps-fabric/connections/check').set('X-PS-Fabric-Request', '1').send({ connection: 'sfc' }).expect(400);
    assert.match(bad.body.message, /unknown field\(s\) connection/);
    const badId = await admin().post('/ps-fabric/connections/check').set('X-PS-Fabric-Request', '1').send({ id: 42 }).expect(400);
    assert.match(badId.body.message, /id must be the config node id/);
    const unknown = await admin().post('/ps-fabric/connections/check').set('X-PS-Fabric-Request', '1').send({ id: 'store' }).expect(404);
    assert.match(unknown.body.message, /no deployed connection with id store has a setup check .*sfc/);
  });
});
