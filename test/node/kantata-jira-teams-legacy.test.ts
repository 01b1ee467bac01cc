import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../sandbox/server';
import { kantataSandbox, KANTATA_STATIC_TOKEN } from '../../sandbox/kantata';
import { jiraSandbox, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_ACCOUNT_ID } from '../../sandbox/jira';
import { teamsSandbox, teamsWorkflowUrl } from '../../sandbox/teams';
import { encodeTimeEntry } from '../../lib/connectors/legacy-erp/codec';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';
import { caught, withCatch } from '../support/catch';

const nodes = ['fabric-store/fabric-store', 'kantata-config/kantata-config', 'kantata/kantata', 'jira-config/jira-config', 'jira/jira', 'teams-notify/teams-notify', 'legacy-erp/legacy-erp']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('PSA, Jira, Teams and legacy ERP nodes in Node-RED', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [kantataSandbox, jiraSandbox, teamsSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    tmp = tempDir('psfabric-connector-nodes-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const base = [{ id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' }];

  it('kantata: polls approved time into canonical messages, keeps the cursor, and marks entries invoiced via the outbox', async () => {
    await helper.load(nodes, [
      ...base,
      { id: 'kc', type: 'kantata-config', baseUrl: `${sb.url}/kantata`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 3 },
      { id: 'poll', type: 'kantata', kantata: 'kc', operation: 'pollApproved', pollSeconds: 3600, output: 'entry', wires: [['out']] },
      { id: 'mark', type: 'kantata', kantata: 'kc', operation: 'markInvoiced', wires: [['out2']] },
      { id: 'out', type: 'helper' },
      { id: 'out2', type: 'helper' },
    ], { kc: { accessToken: KANTATA_STATIC_TOKEN } });
    const got: any[] = [];
    helper.getNode('out').on('input', (m: any) => got.push(m));
    const expected = Object.values(sb.sandboxes.kantata.state.time_entries).filter((t: any) => t.approved && !t.is_invoiced).length;
    await waitFor(() => got.filter((m) => m.entity === 'TimeEntry').length === expected, 'first sweep');
    const te = got.find((m) => m.entity === 'TimeEntry');
    assert.match(te.payload.id, /^KAN-TE-/);
    assert.match(te.workspace.billingEntity, /^NWA-/);
    // an input polls now: nothing new, and the cursor is in the store
    const before = got.length;
    helper.getNode('poll').receive({});
    await waitFor(async () => (await helper.getNode('kc').store.watermarkGet(`kantata:kantata:kc:poll:approved`)) !== undefined, 'cursor persisted');
    assert.equal(got.length, before);
    const done = new Promise<any>((resolve) => helper.getNode('out2').on('input', resolve));
    helper.getNode('mark').receive({ payload: { workspaceId: te.kantata.workspace_id, timeEntryIds: [te.kantata.id], invoiceNumber: 'INV-NODE-1' }, idempotencyKey: 'mark-1' });
    const res = await done;
    assert.equal(res.payload.alreadyInvoiced, false);
    assert.equal(sb.sandboxes.kantata.state.time_entries[te.kantata.id].is_invoiced, true);
  });

  it('jira + teams-notify: creates an epic and posts a card through the outbox', async () => {
    await axios.post(`${sb.url}/teams/_sandbox/reset`);
    await helper.load(nodes, [
      ...base,
      { id: 'jc', type: 'jira-config', baseUrl: `${sb.url}/jira`, authType: 'basic', store: 'store' },
      { id: 'proj', type: 'jira', jira: 'jc', operation: 'createProject', wires: [['o1']] },
      { id: 'epic', type: 'jira', jira: 'jc', operation: 'createEpic', projectKey: 'NODET', wires: [['o2']] },
      { id: 'teams', type: 'teams-notify', store: 'store', title: 'Project created', wires: [['o3']] },
      { id: 'o1', type: 'helper' }, { id: 'o2', type: 'helper' }, { id: 'o3', type: 'helper' },
    ], { jc: { email: JIRA_EMAIL, apiToken: JIRA_API_TOKEN }, teams: { webhookUrl: teamsWorkflowUrl(sb.url, 'psfabric-delivery') } });
    const next = (id: string) => new Promise<any>((resolve) => helper.getNode(id).once('input', resolve));
    let p = next('o1');
    helper.getNode('proj').receive({ payload: { key: 'NODET', name: 'Node test project', leadAccountId: JIRA_ACCOUNT_ID } });
    assert.equal((await p).payload.key, 'NODET');
    p = next('o2');
    helper.getNode('epic').receive({ payload: { summary: 'Node test epic', description: 'Scope\n\n- one\n- two' }, idempotencyKey: 'epic-node' });
    const e = await p;
    assert.match(e.payload.key, /^NODET-\d+$/);
    p = next('o3');
    helper.getNode('teams').receive({ payload: { text: `Epic ${e.payload.key} created`, facts: { Project: 'NODET' } } });
    const t = await p;
    assert.equal(t.teams.response.status, 202, 'the Workflows flow queued the card');
    const msgs = (await axios.get(`${sb.url}/teams/_sandbox/records/messages`)).data;
    assert.equal(msgs.at(-1).title, 'Project created');
  });

  it('teams-notify refuses a retired incoming-webhook URL with an actionable error, sending nothing', async () => {
    await axios.post(`${sb.url}/teams/_sandbox/reset`);
    await helper.load(nodes, withCatch([
      ...base,
      { id: 'teams', type: 'teams-notify', store: 'store', title: 'Old hook' },
    ]), { teams: { webhookUrl: 'https://contoso.webhook.office.com/webhookb2/1a2b@3c4d/IncomingWebhook/5e6f/7a8b' } });
    const teams = helper.getNode('teams') as any;
    const errors = caught();
    const failed = new Promise<any>((resolve) => teams.once('call:error', resolve));
    teams.receive({ payload: 'hello' });
    const message = String((await failed).args[0]?.message ?? (await failed).args[0]);
    assert.match(message, /retired/);
    assert.match(message, /Workflows/);
    assert.match((await errors.next((e) => e.source.id === 'teams', 'the refusal at the Catch node')).message, /retired/);
    assert.equal(sb.sandboxes.teams.requests().length, 0);
  });

  it('legacy-erp: decodes TE lines to TimeEntry on output 1 and malformed lines to output 2 with field errors', async () => {
    await helper.load(nodes, [
      { id: 'leg', type: 'legacy-erp', mode: 'decodeTime', wires: [['ok'], ['bad']] },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ]);
    const ok: any[] = [];
    const bad: any[] = [];
    helper.getNode('ok').on('input', (m: any) => ok.push(m));
    helper.getNode('bad').on('input', (m: any) => bad.push(m));
    const good = encodeTimeEntry({ entryId: 'FR-1', consultantCode: 'CON-011', projectCode: 'FR01-LUM-OM', date: '2026-11-16', hours: 8, rate: 155, currency: 'EUR', billable: true, approvedAt: '2026-11-17T09:00:00Z', description: 'x' });
    helper.getNode('leg').receive({ payload: Buffer.from(`${good}\r\nTE;FR-2;CON-011;P;2026-11-16;000800;000015500;EUR;Y;20261117090000;x\r\n`) });
    await waitFor(() => ok.length === 1 && bad.length === 1, 'both outputs');
    assert.equal(ok[0].payload.id, 'LEG-FR-1');
    assert.equal(ok[0].idempotencyKey, 'legacy:TE:FR-1');
    assert.deepEqual(bad[0].errors[0], { line: 2, field: 'date', position: 5, expected: 'a date YYYYMMDD', got: '2026-11-16' });
  });
});
