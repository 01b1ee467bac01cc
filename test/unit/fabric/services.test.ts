import assert from 'node:assert/strict';
import path from 'node:path';
import { openFabric, servicesFor } from '../../../lib/fabric/services';
import { DAY_MS } from '../../../lib/idempotency';
import { storeUsers } from '../../../lib/store/registry';
import { OwnershipMatrix } from '../../../lib/governance/ownership';
import { clearActiveOwnershipMatrix, setActiveOwnershipMatrix } from '../../../lib/governance/write-ownership';
import { tempDir } from '../../support/tmp';

describe('fabric services bundle', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('psfabric-services-');
  });
  afterEach(() => tmp.cleanup());

  it('shares one bundle per store, applies the latest retention, and flushes the inbox before the last release closes the store', async () => {
    const file = path.join(tmp.dir, 'store.sqlite');
    const a = openFabric({ kind: 'sqlite', path: file }, { idempotencyRetentionMs: DAY_MS, inbox: { windowMs: 60_000 } });
    const b = openFabric({ kind: 'sqlite', path: file }, { idempotencyRetentionMs: 2 * DAY_MS });
    assert.equal(a.services, b.services);
    assert.equal(servicesFor(a.store), a.services);
    assert.equal(a.services.idempotency.defaultRetentionMs, 2 * DAY_MS);

    await a.release();
    // Window of 60 s: only the final release's flush can commit this before the store closes.
    const pending = b.services.inbox.add({ source: 's', messageId: 'late', payload: 1, receivedAt: 1 });
    await b.release();
    assert.equal(await pending, true);
    const id = `sqlite:${file}`;
    assert.equal(storeUsers(id), 0);

    const c = openFabric({ kind: 'sqlite', path: file });
    try {
      assert.notEqual(c.services, a.services, 'a fresh bundle after the store was closed');
      assert.equal((await c.store.inboxPending('s', 10)).length, 1);
    } finally {
      await c.release();
    }
  });
  it('an exception that names no owner goes to the team the deployed ownership matrix gives its entity', async () => {
    const f = openFabric({ kind: 'sqlite', path: path.join(tmp.dir, 'owners.sqlite') });
    try {
      const add = (recordKey: string) => f.services.exceptions.add({ process: 'time-to-cash', step: 'erp-invoice', errorClass: 'permanent', message: 'HTTP 400 from the ERP', recordKey });
      assert.equal((await add('Invoice/INV-NWA-US-1')).ownerTeam, 'finance-ops', 'default matrix: invoices belong to finance ops');
      assert.equal((await add('Project/PRJ-1')).ownerTeam, 'pmo');
      assert.equal((await add('Digest/sales-ops')).ownerTeam, 'integration-ops', 'not an entity of the matrix: the default team');
      // an engineer's edited matrix (ownership-config node) moves invoices to another team
      const edited = JSON.parse(JSON.stringify(OwnershipMatrix.default().data));
      edited.teams['billing-ops'] = { label: 'Billing operations' };
      edited.entities.Invoice.ownerTeam = 'billing-ops';
      setActiveOwnershipMatrix(OwnershipMatrix.fromText(JSON.stringify(edited)), 'test-matrix');
      try {
        assert.equal((await add('Invoice/INV-NWA-US-2')).ownerTeam, 'billing-ops');
      } finally {
        clearActiveOwnershipMatrix('test-matrix');
      }
    } finally {
      await f.release();
    }
  });
});
