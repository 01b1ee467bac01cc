import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS } from '../../sandbox/netsuite';
import { businessCentralSandbox, BC_SANDBOX_DEFAULTS } from '../../sandbox/business-central';
import { tempDir } from '../support/tmp';
import { helper } from '../support/node-red';
import { caught, withCatch } from '../support/catch';

const nodes = ['fabric-store/fabric-store', 'netsuite-config/netsuite-config', 'netsuite/netsuite', 'business-central-config/business-central-config', 'business-central/business-central']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];
const BC = BC_SANDBOX_DEFAULTS.clients[0];

describe('netsuite and business-central nodes in Node-RED', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox, businessCentralSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.netsuite.reset();
    sb.sandboxes.bc.reset();
    tmp = tempDir('psfabric-erp-nodes-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const flow = () => [
    { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
    { id: 'nsc', type: 'netsuite-config', accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl: `${sb.url}/netsuite`, authType: 'tba', store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2 },
    { id: 'ns', type: 'netsuite', netsuite: 'nsc', operation: 'msg', wires: [['out']] },
    { id: 'bcc', type: 'business-central-config', tenantId: BC_SANDBOX_DEFAULTS.tenantId, environment: BC_SANDBOX_DEFAULTS.environment, company: 'NWA UK', baseUrl: `${sb.url}/bc`, tokenUrl: `${sb.url}/bc/oauth/${BC_SANDBOX_DEFAULTS.tenantId}/oauth2/v2.0/token`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2 },
    { id: 'bc', type: 'business-central', businessCentral: 'bcc', operation: 'msg', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  const creds = { nsc: { consumerKey: TBA.consumerKey, consumerSecret: TBA.consumerSecret, tokenId: TBA.tokenId, tokenSecret: TBA.tokenSecret }, bcc: { clientId: BC.clientId, clientSecret: BC.clientSecret } };

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

  it('netsuite: upserts a customer through the outbox (twice = one customer, second is a duplicate) and runs SuiteQL', async () => {
    await helper.load(nodes, flow(), creds);
    const ns = helper.getNode('ns');
    const out = helper.getNode('out');
    const account = { id: 'ACC-1002', legalName: 'Globex Health Systems', billingEntity: 'NWA-US', country: 'US', currency: 'USD', status: 'active' };
    let got = next(out);
    ns.receive({ operation: 'upsertCustomer', payload: { account }, idempotencyKey: 'q2p:ACC-1002' });
    const first = await got;
    assert.equal(first.payload.externalId, 'ACC-1002');
    assert.equal(first.netsuite.duplicate, false);
    got = next(out);
    ns.receive({ operation: 'upsertCustomer', payload: { account }, idempotencyKey: 'q2p:ACC-1002' });
    const second = await got;
    assert.equal(second.netsuite.duplicate, true);
    assert.equal(Object.values(sb.sandboxes.netsuite.state.customer).filter((c: any) => c.externalId === 'ACC-1002').length, 1);
    got = next(out);
    ns.receive({ operation: 'suiteql', query: "SELECT id, companyname FROM customer WHERE externalid = 'ACC-1002'" });
    const q = await got;
    assert.deepEqual(q.payload, [{ id: first.payload.id, companyname: 'Globex Health Systems' }]);
  });

  it('netsuite: a refused write fails with done(err) keeping the NetSuite error body', async () => {
    await helper.load(nodes, withCatch(flow()), creds);
    const errors = caught();
    const err = failure('ns');
    helper.getNode('ns').receive({ operation: 'createRecord', payload: { type: 'timebill', body: { employee: { id: '101' } } }, idempotencyKey: 'bad-1' });
    const e = await err;
    assert.equal(e.errorClass, 'validation');
    assert.equal(e.response['o:errorDetails'][0]['o:errorCode'], 'USER_ERROR');
    const atCatch = await errors.next((c) => c.source.id === 'ns', 'the refused write at the Catch node');
    assert.equal(atCatch.msg.idempotencyKey, 'bad-1');
  });

  it('business-central: deep-inserts and posts an invoice through the outbox, lists customers, shows connection status', async () => {
    await helper.load(nodes, flow(), creds);
    const bc = helper.getNode('bc');
    const out = helper.getNode('out');
    const invoice = {
      id: 'INV-NODE-1', accountId: 'ACC-2001', billingEntity: 'NWA-UK', currency: 'GBP', issueDate: '2026-11-30', dueDate: '2026-12-30', status: 'draft',
      lines: [{ lineNumber: 1, description: 'Consultant time', role: 'Consultant', quantity: 6, unit: 'hour', unitPrice: { amount: 115, currency: 'GBP' }, amount: { amount: 690, currency: 'GBP' }, sourceRefs: [{ type: 'timeentry', id: 'TE-00032', hours: 6 }] }],
      subtotal: { amount: 690, currency: 'GBP' }, taxTotal: { amount: 138, currency: 'GBP' }, total: { amount: 828, currency: 'GBP' },
    };
    let got = next(out);
    bc.receive({ operation: 'createSalesInvoice', payload: { invoice, post: true }, idempotencyKey: 't2c:INV-NODE-1' });
    const m = await got;
    assert.equal(m.payload.status, 'Open');
    assert.equal(m.payload.salesInvoiceLines[0].description2, 'TE-00032');
    got = next(out);
    bc.receive({ operation: 'list', entitySet: 'customers', filter: "number eq 'ACC-2001'" });
    const list = await got;
    assert.equal(list.payload.length, 1);
    assert.equal(list.payload[0].displayName, 'Britannia Rail plc');
  });

  it('business-central: an auth failure fails the message with errorClass auth', async () => {
    await helper.load(nodes, withCatch(flow()), { ...creds, bcc: { clientId: BC.clientId, clientSecret: 'wrong' } });
    const errors = caught();
    const err = failure('bc');
    helper.getNode('bc').receive({ operation: 'list', entitySet: 'customers' });
    const e = await err;
    assert.equal(e.errorClass, 'auth');
    const atCatch = await errors.next((c) => c.source.id === 'bc', 'the auth failure at the Catch node');
    assert.equal(atCatch.msg.entitySet, 'customers');
  });
});
