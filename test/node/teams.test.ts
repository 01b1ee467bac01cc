import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../sandbox/server';
import { teamsSandbox, teamsWorkflowUrl } from '../../sandbox/teams';
import { GRAPH_CHANNELS, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_REFRESH_TOKEN, GRAPH_TEAM_ID, GRAPH_TENANT_DOMAIN } from '../../sandbox/teams/graph';
import { tempDir } from '../support/tmp';
import { catalogTranslator, helper } from '../support/node-red';

const nodes = ['fabric-store/fabric-store', 'teams-config/teams-config', 'teams-notify/teams-notify']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));
const tr = catalogTranslator('teams-notify');

describe('teams-config and teams-notify in Node-RED (Workflows webhook, Microsoft Graph, older flows)', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [teamsSandbox] });
  });
  after(async () => sb.close());
  beforeEach(async () => {
    tmp = tempDir('psfabric-teams-nodes-');
    helper.settings({ userDir: tmp.dir });
    await axios.post(`${sb.url}/teams/_sandbox/reset`);
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const store = { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' };
  const notify = { id: 'notify', type: 'teams-notify', teams: 'tc', title: 'Project created', wires: [['out']] };
  const post = async (payload: unknown) => {
    const got = new Promise<any>((resolve) => helper.getNode('out').once('input', resolve));
    helper.getNode('notify').receive({ payload });
    return got;
  };
  const warnings = () => ((helper as any).log().args as any[][]).map((a) => a[0]).filter((e) => e.level === 30).map((e) => tr(String(e.msg)));

  it('graph mode: posts the card to the channel as the consenting user, through the outbox', async () => {
    await helper.load(nodes, [
      store,
      { id: 'tc', type: 'teams-config', mode: 'graph', teamId: GRAPH_TEAM_ID, channelId: GRAPH_CHANNELS.finance, authorityHost: `${sb.url}/teams/login`, graphUrl: `${sb.url}/teams/graph`, store: 'store' },
      notify, { id: 'out', type: 'helper' },
    ], { tc: { tenantId: GRAPH_TENANT_DOMAIN, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET, refreshToken: GRAPH_REFRESH_TOKEN } });
    const m = await post({ text: 'INV-1 posted', facts: { Amount: 'EUR 1,200' } });
    assert.equal(m.teams.response.status, 201);
    const msgs = (await axios.get(`${sb.url}/teams/graph/_sandbox/records/messages`)).data;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].channelName, 'finance');
    assert.equal(msgs[0].title, 'Project created');
    assert.equal(msgs[0].id, m.teams.response.id);
    assert.equal((await axios.get(`${sb.url}/teams/_sandbox/records/messages`)).data.length, 0, 'nothing went to a Workflows flow');
  });

  it('graph mode without the refresh token: the config names what is missing and the node fails every message with it', async () => {
    await helper.load(nodes, [
      store,
      { id: 'tc', type: 'teams-config', mode: 'graph', teamId: GRAPH_TEAM_ID, channelId: GRAPH_CHANNELS.finance, store: 'store' },
      { ...notify, wires: [] },
    ], { tc: { tenantId: GRAPH_TENANT_DOMAIN, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET } });
    const n = helper.getNode('notify');
    const failed = new Promise<any>((resolve) => n.once('call:error', resolve));
    n.receive({ payload: 'x' });
    assert.match(String((await failed).args[0]?.message ?? (await failed).args[0]), /refreshToken missing/);
    assert.equal(sb.sandboxes.teams.requests().length, 0);
  });

  it('workflows mode (default): posts to the Workflows URL kept in the config credentials', async () => {
    await helper.load(nodes, [store, { id: 'tc', type: 'teams-config', store: 'store' }, notify, { id: 'out', type: 'helper' }], { tc: { webhookUrl: teamsWorkflowUrl(sb.url, 'psfabric-delivery') } });
    const m = await post('hello');
    assert.equal(m.teams.response.status, 202);
    const msgs = (await axios.get(`${sb.url}/teams/_sandbox/records/messages`)).data;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].webhookId, 'psfabric-delivery');
    assert.deepEqual(warnings().filter((w) => /older flow/.test(w)), []);
  });

  it('an older flow (webhook and store on teams-notify, no teams-config) still posts, with a warning in the log', async () => {
    await helper.load(nodes, [store, { id: 'notify', type: 'teams-notify', store: 'store', title: 'Old node', wires: [['out']] }, { id: 'out', type: 'helper' }], { notify: { webhookUrl: teamsWorkflowUrl(sb.url, 'psfabric-salesops') } });
    assert.ok(warnings().some((w) => /older flow/.test(w) && /teams-config/.test(w)), `warnings: ${JSON.stringify(warnings())}`);
    const m = await post('still here');
    assert.equal(m.teams.response.status, 202);
    assert.equal((await axios.get(`${sb.url}/teams/_sandbox/records/messages`)).data[0].webhookId, 'psfabric-salesops');
  });

  it('no teams-config and no webhook: an actionable error', async () => {
    await helper.load(nodes, [store, { id: 'notify', type: 'teams-notify', title: 'x' }]);
    const n = helper.getNode('notify');
    const failed = new Promise<any>((resolve) => n.once('call:error', resolve));
    n.receive({ payload: 'x' });
    assert.match(tr(String((await failed).args[0]?.message ?? (await failed).args[0])), /no Teams config/);
  });
});
