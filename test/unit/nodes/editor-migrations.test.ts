/**
 * The editor applies the same config migrations as the runtime: the inline script `npm run build` writes into the
 * fabric-store dialog (scripts/build.js `editorMigrationsScript`), run as the editor runs it, against `registerNode`'s
 * migration of the config a node is constructed with, for every node type the editor registers and the same old
 * configs. The editor itself (its `nodes:add` and Deploy) is test/browser/migrations.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { currentVersion, NODE_MIGRATIONS } from '../../../nodes/migrations';
import { registerNode, type NodeAPI, type NodeDef } from '../../../nodes/node-red-api';
import { waitFor } from '../../support/wait';

const DIST_NODES = path.resolve(__dirname, '..', '..', '..', 'nodes');

type Config = Record<string, unknown>;
interface EditorSide {
  /** The editor's `nodes:add` handler the bundle installed. */
  add(node: Config): void;
  dirtyCalls: boolean[];
}

/** Runs the bundle from the built dialogs with an editor `RED` that records what it is asked. */
function loadBundle(): EditorSide {
  const scripts = fs.readdirSync(DIST_NODES)
    .map((name) => path.join(DIST_NODES, name, `${name}.html`))
    .filter((file) => fs.existsSync(file))
    .flatMap((file) => [...fs.readFileSync(file, 'utf8').matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]))
    .filter((source) => source.includes('installEditorMigrations('));
  assert.equal(scripts.length, 1, 'exactly one built dialog carries the migrations bundle');
  let handler: ((node: Config) => void) | undefined;
  const dirtyCalls: boolean[] = [];
  const RED = {
    events: { on: (event: string, fn: (node: Config) => void) => { if (event === 'nodes:add') handler = fn; } },
    nodes: { dirty: (d: boolean) => dirtyCalls.push(d) },
    view: { redraw: () => undefined },
  };
  // only what a browser has too: no require, no process
  vm.runInNewContext(scripts[0], { RED, setTimeout });
  assert.ok(handler, 'the bundle listens to nodes:add');
  return { add: handler, dirtyCalls };
}

/** The config a node of `type` is constructed with by the runtime, given `config` from the flow file. */
function runtimeMigration(type: string, config: Config): Config {
  let ctor: ((this: unknown, c: NodeDef) => void) | undefined;
  const RED = { nodes: { registerType: (_t: string, fn: (this: unknown, c: NodeDef) => void) => { ctor = fn; } } } as unknown as NodeAPI;
  let seen: Config | undefined;
  registerNode(RED, type, function (c: NodeDef) { seen = { ...c }; });
  ctor!.call({}, structuredClone(config) as unknown as NodeDef);
  return seen!;
}

/**
 * Each node type's `defaults` as its built dialog registers them: the dialogs' scripts run against a `RED` on which
 * everything but `registerType` is an inert stand-in (they only declare the types when loaded).
 */
function editorDefaults(): Map<string, Record<string, unknown>> {
  const types = new Map<string, Record<string, unknown>>();
  const inert: any = new Proxy(function () { /* stand-in */ }, { get: (_t, p) => (p === Symbol.toPrimitive ? () => '' : inert), apply: () => inert });
  const RED = new Proxy({}, {
    get: (_t, p) => (p === 'nodes' ? new Proxy({}, { get: (_n, q) => (q === 'registerType' ? (type: string, def: { defaults?: Record<string, unknown> }) => types.set(type, def.defaults ?? {}) : inert) }) : inert),
  });
  for (const name of fs.readdirSync(DIST_NODES)) {
    const file = path.join(DIST_NODES, name, `${name}.html`);
    if (!fs.existsSync(file)) continue;
    for (const [, source] of fs.readFileSync(file, 'utf8').matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) {
      if (!source.includes('installEditorMigrations(')) vm.runInNewContext(source, { RED, $: inert, jQuery: inert, window: inert, document: inert });
    }
  }
  return types;
}
const DEFAULTS = editorDefaults();

/** A node as the editor holds it after import: its dialog's `defaults` properties, the editor's own beside them. */
function editorNode(type: string, config: Config): Config {
  const defaults = DEFAULTS.get(type);
  assert.ok(defaults, `the built dialogs register ${type}`);
  const node: Config = { id: config.id, type, x: 100, y: 80, z: 'tab1', _def: { defaults }, changed: false };
  for (const k of Object.keys(defaults)) node[k] = structuredClone(config[k]);
  return node;
}

