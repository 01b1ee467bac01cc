/**
 * The Kantata nodes read workspace custom fields through the connection's Custom fields setting (real Node-RED runtime,
 * Kantata sandbox): the approved-time poller's project context and the list read's `msg.kantata.fieldNames` follow the
 * setting, and a project shell written through the node lands under the mapped ids.
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { kantataSandbox, KANTATA_CUSTOM_FIELDS, KANTATA_STATIC_TOKEN } from '../../sandbox/kantata';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

const nodes = ['fabric-store/fabric-store', 'kantata-config/kantata-config', 'kantata/kantata']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('kantata nodes: custom fields through the connection mapping', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [kantataSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.kantata.reset();
    tmp = tempDir('psfabric-kantata-fields-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  it('reads and writes the billing entity under the id the setting names', async () => {
    // the account keeps its billing entity in field 7731; the seed's 501 now means nothing to PS Fabric
    const put = await fetch(`${sb.url}/kantata/_sandbox/custom_fields/7731`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Legal entity' }) });
    assert.equal(put.status, 200);
    const ws = Object.values(sb.sandboxes.kantata.state.workspaces as Record<string, any>).find((w) => (w.custom_fields ?? []).some((c: any) => c.custom_field_id === KANTATA_CUSTOM_FIELDS.billingEntity))!;
    ws.custom_fields.push({ custom_field_id: '7731', value: 'NWA-XX' });
    await helper.load(nodes, [
      { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
      { id: 'kc', type: 'kantata-config', baseUrl: `${sb.url}/kantata`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2, customFields: JSON.stringify({ billingEntity: 'Legal entity' }) },
      { id: 'ws-read', type: 'kantata', kantata: 'kc', operation: 'list', collection: 'workspaces', wires: [['o1']] },
      { id: 'ws-shell', type: 'kantata', kantata: 'kc', operation: 'createProjectShell', wires: [['o2']] },
      { id: 'ws-poll', type: 'kantata', kantata: 'kc', operation: 'pollApproved', pollSeconds: 3600, output: 'entry', wires: [['o3']] },
      { id: 'o1', type: 'helper' }, { id: 'o2', type: 'helper' }, { id: 'o3', type: 'helper' },
    ], { kc: { accessToken: KANTATA_STATIC_TOKEN } });
    const polled: any[] = [];
    helper.getNode('o3').on('input', (m: any) => polled.push(m));
    const entry = await waitFor(() => polled.find((m) => String(m.kantata.workspace_id) === String(ws.id)), 'an approved entry of the workspace');
    assert.equal(entry.workspace.billingEntity, 'NWA-XX');

    const listed = new Promise<any>((resolve) => helper.getNode('o1').once('input', resolve));
    helper.getNode('ws-read').receive({ params: { per_page: 5 } });
    const l = await listed;
    assert.equal(l.kantata.fieldNames['7731'], 'billingEntity');
    assert.equal(l.kantata.fieldNames[KANTATA_CUSTOM_FIELDS.billingEntity], undefined);
    assert.equal(l.kantata.fieldNames[KANTATA_CUSTOM_FIELDS.accountExternalId], 'accountExternalId');

    const written = new Promise<any>((resolve) => helper.getNode('o2').once('input', resolve));
    helper.getNode('ws-shell').receive({ payload: { externalRef: 'PRJ-NODE-MAP', workspace: { title: 'Node mapping', currency: 'USD' }, customFields: { billingEntity: 'NWA-US', accountExternalId: 'ACC-1003' } }, idempotencyKey: 'shell-node-map' });
    const w = await written;
    assert.deepEqual(sb.sandboxes.kantata.state.workspaces[w.payload.workspace.id].custom_fields, [{ custom_field_id: '7731', value: 'NWA-US' }, { custom_field_id: KANTATA_CUSTOM_FIELDS.accountExternalId, value: 'ACC-1003' }]);
  });
});
