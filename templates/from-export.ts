/**
 * Builder code for the nodes of an exported flow (Node-RED editor: Export > JSON), for the nodes a template's builder
 * does not have yet or to start a new template: `node dist/templates/from-export.js exported.json [tab id]`.
 * Long texts (function code, templates, info) come out as strings; move them to files beside the builder if you like.
 */
import fs from 'node:fs';
import type { FlowNode } from './kit';

const ident = (id: string) => id.replace(/^psf-/, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : '')).replace(/^(\d)/, '_$1');
/** A string literal in the project's style (single quotes). */
export const str = (s: string): string => `'${JSON.stringify(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
const lit = (v: unknown, indent = '  '): string => {
  if (typeof v === 'string') return str(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map((x) => lit(x, indent)).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${lit(x, indent)}`).join(', ')} }`;
};

/** TypeScript statements that add `nodes` (one tab's nodes) to a `Tab` named `t`. */
export function builderCode(nodes: FlowNode[], tabId?: string): string {
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
    const v = ident(g.id);
    groupVar.set(g.id, v);
    const { name, style, x, y, w, h } = g as FlowNode & { w: number; h: number };
    lines.push(`const ${v} = t.group(${str(g.id)}, ${lit({ name, style, x, y, w, h })});`);
  }
  for (const n of nodes.filter((x) => z !== undefined && x.z === z && x.type !== 'group')) {
    const { id, type, z: _z, g, x, y, wires, ...settings } = n;
    const owner = g ? (groupVar.get(g) ?? 't') : 't';
    lines.push(`${owner}.node(${str(type)}, ${str(id)}, [${x}, ${y}], ${lit(settings)}${wires ? `, ${lit(wires)}` : ''});`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const [file, tabId] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/templates/from-export.js <exported flow .json> [tab id]');
    process.exit(2);
  }
  process.stdout.write(builderCode(JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[], tabId) + '\n');
}
