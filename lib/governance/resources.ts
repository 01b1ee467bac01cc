/**
 * The experience-API resources: path segment, canonical entity, scope name and the API versions served.
 * Shared by the gate (routing, scopes, validation) and the OpenAPI generator.
 */
import type { EntityName } from '../model/entities';

export interface ApiResource {
  /** Path segment under `/api/<version>/`, e.g. `time-entries`. */
  path: string;
  /** Scope prefix: `<scope>:read` / `<scope>:write`. */
  scope: string;
  entity: EntityName;
  /** Human name for docs. */
  title: string;
  /** API versions serving it, with the canonical schema version each uses. */
  versions: Record<string, number>;
}

export const API_RESOURCES: readonly ApiResource[] = Object.freeze([
  { path: 'customers', scope: 'customers', entity: 'account', title: 'Customers (Account)', versions: { v1: 1 } },
  { path: 'projects', scope: 'projects', entity: 'project', title: 'Projects', versions: { v1: 1 } },
  { path: 'contracts', scope: 'contracts', entity: 'contract', title: 'Contracts', versions: { v1: 1 } },
  { path: 'resources', scope: 'resources', entity: 'resourceassignment', title: 'Resources (ResourceAssignment)', versions: { v1: 1 } },
  { path: 'time-entries', scope: 'timeentries', entity: 'timeentry', title: 'Time entries', versions: { v1: 1, v2: 2 } },
  { path: 'invoices', scope: 'invoices', entity: 'invoice', title: 'Invoices', versions: { v1: 1 } },
  { path: 'revenue-events', scope: 'revenueevents', entity: 'revenueevent', title: 'Revenue events', versions: { v1: 1 } },
] as ApiResource[]);

/** The special, non-entity routes. */
export const REQUESTS_PATH = 'requests';
export const REQUESTS_SCOPE = 'requests';
export const OPENAPI_PATH = 'openapi.json';

export const API_VERSIONS = ['v1', 'v2'] as const;

export function resourceByPath(segment: string): ApiResource | undefined {
  return API_RESOURCES.find((r) => r.path === segment);
}

/** Every scope a key can be given (for the admin UI and validation messages). */
export function allScopes(): string[] {
  const names = [...API_RESOURCES.map((r) => r.scope), REQUESTS_SCOPE];
  return names.flatMap((n) => (n === REQUESTS_SCOPE ? [`${n}:read`] : [`${n}:read`, `${n}:write`]));
}
