/**
 * Nothing stuck unseen (issue 14): on every tab of the shipped process templates (experience-api's included) a failing
 * node ends in the exception queue, and every trigger's unacceptable payloads do too. Checked on the flow files as
 * `npm start` deploys them; test/reliability/unseen.test.ts sends the bad messages through the running templates.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const FLOWS = path.resolve(__dirname, '..', '..', '..', '..', 'flows');
const TEMPLATES = ['quote-to-project.json', 'time-to-cash.json', 'change-order-to-billing.json', 'performance-to-reporting.json', 'experience-api.json'];

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  scope?: string[] | null;
  uncaught?: boolean;
  store?: string;
  wires?: string[][];
  links?: string[];
}

/** The node types a message can reach through `from`'s wires, following link out -> link in. */
function reaches(byId: Map<string, FlowNode>, from: FlowNode, type: string): boolean {
  const seen = new Set<string>();
  const next = (n: FlowNode) => [...(n.wires ?? []).flat(), ...(n.type === 'link out' ? n.links ?? [] : [])];
  const queue = next(from);
  while (queue.length) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const n = byId.get(id);
    if (!n) continue;
    if (n.type === type) return true;
    queue.push(...next(n));
  }
  return false;
}

describe('process templates: every failure ends in the exception queue', () => {
  for (const file of TEMPLATES) {
    it(`${file}: each tab has a Catch (all nodes) that reaches a fabric-exception with a store`, () => {
      const nodes = JSON.parse(fs.readFileSync(path.join(FLOWS, file), 'utf8')) as FlowNode[];
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const tabs = nodes.filter((n) => n.type === 'tab');
      assert.ok(tabs.length > 0);
      for (const tab of tabs) {
        const catches = nodes.filter((n) => n.z === tab.id && n.type === 'catch' && !(n.scope && n.scope.length) && !n.uncaught);
        assert.ok(catches.some((c) => reaches(byId, c, 'fabric-exception')), `tab ${tab.id} has no Catch for all its nodes wired to a fabric-exception`);
        for (const e of nodes.filter((n) => n.z === tab.id && n.type === 'fabric-exception')) assert.ok(e.store, `${e.id} names no store`);
      }
    });

    it(`${file}: every fabric-mqtt-in's unacceptable payloads reach the exception queue`, () => {
      const nodes = JSON.parse(fs.readFileSync(path.join(FLOWS, file), 'utf8')) as FlowNode[];
      const byId = new Map(nodes.map((n) => [n.id, n]));
      for (const n of nodes.filter((x) => x.type === 'fabric-mqtt-in')) {
        const invalid = n.wires?.[1] ?? [];
        // unwired: the node raises the error for the tab's Catch (checked above)
        if (invalid.length) assert.ok(reaches(byId, { ...n, wires: [invalid] }, 'fabric-exception'), `${n.id}: output 2 is wired but reaches no fabric-exception`);
      }
    });
  }
});
