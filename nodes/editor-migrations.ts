/**
 * The editor's side of the config migrations (nodes/migrations.ts): runs in the browser, bundled with the compiled
 * migrations by `npm run build` (scripts/build.js `editorMigrationsScript`) into the one dialog that loads it, so the
 * editor applies the very list the runtime applies.
 *
 * The hook is the editor's `nodes:add` event: `RED.nodes.add` emits it for every node the workspace gets, whatever the
 * path (the flows loaded at start, Import from the clipboard, the library or Examples, paste, undo, a remote deploy
 * merged in), after the node has its config and before the editor validates it, so a migrated node is validated,
 * drawn and opened in its current shape. A migrated node is marked `changed`, and the workspace dirty, so Deploy
 * writes it back with its current `version`.
 *
 * Like nodes/migrations.ts this imports nothing but that module and uses nothing of Node.js or the DOM: the editor's
 * `RED` comes in as an argument.
 */
import { currentVersion, migrate, NODE_MIGRATIONS } from './migrations';

/** A node as the editor holds it: its `defaults` properties beside the editor's own (`_def`, `changed`, `x`...). */
export interface EditorNode {
  id: string;
  type: string;
  version?: unknown;
  changed?: boolean;
  _def?: { defaults?: Record<string, unknown> };
  /** The node under the editor's proxy (Node-RED >= 3.1), which refuses writes to nodes on a locked flow. */
  __node__?: EditorNode;
  [property: string]: unknown;
}

/** The parts of the editor's `RED` the migrations use. */
export interface EditorRED {
  events: { on(event: 'nodes:add', handler: (node: EditorNode) => void): void };
  nodes: { dirty(dirty: boolean): void };
  view?: { redraw(full?: boolean): void };
}

/**
 * Brings `node` to its type's current version in place, writing only the properties its `defaults` declare and
 * `version` (the editor keeps no others, and exports only those). Returns whether it changed anything.
 */
export function migrateEditorNode(node: EditorNode): boolean {
  const migrations = Object.prototype.hasOwnProperty.call(NODE_MIGRATIONS, node.type) ? NODE_MIGRATIONS[node.type] : undefined;
  if (!migrations) return false;
  const from = typeof node.version === 'number' ? node.version : Number(node.version) || 0;
  if (from >= currentVersion(migrations)) return false;
  const raw = node.__node__ ?? node;
  const keys = Object.keys(node._def?.defaults ?? {}).filter((k) => k !== 'version');
  const config: Record<string, unknown> = { id: raw.id, type: raw.type, version: raw.version };
  for (const k of keys) if (raw[k] !== undefined) config[k] = raw[k];
  migrate(config, migrations);
  // written under the proxy: a node on a locked flow is migrated too (its dialog shows the current shape)
  for (const k of keys) if (raw[k] !== config[k]) raw[k] = config[k];
  raw.version = config.version;
  return true;
}

/**
 * Installs the migrations in the editor. The workspace is made dirty on the next turn: loading the flows (and merging
 * a remote deploy) clears the dirty flag right after its import, in the same turn.
 */
export function installEditorMigrations(RED: EditorRED): void {
  let pending = false;
  RED.events.on('nodes:add', (node) => {
    if (!migrateEditorNode(node)) return;
    try {
      node.changed = true; // through the proxy: the flow's tab shows it changed
    } catch {
      (node.__node__ ?? node).changed = true; // a locked flow refuses it through the proxy
    }
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      RED.nodes.dirty(true);
      RED.view?.redraw(true);
    }, 0);
  });
}
