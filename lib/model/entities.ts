/**
 * The canonical entities, their names in each form and their schema ids.
 *
 * One entity has three spellings:
 * - `name` (topic / event-type form): lower case, no dashes, e.g. `timeentry` (topics, CloudEvents types, node config);
 * - `file` (schema form): kebab case, e.g. `time-entry` (schema files `schemas/<file>.v<N>.json` and `$id`s);
 * - `title` (type form): PascalCase, e.g. `TimeEntry` (docs, messages).
 * `normalizeEntity` accepts any of the three.
 */

export const ENTITY_NAMES = [
  'account',
  'opportunity',
  'contract',
  'project',
  'resourceassignment',
  'timeentry',
  'expense',
  'invoice',
  'revenueevent',
] as const;

export type EntityName = (typeof ENTITY_NAMES)[number];

export interface EntityInfo {
  name: EntityName;
  file: string;
  title: string;
}

export const ENTITIES: Readonly<Record<EntityName, EntityInfo>> = Object.freeze({
  account: { name: 'account', file: 'account', title: 'Account' },
  opportunity: { name: 'opportunity', file: 'opportunity', title: 'Opportunity' },
  contract: { name: 'contract', file: 'contract', title: 'Contract' },
  project: { name: 'project', file: 'project', title: 'Project' },
  resourceassignment: { name: 'resourceassignment', file: 'resource-assignment', title: 'ResourceAssignment' },
  timeentry: { name: 'timeentry', file: 'time-entry', title: 'TimeEntry' },
  expense: { name: 'expense', file: 'expense', title: 'Expense' },
  invoice: { name: 'invoice', file: 'invoice', title: 'Invoice' },
  revenueevent: { name: 'revenueevent', file: 'revenue-event', title: 'RevenueEvent' },
});

/** Base of every schema `$id`; `v<N>/` follows, then `<file>.json`. */
export const SCHEMA_BASE = 'https://schemas.psfabric.dev/';

/** Schema versions shipped. A v2 of an entity adds `schemas/<file>.v2.json` with `$id` `.../v2/<file>.json`. */
export const CURRENT_VERSION = 1;

/** `TimeEntry`, `time-entry`, `time_entry`, `timeentry` -> `timeentry`; undefined if not an entity. */
export function normalizeEntity(entity: string): EntityName | undefined {
  if (typeof entity !== 'string') return undefined;
  const key = entity.trim().toLowerCase().replace(/[-_\s]/g, '');
  return (ENTITY_NAMES as readonly string[]).includes(key) ? (key as EntityName) : undefined;
}

/** Like normalizeEntity, but throws an error that lists the entities. */
export function requireEntity(entity: string): EntityName {
  const name = normalizeEntity(entity);
  if (!name) {
    throw new Error(`unknown canonical entity "${String(entity)}"; expected one of: ${ENTITY_NAMES.join(', ')}`);
  }
  return name;
}

/** The `$id` of an entity's schema, e.g. `https://schemas.psfabric.dev/v1/time-entry.json`. */
export function schemaIdFor(entity: string, version: number = CURRENT_VERSION): string {
  return `${SCHEMA_BASE}v${version}/${ENTITIES[requireEntity(entity)].file}.json`;
}
