/**
 * The setup check of the NetSuite, Business Central and Kantata connections through a real Node-RED runtime and the
 * sandboxes: the admin endpoint answers all three OK against the demo tenants; then a NetSuite custom field, a Kantata
 * custom field and a published Business Central page are taken away and each check names what is missing, under the
 * names the config nodes' settings give; a refused setting is reported as such.
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS } from '../../sandbox/netsuite';
import { businessCentralSandbox, BC_SANDBOX_DEFAULTS } from '../../sandbox/business-central';
import { kantataSandbox, KANTATA_CUSTOM_FIELDS, KANTATA_STATIC_TOKEN } from '../../sandbox/kantata';
import { setupChecks } from '../../lib/setup/registry';
import type { ConnectionCheck } from '../../lib/setup/types';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

const nodes = ['fabric-store/fabric-store', 'netsuite-config/netsuite-config', 'business-central-config/business-central-config', 'kantata-config/kantata-config']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];
const BC = BC_SANDBOX_DEFAULTS.clients[0];

describe('setup check of NetSuite, Business Central and Kantata connections (admin endpoint, Node-RED runtime, sandboxes)', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox, businessCentralSandbox, kantataSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    for (const v of ['netsuite', 'bc', 'kantata']) sb.sandboxes[v].reset();
    tmp = tempDir('psfabric-setup-check-erp-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

   
  const admin = () => (helper as unknown as { request(): any }).request();
  async function deploy(settings: { ns?: Record<string, unknown>; kc?: Record<string, unknown> } = {}) {
    await helper.load(
      nodes,
      [
        { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
        { id: 'nsc', type: 'netsuite-config', name: 'NetSuite', accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl: `${sb.url}/netsuite`, authType: 'tba', store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2, ...settings.ns },
        { id: 'bcc', type: 'business-central-config', name: 'BC UK', tenantId: BC_SANDBOX_DEFAULTS.tenantId, environment: BC_SANDBOX_DEFAULTS.environment, company: 'NWA UK', baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${BC_SANDBOX_DEFAULTS.tenantId}/oauth2/v2.0/token`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2 },
        { id: 'kc', type: 'kantata-config', name: 'Kantata', baseUrl: `${sb.url}/kantata`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2, ...settings.kc },
      ],
      { nsc: { consumerKey: TBA.consumerKey, consumerSecret: TBA.consumerSecret, tokenId: TBA.tokenId, tokenSecret: TBA.tokenSecret }, bcc: { clientId: BC.clientId, clientSecret: BC.clientSecret }, kc: { accessToken: KANTATA_STATIC_TOKEN } },
    );
    await waitFor(() => setupChecks.result('nsc') && setupChecks.result('bcc') && setupChecks.result('kc'), 'the checks run at deploy');
  }
  async function check(body: Record<string, unknown>): Promise<{ ok: boolean; connections: ConnectionCheck[] }> {
    return (await admin().post('/ps-fabric/connections/check').set('X-PS-Fabric-Request', '1').send(body).expect(200)).body;
  }
  const sandbox = async (vendor: string, method: string, path: string) => {
    const res = await fetch(`${sb.url}/${vendor}/_sandbox/${path}`, { method });
    assert.equal(res.status, 204, `${method} ${path}: ${await res.text()}`);
  };

  it('the demo tenants: all three connections OK', async () => {
    await deploy();
    const all = await check({});
    assert.equal(all.ok, true, JSON.stringify(all.connections.flatMap((c) => c.problems)));
    assert.deepEqual(all.connections.map((c) => [c.connection, c.vendor]).sort(), [['bcc', 'business-central'], ['kc', 'kantata'], ['nsc', 'netsuite']]);
  });

  it('a field missing in each tenant is named by the check of its connection, under the mapped name', async () => {
    await deploy({ kc: { customFields: JSON.stringify({ opportunityId: String(KANTATA_CUSTOM_FIELDS.opportunityId) }) } });
    await sandbox('netsuite', 'DELETE', 'schema/job/fields/custentity_psf_billing_cap');
    await sandbox('kantata', 'DELETE', `custom_fields/${KANTATA_CUSTOM_FIELDS.opportunityId}`);
    await sandbox('kantata', 'DELETE', `custom_fields/${KANTATA_CUSTOM_FIELDS.accountExternalId}`);
    await sandbox('bc', 'DELETE', 'web-services/PSF_Projects');
    const all = await check({});
    assert.equal(all.ok, false);
    const by = (id: string) => all.connections.find((c) => c.connection === id)!;
    assert.match(by('nsc').problems.map((p) => p.what).join('\n'), /custentity_psf_billing_cap \(setting Custom fields > billingCap\) does not exist on project \(job\)/);
    const k = by('kc').problems;
    assert.equal(k.find((p) => /accountExternalId/.test(p.what))!.severity, 'error');
    assert.match(k.find((p) => /opportunityId/.test(p.what))!.what, new RegExp(`no Project custom field with id ${KANTATA_CUSTOM_FIELDS.opportunityId}`));
    assert.match(by('bcc').problems.map((p) => p.what).join('\n'), /page 88 Project Card is not published as web service PSF_Projects/);
    const one = await check({ id: 'bcc' });
    assert.deepEqual(one.connections.map((c) => c.connection), ['bcc']);
  });

  it('a custom field setting the node refuses is the check result instead of a call to the vendor', async () => {
    await deploy({ ns: { customFields: '{"sourceRefs":"custentity_not_a_column"}' }, kc: { customFields: '{"billingEntity":""}' } });
    const all = await check({});
    // the message itself comes from the node's catalog (the unit tests check its wording); here: refused, not called
    for (const id of ['nsc', 'kc']) {
      const r = all.connections.find((c) => c.connection === id)!;
      assert.equal(r.ok, false);
      assert.deepEqual(r.problems.map((p) => [p.check, p.severity]), [['config', 'error']]);
      assert.match(r.problems[0].what, /settings were refused/);
    }
    assert.equal(all.connections.find((c) => c.connection === 'bcc')!.ok, true);
  });
});
