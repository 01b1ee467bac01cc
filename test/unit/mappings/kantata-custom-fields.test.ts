/**
 * Kantata project custom fields as config-node settings (id or name): the setting decides the custom_field_id the
 * connector writes (checked on the workspace the sandbox holds) and reads back; an absent field degrades as
 * docs/connectors/kantata.md says; the setup check names each problem.
 */
import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { kantataSandbox, KANTATA_CUSTOM_FIELDS, KANTATA_STATIC_TOKEN } from '../../../sandbox/kantata';
import { KantataClient } from '../../../lib/connectors/kantata/client';
import { checkKantataCustomFields, DEFAULT_KANTATA_CUSTOM_FIELDS, workspaceContext, type KantataCustomFields } from '../../../lib/connectors/kantata/mapping';
import { checkSetup } from '../../../lib/connectors/kantata/setup-check';
import { projectShellRequest } from '../../../lib/governance/fulfilment';
import { classify } from '../../../lib/delivery/errors';

const ctx = (key: string) => ({ idempotencyKey: key, attempt: 1 });

describe('Kantata custom field mapping and setup check', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let base: string;
  const client = (customFields?: Partial<KantataCustomFields>, token = KANTATA_STATIC_TOKEN) => new KantataClient({ baseUrl: base, auth: { type: 'token', accessToken: token }, customFields });
  const sandbox = (method: string, path: string, data?: unknown) => axios.request({ method, url: `${base}/_sandbox${path}`, data, validateStatus: () => true });
  const workspaces = () => Object.values(sb.sandboxes.kantata.state.workspaces) as Array<Record<string, any>>;
  const customFieldReads = () => sb.sandboxes.kantata.requests().filter((r) => r.method === 'GET' && r.path.includes('/api/v1/custom_fields')).length;
  const project = { id: 'PRJ-KMAP-1', name: 'Initech - Mapping', accountId: 'ACC-1003', billingEntity: 'NWA-US', billingType: 'time-and-materials', currency: 'USD', startDate: '2026-12-01', opportunityId: '006MAP', budget: { amount: { amount: 1000, currency: 'USD' } } };
  const shell = (id: string) => ({ ...projectShellRequest({ ...project, id }), stories: [], participations: [] });

  before(async () => {
    sb = await startSandboxes({ vendors: [kantataSandbox] });
    base = `${sb.url}/kantata`;
  });
  after(async () => sb.close());
  beforeEach(async () => {
    await axios.post(`${base}/_sandbox/reset`);
  });

  it('validates the setting naming it and what was expected', () => {
    assert.deepEqual(checkKantataCustomFields(''), DEFAULT_KANTATA_CUSTOM_FIELDS);
    assert.equal(checkKantataCustomFields({ opportunityId: '' }).opportunityId, null);
    assert.equal(checkKantataCustomFields({ billingEntity: 7731 }).billingEntity, '7731');
    assert.throws(() => checkKantataCustomFields({ billingEntity: '' }), /leaves 'billingEntity' empty: time-to-cash cannot bill/);
    assert.throws(() => checkKantataCustomFields({ region: 'x' }), /names 'region', which is not one of billingEntity/);
    assert.throws(() => checkKantataCustomFields({ accountExternalId: { id: 1 } }), /expected a custom field id \(digits\) or the field's name/);
  });

  it('the planner sends values by meaning, never custom field ids', () => {
    const req = projectShellRequest(project) as Record<string, any>;
    assert.equal(req.workspace.custom_fields, undefined);
    assert.deepEqual(req.customFields, { billingEntity: 'NWA-US', opportunityId: '006MAP', accountExternalId: 'ACC-1003' });
  });

  it('default setting: the field names are looked up once and the values written under the account ids', async () => {
    const c = client();
    const a = (await c.execute('createProjectShell', shell('PRJ-KMAP-1') as any, ctx('a'))) as any;
    await c.execute('createProjectShell', shell('PRJ-KMAP-2') as any, ctx('b'));
    assert.equal(customFieldReads(), 1, 'resolved once per connection');
    const ws = workspaces().find((w) => w.id === a.workspace.id)!;
    assert.deepEqual(ws.custom_fields, [
      { custom_field_id: KANTATA_CUSTOM_FIELDS.billingEntity, value: 'NWA-US' },
      { custom_field_id: KANTATA_CUSTOM_FIELDS.opportunityId, value: '006MAP' },
      { custom_field_id: KANTATA_CUSTOM_FIELDS.accountExternalId, value: 'ACC-1003' },
    ]);
    const read = workspaceContext(ws, await c.customFieldNames())!;
    assert.equal(read.billingEntity, 'NWA-US');
    assert.equal(read.accountExternalId, 'ACC-1003');
  });

  it('ids and other names in the setting change the custom_field_id written and read; all ids need no lookup', async () => {
    await sandbox('PUT', '/custom_fields/7731', { name: 'Entité de facturation' });
    await sandbox('PUT', '/custom_fields/7732', { name: 'Client (réf. ERP)' });
    const byName = client({ billingEntity: 'Entité de facturation', accountExternalId: 'client (RÉF. ERP)' });
    const a = (await byName.execute('createProjectShell', shell('PRJ-KMAP-3') as any, ctx('c'))) as any;
    const ws = workspaces().find((w) => w.id === a.workspace.id)!;
    assert.deepEqual(ws.custom_fields.map((f: any) => [f.custom_field_id, f.value]).sort(), [['502', '006MAP'], ['7731', 'NWA-US'], ['7732', 'ACC-1003']]);
    assert.equal(workspaceContext(ws, await byName.customFieldNames())!.billingEntity, 'NWA-US');
    // the seed's field 501 now reads as nothing: the mapping, not a constant, decides
    assert.equal(workspaceContext({ ...ws, custom_fields: [{ custom_field_id: '501', value: 'NWA-UK' }] }, await byName.customFieldNames())!.billingEntity, undefined);

    const before = customFieldReads();
    const byId = client({ billingEntity: '7731', accountExternalId: '7732', opportunityId: '', erpProjectId: '' });
    const b = (await byId.execute('createProjectShell', shell('PRJ-KMAP-4') as any, ctx('d'))) as any;
    assert.equal(customFieldReads(), before, 'no lookup when every setting is an id');
    assert.deepEqual(workspaces().find((w) => w.id === b.workspace.id)!.custom_fields, [{ custom_field_id: '7731', value: 'NWA-US' }, { custom_field_id: '7732', value: 'ACC-1003' }]);
  });

  it('an optional field the account lacks is left out; a required one refuses the shell naming it, and nothing is created', async () => {
    await sandbox('DELETE', `/custom_fields/${KANTATA_CUSTOM_FIELDS.opportunityId}`);
    const a = (await client().execute('createProjectShell', shell('PRJ-KMAP-5') as any, ctx('e'))) as any;
    assert.deepEqual(workspaces().find((w) => w.id === a.workspace.id)!.custom_fields.map((f: any) => f.custom_field_id), [KANTATA_CUSTOM_FIELDS.billingEntity, KANTATA_CUSTOM_FIELDS.accountExternalId]);

    await sandbox('DELETE', `/custom_fields/${KANTATA_CUSTOM_FIELDS.billingEntity}`);
    const count = workspaces().length;
    await assert.rejects(client().execute('createProjectShell', shell('PRJ-KMAP-6') as any, ctx('f')), (err: unknown) => {
      const e = classify(err);
      return e.errorClass === 'validation' && /billingEntity \(setting custom fields > billingEntity = "Billing Entity"\)/.test(e.message);
    });
    assert.equal(workspaces().length, count);
  });

  it('the sandbox refuses a custom field that does not exist or is not a Project field, on create and update', async () => {
    await sandbox('PUT', '/custom_fields/7740', { name: 'Region', subject_type: 'User' });
    await assert.rejects(client({ billingEntity: '7740' }).execute('createProjectShell', shell('PRJ-KMAP-7') as any, ctx('g')), (err: unknown) => /7740 \(Region\) is a User field/.test(classify(err).message));
    const ws = workspaces()[0];
    const title = ws.title;
    await assert.rejects(client().execute('updateWorkspace', { id: ws.id, workspace: { title: 'changed', custom_fields: [{ custom_field_id: '9999', value: 'x' }] } } as any, ctx('h')), (err: unknown) => /custom field 9999 does not exist/.test(classify(err).message));
    assert.equal(workspaces()[0].title, title, 'nothing of a refused update applied');
  });

  it('setup check: all OK as seeded; then names a missing field, a wrong value type, a field of another subject, an empty optional setting and a refused login', async () => {
    const ok = await checkSetup(client(), { customFields: DEFAULT_KANTATA_CUSTOM_FIELDS });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.checks.map((x) => [x.check, x.ok]), [['auth', true], ['api-version', true], ['fields', true], ['permissions', true]]);

    await sandbox('DELETE', `/custom_fields/${KANTATA_CUSTOM_FIELDS.billingEntity}`);
    await sandbox('PUT', `/custom_fields/${KANTATA_CUSTOM_FIELDS.accountExternalId}`, { name: 'Customer External Id', value_type: 'number' });
    await sandbox('PUT', '/custom_fields/7740', { name: 'ERP Project Id', subject_type: 'User' });
    await sandbox('DELETE', `/custom_fields/${KANTATA_CUSTOM_FIELDS.erpProjectId}`);
    const settings = checkKantataCustomFields({ opportunityId: '', erpProjectId: '7740' });
    const r = await checkSetup(client(), { customFields: settings });
    assert.equal(r.ok, false);
    const missing = r.problems.find((p) => /billingEntity/.test(p.what))!;
    assert.equal(missing.severity, 'error');
    assert.match(missing.what, /no Project custom field named "Billing Entity"/);
    assert.match(missing.fix, /Create a Project custom field of type Text named "Billing Entity"/);
    assert.match(r.problems.find((p) => /accountExternalId/.test(p.what))!.what, /has value type number/);
    assert.match(r.problems.find((p) => /erpProjectId/.test(p.what))!.what, /7740.*is a User field/);
    const empty = r.problems.find((p) => /opportunityId/.test(p.what))!;
    assert.equal(empty.severity, 'warning');

    const denied = await checkSetup(client(undefined, 'not-a-token'), { customFields: DEFAULT_KANTATA_CUSTOM_FIELDS });
    assert.equal(denied.ok, false);
    assert.deepEqual(denied.checks.map((x) => x.check), ['auth']);
    assert.match(denied.problems[0].fix, /Generate a new token/);
  });
});
