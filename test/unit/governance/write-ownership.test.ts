import assert from 'node:assert/strict';
import path from 'node:path';
import { registerConnection } from '../../../lib/connectors/glue';
import { OwnershipError } from '../../../lib/delivery/errors';
import type { ConnectionExecutor } from '../../../lib/delivery/types';
import { openFabric, type FabricHandle } from '../../../lib/fabric/services';
import { OwnershipMatrix } from '../../../lib/governance/ownership';
import { checkConnectorWrite, ownershipOfWrite, setActiveOwnershipMatrix, systemOfConnection } from '../../../lib/governance/write-ownership';
import { tempDir } from '../../support/tmp';

describe('ownership enforcement on connector writes (lib/connectors/glue.ts registerConnection)', () => {
  const matrix = OwnershipMatrix.default();

  it('derives the target system from the connection name and (entity, fields) only from canonical request shapes', () => {
    assert.equal(systemOfConnection('netsuite:NWA-US'), 'netsuite');
    assert.equal(systemOfConnection('bc:NWA UK'), 'businessCentral');
    assert.equal(systemOfConnection('salesforce:psf-salesforce'), 'salesforce');
    assert.equal(systemOfConnection('teams:x'), undefined);
    assert.deepEqual(ownershipOfWrite({ account: { id: 'a', legalName: 'X' } }), [{ entity: 'Account', fields: ['id', 'legalName'] }]);
    assert.deepEqual(ownershipOfWrite({ entries: [{ id: '1', hours: 2 }, { id: '2', rate: 100 }] }), [{ entity: 'TimeEntry', fields: ['id', 'hours', 'rate'] }]);
    // vendor-shaped bodies name no canonical fields: not checked
    assert.deepEqual(ownershipOfWrite({ sobject: 'Account', record: { Name: 'X' } }), []);
    assert.deepEqual(ownershipOfWrite({ time_entry: { hours: 1 } }), []);
  });

  it('allows the templates\' canonical writes to the ERP (replicas of CRM/PSA fields, ERP-owned fields)', () => {
    assert.deepEqual(checkConnectorWrite(matrix, 'netsuite:NWA-US', { account: { id: 'a', legalName: 'Acme', paymentTermsDays: 30, currency: 'USD' } }), { ok: true, checked: true });
    assert.deepEqual(checkConnectorWrite(matrix, 'bc:NWA UK', { invoice: { id: 'i', lines: [] } }), { ok: true, checked: true });
    assert.deepEqual(checkConnectorWrite(matrix, 'salesforce:x', { sobject: 'Account', record: { Name: 'x' } }), { ok: true, checked: false });
  });

  it('refuses a write of ERP-owned revenue recognition to the CRM, naming the field, owner and owner team', () => {
    const r = checkConnectorWrite(matrix, 'salesforce:x', { revenueEvent: { id: 'r1', amount: 10 } });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.ownerTeam, 'finance-ops');
    assert.match(r.error.message, /RevenueEvent to salesforce refused: amount is owned by erp/);
  });

  describe('through a real store and delivery engine', () => {
    let tmp: ReturnType<typeof tempDir>;
    let fabric: FabricHandle;
    let calls: string[];
    const executor: ConnectionExecutor = {
      async execute(operation, request) {
        calls.push(`${operation}:${JSON.stringify(request)}`);
        return { ok: true };
      },
    };
    beforeEach(() => {
      tmp = tempDir('psf-own-');
      fabric = openFabric({ kind: 'sqlite', path: path.join(tmp.dir, 's.sqlite') });
      calls = [];
    });
    afterEach(async () => {
      setActiveOwnershipMatrix(undefined);
      await fabric.release();
      tmp.cleanup();
    });

    it('refuses an overwrite of a field another system owns: no outbox item, nothing sent, exception for the owner team', async () => {
      const handle = registerConnection(fabric.store, fabric.services, 'kantata:psf-kantata', executor, { ratePerSecond: 0, maxAttempts: 1 });
      try {
        // Account.paymentTermsDays is ERP-owned (billing group, owner finance-ops); written to the PSA from the PSA itself
        const err = await handle
          .submit({ operation: 'updateAccount', idempotencyKey: 'own-1', request: {}, process: 'p', step: 's', recordKey: 'Account/a-1', ownership: { entity: 'Account', fields: ['paymentTermsDays'], sourceSystem: 'kantata' } } as never)
          .then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof OwnershipError, `expected an OwnershipError, got ${String(err)}`);
        assert.equal(await fabric.store.outboxFind('kantata:psf-kantata', 'own-1'), undefined, 'nothing enqueued');
        assert.deepEqual(calls, [], 'nothing sent');
        const ex = await fabric.store.exceptionList({});
        assert.equal(ex.length, 1);
        assert.equal(ex[0].errorClass, 'ownership');
        assert.equal(ex[0].ownerTeam, 'finance-ops');
        assert.equal(ex[0].recordKey, 'Account/a-1');
        assert.match(ex[0].message, /paymentTermsDays is owned by erp/);

        // a canonical write the target owns passes through the outbox as usual
        const ok = await handle.submit({ operation: 'createTimeEntries', idempotencyKey: 'own-2', request: { entries: [{ id: 't1', hours: 2 }] } });
        assert.equal(ok.item.status, 'delivered');
        assert.equal(calls.length, 1);
        // other members of the handle still work on the real connection
        assert.equal(handle.circuitState(), 'closed');
      } finally {
        await handle.close();
      }
    });

    it('follows the matrix an ownership-config node deployed (setActiveOwnershipMatrix)', async () => {
      const data = JSON.parse(JSON.stringify(matrix.data));
      // the edited matrix says the PSA is no longer a replica of TimeEntry capture: writes of hours to kantata are refused
      data.entities.TimeEntry.fieldGroups[0].systemOfRecord = 'legacy';
      data.entities.TimeEntry.fieldGroups[0].syncTo = ['netsuite'];
      setActiveOwnershipMatrix(new OwnershipMatrix(data));
      const handle = registerConnection(fabric.store, fabric.services, 'kantata:k', executor, { ratePerSecond: 0, maxAttempts: 1 });
      try {
        await assert.rejects(handle.submit({ operation: 'x', idempotencyKey: 'own-3', request: { timeEntry: { id: 't', hours: 1 } } }), OwnershipError);
        assert.deepEqual(calls, []);
      } finally {
        await handle.close();
      }
    });
  });
});
