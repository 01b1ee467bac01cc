/**
 * t2c-plan through the real Node-RED runtime and a real SQLite file: a plan, the runtime stopped after the invoices
 * were assigned and before any was written, one invoice posted, then the entries replayed in another order and
 * other batches -> the same invoice messages (ids, requests, idempotency keys), the posted one skipped, and every
 * source message handed over once the invoices carrying its entries are.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { markInboxProcessed } from '../../lib/inbox';
import type { FabricServices } from '../../lib/fabric/services';
import type { ProjectContext, TimeEntry } from '../../lib/processes/time-to-cash';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const storeNode: unknown = require('../../nodes/fabric-store/fabric-store');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const processStep: unknown = require('../../nodes/process-step/process-step');

helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const SOURCE = 'test:legacy/fr01/time/out';
const projects: Record<string, ProjectContext> = {
  'KAN-WS-1': { projectId: 'KAN-WS-1', accountId: 'ACC-1001', billingEntity: 'NWA-US', currency: 'USD', status: 'active', psaWorkspaceId: '1' },
  'FR01-LUM-OM': { projectId: 'FR01-LUM-OM', accountId: 'ACC-4001', billingEntity: 'NWA-FR', currency: 'EUR', status: 'active' },
};
function te(n: number): TimeEntry {
  const fr = n % 2 === 1;
  const id = fr ? `LEG-FR-TE-${n}` : `KAN-TE-${n}`;
  return {
    id, version: 1, person: { id: `CON-${n % 5}` }, projectId: fr ? 'FR01-LUM-OM' : 'KAN-WS-1', date: `2026-11-${String(1 + (n % 28)).padStart(2, '0')}`, hours: 2 + (n % 4), role: 'Consultant',
    billable: true, rate: { amount: 120, currency: fr ? 'EUR' : 'USD', unit: 'hour' }, status: 'approved', approvedAt: '2026-11-29T09:00:00Z', externalIds: fr ? { legacy: id.slice(4) } : { kantata: String(n) },
  };
}
const ENTRIES = Array.from({ length: 240 }, (_, n) => te(n));

describe('process-step t2c-plan: durable invoice assignment through the runtime', function () {
  this.timeout(30000);
  let tmp: ReturnType<typeof tempDir>;
  const flow = () => [
    { id: 'store', type: 'fabric-store', path: path.join(tmp.dir, 'fabric.sqlite') },
    { id: 'plan', type: 'process-step', store: 'store', step: 't2c-plan', batchSize: 5, maxLines: 40, wires: [['invoices'], ['blocked']] },
    { id: 'posted', type: 'process-step', store: 'store', step: 't2c-posted', wires: [['events']] },
    { id: 'invoices', type: 'helper' },
    { id: 'blocked', type: 'helper' },
    { id: 'events', type: 'helper' },
  ];
  const services = (): FabricServices => helper.getNode('store').requireServices();
  function collect(id: string): Msg[] {
    const got: Msg[] = [];
    helper.getNode(id).on('input', (m: Msg) => got.push(m));
    return got;
  }
  /** Source messages as a trigger with an inbox hands them on: committed to the inbox, identity on the msg. */
  async function fromInbox(messageId: string, entries: TimeEntry[]): Promise<Msg> {
    await services().store.inboxAdd({ source: SOURCE, messageId, payload: entries.map((e) => e.id), receivedAt: Date.now() });
    return { _msgid: messageId, payload: entries, projects, _fabricInbox: { source: SOURCE, messageId } };
  }
  const status = async (messageId: string) => (await services().store.inboxGet(SOURCE, messageId))?.status;

  beforeEach(() => {
    tmp = tempDir('psfabric-t2c-node-');
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  it('a stop after assignment, one invoice posted, a replay in other batches: the same invoice messages, each source handed over', async () => {
    await helper.load([storeNode, processStep], flow());
    let invoices = collect('invoices');
    helper.getNode('plan').receive(await fromInbox('m0', ENTRIES));
    const count = Math.ceil(120 / 40) * 2;
    await waitFor(() => invoices.length === count, `${count} invoice messages`);
    const first = new Map(invoices.map((m) => [m.invoiceWrite.invoice.id as string, m]));
    assert.equal(first.size, count);
    assert.equal(await status('m0'), 'received', 'nothing written yet: the source message is not handed over');

    // the runtime stops before any invoice reached an ERP (its msgs are lost), and starts again on the same file
    await helper.unload();
    await helper.load([storeNode, processStep], flow());
    invoices = collect('invoices');
    const events = collect('events');
    // one invoice had reached its ERP before the stop: t2c-posted records its entries billed
    const done = [...first.values()][2];
    helper.getNode('posted').receive({ _msgid: 'p1', invoiceWrite: done.invoiceWrite, payload: { id: 'NS-9001' }, correlationId: done.correlationId });
    await waitFor(() => events.length === 1, 'invoice.posted');

    // the entries again, reversed, in three source messages (the PSA poll / the legacy ERP re-sending)
    const replay = [...ENTRIES].reverse();
    const batches = [replay.slice(0, 70), replay.slice(70, 170), replay.slice(170)];
    for (const [i, b] of batches.entries()) helper.getNode('plan').receive(await fromInbox(`r${i}`, b));
    const expected = count - 1;
    // each replay message re-sends every unposted invoice holding one of its entries
    const unposted = [...first.values()].filter((m) => m !== done);
    const perBatch = batches.map((b) => unposted.filter((m) => b.some((e) => m.invoiceWrite.entryIds.includes(e.id))).length);
    await waitFor(() => invoices.length === perBatch.reduce((x, y) => x + y, 0), `the unposted invoices again, per replay message (${perBatch.join(', ')})`);
    assert.equal(new Set(invoices.map((m) => m.invoiceWrite.invoice.id)).size, expected);
    for (const m of invoices) {
      const before = first.get(m.invoiceWrite.invoice.id);
      assert.ok(before, `${m.invoiceWrite.invoice.id} is one of the first run's invoices`);
      assert.notEqual(m.invoiceWrite.invoice.id, done.invoiceWrite.invoice.id, 'the posted invoice is not sent again');
      assert.deepEqual(m.payload, JSON.parse(JSON.stringify(before.payload)), 'same ERP request');
      assert.equal(m.idempotencyKey, before.idempotencyKey);
      assert.deepEqual(m.invoiceWrite.entryIds, before.invoiceWrite.entryIds);
    }

    // hand-over: a source message is processed only once every invoice message carrying its entries is durable
    const shared = invoices.filter((m) => m._fabricInbox);
    assert.ok(shared.length >= expected);
    for (const m of shared.slice(0, -1)) await markInboxProcessed(m, services().store);
    const last = shared[shared.length - 1];
    const sourceOfLast = String(last._msgid).split(':')[0]; // the replay message whose plan sent it
    assert.equal(await status(sourceOfLast), 'received', `${sourceOfLast} waits for the last invoice message carrying its entries`);
    await markInboxProcessed(last, services().store);
    for (const [i] of batches.entries()) await waitFor(async () => (await status(`r${i}`)) === 'processed', `r${i} handed over`);
  });
});
