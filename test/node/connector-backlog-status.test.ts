/**
 * Connector status shows the outbox backlog (issue 6 item 4: "connected, polling, backlog N, circuit open"): a NetSuite
 * write held by a sandbox outage makes the netsuite node say "backlog 1"; once the outage ends the write is delivered
 * and the status is "connected" again. The backlog comes from the config node's handle (lib/connectors/glue.ts
 * withStatus), which every connector config node shares.
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS } from '../../sandbox/netsuite';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper, catalogTranslator } from '../support/node-red';

const translate = catalogTranslator('netsuite', 'netsuite-config', 'fabric-store');
const nodes = ['fabric-store/fabric-store', 'netsuite-config/netsuite-config', 'netsuite/netsuite'].map((n) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`../../nodes/${n}`) as (RED: any) => unknown;
  return (RED: any) => mod(Object.assign(Object.create(RED), { _: translate }));
});
helper.init(require.resolve('node-red'));

const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];

describe('connector status: outbox backlog', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  const saved = process.env.FABRIC_CONNECTOR_STATUS_MS;
  before(async () => {
    process.env.FABRIC_CONNECTOR_STATUS_MS = '200';
    sb = await startSandboxes({ vendors: [netsuiteSandbox] });
  });
  after(async () => {
    if (saved === undefined) delete process.env.FABRIC_CONNECTOR_STATUS_MS;
    else process.env.FABRIC_CONNECTOR_STATUS_MS = saved;
    await sb.close();
  });
  beforeEach(() => {
    sb.sandboxes.netsuite.reset();
    tmp = tempDir('psfabric-backlog-status-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  it('a write held by a NetSuite outage shows "backlog 1", then clears once delivered', async () => {
    await helper.load(nodes, [
      { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
      { id: 'nsc', type: 'netsuite-config', accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl: `${sb.url}/netsuite`, authType: 'tba', store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 8 },
      { id: 'ns', type: 'netsuite', netsuite: 'nsc', operation: 'msg', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { nsc: { consumerKey: TBA.consumerKey, consumerSecret: TBA.consumerSecret, tokenId: TBA.tokenId, tokenSecret: TBA.tokenSecret } });
    const ns = helper.getNode('ns');
    const statuses: Array<{ fill?: string; text?: string }> = [];
    const orig = ns.status.bind(ns);
    ns.status = (s: { fill?: string; text?: string }) => {
      statuses.push(s);
      return orig(s);
    };
    const last = () => statuses[statuses.length - 1]?.text ?? '';
    await waitFor(() => last() === 'connected' || statuses.length === 0, 'initial status', 5000, 50);

    sb.sandboxes.netsuite.faults = { ...sb.sandboxes.netsuite.faults, outageUntil: Date.now() + 2000 }; // 503 with Retry-After 2 s
    const delivered = new Promise<any>((resolve) => helper.getNode('out').once('input', resolve));
    const account = { id: 'ACC-9001', legalName: 'Backlog Test Ltd', billingEntity: 'NWA-US', country: 'US', currency: 'USD', status: 'active' };
    ns.receive({ operation: 'upsertCustomer', payload: { account }, idempotencyKey: 'backlog-status:ACC-9001' });
    await waitFor(() => /^backlog 1$/.test(last()), 'status "backlog 1" while NetSuite is down', 10000, 50);
    assert.equal(statuses[statuses.length - 1].fill, 'blue');

    // the outage window ends; the retry after Retry-After delivers the write
    const msg = await delivered;
    assert.equal(msg.payload.externalId, 'ACC-9001');
    await waitFor(() => last() === 'connected', 'status back to "connected" once delivered', 10000, 50);
    assert.ok(statuses.some((s) => s.text === 'backlog 1'));
  });
});
