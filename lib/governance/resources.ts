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
  /**
   * Writes are taken only where a process creates the record in its system of record (projects: the PSA; time
   * entries: the PSA, then time-to-cash bills them). Otherwise the reason a POST is refused (405, Allow: GET).
   */
  readOnly?: string;
}

export const API_RESOURCES: readonly ApiResource[] = Object.freeze([
  { path: 'customers', scope: 'customers', entity: 'account', title: 'Customers (Account)', versions: { v1: 1 }, readOnly: 'customers are created in the CRM (Salesforce, owner sales-ops) and reach the ERP and the PSA through quote-to-project' },
  { path: 'projects', scope: 'projects', entity: 'project', title: 'Projects', versions: { v1: 1 } },
  { path: 'contracts', scope: 'contracts', entity: 'contract', title: 'Contracts', versions: { v1: 1 }, readOnly: 'contracts and their amendments are made in the CRM (Salesforce, owner sales-ops); an amendment approved there reaches billing through change-order-to-billing' },
  { path: 'resources', scope: 'resources', entity: 'resourceassignment', title: 'Resources (ResourceAssignment)', versions: { v1: 1 }, readOnly: 'staffing is done in the PSA (Kantata, owner pmo); its bill and cost rates are not the portal\'s to set' },
  { path: 'time-entries', scope: 'timeentries', entity: 'timeentry', title: 'Time entries', versions: { v1: 1, v2: 2 } },
  { path: 'invoices', scope: 'invoices', entity: 'invoice', title: 'Invoices', versions: { v1: 1 }, readOnly: 'invoices are issued by the ERP (owner finance-ops): post time entries, time-to-cash invoices them' },
  { path: 'revenue-events', scope: 'revenueevents', entity: 'revenueevent', title: 'Revenue events', versions: { v1: 1 }, readOnly: 'revenue is recognised by the ERP (owner finance-ops) from posted invoices' },
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
  // a write scope only where the resource takes writes (a key may still carry one: it grants nothing)
  return [...API_RESOURCES.flatMap((r) => (r.readOnly ? [`${r.scope}:read`] : [`${r.scope}:read`, `${r.scope}:write`])), `${REQUESTS_SCOPE}:read`];
}
