import assert from 'node:assert/strict';
import path from 'node:path';
import { resolveStorePath } from '../../lib/fabric/store-path';
import { DAY_MS } from '../../lib/idempotency';
import { storeUsers } from '../../lib/store/registry';
import type { FabricStoreNode } from '../../nodes/node-red-api';
import { tempDir } from '../support/tmp';
import { helper } from '../support/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fabricStoreNode: unknown = require('../../nodes/fabric-store/fabric-store');

helper.init(require.resolve('node-red'));

describe('fabric-store config node', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('psfabric-storenode-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const storeNode = (id: string): FabricStoreNode => helper.getNode(id) as FabricStoreNode;

  it('opens the SQLite store in the user directory, exposes the services, and shares them per file', async () => {
    await helper.load(fabricStoreNode, [
      { id: 's1', type: 'fabric-store', name: 'main', kind: 'sqlite', path: 'data/fabric.sqlite', retentionDays: 3 },
      { id: 's2', type: 'fabric-store', name: 'same file', kind: 'sqlite', path: path.join(tmp.dir, 'data', 'fabric.sqlite'), retentionDays: 3 },
    ]);
    const a = storeNode('s1');
    const b = storeNode('s2');
    assert.equal(a.storePath, path.join(tmp.dir, 'data', 'fabric.sqlite'));
    assert.ok(a.store && a.services && a.inbox && a.idempotency && a.exceptions && a.audit);
    assert.equal(a.store, b.store, 'one store instance per file');
    assert.equal(a.exceptions, b.exceptions, 'one services bundle per store');
    assert.equal(a.requireServices(), a.services);
    assert.equal(a.idempotency.defaultRetentionMs, 3 * DAY_MS);
    assert.equal(storeUsers(`sqlite:${a.storePath}`), 2);

    // The services work end to end on the real file.
    assert.equal(await a.inbox.add({ source: 'test', messageId: 'm1', payload: { ok: true }, receivedAt: Date.now() }), true);
    const exception = await a.exceptions.add({ process: 'time-to-cash', step: 'post', errorClass: 'validation', message: 'no currency', recordKey: 'Invoice/1' });
    assert.equal(exception.ownerTeam, 'finance-ops', 'no owner given: the ownership matrix names the team of invoices');
    assert.equal((await b.store!.inboxPending('test', 10)).length, 1);

    const store = a.store;
    await helper.unload();
    assert.equal(storeUsers(`sqlite:${a.storePath}`), 0, 'released on close');
    await assert.rejects(store.watermarkGet('x'), /closed/);
  });

  it('uses <userDir>/ps-fabric.sqlite by default', async () => {
    const saved = process.env.FABRIC_STORE_PATH;
    delete process.env.FABRIC_STORE_PATH;
    try {
      await helper.load(fabricStoreNode, [{ id: 's1', type: 'fabric-store', kind: 'sqlite', path: '', retentionDays: 7 }]);
      const node = storeNode('s1');
      assert.equal(node.storePath, path.join(tmp.dir, 'ps-fabric.sqlite'));
      assert.ok(node.store);
      assert.equal(node.idempotency?.defaultRetentionMs, 7 * DAY_MS);
    } finally {
      if (saved !== undefined) process.env.FABRIC_STORE_PATH = saved;
    }
  });

  it('refuses a PostgreSQL store without a URL with a clear reason and no store (PostgreSQL itself: test/unit/store/postgres-store.test.ts)', async () => {
    await helper.load(fabricStoreNode, [{ id: 's1', type: 'fabric-store', kind: 'postgres', retentionDays: 7 }]);
    const node = storeNode('s1');
    assert.equal(node.store, undefined);
    assert.ok(node.openError);
    assert.throws(() => node.requireServices(), /openFailed|badUrl|PostgreSQL/);
  });

  it('resolves the file: node path, then the runtime store, then FABRIC_STORE_PATH, then the default', () => {
    const userDir = '/srv/nodered';
    assert.equal(resolveStorePath('own.sqlite', { userDir, runtimeStorePath: '/var/rt.sqlite' }, { FABRIC_STORE_PATH: '/env.sqlite' }), '/srv/nodered/own.sqlite');
    assert.equal(resolveStorePath('  ', { userDir, runtimeStorePath: '/var/rt.sqlite' }, { FABRIC_STORE_PATH: '/env.sqlite' }), '/var/rt.sqlite');
    assert.equal(resolveStorePath(undefined, { userDir }, { FABRIC_STORE_PATH: 'env.sqlite' }), '/srv/nodered/env.sqlite');
    assert.equal(resolveStorePath(undefined, { userDir }, {}), '/srv/nodered/ps-fabric.sqlite');
  });
});
