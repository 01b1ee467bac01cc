import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { salesforceSandbox, type SalesforceSandbox } from '../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../sandbox/salesforce/auth';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';
import { caught, withCatch } from '../support/catch';
import { markInboxProcessed } from '../../lib/inbox';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = ['fabric-store/fabric-store', 'salesforce-config/salesforce-config', 'salesforce/salesforce', 'salesforce-trigger/salesforce-trigger'].map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('salesforce nodes in Node-RED', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let sandbox: SalesforceSandbox;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox] });
    sandbox = sb.sandboxes.salesforce as SalesforceSandbox;
  });
  after(async () => sb.close());
  beforeEach(() => {
    sandbox.reset();
    tmp = tempDir('psfabric-sf-nodes-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const flow = (extra: Array<Record<string, unknown>> = []) => [
    { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
    { id: 'sfc', type: 'salesforce-config', loginUrl: `${sb.url}/salesforce`, apiVersion: '62.0', authType: 'client-credentials', store: 'store', ratePerSecond: 50, concurrency: 4, maxAttempts: 2 },
    { id: 'sf', type: 'salesforce', salesforce: 'sfc', operation: 'msg', wires: [['out']] },
    { id: 'out', type: 'helper' },
    ...extra,
  ];
  const creds = { sfc: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } };
  const next = (node: any) => new Promise<any>((resolve) => node.once('input', resolve));
  const failure = (id: string) =>
    new Promise<any>((resolve) => {
      const n = helper.getNode(id);
      const orig = n.error.bind(n);
      n.error = (err: unknown, msg: unknown) => {
        resolve(err);
        return orig(err, msg);
      };
    });

  it('salesforce: upserts through the outbox (a repeat is a duplicate), queries and reports vendor errors', async () => {
    await helper.load(nodes, withCatch(flow()), creds);
    const errors = caught();
    const sf = helper.getNode('sf');
    const out = helper.getNode('out');
    let got = next(out);
    sf.receive({ operation: 'upsert', sobject: 'Account', externalIdField: 'External_Id__c', payload: { External_Id__c: 'ACC-8001', Name: 'Woodgrove Bank' } });
    const first = await got;
    assert.equal(first.payload.created, true);
    assert.equal(first.salesforce.duplicate, false);
    got = next(out);
    sf.receive({ operation: 'upsert', sobject: 'Account', externalIdField: 'External_Id__c', payload: { External_Id__c: 'ACC-8001', Name: 'Woodgrove Bank' } });
    assert.equal((await got).salesforce.duplicate, true);
    assert.equal(Object.values(sandbox.state.Account).filter((a: any) => a.External_Id__c === 'ACC-8001').length, 1);
    got = next(out);
    sf.receive({ operation: 'query', query: "SELECT Id, Name FROM Account WHERE External_Id__c = 'ACC-8001'" });
    const q = await got;
    assert.equal(q.payload.length, 1);
    assert.equal(q.payload[0].Name, 'Woodgrove Bank');
    const failed = failure('sf');
    sf.receive({ operation: 'get', sobject: 'Account', id: '001Hs0000000000NoNE' });
    const err = await failed;
    assert.equal(err.errorClass, 'not-found');
    assert.deepEqual(err.response, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }]);
    const invalid = failure('sf');
    sf.receive({ operation: 'create', sobject: 'Opportunity', payload: { Name: 'missing stage' } });
    const vErr = await invalid;
    assert.equal(vErr.errorClass, 'validation');
    assert.equal(vErr.response[0].errorCode, 'REQUIRED_FIELD_MISSING');
    await waitFor(() => errors.all.length === 2, 'both vendor errors at the Catch node');
    assert.deepEqual(errors.all.map((e) => [e.source.id, e.msg.operation]), [['sf', 'get'], ['sf', 'create']], 'each error reaches a Catch node with its msg');
  });

  it('salesforce-trigger (polling): emits a close-won once, with account, lines and contract, also after a redeploy', async () => {
    const trigger = { id: 'trg', type: 'salesforce-trigger', salesforce: 'sfc', mode: 'poll', stage: 'Closed Won', interval: 3600, once: true, wires: [['won']] };
    const won = { id: 'won', type: 'helper' };
    await helper.load(nodes, flow([trigger, won]), creds);
    const store = helper.getNode('store').store;
    await waitFor(() => store.watermarkGet('salesforce-trigger:trg:poll'), 'the first poll to set the watermark');
    const received: any[] = [];
    helper.getNode('won').on('input', (m: any) => received.push(m));
    const res = await fetch(`${sb.url}/salesforce/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' });
    assert.equal(res.status, 200);
    helper.getNode('trg').receive({});
    await waitFor(() => received.length === 1, 'the closed-won message');
    const b = received[0].payload;
    assert.equal(b.opportunity.Id, '006Hs00000GlobexEHR');
    assert.equal(b.opportunity.StageName, 'Closed Won');
    assert.equal(b.account.Billing_Entity__c, 'NWA-US');
    assert.equal(b.lines.length, 2);
    assert.equal(b.lines[0].Workstream__c, 'Interfaces');
    assert.equal(b.contract.Billing_Model__c, 'fixed-fee');
    assert.equal(b.billingSchedule.length, 3);
    assert.equal(received[0].idempotencyKey, '006Hs00000GlobexEHR:Closed Won');
    assert.deepEqual(received[0]._fabricInbox, { source: 'salesforce-trigger:trg', messageId: '006Hs00000GlobexEHR:Closed Won' });
    assert.equal((await store.inboxGet('salesforce-trigger:trg', '006Hs00000GlobexEHR:Closed Won'))?.status, 'received', 'received until a hand-over point marks it');
    await markInboxProcessed(received[0]); // as the flow's first outbox write does
    // poll again, then redeploy (same store file): nothing new
    helper.getNode('trg').receive({});
    await waitFor(async () => (await store.watermarkGet('salesforce-trigger:trg:poll')) !== undefined && sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length >= 3, 'a second poll');
    await helper.unload();
    await helper.load(nodes, flow([trigger, won]), creds);
    const again: any[] = [];
    helper.getNode('won').on('input', (m: any) => again.push(m));
    const store2 = helper.getNode('store').store;
    // the start-up poll of the redeployed node (the watermark kept across the redeploy): a watermark that merely differs
    // can be the previous poll's late write, and an input before the start-up poll would merge with it
    await waitFor(async () => (await store2.watermarkGet('salesforce-trigger:trg:poll')) !== undefined && sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length >= 4, 'the poll after the redeploy');
    helper.getNode('trg').receive({});
    await waitFor(() => sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length >= 5, 'another poll after the redeploy');
    assert.equal(again.length, 0);
  });

  it('salesforce-trigger: a deal sent but never handed over downstream is sent again on the next start, as it was', async () => {
    const trigger = { id: 'trg', type: 'salesforce-trigger', salesforce: 'sfc', mode: 'poll', stage: 'Closed Won', interval: 3600, once: true, wires: [['won']] };
    const won = { id: 'won', type: 'helper' };
    await helper.load(nodes, flow([trigger, won]), creds);
    const store = helper.getNode('store').store;
    await waitFor(() => store.watermarkGet('salesforce-trigger:trg:poll'), 'the first poll to set the watermark');
    const received: any[] = [];
    helper.getNode('won').on('input', (m: any) => received.push(m));
    assert.equal((await fetch(`${sb.url}/salesforce/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' })).status, 200);
    helper.getNode('trg').receive({});
    await waitFor(() => received.length === 1, 'the closed-won message');
    assert.deepEqual(received[0]._fabricInbox, { source: 'salesforce-trigger:trg', messageId: '006Hs00000GlobexEHR:Closed Won' });
    // the runtime stops before any hand-over point took the deal (a crash right after the send)
    await helper.unload();
    // the account is renamed meanwhile: the replay sends the deal as it was first sent (the run's keys stay the same)
    const accountId = received[0].payload.account.Id;
    sandbox.state.Account[accountId].Name = 'Renamed Meanwhile Ltd';
    await helper.load(nodes, flow([trigger, won]), creds);
    const again: any[] = [];
    helper.getNode('won').on('input', (m: any) => again.push(m));
    await waitFor(() => again.length === 1, 'the deal re-sent on start');
    assert.equal(again[0].redelivered, true);
    assert.equal(again[0].redeliveries, 1);
    assert.deepEqual(again[0].payload, received[0].payload);
    assert.deepEqual(again[0]._fabricInbox, received[0]._fabricInbox);
    await markInboxProcessed(again[0]);
    await helper.unload();
    await helper.load(nodes, flow([trigger, won]), creds);
    const third: any[] = [];
    helper.getNode('won').on('input', (m: any) => third.push(m));
    const store3 = helper.getNode('store').store;
    await waitFor(async () => (await store3.inboxPending('salesforce-trigger:trg', 10)).length === 0 && sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length >= 4, 'the start-up poll after the hand-over');
    helper.getNode('trg').receive({});
    await waitFor(() => sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length >= 5, 'another poll');
    assert.equal(third.length, 0);
  });

  it('salesforce-trigger: an opportunity no hand-over point marked is emitted again after a redeploy (redelivered), then abandoned to an exception', async () => {
    const trigger = { id: 'trg', type: 'salesforce-trigger', salesforce: 'sfc', mode: 'poll', stage: 'Closed Won', interval: 3600, once: true, maxReplays: 1, wires: [['won']] };
    const won = { id: 'won', type: 'helper' };
    await helper.load(nodes, flow([trigger, won]), creds);
    const store = helper.getNode('store').store;
    await waitFor(() => store.watermarkGet('salesforce-trigger:trg:poll'), 'the first poll to set the watermark');
    const received: any[] = [];
    helper.getNode('won').on('input', (m: any) => received.push(m));
    assert.equal((await fetch(`${sb.url}/salesforce/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' })).status, 200);
    helper.getNode('trg').receive({});
    await waitFor(() => received.length === 1, 'the closed-won message');
    // the flow ends it without a hand-over (e.g. the runtime was killed before the first outbox write)
    const redeploy = async () => {
      await helper.unload();
      await helper.load(nodes, flow([trigger, won]), creds);
      const got: any[] = [];
      helper.getNode('won').on('input', (m: any) => got.push(m));
      return { got, store: helper.getNode('store').store, services: helper.getNode('store').services };
    };
    const first = await redeploy();
    await waitFor(() => first.got.length === 1, 'the entry re-emitted after the redeploy');
    assert.equal(first.got[0].redelivered, true);
    assert.equal(first.got[0].payload.opportunity.Id, '006Hs00000GlobexEHR');
    assert.deepEqual(first.got[0]._fabricInbox, received[0]._fabricInbox);
    const second = await redeploy();
    await waitFor(async () => (await second.services.exceptions.list({ process: 'inbox' })).length === 1, 'the abandoned entry in the exception queue');
    const [ex] = await second.services.exceptions.list({ process: 'inbox' });
    assert.equal(ex.recordKey, 'Inbox/salesforce-trigger:trg/006Hs00000GlobexEHR:Closed Won');
    assert.equal(ex.ownerTeam, 'integration-ops');
    assert.equal(second.got.length, 0);
  });

  it('salesforce-trigger (CDC): emits on the change event and shows connected', async () => {
    const trigger = { id: 'trg', type: 'salesforce-trigger', salesforce: 'sfc', mode: 'cdc', stage: 'Closed Won', replayFrom: '-1', once: true, wires: [['won']] };
    await helper.load(nodes, flow([trigger, { id: 'won', type: 'helper' }]), creds);
    const trg = helper.getNode('trg');
    const statuses: any[] = [];
    const origStatus = trg.status.bind(trg);
    trg.status = (s: any) => {
      statuses.push(s);
      return origStatus(s);
    };
    const received: any[] = [];
    helper.getNode('won').on('input', (m: any) => received.push(m));
    // wait for the subscription before closing the deal (replay -1 = new events only)
    await waitFor(() => statuses.some((s) => s.fill === 'green'), 'the CDC subscription');
    await fetch(`${sb.url}/salesforce/_sandbox/close-won/006Hs00000LumiereOM`, { method: 'POST' });
    await waitFor(() => received.length === 1, 'the CDC closed-won message');
    assert.equal(received[0].payload.opportunity.Id, '006Hs00000LumiereOM');
    assert.equal(received[0].payload.account.Billing_Entity__c, 'NWA-FR');
    assert.equal(typeof received[0].salesforce.replayId, 'number');
  });
});
