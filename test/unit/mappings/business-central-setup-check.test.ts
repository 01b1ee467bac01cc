/**
 * Business Central setup check against the sandbox: all OK as seeded, then each problem found and named (web service
 * not published, a page field missing, number series that do not allow the configured numbering, wrong company, refused
 * credentials); the sandbox's $metadata documents and its faults, restored on reset.
 */
import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { businessCentralSandbox, businessCentralControl, BC_SANDBOX_DEFAULTS } from '../../../sandbox/business-central';
import { BusinessCentralConnector, BC_DEMO_TABLES } from '../../../lib/connectors/business-central';
import { checkBcNumberSeries, checkBcWebServices, checkSetup } from '../../../lib/connectors/business-central/setup-check';

const T = BC_SANDBOX_DEFAULTS;

describe('Business Central setup check', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  const connector = (o: { company?: string; numbering?: 'series' | 'manual'; secret?: string } = {}) =>
    new BusinessCentralConnector({ tenantId: T.tenantId, environment: T.environment, company: o.company ?? 'NWA UK', clientId: T.clients[0].clientId, clientSecret: o.secret ?? T.clients[0].clientSecret, baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${T.tenantId}/oauth2/v2.0/token`, tables: BC_DEMO_TABLES['NWA UK'], numbering: o.numbering });
  const sandbox = (method: string, path: string) => axios.request({ method, url: `${sb.url}/bc/_sandbox${path}`, validateStatus: () => true });

  before(async () => {
    sb = await startSandboxes({ vendors: [businessCentralSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.bc.reset();
    businessCentralControl(sb.sandboxes.bc).settings.manualNos = { customers: false, projects: false };
  });

  it('all OK as seeded with series numbering', async () => {
    const r = await checkSetup(connector(), { company: 'NWA UK' });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.checks.map((c) => [c.check, c.ok]), [['auth', true], ['api-version', true], ['fields', true], ['numbering', true]]);
  });

  it('names an unpublished page, a page without a field, and restores both on reset', async () => {
    assert.equal((await sandbox('DELETE', '/web-services/PSF_ProjectTasks')).status, 204);
    assert.equal((await sandbox('DELETE', '/web-services/PSF_Projects/fields/Bill_to_Customer_No')).status, 204);
    const r = await checkSetup(connector(), { company: 'NWA UK' });
    assert.equal(r.ok, false);
    const tasks = r.problems.find((p) => /PSF_ProjectTasks/.test(p.what))!;
    assert.match(tasks.what, /page 1002 Project Task Lines is not published as web service PSF_ProjectTasks/);
    assert.match(tasks.fix, /Web Services, choose New: Object Type Page, Object ID 1002/);
    assert.match(r.problems.find((p) => /PSF_Projects has no/.test(p.what))!.what, /has no Bill_to_Customer_No/);
    // what the connector meets at run time, as the check said
    const c = connector();
    await assert.rejects(c.client.pageFind('PSF_ProjectTasks', "Job_No eq 'X'"), (err: any) => err.response?.status === 404);
    sb.sandboxes.bc.reset();
    assert.equal((await checkSetup(connector(), { company: 'NWA UK' })).ok, true);
  });

  it('numbering: manual against series without Manual Nos. is an error naming the series; unreadable series is a warning', async () => {
    const r = await checkSetup(connector({ numbering: 'manual' }), { company: 'NWA UK' });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => p.where), ['Business Central: No. Series > CUST', 'Business Central: No. Series > JOB']);
    assert.match(r.problems[0].what, /CUST \(customers\) does not allow Manual Nos\., and the config node's numbering is "manual"/);
    businessCentralControl(sb.sandboxes.bc).settings.manualNos = { customers: true, projects: true };
    assert.equal((await checkSetup(connector({ numbering: 'manual' }), { company: 'NWA UK' })).ok, true);
    await sandbox('DELETE', '/web-services/NoSeries');
    const unread = await checkSetup(connector(), { company: 'NWA UK' });
    assert.equal(unread.ok, true);
    assert.equal(unread.problems[0].severity, 'warning');
    assert.match(unread.problems[0].fix, /publish page 456 as NoSeries/);
  });

  it('the web services and number series settings are validated naming the setting, and the series codes are the ones checked', async () => {
    assert.deepEqual(checkBcWebServices({ projects: 'ACME_Jobs' }), { projects: 'ACME_Jobs' });
    assert.throws(() => checkBcWebServices({ project: 'X' }), /names 'project', which is not one of projects/);
    assert.throws(() => checkBcWebServices({ projects: 'Project Card' }), /Service Name of the published page/);
    assert.throws(() => checkBcNumberSeries({ customers: 'A-VERY-LONG-SERIES-CODE-X' }), /No\. Series code of at most 20/);
    const settings = checkBcNumberSeries({ customers: 'C-NOS' });
    assert.deepEqual(settings.series, { customers: 'C-NOS', projects: 'JOB' });
    const r = await checkSetup(connector(), { company: 'NWA UK', ...settings });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems.map((p) => p.what), ['there is no number series C-NOS (customers)']);
  });

  it('names a company the environment does not have and refused credentials', async () => {
    const r = await checkSetup(connector({ company: 'NWA Ireland' }), { company: 'NWA Ireland' });
    assert.equal(r.ok, false);
    assert.match(r.problems[0].what, /no company "NWA Ireland" in this environment \(it has .*"NWA UK"/);
    const denied = await checkSetup(connector({ secret: 'wrong' }), { company: 'NWA UK' });
    assert.deepEqual(denied.checks.map((c) => [c.check, c.ok]), [['auth', false]]);
    assert.match(denied.problems[0].fix, /API\.ReadWrite\.All/);
  });
});