/** What Deploy writes of an editor node: id, type and its `defaults` properties. */
function exported(node: Config): Config {
  const out: Config = { id: node.id, type: node.type };
  for (const k of Object.keys((node._def as { defaults: Config }).defaults)) if (node[k] !== undefined) out[k] = node[k];
  return out;
}
/** The same properties of the runtime's config. */
function sameProperties(runtime: Config, type: string): Config {
  const out: Config = { id: runtime.id, type };
  for (const k of Object.keys(DEFAULTS.get(type)!)) if (runtime[k] !== undefined) out[k] = runtime[k];
  return out;
}

/** Old and current configs: empty, empty and explicit operations and modes, a string version, the current version. */
const INPUTS: Config[] = [
  {},
  { name: 'n', operation: '' },
  { operation: 'getRecord' },
  { mode: '' },
  { mode: 'encodeInvoice', topic: 'legacy/in' },
  { operation: '', version: '0' },
  { operation: '', mode: '', version: 1 },
];

const editorTypes = (): string[] => [...DEFAULTS.keys()].sort();

describe('nodes: the editor applies the runtime\'s config migrations', () => {
  it('has a migration list for every node type the editor registers, and none for a type it does not', () => {
    const types = editorTypes();
    assert.ok(types.length >= 30, `the built dialogs register the PS Fabric node types (found ${types.length})`);
    assert.deepEqual(Object.keys(NODE_MIGRATIONS).sort(), types);
  });

  it('gives every node type the config the runtime constructs it with, for the same old configs', () => {
    const editor = loadBundle();
    let compared = 0;
    for (const type of editorTypes()) {
      for (const input of INPUTS) {
        const config = { id: `n-${compared}`, type, ...input };
        const runtime = runtimeMigration(type, config);
        const node = editorNode(type, config);
        editor.add(node);
        assert.deepEqual(exported(node), sameProperties(runtime, type), `${type} from ${JSON.stringify(input)}`);
        const old = (Number(input.version) || 0) < currentVersion(NODE_MIGRATIONS[type]);
        assert.equal(node.changed, old, `${type} from ${JSON.stringify(input)}: marked changed only when migrated`);
        compared++;
      }
    }
    assert.equal(compared, editorTypes().length * INPUTS.length);
  });

  it('stamps every dialog\'s default version with its type\'s current version (a new node needs no migration)', () => {
    for (const type of editorTypes()) {
      const version = (DEFAULTS.get(type)!.version as { value?: unknown } | undefined)?.value;
      assert.equal(version, currentVersion(NODE_MIGRATIONS[type]), `${type}: defaults.version`);
    }
  });

  it('migrates what the lists say: an empty operation reads the msg, an empty legacy-erp mode decodes time lines', () => {
    const editor = loadBundle();
    const netsuite = editorNode('netsuite', { id: 'a', operation: '' });
    const legacy = editorNode('legacy-erp', { id: 'b', mode: '' });
    const current = editorNode('salesforce', { id: 'c', operation: '', version: 1 });
    for (const n of [netsuite, legacy, current]) editor.add(n);
    assert.equal(netsuite.operation, 'msg');
    assert.equal(netsuite.version, 1);
    assert.equal(legacy.mode, 'decodeTime');
    assert.equal(current.operation, '', 'a current config keeps its own value');
    assert.equal(current.changed, false);
  });

  it('makes the workspace dirty once, after the import that migrated nodes, and not for current nodes', async () => {
    const editor = loadBundle();
    editor.add(editorNode('jira', { id: 'j1', operation: '', version: 1 }));
    editor.add(editorNode('kantata', { id: 'k1', version: 1 }));
    // the load path clears the dirty flag right after its import, in the same turn
    editor.add(editorNode('jira', { id: 'j2', operation: '' }));
    editor.add(editorNode('kantata', { id: 'k2' }));
    await waitFor(() => editor.dirtyCalls.length > 0, 'the workspace marked dirty');
    assert.deepEqual(editor.dirtyCalls, [true]);
  });

  it('migrates a node on a locked flow, whose proxy refuses writes, through the node under the proxy', () => {
    const editor = loadBundle();
    const target = editorNode('business-central', { id: 'bc', operation: '' });
    const locked = new Proxy(target, {
      get: (t, p) => (p === '__node__' ? t : t[p as string]),
      set: () => { throw new Error('locked'); },
    });
    editor.add(locked);
    assert.equal(target.operation, 'msg');
    assert.equal(target.version, 1);
    assert.equal(target.changed, true);
  });
});
