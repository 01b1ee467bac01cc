import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { jiraSandbox, jiraControl, EPIC_NAME_FIELD, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_OAUTH_TOKEN, JIRA_ACCOUNT_ID } from '../../../sandbox/jira';
import { JiraClient } from '../../../lib/connectors/jira/client';
import { adf, textToAdf, validateAdf } from '../../../lib/connectors/jira/adf';
import { FabricError, TransientError } from '../../../lib/delivery/errors';

/** The Jira swagger lives outside the repo (shared/contracts); FABRIC_CONTRACTS_DIR overrides. */
function findSwagger(): string | undefined {
  const candidates = [process.env.FABRIC_CONTRACTS_DIR, path.resolve(__dirname, '../../../../../shared/contracts'), path.resolve(__dirname, '../../../../shared/contracts'), '/work/shared/contracts'];
  for (const dir of candidates) {
    if (!dir) continue;
    const f = path.join(dir, 'jira', 'jira-platform-swagger-v3.v3.json');
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/**
 * Compiles component schemas of the OpenAPI 3.0 document with ajv. Relaxed, and why:
 * - strict: false, because OpenAPI adds keywords JSON Schema does not know (example, xml, discriminator, externalDocs);
 * - readOnly properties are allowed in responses (and our requests don't send them; the response checks rely on it);
 * - formats from ajv-formats (date-time, uri, int32/int64); OpenAPI `nullable` is understood by ajv natively.
 */
function contract(swaggerPath: string): { schema(name: string): ValidateFunction } {
  const doc = JSON.parse(fs.readFileSync(swaggerPath, 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://contracts.psfabric.dev/jira', components: doc.components });
  const cache = new Map<string, ValidateFunction>();
  return {
    schema(name: string) {
      if (!cache.has(name)) cache.set(name, ajv.compile({ $ref: `https://contracts.psfabric.dev/jira#/components/schemas/${name}` }));
      return cache.get(name)!;
    },
  };
}

function check(v: ValidateFunction, data: unknown, what: string): void {
  assert.ok(v(data), `${what}: ${JSON.stringify(v.errors?.slice(0, 5))}`);
}

const ctx = (key: string) => ({ idempotencyKey: key, attempt: 1 });

describe('Jira connector against the Jira sandbox', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let base: string;
  let client: JiraClient;

  before(async () => {
    sb = await startSandboxes({ vendors: [jiraSandbox] });
    base = `${sb.url}/jira`;
  });
  after(async () => sb.close());
  beforeEach(async () => {
    await axios.post(`${base}/_sandbox/reset`);
    client = new JiraClient({ baseUrl: base, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN } });
  });

  it('authenticates with an API token or an OAuth bearer and refuses others with an ErrorCollection', async () => {
    assert.equal((await client.myself()).accountId, JIRA_ACCOUNT_ID);
    const bearer = new JiraClient({ baseUrl: base, auth: { type: 'bearer', accessToken: JIRA_OAUTH_TOKEN } });
    assert.equal((await bearer.myself()).accountId, JIRA_ACCOUNT_ID);
    const bad = new JiraClient({ baseUrl: base, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: 'wrong' } });
    await assert.rejects(bad.myself(), (e: FabricError) => e.errorClass === 'auth' && Array.isArray((e.response as any).errorMessages) && /not authenticated/.test(e.message));
  });

  it('creates a project and an epic with an ADF description, each once', async () => {
    const project = { key: 'GLOBX', name: 'Globex - EHR Integration Phase 2', leadAccountId: JIRA_ACCOUNT_ID, description: 'Delivery space' };
    const p1 = (await client.execute('createProject', project, ctx('p'))) as any;
    const p2 = (await client.execute('createProject', project, ctx('p'))) as any;
    assert.equal(p1.existed, false);
    assert.equal(p2.existed, true);
    assert.equal(p1.key, 'GLOBX');
    const epic = { projectKey: 'GLOBX', summary: 'Globex - EHR Integration Phase 2', description: adf.doc(adf.h(2, 'Scope'), adf.bullets('Interfaces', 'Testing'), adf.p('Opportunity ', adf.link('006Hs00000GlobexEHR', 'https://example.my.salesforce.com/006Hs00000GlobexEHR'))), labels: ['psfabric'] };
    const e1 = (await client.execute('createEpic', epic as any, ctx('epic-globex'))) as any;
    const e2 = (await client.execute('createEpic', epic as any, ctx('epic-globex'))) as any;
    assert.equal(e1.existed, false);
    assert.equal(e2.existed, true);
    assert.equal(e1.key, e2.key);
    const issue = await client.getIssue(e1.key);
    assert.equal(issue!.fields.issuetype.name, 'Epic');
    assert.deepEqual(issue!.fields.description, epic.description);
    const story = (await client.execute('createIssue', { projectKey: 'GLOBX', issueType: 'Story', summary: 'Interfaces', description: 'Build the HL7 feeds\n\n- ADT\n- ORU', parentKey: e1.key }, ctx('story-1'))) as any;
    const found = await client.search(`project = GLOBX AND parent = ${e1.key}`);
    assert.deepEqual(found.map((i) => i.key), [story.key]);
  });

  it('finds the project lead by email through user search; a lead Jira does not know fails naming the person and the site, creating nothing', async () => {
    const p = (await client.execute('createProject', { key: 'LEADOK', name: 'Lead by email', lead: { email: 'Maya.Patel@northwind-advisory.example', name: 'Maya Patel' } }, ctx('lead-ok'))) as any;
    assert.equal(p.existed, false);
    const search = sb.sandboxes.jira.requests().find((r) => r.method === 'GET' && r.path.includes('/rest/api/3/user/search'));
    assert.ok(search, 'the lead was looked up');
    const post = sb.sandboxes.jira.requests().find((r) => r.method === 'POST' && r.path.endsWith('/rest/api/3/project'))!;
    const users = (await axios.get(`${base}/rest/api/3/user/search`, { auth: { username: JIRA_EMAIL, password: JIRA_API_TOKEN }, params: { query: 'maya.patel@northwind-advisory.example' } })).data;
    assert.equal(users.length, 1);
    assert.equal((post.body as any).leadAccountId, users[0].accountId, 'the account Jira has, not an id made up from the person');
    assert.equal((post.body as any).lead, undefined, 'only CreateProjectDetails fields are sent');
    await assert.rejects(client.execute('createProject', { key: 'LEADNO', name: 'Unknown lead', lead: { email: 'nobody@elsewhere.example', name: 'Nora Body' } }, ctx('lead-no')), (e: FabricError) => e.errorClass === 'validation' && e.retry === 'permanent' && /Nora Body <nobody@elsewhere\.example>/.test(e.message) && e.message.includes(base));
    assert.equal(await client.getProject('LEADNO'), undefined);
    // the sandbox refuses an account id that does not exist, as Jira does
    await assert.rejects(client.execute('createProject', { key: 'LEADID', name: 'Invented lead', leadAccountId: '712020:con-001-0000-4000-8000-invented' }, ctx('lead-id')), (e: FabricError) => e.status === 400 && /project lead/i.test(e.message));
    // user search needs a query, as on Jira
    const bad = await axios.get(`${base}/rest/api/3/user/search`, { auth: { username: JIRA_EMAIL, password: JIRA_API_TOKEN }, validateStatus: () => true });
    assert.equal(bad.status, 400);
  });

  it('sets Epic Name where the project requires it (company-managed, found through createmeta); a team-managed project gets none', async () => {
    await client.execute('createProject', { key: 'CLASSIC', name: 'Company-managed', leadAccountId: JIRA_ACCOUNT_ID }, ctx('classic'));
    // what the connector used to send: no Epic Name -> refused as Jira does
    const raw = await axios.post(`${base}/rest/api/3/issue`, JiraClient.issueBody({ projectKey: 'CLASSIC', issueType: 'Epic', summary: 'No name' }), { auth: { username: JIRA_EMAIL, password: JIRA_API_TOKEN }, validateStatus: () => true });
    assert.equal(raw.status, 400);
    assert.match(raw.data.errors[EPIC_NAME_FIELD], /Epic Name is required/);
    const epic = (await client.execute('createEpic', { projectKey: 'CLASSIC', summary: 'Globex - EHR Integration Phase 2' }, ctx('epic-classic'))) as any;
    assert.equal((await client.getIssue(epic.key))!.fields[EPIC_NAME_FIELD], 'Globex - EHR Integration Phase 2');
    assert.ok(sb.sandboxes.jira.requests().some((r) => r.path.includes('/rest/api/3/issue/createmeta/CLASSIC/issuetypes/')), 'the field was found through createmeta');
    await client.execute('createProject', { key: 'TEAM', name: 'Team-managed', leadAccountId: JIRA_ACCOUNT_ID, projectTemplateKey: 'com.pyxis.greenhopper.jira:gh-simplified-agility-kanban' }, ctx('team'));
    const teamEpic = (await client.execute('createEpic', { projectKey: 'TEAM', summary: 'No Epic Name here' }, ctx('epic-team'))) as any;
    assert.equal((await client.getIssue(teamEpic.key))!.fields[EPIC_NAME_FIELD], undefined);
    // a field not on the create screen is refused, as Jira does
    await assert.rejects(client.execute('createIssue', { projectKey: 'TEAM', issueType: 'Task', summary: 'x', fields: { customfield_99999: 'y' } }, ctx('bad-field')), (e: FabricError) => e.errorClass === 'validation' && /cannot be set/.test(e.message));
  });

  it('search is eventually consistent unless reconciled: the duplicate check passes the ids the connector created as reconcileIssues', async () => {
    await client.execute('createProject', { key: 'RECON', name: 'Reconcile', leadAccountId: JIRA_ACCOUNT_ID }, ctx('recon'));
    jiraControl(sb.sandboxes.jira).settings.searchLagMs = 60_000;
    try {
      const first = (await client.execute('createEpic', { projectKey: 'RECON', summary: 'Epic once' }, ctx('epic-once'))) as any;
      // a client that does not know the id (what a search without reconcileIssues sees): not found yet
      const other = new JiraClient({ baseUrl: base, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN } });
      assert.deepEqual(await other.search('project = RECON'), []);
      // the retry through the connector that created it: found, not created twice
      const again = (await client.execute('createEpic', { projectKey: 'RECON', summary: 'Epic once' }, ctx('epic-once'))) as any;
      assert.equal(again.existed, true);
      assert.equal(again.key, first.key);
      const searches = sb.sandboxes.jira.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/search/jql'));
      assert.deepEqual((searches.at(-1)!.body as any).reconcileIssues, [Number(first.id)]);
      assert.equal(Object.values(sb.sandboxes.jira.state.issues).filter((i: any) => i.projectKey === 'RECON').length, 1);
    } finally {
      jiraControl(sb.sandboxes.jira).settings.searchLagMs = 2000;
    }
  });

  it('makes a proposed key unique on the site and finds its own project again by ref on a retry', async () => {
    const first = { key: 'GLXEHR', ref: 'PRJ-006A', name: 'Globex - EHR Phase 2', leadAccountId: JIRA_ACCOUNT_ID, description: 'Delivery space (PRJ-006A)' };
    const second = { key: 'GLXEHR', ref: 'PRJ-006B', name: 'Globex - EHR Phase 3', leadAccountId: JIRA_ACCOUNT_ID, description: 'Delivery space (PRJ-006B)' };
    const a = (await client.execute('createProject', first, ctx('a'))) as any;
    assert.equal(a.key, 'GLXEHR');
    // another deal proposing the same key: not handed the first deal's project, but a free variant
    const b = (await client.execute('createProject', second, ctx('b'))) as any;
    assert.equal(b.existed, false);
    assert.equal(b.key, 'GLXEHRA');
    // a retry of either finds its own project
    assert.deepEqual([(await client.execute('createProject', second, ctx('b'))) as any].map((x) => [x.key, x.existed]), [['GLXEHRA', true]]);
    assert.deepEqual([(await client.execute('createProject', first, ctx('a'))) as any].map((x) => [x.key, x.existed]), [['GLXEHR', true]]);
    const post = sb.sandboxes.jira.requests().find((r) => r.method === 'POST' && r.path.endsWith('/rest/api/3/project'))!;
    assert.equal((post.body as any).ref, undefined, 'ref is not a Jira field');
    // the site's key pattern is the rule: digits are refused by the default pattern, allowed when configured
    await assert.rejects(client.execute('createProject', { ...first, key: 'GLX2', ref: 'PRJ-X', description: 'PRJ-X' }, ctx('d')), (e: FabricError) => e.errorClass === 'validation' && /key pattern/.test(e.details![0].message));
    const digits = new JiraClient({ baseUrl: base, auth: { type: 'basic', email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN }, keyPattern: '^[A-Z][A-Z0-9]{1,9}$' });
    assert.equal(((await digits.execute('createProject', { ...first, key: 'GLX2', ref: 'PRJ-Y', name: 'Digits', description: 'PRJ-Y' }, ctx('y'))) as any).key, 'GLX2');
  });

  it('answers 400 {errorMessages, errors} for a bad payload and a non-ADF description', async () => {
    const res = await axios.post(`${base}/rest/api/3/issue`, { fields: { project: { key: 'ACMED' }, issuetype: { name: 'Epic' }, description: 'plain text is not ADF' } }, { auth: { username: JIRA_EMAIL, password: JIRA_API_TOKEN }, validateStatus: () => true });
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys(res.data).sort(), ['errorMessages', 'errors']);
    assert.match(res.data.errors.summary, /summary/);
    assert.match(res.data.errors.description, /Atlassian Document/);
    await assert.rejects(client.execute('createIssue', { projectKey: 'NOPE', summary: 'x' }, ctx('z')), (e: FabricError) => e.errorClass === 'validation' && e.status === 400 && /project: valid project is required/.test(e.message));
    // The connector refuses a malformed ADF document before sending it.
    await assert.rejects(client.execute('createIssue', { projectKey: 'ACMED', summary: 'x', description: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: '' }] }] } }, ctx('w')), (e: FabricError) => e.errorClass === 'validation' && e.details![0].path === '/description/content/0/content/0/text');
  });

  it('classifies 404, 429 and 5xx', async () => {
    assert.equal(await client.getIssue('NOPE-1'), undefined);
    await assert.rejects(client.request('GET', '/issue/NOPE-1'), (e: FabricError) => e.errorClass === 'not-found' && /Issue does not exist/.test(e.message));
    await axios.put(`${base}/_sandbox/faults`, { rate429: 1, retryAfterSeconds: 5 });
    await assert.rejects(client.myself(), (e: FabricError) => e instanceof TransientError && e.retryAfterMs === 5000);
    await axios.put(`${base}/_sandbox/faults`, { errorRate: 1, errorStatus: 500 });
    await assert.rejects(client.execute('createProject', { key: 'ABC', name: 'x', leadAccountId: JIRA_ACCOUNT_ID }, ctx('q')), (e: FabricError) => e.retry === 'transient' && e.status === 500);
    await axios.put(`${base}/_sandbox/faults`, {});
  });

  it('builds ADF from text and validates documents', () => {
    const d = textToAdf('Line one\nline two\n\n- a\n- b');
    assert.deepEqual(validateAdf(d), []);
    assert.equal(d.content[1].type, 'bulletList');
    assert.deepEqual(validateAdf({ type: 'doc', version: 1, content: [{ type: 'heading', attrs: { level: 9 }, content: [] }] })[0].path, '/content/0/attrs/level');
  });

  describe('contract: request bodies and sandbox responses against the Jira swagger', () => {
    const swagger = findSwagger();
    let c: ReturnType<typeof contract>;
    before(function () {
      if (!swagger) this.skip();
      c = contract(swagger!);
    });

    it('connector request bodies match CreateProjectDetails and IssueUpdateDetails', async () => {
      check(c.schema('CreateProjectDetails'), JiraClient.projectBody({ key: 'GLOBX', name: 'Globex', leadAccountId: JIRA_ACCOUNT_ID, description: 'x' }), 'project body');
      check(c.schema('IssueUpdateDetails'), JiraClient.issueBody({ projectKey: 'GLOBX', issueType: 'Epic', summary: 'Epic', description: 'text', labels: ['a'], parentKey: 'GLOBX-1' }, ['psf-k']), 'issue body');
      // and what actually went over the wire
      await client.execute('createProject', { key: 'WIRE', name: 'Wire check', leadAccountId: JIRA_ACCOUNT_ID }, ctx('wire'));
      await client.execute('createEpic', { projectKey: 'WIRE', summary: 'Wire epic', description: 'hello' }, ctx('wire-epic'));
      const sent = sb.sandboxes.jira.requests().filter((r) => r.method === 'POST');
      const projectPost = sent.find((r) => r.path.endsWith('/rest/api/3/project'))!;
      const issuePost = sent.find((r) => r.path.endsWith('/rest/api/3/issue'))!;
      check(c.schema('CreateProjectDetails'), projectPost.body, 'sent project body');
      check(c.schema('IssueUpdateDetails'), issuePost.body, 'sent issue body');
      const searchPost = sent.find((r) => r.path.endsWith('/rest/api/3/search/jql'))!;
      check(c.schema('SearchAndReconcileRequestBean'), searchPost.body, 'sent search body');
    });

    it('sandbox responses match ProjectIdentifiers, Project, CreatedIssue, IssueBean, SearchAndReconcileResults, User, ErrorCollection', async () => {
      const auth = { username: JIRA_EMAIL, password: JIRA_API_TOKEN };
      const api = `${base}/rest/api/3`;
      const created = await axios.post(`${api}/project`, { key: 'CONTR', name: 'Contract', projectTypeKey: 'software', leadAccountId: JIRA_ACCOUNT_ID }, { auth });
      assert.equal(created.status, 201);
      check(c.schema('ProjectIdentifiers'), created.data, 'POST /project 201');
      // the compiled schemas do bite: a string id or an unknown property is refused
      assert.equal(c.schema('ProjectIdentifiers')({ ...created.data, id: String(created.data.id) }), false);
      assert.equal(c.schema('CreatedIssue')({ id: '1', key: 'A-1', self: 'x', extra: true }), false);
      check(c.schema('Project'), (await axios.get(`${api}/project/CONTR`, { auth })).data, 'GET /project/{key}');
      // a company-managed project: the Epic needs its Epic Name
      const issue = await axios.post(`${api}/issue`, JiraClient.issueBody({ projectKey: 'CONTR', issueType: 'Epic', summary: 'E', description: 'd', fields: { [EPIC_NAME_FIELD]: 'E' } }), { auth });
      assert.equal(issue.status, 201);
      check(c.schema('CreatedIssue'), issue.data, 'POST /issue 201');
      check(c.schema('IssueBean'), (await axios.get(`${api}/issue/${issue.data.key}`, { auth })).data, 'GET /issue/{key}');
      check(c.schema('SearchAndReconcileResults'), (await axios.get(`${api}/search/jql`, { auth, params: { jql: 'project = CONTR', maxResults: 1 } })).data, 'GET /search/jql');
      check(c.schema('User'), (await axios.get(`${api}/myself`, { auth })).data, 'GET /myself');
      for (const u of (await axios.get(`${api}/user/search`, { auth, params: { query: 'maya' } })).data) check(c.schema('User'), u, 'GET /user/search');
      const bad = await axios.post(`${api}/issue`, { fields: {} }, { auth, validateStatus: () => true });
      assert.equal(bad.status, 400);
      check(c.schema('ErrorCollection'), bad.data, 'POST /issue 400');
      const dup = await axios.post(`${api}/project`, { key: 'CONTR', name: 'Other', projectTypeKey: 'software', leadAccountId: JIRA_ACCOUNT_ID }, { auth, validateStatus: () => true });
      assert.equal(dup.status, 400);
      check(c.schema('ErrorCollection'), dup.data, 'POST /project 400');
      const unauth = await axios.get(`${api}/myself`, { validateStatus: () => true });
      assert.equal(unauth.status, 401);
      check(c.schema('ErrorCollection'), unauth.data, '401');
    });
  });
});
