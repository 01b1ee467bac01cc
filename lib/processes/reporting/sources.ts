/**
 * What the performance-to-reporting template reads, shaped for `rollup` and `reconcile` (index.ts): Kantata time
 * entries with their workspaces -> the roll-up's input; the lists read from CRM, ERP and PSA -> the reconciliation's
 * input; and the check of a reconcile-request. The region of a billing entity comes from the ERP routing table and the
 * Kantata custom fields from the connector's field map, so neither is repeated in a flow.
 */
import { workspaceContext } from '../../connectors/kantata/mapping';
import type { KRecord } from '../../connectors/kantata/client';
import { DEFAULT_ERP_ROUTING, endOfMonth, type ErpRoutingTable } from '../common';
import type { ReconRecord, ReconSystem, ReportInvoice, ReportPerson, ReportProject, ReportTimeEntry } from './index';

export interface RollupInput {
  from: string;
  to: string;
  projects: ReportProject[];
  people: ReportPerson[];
  invoices: ReportInvoice[];
  timeEntries: ReportTimeEntry[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * The period a roll-up covers: `from` + `to` when both are given (YYYY-MM-DD), else the month `period` (YYYY-MM), else
 * the month to date of `now`. Anything else is refused with what was given.
 */
export function reportingPeriod(given: { from?: unknown; to?: unknown; period?: unknown }, now: Date = new Date()): { from: string; to: string } {
  const { from, to, period } = given;
  if (from || to) {
    if (typeof from !== 'string' || typeof to !== 'string' || !DATE.test(from) || !DATE.test(to) || from > to) {
      throw new Error(`reporting period: msg.from and msg.to must both be dates YYYY-MM-DD, from <= to (got from ${JSON.stringify(from)}, to ${JSON.stringify(to)})`);
    }
    return { from, to };
  }
  if (period !== undefined && period !== null && period !== '') {
    if (typeof period !== 'string' || !MONTH.test(period.trim())) throw new Error(`reporting period: msg.period must be a month YYYY-MM (FABRIC_REPORTING_PERIOD in the template), got ${JSON.stringify(period)}`);
    return { from: `${period.trim()}-01`, to: endOfMonth(period.trim()) };
  }
  const today = now.toISOString().slice(0, 10);
  return { from: `${today.slice(0, 7)}-01`, to: today };
}

/**
 * Kantata time entries (the list operation's records) and the workspaces that came with them (`include=workspace`)
 * -> the roll-up's input: one project per workspace (`KAN-WS-<id>`), its region from the billing entity's route.
 */
export function rollupInputFromKantata(
  entries: KRecord[],
  workspaces: Record<string, KRecord>,
  opts: { period: { from: string; to: string }; routing?: ErpRoutingTable; fieldNames: Record<string, string>; people?: ReportPerson[]; invoices?: ReportInvoice[] },
): RollupInput {
  const routing = opts.routing ?? DEFAULT_ERP_ROUTING;
  const projects: Record<string, ReportProject> = {};
  for (const e of entries) {
    const ws = workspaces[e.workspace_id] ?? {};
    const projectId = `KAN-WS-${e.workspace_id}`;
    if (projects[projectId]) continue;
    const entity = workspaceContext({ id: e.workspace_id, ...ws }, opts.fieldNames)?.billingEntity ?? ws.billingEntity;
    projects[projectId] = { projectId, region: (entity && routing[entity]?.region) || 'unknown', currency: e.currency || ws.currency_symbol || ws.currency || 'USD' };
  }
  return {
    from: opts.period.from,
    to: opts.period.to,
    projects: Object.values(projects),
    people: opts.people ?? [],
    invoices: opts.invoices ?? [],
    timeEntries: entries.map((e) => ({
      id: String(e.id),
      projectId: `KAN-WS-${e.workspace_id}`,
      personId: String(e.user_id),
      date: e.date_performed,
      hours: (e.time_in_minutes || 0) / 60,
      billable: !!e.billable,
      status: e.is_invoiced ? 'billed' : e.approved ? 'approved' : 'submitted',
      rate: (e.rate_in_cents || 0) / 100,
    })),
  };
}

// ------------------------------------------------------------------------------------------ reconcile-request
export interface RequestProblem {
  /** JSON Pointer into the CloudEvent. */
  path: string;
  message: string;
}
const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Problems of a reconcile-request CloudEvent: its data, when present, holds record lists to compare
 * (`{customer: {crm, erp, psa}, project: {...}, expectedIn?}`); absent data means "read the lists".
 */
export function reconcileRequestProblems(ev: unknown): RequestProblem[] {
  const problems: RequestProblem[] = [];
  if (!isObject(ev)) return [{ path: '', message: `must be a CloudEvent object, got ${kind(ev)}` }];
  const d = ev.data;
  if (d === undefined || d === null) return problems;
  if (!isObject(d)) return [{ path: '/data', message: `must be an object with customer / project lists (or absent to read them), got ${kind(d)}` }];
  for (const k of Object.keys(d)) if (!['customer', 'project', 'expectedIn'].includes(k)) problems.push({ path: `/data/${k}`, message: 'is not a reconcile-request field (customer, project, expectedIn)' });
  for (const entity of ['customer', 'project']) {
    const lists = d[entity];
    if (lists === undefined) continue;
    if (!isObject(lists)) {
      problems.push({ path: `/data/${entity}`, message: `must be an object {crm, erp, psa} of record lists, got ${kind(lists)}` });
      continue;
    }
    for (const sys of Object.keys(lists)) {
      const recs = lists[sys];
      const at = `/data/${entity}/${sys}`;
      if (!['crm', 'erp', 'psa'].includes(sys)) problems.push({ path: at, message: 'is not a system (crm, erp, psa)' });
      else if (!Array.isArray(recs)) problems.push({ path: at, message: `must be an array of records, got ${kind(recs)}` });
      else recs.forEach((r: unknown, i) => {
        if (!isObject(r) || typeof r.key !== 'string' || !r.key) problems.push({ path: `${at}/${i}/key`, message: 'is missing: each record needs its key (ACC-..., PRJ-...)' });
      });
    }
  }
  return problems;
}

/** The error a refused reconcile-request goes to the exception queue with: the first five problems, and how many more. */
export function reconcileRequestMessage(requestId: string | undefined, problems: RequestProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => `${p.path || '(message)'} ${p.message}`).join('; ');
  return `reconcile-request${requestId ? ` ${requestId}` : ''} is not valid: ${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`;
}

// ------------------------------------------------------------------------------------------ lists read
/** What the template's read chain collects: Salesforce, NetSuite, Business Central (per company) and Kantata records. */
export interface ReconReads {
  accounts?: KRecord[];
  opportunities?: KRecord[];
  nsCustomers?: KRecord[];
  nsJobs?: KRecord[];
  bcUkCustomers?: KRecord[];
  bcUkProjects?: KRecord[];
  bcDeCustomers?: KRecord[];
  bcDeProjects?: KRecord[];
  workspaces?: KRecord[];
}
export interface ReconcileInput {
  customer: Record<ReconSystem, ReconRecord[]>;
  project: Record<ReconSystem, ReconRecord[]>;
  expectedIn: { customer: Record<string, ReconSystem[]>; project: Record<string, ReconSystem[]> };
}

/** A Business Central project numbered by the series carries its project id in its name: `<name> (PRJ-...)`. */
const BC_REF = / \((PRJ-[^)]+)\)$/;
const prj = (id: unknown) => (id ? (String(id).startsWith('PRJ-') ? String(id) : `PRJ-${id}`) : undefined);
/** SuiteQL answers lower-case column names. */
const field = (rec: KRecord, f: string) => (rec[f] !== undefined ? rec[f] : rec[f.toLowerCase()]);

