/**
 * The cross-reference on the admin HTTP API of a real Node-RED runtime (node-red-node-test-helper) with a real
 * SQLite store: `GET /ps-fabric/xref` by canonical id and by a vendor's number, the reconciliation run, the errors a
 * caller can fix, and the record's ids in the exception console's detail.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CrossReference } from '../../lib/xref';
import { OpsReadModel } from '../../lib/ops/read-model';
import type { FabricServices } from '../../lib/fabric/services';
import { tempDir } from '../support/tmp';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const storeNode = require('../../nodes/fabric-store/fabric-store');

helper.init(require.resolve('node-red'));

const T0 = Date.parse('2026-11-30T09:00:00Z');

describe('cross-reference admin API (/ps-fabric/xref)', function () {
  this.timeout(20000);
  let tmp: { dir: string; cleanup(): void };

  beforeEach(async () => {
    tmp = tempDir('psfabric-xref-');
    await new Promise<void>((resolve) => helper.startServer(resolve));
    await helper.load([storeNode], [{ id: 'store', type: 'fabric-store', path: path.join(tmp.dir, 'fabric.sqlite') }]);
    const xref = new CrossReference((helper.getNode('store').requireServices() as FabricServices).store, () => T0);
    await xref.record({ entity: 'account', key: 'ACC-1', system: 'businessCentral', connection: 'bc:NWA UK', vendorId: 'guid-1', vendorNumber: 'C10001' });
    await xref.record({ entity: 'account', key: 'ACC-1', system: 'salesforce', connection: 'salesforce:prod', vendorId: '001A' });
    await xref.record({ entity: 'account', key: 'ACC-2', system: 'salesforce', connection: 'salesforce:prod', vendorId: '001B' });
    await xref.record({ entity: 'project', key: 'PRJ-1', system: 'kantata', connection: 'kantata:x', vendorId: '901' });
    await xref.record({ entity: 'project', key: 'PRJ-1', system: 'jira', connection: 'jira:x', vendorId: '10001', vendorNumber: 'GLXEHR' });
    await xref.record({ entity: 'project', key: 'PRJ-1', system: 'netsuite', connection: 'netsuite:x', vendorId: '77' });
    await xref.record({ entity: 'project', key: 'PRJ-2', system: 'kantata', connection: 'kantata:x', vendorId: '902' });
    await xref.record({ entity: 'project', key: 'PRJ-2', system: 'businessCentral', connection: 'bc:NWA UK', vendorId: 'guid-p2', vendorNumber: 'J00002' });
  });
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(resolve));
    tmp.cleanup();
  });

  it('answers every system\'s id of a record, by its canonical id or by a vendor\'s number', async () => {
    const byKey = (await helper.request().get('/ps-fabric/xref').query({ entity: 'account', id: 'ACC-1' }).expect(200)).body;
    assert.deepEqual(byKey.records.map((r: any) => [r.key, r.ids.map((i: any) => `${i.system}:${i.vendorNumber ?? i.vendorId}`)]), [['ACC-1', ['businessCentral:C10001', 'salesforce:001A']]]);
    const byNumber = (await helper.request().get('/ps-fabric/xref').query({ entity: 'account', system: 'businessCentral', id: 'C10001' }).expect(200)).body;
    assert.deepEqual(byNumber.records.map((r: any) => r.key), ['ACC-1']);
    assert.equal(byNumber.records[0].ids.find((i: any) => i.system === 'salesforce').vendorId, '001A', 'the other systems\' ids of the record come along');
    assert.deepEqual((await helper.request().get('/ps-fabric/xref').query({ entity: 'account', id: 'ACC-404' }).expect(200)).body.records, []);
    const bad = (await helper.request().get('/ps-fabric/xref').query({ entity: 'customer', id: 'ACC-1' }).expect(400)).body;
    assert.match(bad.message, /entity must be one of account, project, resource, contract, invoice, person/);
    await helper.request().get('/ps-fabric/xref').query({ entity: 'account' }).expect(400);
  });

  it('a reconciliation run reports the records missing in an expected system, alternatives allowed for the ERP', async () => {
    const r = (await helper.request().get('/ps-fabric/xref/reconcile').query({ entity: 'project', systems: 'kantata,jira,businessCentral|netsuite' }).expect(200)).body;
    assert.deepEqual(r.expected, ['kantata', 'jira', 'businessCentral|netsuite']);
    assert.deepEqual([r.checked, r.complete], [2, 1]);
    assert.deepEqual(r.missing.map((m: any) => [m.key, m.missingIn]), [['PRJ-2', ['jira']]]);
    const all = (await helper.request().get('/ps-fabric/xref/reconcile').query({ entity: 'account' }).expect(200)).body;
    assert.deepEqual(all.expected, ['businessCentral', 'salesforce'], 'default: every system a record of the entity has an id in');
    assert.deepEqual(all.missing.map((m: any) => [m.key, m.missingIn]), [['ACC-2', ['businessCentral']]]);
    await helper.request().get('/ps-fabric/xref/reconcile').query({ entity: 'project', systems: ' , ' }).expect(400);
  });

  it('the exception console\'s detail shows the record\'s ids in every system', async () => {
    const services = helper.getNode('store').requireServices() as FabricServices;
    const ex = await services.exceptions.add({ process: 'time-to-cash', step: 'erp-invoice', errorClass: 'validation', message: 'x', recordKey: 'Project/PRJ-1' });
    const detail = await new OpsReadModel(services.store).exceptionDetail(ex.id);
    assert.deepEqual(detail!.xref.map((x) => `${x.system}:${x.vendorNumber ?? x.vendorId}`), ['jira:GLXEHR', 'kantata:901', 'netsuite:77']);
    const other = await services.exceptions.add({ process: 'time-to-cash', step: 'validate', errorClass: 'validation', message: 'y', recordKey: 'TimeEntry/TE-1' });
    assert.deepEqual((await new OpsReadModel(services.store).exceptionDetail(other.id))!.xref, []);
  });
});
