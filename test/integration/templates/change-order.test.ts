/**
 * change-order-to-billing through the real runtime (shared fixture): an approved amendment updates the ERP billing
 * schedule (NetSuite) and the PSA budget and publishes contract.amended; for a Business Central project (no billing-schedule
 * API) the PSA budget only, with an audit entry and a note on the event; an amendment for a project that does not exist
 * yet is parked durably and completes once quote-to-project has created the project.
 */
import assert from 'node:assert/strict';
import { waitFor } from '../../support/wait';
import { closeWonAndWait, templatesFabric, type TemplatesFabric } from './fixture';

function amendment(id: string, oppId: string, amount: number, hours: number): Record<string, unknown> {
  return { Id: `a0A${id}`, Name: id, Opportunity__c: oppId, Amendment_Type__c: 'Scope Change', Amount_Change__c: amount, Hours_Change__c: hours, Effective_Date__c: '2027-01-15', Status__c: 'Approved', Description__c: `test amendment ${id}`, External_Id__c: id };
}
const amended = (t: TemplatesFabric, id: string) => t.events.find((e) => e.topic === 'fabric/v1/contract/amended' && e.body.idempotencykey === `co:${id}:contract-amended`);

describe('templates: change-order-to-billing through the real runtime', function () {
  this.timeout(120000);
  let t: TemplatesFabric;
  before(async () => {
    t = await templatesFabric();
  });

  // quote-to-project creates the NetSuite job (external id = project id), so updateProject finds it
  it('amendment -> NetSuite billing schedule + Kantata budget -> contract.amended', async () => {
    const created = await closeWonAndWait(t, '006Hs00000GlobexEHR');
    const seq = (await t.sb('/netsuite/_sandbox/requests')).reduce((m: number, r: any) => Math.max(m, r.seq), 0);
    t.publish('fabric/v1/contract/amendment-approved', amendment('CO-TEST-A1', '006Hs00000GlobexEHR', 12000, 80));
    const ev = await waitFor(() => amended(t, 'CO-TEST-A1'), 'contract.amended', 60000, 100);
    assert.ok(ev.body.data);
    const ws = await t.sb(`/kantata/_sandbox/records/workspaces/${created.body.data.externalIds.kantata}`);
    assert.equal(ws.price, 96000 + 12000, 'PSA budget raised by the amendment');
    const ns = (await t.sb(`/netsuite/_sandbox/requests?since=${seq}`)) as Array<{ method: string; path: string; status: number }>;
    assert.ok(ns.some((r) => ['PATCH', 'PUT', 'POST'].includes(r.method) && /record\/v1\/(job|customer|project)/.test(r.path) && r.status < 300), `NetSuite billing schedule write: ${JSON.stringify(ns.map((r) => [r.method, r.path, r.status]))}`);
  });

  // BC API v2.0 projects have no billing schedule: PSA budget only, and the run says the ERP was not updated
  it('amendment for a Business Central project: Kantata budget raised, no BC write, audit entry + note on contract.amended', async () => {
    const created = await closeWonAndWait(t, '006Hs00000ThamesCRM');
    const ws0 = await t.sb(`/kantata/_sandbox/records/workspaces/${created.body.data.externalIds.kantata}`);
    const seq = (await t.sb('/bc/_sandbox/requests')).reduce((m: number, r: any) => Math.max(m, r.seq), 0);
    t.publish('fabric/v1/contract/amendment-approved', amendment('CO-TEST-BC1', '006Hs00000ThamesCRM', 5000, 40));
    const ev = await waitFor(() => amended(t, 'CO-TEST-BC1'), 'contract.amended', 60000, 100);
    const ws = await t.sb(`/kantata/_sandbox/records/workspaces/${created.body.data.externalIds.kantata}`);
    assert.equal(ws.price, ws0.price + 5000, 'PSA budget raised by the amendment');
    assert.equal(ev.body.data.totalValue.amount, ws0.price + 5000);
    assert.match(ev.body.data.amendments[0].description, /^test amendment CO-TEST-BC1 \[ERP billing schedule not updated \(businessCentral, NWA-UK\): Business Central API v2\.0 has no billing schedule/);
    const bc = (await t.sb(`/bc/_sandbox/requests?since=${seq}`)) as Array<{ method: string; path: string }>;
    assert.ok(!bc.some((r) => r.method !== 'GET' && r.path.includes('/projects')), `no BC project write: ${JSON.stringify(bc.map((r) => [r.method, r.path]))}`);
    const audit = await t.fabric.fabric.services.audit.list({ recordKey: 'Project/PRJ-006Hs00000ThamesCRM', action: 'erp.billing-schedule.not-updated' });
    const entry = audit.find((a) => (a.details as any)?.amendmentId === 'CO-TEST-BC1');
    assert.ok(entry, JSON.stringify(audit));
    assert.equal(entry!.targetSystem, 'businessCentral');
    assert.equal(entry!.process, 'change-order-to-billing');
    assert.equal((entry!.details as any).budget.amount, ws0.price + 5000);
    const open = await t.fabric.fabric.services.exceptions.list({ process: 'change-order-to-billing', status: 'open' });
    assert.ok(!open.some((e) => JSON.stringify(e).includes('CO-TEST-BC1')), 'applied, so no exception');
  });

  it('amendment for a project that does not exist yet: parked, completes once the project is created (never lost)', async () => {
    t.publish('fabric/v1/contract/amendment-approved', amendment('CO-TEST-A2', '006Hs00000LumiereOM', 20000, 120));
    await waitFor(async () => (await t.fabric.fabric.store.inboxPending('change-order:parked', 100)).some((p: any) => JSON.stringify(p.payload).includes('CO-TEST-A2')), 'amendment parked', 20000, 100);
    assert.equal(amended(t, 'CO-TEST-A2'), undefined);
    const created = await closeWonAndWait(t, '006Hs00000LumiereOM');
    await waitFor(() => amended(t, 'CO-TEST-A2'), 'parked amendment completed', 60000, 100);
    const ws = await t.sb(`/kantata/_sandbox/records/workspaces/${created.body.data.externalIds.kantata}`);
    // T&M: the budget is the lines' hours x rate (500 x 155 + 350 x 120 = 119 500), raised by the amendment
    assert.equal(ws.price, 119500 + 20000);
    const open = await t.fabric.fabric.services.exceptions.list({ process: 'change-order-to-billing', status: 'open' });
    assert.ok(!open.some((e) => JSON.stringify(e).includes('CO-TEST-A2')), 'no exception for the completed amendment');
  });
});
