/**
 * Versioned node config. A flow file keeps each node's config as it was saved, in whatever version of the package
 * saved it; `registerNode` (node-red-api.ts) runs the node's migrations, oldest first, on every config whose `version`
 * is below theirs, so a node's constructor reads one shape only. A config without `version` predates versioning
 * (version 0). Editors stamp new nodes with the current version (`version` in the .html defaults); an old node keeps
 * its config until it is deployed again, migrated on every load meanwhile.
 *
 * Adding a setting that changes the meaning of old configs: append a migration with the next version to the node's
 * list, set the .html default `version` to it, and add a case to test/node/config-migrations.test.ts.
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