/**
 * Customers and projects as CRM, ERP and PSA hold them, keyed by our external ids: customers ACC-xxxx, projects
 * PRJ-<Salesforce opportunity id>. Scope: customers with a closed-won deal (or already in an ERP / the PSA) and the
 * closed-won deals; prospects live only in the CRM. Billing entities whose ERP is not read (the routing table's legacy
 * ERP: no read over its interface) are expected in the CRM and the PSA only.
 */
export function reconcileInputFromReads(r: ReconReads, opts: { routing?: ErpRoutingTable; fieldNames: Record<string, string> }): ReconcileInput {
  const routing = opts.routing ?? DEFAULT_ERP_ROUTING;
  const erpRead = (entity: unknown) => typeof entity === 'string' && !!routing[entity] && routing[entity].erp !== 'legacy';
  const accounts = r.accounts ?? [];
  const accById = new Map(accounts.map((a) => [a.Id, a]));
  const won = r.opportunities ?? [];
  // a BC customer numbered by the company's number series is the account whose id, tax registration or name it has
  const bcCustomerKey = (c: KRecord) => {
    if (accounts.some((a) => a.External_Id__c === c.number)) return c.number;
    const tax = String(c.taxRegistrationNumber || '');
    const a = accounts.find((x) => tax && String(x.Tax_Registration__c || '').endsWith(tax)) ?? accounts.find((x) => x.Name === c.displayName);
    return a && a.External_Id__c ? a.External_Id__c : c.number;
  };
  const bcProjectKey = (p: KRecord) => BC_REF.exec(String(p.displayName || ''))?.[1] ?? prj(p.number);
  const bcProjectName = (p: KRecord) => String(p.displayName).replace(BC_REF, '');
  const erpCustomers: ReconRecord[] = [
    ...(r.nsCustomers ?? []).map((c) => ({ key: field(c, 'externalId'), systemId: `netsuite:${c.id}`, name: field(c, 'companyName') })),
    ...(r.bcUkCustomers ?? []).map((c) => ({ key: bcCustomerKey(c), systemId: `bc-uk:${c.id}`, name: c.displayName })),
    ...(r.bcDeCustomers ?? []).map((c) => ({ key: bcCustomerKey(c), systemId: `bc-de:${c.id}`, name: c.displayName })),
  ];
  const erpProjects: ReconRecord[] = [
    ...(r.nsJobs ?? []).map((j) => ({ key: prj(field(j, 'externalId')) as string, systemId: `netsuite:${j.id}`, name: field(j, 'companyName') || field(j, 'entityId') })),
    ...(r.bcUkProjects ?? []).map((p) => ({ key: bcProjectKey(p) as string, systemId: `bc-uk:${p.id}`, name: bcProjectName(p) })),
    ...(r.bcDeProjects ?? []).map((p) => ({ key: bcProjectKey(p) as string, systemId: `bc-de:${p.id}`, name: bcProjectName(p) })),
  ];
  const workspaces = (r.workspaces ?? []).map((w) => ({ w, ctx: workspaceContext(w, opts.fieldNames)! }));
  const psaProjects: ReconRecord[] = workspaces
    .filter(({ ctx }) => ctx.opportunityId)
    .map(({ w, ctx }) => ({ key: prj(ctx.opportunityId) as string, systemId: `kantata:${w.id}`, name: w.title, currency: w.currency }));
  const psaCustomers: ReconRecord[] = [];
  const seen = new Set<string>();
  for (const { w, ctx } of workspaces) {
    const key = ctx.accountExternalId;
    if (!key || seen.has(key)) continue;
    seen.add(key);
    psaCustomers.push({ key, systemId: `kantata:${w.id}`, name: w.client_name });
  }
  const inScope = new Set<string>();
  for (const o of won) {
    const a = accById.get(o.AccountId);
    if (a?.External_Id__c) inScope.add(a.External_Id__c);
  }
  for (const c of [...erpCustomers, ...psaCustomers]) if (c.key) inScope.add(c.key);
  const crmCustomers: ReconRecord[] = accounts
    .filter((a) => a.External_Id__c && inScope.has(a.External_Id__c))
    .map((a) => ({ key: a.External_Id__c, systemId: a.Id, name: a.Name, billingEntity: a.Billing_Entity__c }));
  const crmProjects: ReconRecord[] = won.map((o) => ({ key: prj(o.Id) as string, systemId: o.Id, name: o.Name, currency: o.CurrencyIsoCode }));
  const expectedIn: ReconcileInput['expectedIn'] = { customer: {}, project: {} };
  for (const a of accounts) if (a.External_Id__c && a.Billing_Entity__c && !erpRead(a.Billing_Entity__c)) expectedIn.customer[a.External_Id__c] = ['crm', 'psa'];
  for (const o of won) {
    const a = accById.get(o.AccountId);
    if (a?.Billing_Entity__c && !erpRead(a.Billing_Entity__c)) expectedIn.project[prj(o.Id) as string] = ['crm', 'psa'];
  }
  return {
    customer: { crm: crmCustomers, erp: erpCustomers, psa: psaCustomers },
    project: { crm: crmProjects, erp: erpProjects, psa: psaProjects },
    expectedIn,
  };
}
