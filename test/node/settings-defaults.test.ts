/**
 * A node dropped into a flow behaves with the defaults its TypeScript declaration gives (nodes/<name>/config.ts): the
 * same whether the flow file carries the editor's defaults (the node as the editor creates it, test/support/dialog.ts)
 * or no setting at all (a flow written by hand or by an older version).
 */
import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { netsuiteSandbox, NETSUITE_SANDBOX_DEFAULTS } from '../../sandbox/netsuite';
import { teamsSandbox, teamsWorkflowUrl } from '../../sandbox/teams';
import { NETSUITE } from '../../nodes/netsuite/config';
import { TEAMS_NOTIFY } from '../../nodes/teams-notify/config';
import { droppedNode } from '../support/dialog';
import { helper } from '../support/node-red';
import { tempDir } from '../support/tmp';

const nodes = ['fabric-store/fabric-store', 'netsuite-config/netsuite-config', 'netsuite/netsuite', 'teams-config/teams-config', 'teams-notify/teams-notify']
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  .map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];
const QUERY = 'SELECT id FROM customer';

describe('nodes dropped into a flow behave with their declared defaults', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox, teamsSandbox] });
  });
  after(async () => sb.close());
  beforeEach(async () => {
    sb.sandboxes.netsuite.reset();
    await axios.post(`${sb.url}/teams/_sandbox/reset`);
    tmp = tempDir('psfabric-settings-defaults-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const store = { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' };
  const received = () => new Promise<any>((resolve) => helper.getNode('out').once('input', resolve));
  const as = { editor: (set: string, type: string) => droppedNode(set, type), bare: () => ({}) };

  for (const [how, settingsOf] of Object.entries(as)) {
    it(`netsuite (${how === 'editor' ? "the editor's defaults" : 'no settings'}): SuiteQL reads pages of the declared page size`, async () => {
      await helper.load(nodes, [
        store,
        { ...settingsOf('netsuite-config', 'netsuite-config'), id: 'nsc', type: 'netsuite-config', accountId: NETSUITE_SANDBOX_DEFAULTS.accountId, baseUrl: `${sb.url}/netsuite`, authType: 'tba', store: 'store' },
        { ...settingsOf('netsuite', 'netsuite'), id: 'ns', type: 'netsuite', netsuite: 'nsc', operation: 'suiteql', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ], { nsc: { consumerKey: TBA.consumerKey, consumerSecret: TBA.consumerSecret, tokenId: TBA.tokenId, tokenSecret: TBA.tokenSecret } });
      const got = received();
      helper.getNode('ns').receive({ query: QUERY });
      await got;
      // this node's query (the config node's setup check runs its own)
      const queries = sb.sandboxes.netsuite.requests().filter((r) => r.path.includes('/query/v1/suiteql') && (r.body as { q?: string } | undefined)?.q === QUERY);
      assert.ok(queries.length > 0, 'no SuiteQL request reached the sandbox');
      for (const q of queries) assert.match(q.path, new RegExp(`[?&]limit=${NETSUITE.defaults.pageSize}(&|$)`), q.path);
    });

    it(`teams-notify (${how === 'editor' ? "the editor's defaults" : 'no settings'}): a text message goes out under the declared title`, async () => {
      await helper.load(nodes, [
        store,
        { id: 'tc', type: 'teams-config', store: 'store' },
        { ...settingsOf('teams-notify', 'teams-notify'), id: 'notify', type: 'teams-notify', teams: 'tc', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ], { tc: { webhookUrl: teamsWorkflowUrl(sb.url, 'psfabric-delivery') } });
      const got = received();
      helper.getNode('notify').receive({ payload: 'INV-1 posted' });
      assert.equal((await got).teams.response.status, 202);
      const msgs = (await axios.get(`${sb.url}/teams/_sandbox/records/messages`)).data;
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].title, TEAMS_NOTIFY.defaults.title);
    });
  }
});
