/**
 * The process templates through the real runtime: startFabric in a temp user dir (templates deployed from flows/,
 * credentials from env defaults), sandboxes on, the embedded broker. A closed-won deal goes in on
 * fabric/v1/opportunity/closed-won (the Salesforce trigger node is not built yet; see docs/templates.md) and the
 * customer, project, Jira space, event and Teams card must appear; a duplicate creates nothing more; a deal with a
 * missing tax registration opens a sales-ops exception and creates nothing downstream.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startFabric, type RunningFabric } from '../../../runtime/launcher';
import { templateFlows } from '../../../runtime/templates';
import { ACCOUNTS, OPPORTUNITIES } from '../../../sandbox/seed/firm';
import { freePort } from '../../support/ports';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

function dealEvent(oppId: string): Record<string, unknown> {
  const o = OPPORTUNITIES.find((x) => x.sfId === oppId)!;
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  return {
    specversion: '1.0', id: `close-${oppId}`, source: '/test', type: 'com.psfabric.opportunity.closed-won.v1', time: new Date().toISOString(), correlationid: `test-${oppId}`,
    data: {
      opportunity: { Id: o.sfId, Name: o.name, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel, Delivery_Manager_Id__c: o.deliveryManagerId,
        OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) } },
      account: { Id: a.sfId, Name: a.name, External_Id__c: a.externalId, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: a.taxRegistration ?? null },
    },
  };
}

describe('templates: quote-to-project through the real runtime', function () {
  this.timeout(90000);
  let tmp: ReturnType<typeof tempDir>;
  let fabric: RunningFabric;
  let bus: MqttClient;
  const events: Array<{ topic: string; body: any }> = [];
  const get = async (p: string) => (await fetch(`${fabric.sandboxes!.url}${p}`)).json() as Promise<any>;

  before(async () => {
    tmp = tempDir('psf-templates-');
    const sandboxPort = await freePort();
    fabric = await startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: true, sandboxPort, logLevel: 'warn', env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'templates-test-secret', FABRIC_SANDBOX_PORT: String(sandboxPort), FABRIC_Q2P_POLL_SECONDS: '3600', FABRIC_T2C_POLL_SECONDS: '3600' } });
    await waitFor(async () => (await fabric.health()).flows.state === 'started', 'flows started', 30000);
    bus = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0 });
    bus.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString()) }));
    await bus.subscribeAsync('fabric/v1/#', { qos: 1 });
  });

  after(async () => {
    await bus?.endAsync();
    await fabric?.stop();
    tmp?.cleanup();
  });

  it('deploys the four templates and their shared config nodes, with credentials and no secret in the flow file', async () => {
    const flows = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'flows.json'), 'utf8')) as Array<{ id: string; type: string; label?: string }>;
    const tabs = flows.filter((n) => n.type === 'tab').map((n) => n.label);
    for (const t of ['quote-to-project', 'time-to-cash', 'change-order-to-billing', 'performance-to-reporting']) assert.ok(tabs.includes(t), `tab ${t} missing: ${tabs.join(', ')}`);
    assert.equal(flows.filter((n) => n.id === 'psf-store').length, 1);
    const text = fs.readFileSync(path.join(tmp.dir, 'flows.json'), 'utf8');
    assert.ok(!text.includes('psf-demo-bc-secret') && !text.includes('jira-sandbox-api-token'));
    const cred = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'flows_cred.json'), 'utf8'));
    assert.equal(typeof cred.$, 'string', 'credentials are encrypted');
    assert.ok(templateFlows().length > 0);
  });

  it('happy path: closed-won deal -> NetSuite customer, Kantata project, Jira project + epic, project.created, Teams card', async () => {
    // at-least-once producer: re-publishes until the run shows up (the trigger subscribes asynchronously after start;
    // repeats of the same deal are no-ops by design)
    const created = await waitFor(() => {
      const found = events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === '006Hs00000GlobexEHR');
      if (!found) bus.publish('fabric/v1/opportunity/closed-won', JSON.stringify(dealEvent('006Hs00000GlobexEHR')), { qos: 1 });
      return found;
    }, 'project.created', 60000, 2000);
    assert.equal(created.body.data.status, 'active');
    assert.ok(created.body.data.externalIds.kantata, JSON.stringify(created.body.data.externalIds));
    assert.ok(created.body.data.externalIds.jira);
    const customers = await get('/netsuite/_sandbox/records/customer');
    assert.ok(JSON.stringify(customers).includes('ACC-1002'), 'NetSuite customer ACC-1002');
    const ws = await get('/kantata/_sandbox/records/workspaces');
    assert.equal(ws.filter((w: any) => JSON.stringify(w).includes('PRJ-006Hs00000GlobexEHR')).length, 1);
    const projects = await get('/jira/_sandbox/records/projects');
    assert.ok(projects.some((p: any) => p.key === created.body.data.externalIds.jira));
    await waitFor(async () => (await get('/teams/_sandbox/records/messages')).some((m: any) => String(m.title).includes('Globex')), 'Teams card', 20000);
  });

  it('duplicate trigger: still one customer, one workspace, one Jira project', async function () {
    const text = await (await fetch(`${fabric.url}/metrics`)).text();
    const m = /psfabric_process_runs_total\{process="quote-to-project",outcome="duplicate"\} (\d+)/.exec(text);
    const dupBefore = m ? Number(m[1]) : 0;
    const before = (await get('/kantata/_sandbox/records/workspaces')).length;
    bus.publish('fabric/v1/opportunity/closed-won', JSON.stringify({ ...dealEvent('006Hs00000GlobexEHR'), id: 'close-again' }), { qos: 1 });
    const count = events.filter((e) => e.topic === 'fabric/v1/project/created').length;
    // the duplicate is dropped at the plan step: wait until the runtime processed it (the KPI counts it)
    await waitFor(async () => (await (await fetch(`${fabric.url}/metrics`)).text()).includes(`psfabric_process_runs_total{process="quote-to-project",outcome="duplicate"} ${dupBefore + 1}`), 'duplicate counted', 20000);
    assert.equal((await get('/kantata/_sandbox/records/workspaces')).length, before);
    assert.equal(events.filter((e) => e.topic === 'fabric/v1/project/created').length, count);
  });

  it('missing tax registration: sales-ops exception naming the field, nothing created downstream', async () => {
    const wsBefore = (await get('/kantata/_sandbox/records/workspaces')).length;
    const ex = await waitFor(async () => {
      const found = (await fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' })).find((e) => e.recordKey === 'Opportunity/006Hs00000InitechQA');
      if (!found) bus.publish('fabric/v1/opportunity/closed-won', JSON.stringify(dealEvent('006Hs00000InitechQA')), { qos: 1 });
      return found;
    }, 'sales-ops exception', 20000, 1000);
    assert.equal(ex.ownerTeam, 'sales-ops');
    assert.match(ex.message, /Tax_Registration__c/);
    assert.equal((await get('/kantata/_sandbox/records/workspaces')).length, wsBefore);
    const customers = await get('/netsuite/_sandbox/records/customer');
    assert.ok(!JSON.stringify(customers).includes('ACC-1003'));
  });
});
