/**
 * Versioned node config. A flow file keeps each node's config as it was saved, in whatever version of the package
 * saved it; the node's migrations (`NODE_MIGRATIONS`, below) run, oldest first, on every config whose `version` is
 * below theirs, so a node's constructor and its dialog see one shape only. A config without `version` predates
 * versioning (version 0). They run in two places, from this one file:
 *  - the runtime: `registerNode` (node-red-api.ts) migrates the config each node is constructed with;
 *  - the editor: `npm run build` bundles this file's compiled JavaScript with nodes/editor-migrations.ts into the
 *    dialog script, which migrates every PS Fabric node the editor adds (flows loaded, imported, pasted) and marks it
 *    changed, so the next deploy writes the current version (docs/editor.md).
 * So this module stays data-only: no imports, migrations that take and return plain JSON, nothing that exists in only
 * one of the two places (no Node.js, no DOM, no `RED`).
 *
 * Adding a setting that changes the meaning of old configs: append a migration with the next version to the node's
 * list below, set the .html default `version` to it, and add a case to test/node/config-migrations.test.ts. A
 * migration reads only properties the node's .html `defaults` declare: the editor keeps no others of an imported node.
 */
export interface Migration {
  readonly version: number;
  /** Returns the config in this version's shape (given a copy: may change it in place). */
  up(config: Record<string, unknown>): Record<string, unknown>;
}

export function currentVersion(migrations: readonly Migration[]): number {
  return migrations.length ? migrations[migrations.length - 1].version : 0;
}

/**
 * Brings `config` to the current version in place: Node-RED hands each node its own copy, with properties it does
 * not enumerate (`_flow`, `_path`) that the node needs and a copy would lose.
 */
export function migrate<C extends { version?: number }>(config: C, migrations: readonly Migration[]): C {
  const from = typeof config.version === 'number' ? config.version : Number(config.version) || 0;
  let out = { ...(config as Record<string, unknown>) };
  for (const m of migrations) if (m.version > from) out = { ...m.up(out), version: m.version };
  const target = config as Record<string, unknown>;
  for (const k of Object.keys(target)) if (!(k in out)) delete target[k];
  return Object.assign(target, out) as C;
}

/** Version 1 of every node: the first versioned config, the same shape as the version-less one. */
export const FIRST_VERSION: Migration = { version: 1, up: (c) => c };

/**
 * Version 1 of an operation node: before the dialog had "from msg", an empty operation read `msg.operation`;
 * now that is the explicit `msg` choice.
 */
export const operationFromMsg = (property = 'operation'): Migration => ({
  version: 1,
  up: (c) => (c[property] === undefined || c[property] === '' ? { ...c, [property]: 'msg' } : c),
});

/** legacy-erp version 1: "from msg" was `msg` in this dialog already; an empty mode was decodeTime. */
const LEGACY_MODE: Migration = { version: 1, up: (c) => (c.mode === undefined || c.mode === '' ? { ...c, mode: 'decodeTime' } : c) };

/** Every PS Fabric node type's migrations, oldest first: the runtime and the editor read them here. */
export const NODE_MIGRATIONS: Readonly<Record<string, readonly Migration[]>> = {
  'api-fulfil': [FIRST_VERSION],
  'api-gate': [FIRST_VERSION],
  'api-read': [FIRST_VERSION],
  'api-requests': [FIRST_VERSION],
  'business-central': [operationFromMsg()],
  'business-central-config': [FIRST_VERSION],
  canonical: [FIRST_VERSION],
  'fabric-broker': [FIRST_VERSION],
  'fabric-exception': [FIRST_VERSION],
  'fabric-exceptions': [FIRST_VERSION],
  'fabric-idempotent': [FIRST_VERSION],
  'fabric-mqtt-in': [FIRST_VERSION],
  'fabric-mqtt-out': [FIRST_VERSION],
  'fabric-store': [FIRST_VERSION],
  jira: [operationFromMsg()],
  'jira-config': [FIRST_VERSION],
  kantata: [operationFromMsg()],
  'kantata-config': [FIRST_VERSION],
  'legacy-erp': [LEGACY_MODE],
  'legacy-erp-config': [FIRST_VERSION],
  netsuite: [operationFromMsg()],
  'netsuite-config': [FIRST_VERSION],
  'ops-feed': [FIRST_VERSION],
  'ownership-config': [FIRST_VERSION],
  'process-step': [FIRST_VERSION],
  salesforce: [operationFromMsg()],
  'salesforce-config': [FIRST_VERSION],
  'salesforce-trigger': [FIRST_VERSION],
  'teams-config': [FIRST_VERSION],
  'teams-notify': [FIRST_VERSION],
};

/** The migrations of a node type, or undefined for a type that is not PS Fabric's (a core node in a template). */
export function migrationsFor(type: string): readonly Migration[] | undefined {
  return Object.prototype.hasOwnProperty.call(NODE_MIGRATIONS, type) ? NODE_MIGRATIONS[type] : undefined;
}

/** The migrations of a PS Fabric node type; a type without a list is a programming error, refused by name. */
export function migrationsOf(type: string): readonly Migration[] {
  const list = migrationsFor(type);
  if (!list) throw new Error(`node type '${type}' has no migration list: add it to NODE_MIGRATIONS in nodes/migrations.ts`);
  return list;
}
