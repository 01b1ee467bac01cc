/**
 * Shared helpers of the process templates (lib/processes): stable keys, field problems, money rounding,
 * the ERP routing table. Plain TypeScript, no Node-RED: every process step is testable on its own.
 */
import crypto from 'node:crypto';
import defaultRouting from './erp-routing.default.json';

/** One missing or wrong field, as a person fixing the source record needs it. */
export interface FieldProblem {
  /** Which record: `account`, `opportunity`, `contract`, `timeentry`, ... */
  record: string;
  /** The source record's id, when known. */
  recordId?: string;
  /** JSON Pointer into the canonical record, e.g. `/taxRegistrations`. */
  path: string;
  /** The field's name in the system of record (e.g. Salesforce `Account.Tax_Registration__c`), when known. */
  sourceField?: string;
  message: string;
}

export type ErpSystem = 'netsuite' | 'businessCentral' | 'legacy';

/** Where one billing entity is invoiced. */
export interface ErpRoute {
  erp: ErpSystem;
  /** ERP company / subsidiary of the entity. */
  company: string;
  /** The entity's functional currency. */
  currency: string;
  country: string;
  /** Currencies the ERP company may invoice in (the functional currency is always allowed). */
  invoiceCurrencies?: string[];
  /** Per ERP: country of the customer -> tax code / tax area the ERP expects ('*' = any other). */
  taxCodes?: Record<string, string>;
  /** Region for reporting roll-ups (e.g. `Americas`, `UK&I`, `DACH`, `France`). */
  region?: string;
}

export type ErpRoutingTable = Record<string, ErpRoute>;

/** The routing shipped with PS Fabric (lib/processes/erp-routing.default.json); editable in the process-step node. */
export const DEFAULT_ERP_ROUTING: ErpRoutingTable = defaultRouting as ErpRoutingTable;

/** Merges an override (from a node's config) over the default table; an entry replaces the whole route. */
export function routingTable(override?: Partial<Record<string, Partial<ErpRoute>>> | null): ErpRoutingTable {
  const table: ErpRoutingTable = { ...DEFAULT_ERP_ROUTING };
  for (const [code, route] of Object.entries(override ?? {})) {
    if (!route) continue;
    table[code] = { ...(table[code] ?? ({} as ErpRoute)), ...route } as ErpRoute;
  }
  return table;
}

/** The route of a billing entity, or undefined when the table has none. */
export function routeFor(billingEntity: string | undefined, table: ErpRoutingTable = DEFAULT_ERP_ROUTING): ErpRoute | undefined {
  if (!billingEntity) return undefined;
  return table[billingEntity] ?? table[billingEntity.toUpperCase()];
}

/** Short, stable, URL- and id-safe hash of the parts (hex, `length` chars). */
export function stableHash(parts: unknown[], length = 12): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, length);
}

/** Rounds a money amount to cents (half away from zero), avoiding binary drift. */
export function money(amount: number): number {
  return Math.round((amount + Number.EPSILON * Math.sign(amount)) * 100) / 100;
}

export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '') || (Array.isArray(value) && value.length === 0);
}

/** `2026-11-17` -> `2026-11` (monthly billing period). */
export function monthOf(date: string): string {
  return date.slice(0, 7);
}

/** Last day of a `YYYY-MM` month as `YYYY-MM-DD`. */
export function endOfMonth(period: string): string {
  const [y, m] = period.split('-').map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `${period}-${String(last).padStart(2, '0')}`;
}

export function addDays(date: string, days: number): string {
  const t = Date.parse(`${date}T00:00:00Z`) + days * 86400000;
  return new Date(t).toISOString().slice(0, 10);
}

/** An error a process step raises with its field-level problems and the team that owns fixing them. */
export class ProcessStepError extends Error {
  readonly errorClass: 'validation' | 'not-found' | 'permanent';
  constructor(
    message: string,
    readonly problems: FieldProblem[],
    readonly ownerTeam: string,
    readonly recordKey?: string,
    errorClass: 'validation' | 'not-found' | 'permanent' = 'validation',
  ) {
    super(message);
    this.name = 'ProcessStepError';
    this.errorClass = errorClass;
  }
}

/** One line per problem, for exception messages and Teams cards. */
export function describeProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.record}${p.recordId ? ' ' + p.recordId : ''} ${p.sourceField ?? p.path}: ${p.message}`).join('; ');
}
