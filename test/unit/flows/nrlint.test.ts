/**
 * Node-RED's flow linter (nrlint, the rules of .nrlintrc.js) reports no problem on the shipped templates as `npm start`
 * deploys them: no overlapping nodes, no loops (a feedback path goes through a named link pair), no unnamed function or
 * link nodes, function-node code that passes its ESLint rules.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { templateFlows } from '../../../runtime/templates';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
type Problem = { location: string[]; message: string; rule: string; severity: string };
/* eslint-disable @typescript-eslint/no-require-imports -- nrlint ships CommonJS without types */
const linter = require('nrlint/lib/linter') as { init(o: { resolveRule(name: string): unknown }): void; lint(flow: unknown[], config: unknown): Problem[] };
const rules = { ...(require('nrlint/lib/rules') as Record<string, unknown>), ...(require('nrlint/lib/rules/function-eslint') as Record<string, unknown>) };
const config = require(path.join(ROOT, '.nrlintrc.js')) as { rules: Record<string, unknown> };
/* eslint-enable @typescript-eslint/no-require-imports */
linter.init({ resolveRule: (name) => rules[name] });

const lint = (flow: unknown[]) => linter.lint(flow, config).map((p) => `${p.rule} (${p.severity}): ${p.message} at ${p.location.join(', ')}`);

describe('templates: nrlint', () => {
  it('checks every rule nrlint has', () => {
    assert.deepEqual(Object.keys(config.rules).sort(), Object.keys(rules).sort());
  });

  it('reports no problem on the deployed templates (every flow file merged, every tab)', () => {
    const flow = templateFlows({ installedTypes: null });
    assert.ok(flow.filter((n) => n.type === 'tab').length >= 6, 'all template tabs linted');
    assert.deepEqual(lint(flow), []);
  });

  it('would report a node placed on another one, and a function node\'s unused variable', () => {
    const flow = templateFlows({ installedTypes: null });
    const [a, b] = flow.filter((n) => n.z === 'psf-tab-co' && n.type === 'process-step');
    const moved = flow.map((n) => (n.id === b.id ? { ...n, x: a.x, y: a.y } : n));
    assert.ok(lint(moved).some((p) => p.startsWith('no-overlapping-nodes') && p.includes(a.id) && p.includes(b.id)), 'overlap found');
    const fn = { id: 'lint-probe', type: 'function', z: 'psf-tab-co', name: 'probe', func: 'const unused = 1;\nreturn msg;', outputs: 1, x: 3000, y: 3000, wires: [[]] };
    assert.ok(lint([...flow, fn]).some((p) => p.startsWith('function-eslint') && /unused/.test(p)), 'unused variable found');
  });
});
