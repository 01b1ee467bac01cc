/**
 * Flow files written before node configs were versioned (no `version`) load through the nodes' migrations
 * (nodes/migrations.ts) and behave as they did; failures reach a Catch node as classified errors.
 */
import assert from 'node:assert/strict';
import { encodeTimeEntry } from '../../lib/connectors/legacy-erp/codec';
import { helper } from '../support/node-red';
import { waitFor } from '../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = ['netsuite/netsuite', 'legacy-erp/legacy-erp'].map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('node config migrations: old flow files', function () {
  afterEach(() => helper.unload());

  /** Sends `msg` to `id` and resolves with what a Catch node scoped to it receives. */
  async function caught(id: string, msg: Record<string, unknown>): Promise<any> {
    const seen: any[] = [];
    helper.getNode('caught').on('input', (m: any) => seen.push(m));
    helper.getNode(id).receive(msg);
    const [m] = await waitFor(() => (seen.length ? seen : undefined), 'the Catch node');
    return m;
  }

  it('a version-less netsuite node with no operation reads it from the msg, as "from msg" does; a versioned one keeps its own', async () => {
    await helper.load(nodes, [
      { id: 'f1', type: 'tab' },
      { id: 'old', z: 'f1', type: 'netsuite', netsuite: '', operation: '', wires: [[]] },
      { id: 'current', z: 'f1', type: 'netsuite', netsuite: '', operation: 'getRecord', version: 1, wires: [[]] },
      { id: 'catcher', z: 'f1', type: 'catch', scope: ['old', 'current'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ]);
    // msg.operation is read: a read needs the (missing) account, an unknown operation is refused by name
    const read = await caught('old', { operation: 'getRecord', payload: {} });
    assert.equal(read.error.message, 'PermanentError: netsuite.status.noConfig', 'Catch sees the classified error');
    assert.equal(read.errorClass, 'internal', 'the error is classified before done(err)');
    helper.getNode('caught').removeAllListeners('input');
    const unknown = await caught('old', { operation: 'frobnicate' });
    assert.equal(unknown.error.message, 'PermanentError: netsuite.errors.unknownOperation');
    helper.getNode('caught').removeAllListeners('input');
    // a current config is not migrated: its own operation wins over msg.operation
    const own = await caught('current', { operation: 'frobnicate', payload: { id: '1' } });
    assert.equal(own.error.message, 'PermanentError: netsuite.status.noConfig');
  });

  it('a version-less legacy-erp node without a mode decodes TE lines, as it did before modes were versioned', async () => {
    await helper.load(nodes, [
      { id: 'leg', type: 'legacy-erp', mode: '', wires: [['ok'], ['bad']] },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ]);
    const ok: any[] = [];
    helper.getNode('ok').on('input', (m: any) => ok.push(m));
    const line = encodeTimeEntry({ entryId: 'FR-7', consultantCode: 'CON-011', projectCode: 'FR01-LUM-OM', date: '2026-11-16', hours: 8, rate: 155, currency: 'EUR', billable: true, approvedAt: '2026-11-17T09:00:00Z', description: 'x' });
    helper.getNode('leg').receive({ payload: `${line}\r\n` });
    await waitFor(() => ok.length === 1, 'the decoded entry');
    assert.equal(ok[0].payload.id, 'LEG-FR-7');
    assert.equal(ok[0].entity, 'TimeEntry');
  });
});
