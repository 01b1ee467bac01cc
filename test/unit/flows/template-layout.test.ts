/**
 * The process templates must stay readable in the editor (issue 5: groups and comments that say what each part does,
 * link nodes rather than spaghetti). Checked on the shipped flow files, which the builders in templates/ write.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const FLOWS = path.resolve(__dirname, '..', '..', '..', '..', 'flows');
const TEMPLATES = ['quote-to-project.json', 'time-to-cash.json', 'change-order-to-billing.json', 'performance-to-reporting.json'];

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  g?: string;
  name?: string;
  wires?: string[][];
  links?: string[];
  nodes?: string[];
}

describe('process templates: readable in the editor', () => {
  for (const file of TEMPLATES) {
    describe(file, () => {
      const nodes = JSON.parse(fs.readFileSync(path.join(FLOWS, file), 'utf8')) as FlowNode[];
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const onTab = nodes.filter((n) => n.z && n.type !== 'group');

      it('every wire and link points at a node of the tab, and link pairs name each other', () => {
        for (const n of onTab) {
          for (const target of (n.wires ?? []).flat()) assert.ok(byId.has(target), `${n.id} is wired to a missing node ${target}`);
          for (const other of n.links ?? []) {
            const peer = byId.get(other);
            assert.ok(peer, `${n.id} links to a missing node ${other}`);
            assert.ok(peer.links?.includes(n.id), `${n.id} -> ${other}: the link is not listed back`);
          }
        }
      });

      it('every node sits in a group with a comment saying what the part does', () => {
        const groups = nodes.filter((n) => n.type === 'group');
        assert.ok(groups.length >= 4, `${groups.length} groups`);
        for (const n of onTab) assert.ok(n.g && byId.get(n.g)?.type === 'group', `${n.type} ${n.id} (${n.name ?? ''}) is in no group`);
        for (const g of groups) {
          const members = onTab.filter((n) => n.g === g.id);
          assert.ok(members.length > 0, `group ${g.name ?? g.id} is empty`);
          assert.deepEqual([...(g.nodes ?? [])].sort(), members.map((n) => n.id).sort(), `group ${g.id} lists its nodes`);
        }
        const commented = new Set(onTab.filter((n) => n.type === 'comment').map((n) => n.g));
        const bare = groups.filter((g) => !commented.has(g.id) && !/errors/i.test(String((g as { name?: string }).name)));
        assert.deepEqual(bare.map((g) => (g as { name?: string }).name), [], 'groups without a comment');
      });

      it('no wire runs from one group into another: sections hand over through named link nodes', () => {
        const crossing = onTab.flatMap((n) => (n.wires ?? []).flat().filter((t) => byId.get(t)?.g !== n.g).map((t) => `${n.id} -> ${t}`));
        assert.deepEqual(crossing, []);
        for (const n of onTab.filter((x) => x.type === 'link out' || x.type === 'link in')) assert.ok(n.name, `${n.type} ${n.id} has no name`);
      });
    });
  }
});
