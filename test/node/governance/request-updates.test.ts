/**
 * The experience-api tab's consumer of `fabric/v1/request/updated` (api-requests, mode `updated`) in a real Node-RED
 * runtime: a report for an accepted request is recorded and its inbox entry handed over (it stayed `received` and was
 * abandoned to integration-ops after three restarts); a report it cannot record fails with the reason, which the tab's
 * Catch -> fabric-exception stores under the request's record key, handing the entry over too.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { recordAccepted, requestStatus } from '../../../lib/governance/request-status';
import { statusEvent } from '../../../lib/governance/fulfilment';
import type { FabricServices } from '../../../lib/fabric/services';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const catchNode = require('@node-red/nodes/core/common/25-catch.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const apiGate = require('../../../nodes/api-gate/api-gate.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const storeNode = require('../../../nodes/fabric-store/fabric-store');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const exceptionNode = require('../../../nodes/fabric-exception/fabric-exception');

helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const SOURCE = 'mqtt:api-readmodel-in';
const ACCEPTED = '0b6d2f9e-1111-4222-8333-944445555666';
const UNKNOWN = '0b6d2f9e-9999-4222-8333-944445555666';

describe('api-requests (updated): request/updated reports end handed over or in the exception queue', function () {
  this.timeout(20000);
  let tmp: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    tmp = tempDir('psfabric-req-upd-');
    helper.settings({ userDir: tmp.dir });
    await new Promise<void>((resolve) => helper.startServer(resolve));
    await helper.load([catchNode, apiGate, storeNode, exceptionNode], [
      { id: 'f', type: 'tab', label: 'experience api' },
      { id: 'store', type: 'fabric-store', path: path.join(tmp.dir, 'fabric.sqlite') },
      { id: 'upd', type: 'api-requests', z: 'f', store: 'store', mode: 'updated', wires: [] },
      { id: 'catcher', type: 'catch', z: 'f', scope: null, uncaught: false, wires: [['exc']] },
      { id: 'exc', type: 'fabric-exception', z: 'f', store: 'store', process: 'experience-api', step: '', owner: '', errorClass: 'permanent', replay: false, wires: [['recorded'], []] },
      { id: 'recorded', type: 'helper', z: 'f' },
    ]);
  });
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(resolve));
    tmp.cleanup();
  });

  const services = (): FabricServices => helper.getNode('store').requireServices();
  const inbox = async (messageId: string) => {
    await services().store.inboxAdd({ source: SOURCE, messageId, payload: {}, receivedAt: Date.now() });
    return { source: SOURCE, messageId };
  };
  const status = async (messageId: string) => (await services().store.inboxGet(SOURCE, messageId))?.status;

  it('records a report for an accepted request and hands its inbox entry over', async () => {
    await recordAccepted(services().store, { trackingId: ACCEPTED, consumer: 'portal', entity: 'project', recordId: 'PRJ-1' });
    const ref = await inbox('ce:/ps-fabric/process-layer#1');
    helper.getNode('upd').receive({ payload: statusEvent({ trackingId: ACCEPTED, status: 'completed', detail: 'created in the PSA', references: { psa: 'KAN-WS-1' } }), _fabricInbox: ref });
    await waitFor(async () => (await status(ref.messageId)) === 'processed', 'the report handed over', 5000);
    const s = await requestStatus(services().store, ACCEPTED, 'portal');
    assert.equal(s?.status, 'completed');
    assert.deepEqual(s?.references, { psa: 'KAN-WS-1' });
    assert.equal(await services().exceptions.count({}), 0);
  });

  it('a report for no accepted request, or with an unknown status, is an exception with the reason under Request/<trackingId>, handed over', async () => {
    await recordAccepted(services().store, { trackingId: ACCEPTED, consumer: 'portal', entity: 'project' });
    const recorded: Msg[] = [];
    helper.getNode('recorded').on('input', (m: Msg) => recorded.push(m));
    const a = await inbox('ce:/test#unknown');
    const b = await inbox('ce:/test#bad-status');
    const c = await inbox('sha256:no-tracking-id');
    helper.getNode('upd').receive({ payload: statusEvent({ trackingId: UNKNOWN, status: 'completed', detail: 'x' }), _fabricInbox: a });
    helper.getNode('upd').receive({ payload: { ...statusEvent({ trackingId: ACCEPTED, status: 'completed', detail: 'x' }), data: { trackingId: ACCEPTED, status: 'exploded' } }, _fabricInbox: b });
    helper.getNode('upd').receive({ payload: { specversion: '1.0', id: 'x', source: '/ps-fabric/process-layer', data: { status: 'completed' } }, _fabricInbox: c });
    await waitFor(() => recorded.length === 3, 'three exceptions', 5000);
    const rows = await services().exceptions.list({});
    const byKey = new Map(rows.map((r) => [r.recordKey, r]));
    assert.match(byKey.get(`Request/${UNKNOWN}`)?.message ?? '', /no accepted request has this tracking id/);
    assert.match(byKey.get(`Request/${ACCEPTED}`)?.message ?? '', /data\.status must be processing, completed or failed, got "exploded"/);
    assert.match(byKey.get('Message/sha256:no-tracking-id')?.message ?? '', /data\.trackingId must be the tracking id/);
    assert.equal(rows.length, 3);
    for (const ref of [a, b, c]) assert.equal(await status(ref.messageId), 'processed', `${ref.messageId} handed over`);
    assert.equal((await requestStatus(services().store, ACCEPTED, 'portal'))?.status, 'accepted', 'the refused report changed nothing');
  });
});
