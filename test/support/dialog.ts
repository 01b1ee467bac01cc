/**
 * The node definitions a built dialog (dist/nodes/<set>/<set>.html) registers, as the editor gets them: its scripts run
 * in a vm with a stub RED whose validators have the editor's semantics (@node-red/editor-client red.js).
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import jsonata from 'jsonata';

const ROOT = path.resolve(__dirname, '..', '..', '..');

export type EditorDef = Record<string, any>;

const validators = {
  number: (blank?: boolean) => (v: unknown) => {
    if (blank && (v === '' || v === undefined)) return true;
    if (v !== '' && /^[+-]?[0-9]*\.?[0-9]*([eE][-+]?[0-9]+)?$/.test(String(v))) return true;
    if (v !== '' && /^\${[^}]+}$/.test(String(v))) return true;
    // as the editor's: isNaN('') is false, so an empty field passes a number check
    return !isNaN(v as number);
  },
  regex: (re: RegExp) => (v: unknown) => re.test(v as string),
  typedInput: (opts: { allowBlank?: boolean }) => (v: unknown) => {
    if (opts.allowBlank && v === '') return true;
    try {
      jsonata(String(v));
      return true;
    } catch {
      return false;
    }
  },
};

export function editorDefinitions(set: string): Map<string, EditorDef> {
  const html = fs.readFileSync(path.join(ROOT, 'dist', 'nodes', set, `${set}.html`), 'utf8');
  const defs = new Map<string, EditorDef>();
  const anything: any = new Proxy(function () { /* stub */ }, { get: () => anything, apply: () => anything });
  // events: the fabric-store dialog's editor migrations subscribe to 'nodes:add' (nothing is added here)
  const RED = { nodes: { registerType: (type: string, def: EditorDef) => defs.set(type, def) }, events: { on: () => undefined }, validators, _: (k: string) => k };
  const context = vm.createContext({ RED, $: anything, jQuery: anything, window: {}, document: anything });
  for (const m of html.matchAll(/<script type="text\/javascript"[^>]*>([\s\S]*?)<\/script>/g)) vm.runInContext(m[1], context);
  return defs;
}

/** A node of `type` as the editor creates it when it is dropped into a flow: every setting at its default. */
export function droppedNode(set: string, type: string): Record<string, unknown> {
  const def = editorDefinitions(set).get(type);
  if (!def) throw new Error(`dist/nodes/${set}/${set}.html registers no ${type}`);
  return Object.fromEntries(Object.entries(def.defaults as Record<string, { value: unknown }>).map(([k, d]) => [k, d.value]));
}
