/**
 * Brings a template edited in the Node-RED editor back into its builder (docs/templates.md):
 * `node dist/templates/from-export.js <exported.json>` compares an export (Export > JSON, a tab or all flows) with the
 * builders' output and prints, per template tab, each node added (as builder code to paste), removed, or changed
 * (setting: builder value -> exported value). `--code [tab id]` prints builder code for every node of the export (a new
 * template). Long texts (function code, Vue templates, info) come out as strings: keep them in files beside the builder.
 */
import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { BROKER, SECTION, STORE, sectionStyle, type FlowNode } from './kit';
import { TEMPLATE_BUILDERS } from './index';

const ident = (id: string) => id.replace(/^psf-/, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : '')).replace(/^(\d)/, '_$1');
/** A string literal in the project's style (single quotes). */
export const str = (s: string): string => `'${JSON.stringify(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
const lit = (v: unknown, indent = '  '): string => {
  if (v === STORE) return 'STORE';
  if (v === BROKER) return 'BROKER';
  if (typeof v === 'string') return str(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map((x) => lit(x, indent)).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${lit(x, indent)}`).join(', ')} }`;
};

/** A kit helper's call when the node is exactly what that helper writes (same settings in the same order), else undefined. */
function helperCall(n: FlowNode, at: string): string | undefined {
  const { id, type, z: _z, g: _g, x: _x, y: _y, wires, ...settings } = n;
  const same = (expected: Record<string, unknown>, expectedWires?: unknown) =>
    JSON.stringify(settings) === JSON.stringify(expected) && JSON.stringify(wires) === JSON.stringify(expectedWires);
  const s = settings as Record<string, any>;
  if (type === 'comment' && same({ name: s.name, info: s.info }, undefined)) return `comment(${str(id)}, ${at}, ${lit(s.name)}${s.info ? `, ${lit(s.info)}` : ''})`;
  if (type === 'link out' && same({ name: s.name, mode: 'link', links: s.links }, [[]])) return `linkOut(${str(id)}, ${at}, ${lit(s.name)}, ${lit(s.links)})`;
  if (type === 'link in' && wires?.length === 1 && same({ name: s.name, links: s.links }, wires)) return `linkIn(${str(id)}, ${at}, ${lit(s.name)}, ${lit(s.links)}, ${lit(wires[0])})`;
  if (type === 'catch' && wires?.length === 1 && wires[0].length === 1 && same({ name: 'any step failed', scope: null, uncaught: false }, wires)) return `catchAll(${str(id)}, ${at}, ${str(wires[0][0])})`;
  if (type === 'fabric-exception') {
    const e = { process: s.process, step: s.step, owner: s.owner, errorClass: s.errorClass, replay: s.replay };
    const ordered = { name: `exception: ${s.owner || 'owner from matrix'}`, store: STORE, process: e.process, step: e.step, owner: e.owner, errorClass: e.errorClass, message: '', replay: e.replay, outputs: 2 };
    if (JSON.stringify(settings) === JSON.stringify(ordered) && wires) {
      const plain = JSON.stringify(wires) === '[[],[]]';
      return `exception(${str(id)}, ${at}, ${lit(e)}${plain ? '' : `, ${lit(wires)}`})`;
    }
  }
  return undefined;
}

/**
 * TypeScript statements that add `nodes` (one tab's nodes) to a `Tab` named `t`, with the kit's helpers where a node is
 * what a helper writes. `groupNames`: variable name per group id (default: from the id).
 */
export function builderCode(nodes: FlowNode[], tabId?: string, groupNames: Record<string, string> = {}): string {
  const tab = nodes.find((n) => n.type === 'tab' && (!tabId || n.id === tabId));
  const z = tabId ?? tab?.id;
  const lines: string[] = [];
  if (tab) {
    const { id, type: _type, ...settings } = tab;
    lines.push(`const t = new Tab(${str(id)}, ${lit(settings)});`);
  }
  for (const n of nodes.filter((x) => !x.z && x.type !== 'tab')) {
    const { id, type, ...settings } = n;
    lines.push(`t.config(${str(type)}, ${str(id)}, ${lit(settings)});`);
  }
  const groupVar = new Map<string, string>();
  for (const g of nodes.filter((x) => z !== undefined && x.z === z && x.type === 'group')) {
    const v = groupNames[g.id] ?? ident(g.id);
    groupVar.set(g.id, v);
    const { name, style, x, y, w, h } = g as FlowNode & { w: number; h: number };
    const section = Object.entries(SECTION).find(([, fill]) => JSON.stringify(style) === JSON.stringify(sectionStyle(fill)));
    const styleCode = section ? `sectionStyle(SECTION.${section[0]})` : lit(style);
    lines.push(`const ${v} = t.group(${str(g.id)}, { name: ${lit(name)}, style: ${styleCode}, x: ${x}, y: ${y}, w: ${w}, h: ${h} });`);
  }
  for (const n of nodes.filter((x) => z !== undefined && x.z === z && x.type !== 'group')) {
    const { id, type, z: _z, g, x, y, wires, ...settings } = n;
    const owner = g ? (groupVar.get(g) ?? `/* group ${g} */ ${ident(g)}`) : 't';
    const at = `[${x}, ${y}]`;
    const helper = g ? helperCall(n, at) : undefined;
    lines.push(helper ? `${owner}.${helper};` : `${owner}.node(${str(type)}, ${str(id)}, ${at}, ${lit(settings)}${wires ? `, ${lit(wires)}` : ''});`);
  }
  return lines.join('\n');
}

/** Settings a node has for the editor only (its place), compared apart from the rest. */
const PLACE = new Set(['x', 'y', 'w', 'h']);

/**
 * What differs between an export and the builders' output, one line per difference, for the tabs and config nodes the
 * builders know (the user's own tabs in an all-flows export are left out). Empty when the export is the templates.
 */
export function diffExport(exported: FlowNode[]): string[] {
  const built = new Map<string, FlowNode>();
  for (const build of Object.values(TEMPLATE_BUILDERS)) for (const n of build()) if (!built.has(n.id)) built.set(n.id, n);
  const tabs = new Set([...built.values()].filter((n) => n.type === 'tab').map((n) => n.id));
  const inExport = new Map(exported.map((n) => [n.id, n]));
  const exportedTabs = new Set(exported.filter((n) => n.type === 'tab' && tabs.has(n.id)).map((n) => n.id));
  const ours = (n: FlowNode) => (n.z ? exportedTabs.has(n.z) : n.type === 'tab' ? exportedTabs.has(n.id) : built.has(n.id));
  const out: string[] = [];
  for (const n of exported.filter(ours)) {
    const b = built.get(n.id);
    if (!b) {
      out.push(`added ${n.type} ${n.id} on ${n.z ?? 'config'}:\n  ${builderCode([n], n.z).split('\n').filter((l) => !l.startsWith('const t =')).join('\n  ')}`);
      continue;
    }
    const keys = new Set([...Object.keys(b), ...Object.keys(n)]);
    for (const k of keys) {
      if (isDeepStrictEqual(b[k], n[k])) continue;
      if (k === 'nodes' && Array.isArray(b[k]) && Array.isArray(n[k]) && isDeepStrictEqual([...(b[k] as string[])].sort(), [...(n[k] as string[])].sort())) continue;
      out.push(`${PLACE.has(k) ? 'moved' : 'changed'} ${n.type} ${n.id}: ${k} ${JSON.stringify(b[k])?.slice(0, 200)} -> ${JSON.stringify(n[k])?.slice(0, 200)}`);
    }
  }
  for (const b of built.values()) if ((b.z ? exportedTabs.has(b.z) : false) && !inExport.has(b.id)) out.push(`removed ${b.type} ${b.id} from ${b.z}`);
  return out;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const code = args[0] === '--code';
  const [file, tabId] = code ? args.slice(1) : args;
  if (!file) {
    console.error('usage: node dist/templates/from-export.js [--code] <exported flow .json> [tab id]');
    process.exit(2);
  }
  const exported = JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];
  if (code) process.stdout.write(builderCode(exported, tabId) + '\n');
  else {
    const diff = diffExport(exported);
    process.stdout.write(diff.length ? diff.join('\n') + '\n' : 'the export is what the builders write: nothing to bring back\n');
    process.exitCode = diff.length ? 1 : 0;
  }
}
