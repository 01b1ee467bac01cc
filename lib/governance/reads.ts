/**
 * Experience-API reads served from the systems of record (issue 7 item 2): customers (Accounts) and contracts from
 * Salesforce, projects (workspaces), resource
 * assignments and time entries from Kantata, invoices from the ERP of the billing entity (NetSuite, Business Central),
 * revenue events derived from posted ERP invoices (none of the connected ERPs exposes a revenue read). Every vendor
 * record is mapped onto its canonical entity and validated against the canonical schema (the one the OpenAPI
 * document serves); a record that cannot be represented is left out of a list (counted in `incomplete`) and answers
 * 502 as an item, never as an invalid body.
 *
 * Paging is the same for every resource: `limit` (1..200, default 50) and an opaque `cursor` from the previous
 * page's `nextCursor` (absent on the last page). The cursor fixes the limit it was issued with.
 *
 * Pure except for the `ReadSources` calls, which the `api-read` node binds to the connector config nodes' system
 * APIs (their `handle.call`: rate limit, retry, circuit breaker).
 */
import type { KantataPage, KRecord } from '../connectors/kantata/client';
import { toCanonicalTimeEntry, workspaceContext } from '../connectors/kantata/mapping';
import { DEFAULT_NETSUITE_CUSTOM_FIELDS } from '../connectors/netsuite/mapping';
import { accountFromSalesforce } from '../processes/quote-to-project';
import { validate } from '../model/validator';
import type { FieldError } from '../model/validator';

type Rec = Record<string, any>;

export interface ErpSource {
  billingEntity: string;
  /** Local currency of the ERP company (used when the ERP leaves the currency empty, as BC does for LCY). */
  currency: string;
  system: 'netsuite' | 'businessCentral';
  /** NetSuite: `suiteqlPage(q, {limit, offset})` and `getRecord(type, idOrEid, {expandSubResources})`. */
  netsuite?: { suiteqlPage(q: string, opts: { limit: number; offset: number }): Promise<{ items: Rec[]; hasMore: boolean }>; getRecord(type: string, id: string, opts?: { expandSubResources?: boolean }): Promise<Rec>; customFields?: { sourceRefs: string | null } };
  /** Business Central: `salesInvoices({top, skip, filter})` with lines expanded. */
  businessCentral?: { salesInvoices(opts: { top: number; skip: number; filter?: string }): Promise<Rec[]> };
}

export interface ReadSources {
  salesforce?: { query(soql: string): Promise<{ records: Rec[] }> };
  /** Kantata: `page`, and `customFieldNames()` (custom field id -> KantataCustomField, the connection's mapping). */
  kantata?: { page(collection: string, params: Record<string, unknown>): Promise<KantataPage>; customFieldNames(): Promise<Record<string, string>> };
  erps: ErpSource[];
}

export interface ReadRequest {
  resource: string;
  kind: 'list' | 'item';
  id?: string;
  /** Schema version of the API version (2 for /api/v2/time-entries). */
  schemaVersion?: number;
  query: Record<string, unknown>;
}

export interface ReadAnswer {
  statusCode: number;
  payload: Rec;
}

export class ReadInputError extends Error {
  constructor(message: string, readonly errors: FieldError[]) {
    super(message);
  }
}

export const READ_RESOURCES = ['customers', 'projects', 'contracts', 'resources', 'time-entries', 'invoices', 'revenue-events'] as const;
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

// ------------------------------------------------------------------------------------------------ paging

interface Cursor {
  /** offset in the current source */
  o: number;
  /** limit the cursor was issued with */
  l: number;
  /** index of the current source (invoices / revenue events: the ERP) */
  s?: number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(raw: unknown): Cursor | undefined {
  if (raw === undefined || raw === '') return undefined;
  const bad = () => new ReadInputError('invalid cursor', [{ path: '/cursor', message: 'is not a cursor returned by this API' }]);
  if (typeof raw !== 'string' || raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const ok = (n: unknown, min: number, max: number) => Number.isInteger(n) && (n as number) >= min && (n as number) <= max;
  const r = c as Cursor;
  if (!r || typeof r !== 'object' || !ok(r.o, 0, 1e7) || !ok(r.l, 1, MAX_LIMIT) || (r.s !== undefined && !ok(r.s, 0, 100))) throw bad();
  return { o: r.o, l: r.l, ...(r.s !== undefined ? { s: r.s } : {}) };
}

export function pageOf(query: Record<string, unknown>): Cursor {
  const c = decodeCursor(query.cursor);
  if (c) return c;
  let l = DEFAULT_LIMIT;
  if (query.limit !== undefined && query.limit !== '') {
    const n = Number(query.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new ReadInputError('invalid limit', [{ path: '/limit', message: `must be an integer from 1 to ${MAX_LIMIT}` }]);
    l = n;
  }
  return { o: 0, l };
}

function str(query: Record<string, unknown>, name: string, re: RegExp, hint: string): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !re.test(v)) throw new ReadInputError(`invalid ${name}`, [{ path: `/${name}`, message: hint }]);
  return v;
}
const DATE = /^\d{4}-\d{2}-\d{2}$/;

// ------------------------------------------------------------------------------------------------ helpers

function iso(ts: unknown): string | undefined {
  if (typeof ts !== 'string' || !ts) return undefined;
  const t = Date.parse(ts.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
function date(v: unknown): string | undefined {
  return typeof v === 'string' && DATE.test(v.slice(0, 10)) ? v.slice(0, 10) : undefined;
}
function records(rel: unknown): Rec[] {
  if (Array.isArray(rel)) return rel;
  if (rel && typeof rel === 'object' && Array.isArray((rel as Rec).records)) return (rel as Rec).records;
  return [];
}
const soqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const money = (n: number) => Math.round(n * 100) / 100;
const refType = (id: string) => (/^KAN-EX-/.test(id) ? 'expense' : 'timeentry');

/** Canonical validation of one mapped record; undefined when it is valid. */
function problems(entity: string, rec: Rec, version = 1): FieldError[] | undefined {
  const r = validate(entity, rec, { version, maxErrors: 5 });
  return r.ok ? undefined : r.errors;
}

// ------------------------------------------------------------------------------------------------ customers (Salesforce)

export const ACCOUNT_SOQL_FIELDS =
  'Id, Name, External_Id__c, Type, Industry, BillingStreet, BillingCity, BillingPostalCode, BillingCountry, CurrencyIsoCode, Billing_Entity__c, Tax_Registration__c, LastModifiedDate';

/** Salesforce Account -> canonical Account (mapping shared with quote-to-project: `accountFromSalesforce`). */
export function customerFromSalesforce(a: Rec): Rec {
  const out: Rec = { ...accountFromSalesforce(a) };
  if (!out.id) delete out.id;
  if (a.Type === 'Prospect') out.status = 'prospect';
  if (iso(a.LastModifiedDate)) out.updatedAt = iso(a.LastModifiedDate);
  for (const addr of (out.addresses ?? []) as Rec[]) for (const k of Object.keys(addr)) if (addr[k] === undefined) delete addr[k];
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

async function readCustomers(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  const sf = need(src.salesforce, 'salesforce');
  if (req.kind === 'item') {
    const id = req.id!;
    const where = /^SF-(\w{15,18})$/.test(id) ? `Id = ${soqlString(id.slice(3))}` : `External_Id__c = ${soqlString(id)}`;
    const res = await sf.query(`SELECT ${ACCOUNT_SOQL_FIELDS} FROM Account WHERE ${where} LIMIT 1`);
    return item('account', res.records.map(customerFromSalesforce)[0]);
  }
  const p = pageOf(req.query);
  const be = str(req.query, 'billingEntity', /^[A-Z0-9][A-Z0-9-]{1,31}$/, 'must be a billing entity code, e.g. NWA-US');
  const where = be ? ` WHERE Billing_Entity__c = ${soqlString(be)}` : '';
  const res = await sf.query(`SELECT ${ACCOUNT_SOQL_FIELDS} FROM Account${where} ORDER BY Name, Id LIMIT ${p.l + 1} OFFSET ${p.o}`);
  return list('account', res.records.slice(0, p.l).map(customerFromSalesforce), res.records.length > p.l ? { o: p.o + p.l, l: p.l } : undefined, 'salesforce');
}

// ------------------------------------------------------------------------------------------------ projects (Kantata)

const BILLING_TYPE = /\b(time-and-materials|fixed-fee|retainer)\b/;
const WS_STATUS: Record<string, string> = { 'not started': 'planned', planned: 'planned', active: 'active', 'in progress': 'active', 'on hold': 'on-hold', 'on-hold': 'on-hold', completed: 'completed', done: 'completed', cancelled: 'cancelled', canceled: 'cancelled' };

/**
 * Kantata workspace -> canonical Project (`KAN-WS-<id>`). Account, opportunity and billing entity come from the
 * workspace custom fields (`workspaceContext`); the billing type from the workspace description, where the
 * quote-to-project shell writes it (`<customer> — <billing type>`); the code is the Kantata workspace number (Kantata
 * has no project-code field); the delivery manager is the workspace's primary maven, else its admin participant.
 */
export function projectFromKantata(ws: KRecord, manager: KRecord | undefined, fieldNames: Record<string, string>): Rec {
  const ctx = workspaceContext(ws, fieldNames)!;
  const deliveryManager: Rec | undefined = manager ? { id: manager.external_id ?? `KAN-U-${manager.id}` } : undefined;
  if (deliveryManager && manager?.full_name) deliveryManager.name = manager.full_name;
  if (deliveryManager && manager?.email_address) deliveryManager.email = manager.email_address;
  const message = String(ws.status?.message ?? '').trim().toLowerCase();
  const out: Rec = {
    id: ctx.projectId,
    version: 1,
    externalIds: { kantata: ctx.workspaceId },
    accountId: ctx.accountExternalId || undefined,
    code: ctx.workspaceId,
    name: typeof ctx.title === 'string' ? ctx.title.slice(0, 255) : undefined,
    billingEntity: ctx.billingEntity || undefined,
    currency: ctx.currency || undefined,
    billingType: BILLING_TYPE.exec(String(ws.description ?? ''))?.[1],
    status: ws.archived ? (message === 'cancelled' ? 'cancelled' : 'completed') : (WS_STATUS[message] ?? 'active'),
    startDate: date(ws.start_date),
    deliveryManager,
  };
  if (ctx.opportunityId) out.opportunityId = String(ctx.opportunityId);
  if (date(ws.due_date)) out.endDate = date(ws.due_date);
  if (ws.price !== undefined && ws.price !== null && Number.isFinite(Number(ws.price)) && Number(ws.price) >= 0 && ctx.currency) out.budget = { amount: { amount: Number(ws.price), currency: ctx.currency } };
  if (iso(ws.updated_at)) out.updatedAt = iso(ws.updated_at);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** Delivery managers of a page of workspaces: primary maven, else the admin participant (one users call, one participations call per workspace without a primary maven). */
async function managersOf(k: NonNullable<ReadSources['kantata']>, workspaces: KRecord[]): Promise<Map<string, KRecord>> {
  const userOf = new Map<string, string>();
  for (const ws of workspaces) {
    if (ws.primary_maven_id) userOf.set(String(ws.id), String(ws.primary_maven_id));
    else {
      const parts = await k.page('participations', { workspace_id: String(ws.id), per_page: 200 });
      const admin = parts.records.find((p) => p.access_level === 'admin' && p.user_id);
      if (admin) userOf.set(String(ws.id), String(admin.user_id));
    }
  }
  const ids = [...new Set(userOf.values())];
  const users: Record<string, KRecord> = {};
  for (let i = 0; i < ids.length; i += 200) {
    const page = await k.page('users', { only: ids.slice(i, i + 200).join(','), per_page: 200 });
    for (const u of page.records) users[String(u.id)] = u;
  }
  const out = new Map<string, KRecord>();
  for (const [ws, uid] of userOf) if (users[uid]) out.set(ws, users[uid]);
  return out;
}

async function readProjects(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  const k = need(src.kantata, 'kantata');
  const map = async (records: KRecord[]) => {
    const managers = await managersOf(k, records);
    const fieldNames = await k.customFieldNames();
    return records.map((ws) => projectFromKantata(ws, managers.get(String(ws.id)), fieldNames));
  };
  if (req.kind === 'item') {
    const m = /^KAN-WS-(\d{1,18})$/.exec(req.id!);
    if (!m) return notFound();
    const page = await k.page('workspaces', { only: m[1], include_archived: true });
    return item('project', (await map(page.records.filter((w) => String(w.id) === m[1])))[0]);
  }
  const p = pageOf(req.query);
  const page = await k.page('workspaces', { page: Math.floor(p.o / p.l) + 1, per_page: p.l });
  return list('project', await map(page.records), page.page < page.pageCount ? { o: p.o + p.l, l: p.l } : undefined, 'kantata');
}

// ------------------------------------------------------------------------------------------------ contracts (Salesforce)

export const CONTRACT_SOQL_FIELDS =
  'Id, External_Id__c, ContractNumber, Status, StartDate, EndDate, CurrencyIsoCode, Billing_Frequency__c, Billing_Model__c, Total_Value__c, LastModifiedDate, Opportunity__c, Account.External_Id__c, Account.Billing_Entity__c, ' +
  '(SELECT Id, Name, External_Id__c, Milestone_Date__c, Amount__c, Status__c, Description__c FROM Billing_Milestones__r), ' +
  '(SELECT Id, Name, External_Id__c, Amendment_Type__c, Amount_Change__c, Hours_Change__c, Effective_Date__c, Status__c, Description__c FROM Contract_Amendments__r)';

/** Salesforce Contract (+ Account, Billing_Milestones__r, Contract_Amendments__r) -> canonical Contract. */
export function contractFromSalesforce(c: Rec): Rec {
  const account = c.Account ?? {};
  const currency = c.CurrencyIsoCode;
  const model = c.Billing_Model__c;
  const frequency = String(c.Billing_Frequency__c ?? 'Monthly').toLowerCase();
  let billingSchedule: Rec | undefined;
  if (model === 'time-and-materials') billingSchedule = { type: 'time-and-materials', invoiceFrequency: frequency === 'weekly' ? 'weekly' : 'monthly' };
  else if (model === 'retainer' && currency) billingSchedule = { type: 'retainer', amount: { amount: money(Number(c.Total_Value__c ?? 0) / Math.max(1, Number(c.ContractTerm ?? 12))), currency }, frequency: frequency === 'quarterly' ? 'quarterly' : 'monthly' };
  else if (model === 'fixed-fee' && currency) {
    billingSchedule = {
      type: 'milestones',
      milestones: records(c.Billing_Milestones__r)
        .slice()
        .sort((a, b) => String(a.Milestone_Date__c).localeCompare(String(b.Milestone_Date__c)))
        .map((m) => ({ id: String(m.External_Id__c ?? m.Id), name: String(m.Description__c ?? m.Name), dueDate: date(m.Milestone_Date__c), amount: { amount: Number(m.Amount__c ?? 0), currency }, status: String(m.Status__c ?? 'Planned').toLowerCase() === 'invoiced' ? 'invoiced' : 'planned' })),
    };
  }
  const amendments = records(c.Contract_Amendments__r)
    .filter((a) => a.Status__c !== 'Draft')
    .sort((a, b) => String(a.Effective_Date__c).localeCompare(String(b.Effective_Date__c)) || String(a.Name).localeCompare(String(b.Name)))
    .map((a, i) => {
      const out: Rec = { id: String(a.External_Id__c ?? a.Id), number: i + 1, effectiveDate: date(a.Effective_Date__c), description: String(a.Description__c ?? a.Amendment_Type__c ?? a.Name) };
      if (typeof a.Amount_Change__c === 'number' && currency) out.valueChange = { amount: a.Amount_Change__c, currency };
      return out;
    });
  const status = c.Status === 'Activated' ? (amendments.length ? 'amended' : 'active') : 'draft';
  const out: Rec = {
    id: String(c.External_Id__c || `SF-${c.Id}`),
    version: 1,
    externalIds: { salesforce: String(c.Id) },
    accountId: account.External_Id__c ?? undefined,
    number: c.ContractNumber ?? undefined,
    billingEntity: account.Billing_Entity__c ?? undefined,
    currency,
    startDate: date(c.StartDate),
    status,
    billingSchedule,
  };
  if (c.Opportunity__c) out.opportunityId = String(c.Opportunity__c);
  if (date(c.EndDate)) out.endDate = date(c.EndDate);
  if (typeof c.Total_Value__c === 'number' && currency) out.totalValue = { amount: c.Total_Value__c, currency };
  if (amendments.length) out.amendments = amendments;
  if (iso(c.LastModifiedDate)) out.updatedAt = iso(c.LastModifiedDate);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

async function readContracts(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  const sf = need(src.salesforce, 'salesforce');
  if (req.kind === 'item') {
    const id = req.id!;
    const where = /^SF-(\w{15,18})$/.test(id) ? `Id = ${soqlString(id.slice(3))}` : `External_Id__c = ${soqlString(id)}`;
    const res = await sf.query(`SELECT ${CONTRACT_SOQL_FIELDS} FROM Contract WHERE ${where} LIMIT 1`);
    return item('contract', res.records.map(contractFromSalesforce)[0]);
  }
  const p = pageOf(req.query);
  const accountId = str(req.query, 'accountId', /^[A-Za-z0-9._:-]{1,128}$/, 'must be a canonical account id');
  const where = accountId ? ` WHERE Account.External_Id__c = ${soqlString(accountId)}` : '';
  const res = await sf.query(`SELECT ${CONTRACT_SOQL_FIELDS} FROM Contract${where} ORDER BY ContractNumber LIMIT ${p.l + 1} OFFSET ${p.o}`);
  return list('contract', res.records.slice(0, p.l).map(contractFromSalesforce), res.records.length > p.l ? { o: p.o + p.l, l: p.l } : undefined, 'salesforce');
}

// ------------------------------------------------------------------------------------------------ resources + time entries (Kantata)

/** Kantata participation (+ its user and workspace) -> canonical ResourceAssignment (`KAN-PA-<workspace>-<id>`). */
export function assignmentFromKantata(p: KRecord, user: KRecord | undefined, ws: KRecord | undefined): Rec {
  const person: Rec = { id: user?.external_id ?? `KAN-U-${p.user_id}` };
  if (user?.full_name) person.name = user.full_name;
  if (user?.email_address) person.email = user.email_address;
  const out: Rec = {
    id: `KAN-PA-${p.workspace_id}-${p.id}`,
    version: 1,
    externalIds: { kantata: String(p.id) },
    projectId: `KAN-WS-${p.workspace_id}`,
    person,
    role: user?.headline || (p.access_level === 'admin' ? 'Engagement Manager' : 'Consultant'),
    startDate: date(ws?.start_date),
    endDate: date(ws?.due_date),
    status: ws?.archived ? 'cancelled' : 'confirmed',
  };
  if (iso(p.updated_at)) out.updatedAt = iso(p.updated_at);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

function included(page: KantataPage, key: string, id: unknown): KRecord | undefined {
  return page.included?.[key]?.[String(id)];
}

async function readResources(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  const k = need(src.kantata, 'kantata');
  const map = (page: KantataPage) => page.records.map((r) => assignmentFromKantata(r, included(page, 'users', r.user_id), included(page, 'workspaces', r.workspace_id)));
  if (req.kind === 'item') {
    const m = /^KAN-PA-(\d{1,18})-(\d{1,18})$/.exec(req.id!);
    if (!m) return notFound();
    const page = await k.page('participations', { workspace_id: m[1], only: m[2], include: 'user,workspace' });
    return item('resourceassignment', map(page)[0]);
  }
  const p = pageOf(req.query);
  const projectId = str(req.query, 'projectId', /^KAN-WS-\d{1,18}$/, 'must be a Kantata project id (KAN-WS-<workspace id>)');
  if (!projectId) throw new ReadInputError('projectId is required', [{ path: '/projectId', message: 'resources are listed per project: give projectId (KAN-WS-<workspace id>)' }]);
  const page = await k.page('participations', { workspace_id: projectId.slice(7), include: 'user,workspace', page: Math.floor(p.o / p.l) + 1, per_page: p.l });
  return list('resourceassignment', map(page), page.page < page.pageCount ? { o: p.o + p.l, l: p.l } : undefined, 'kantata');
}

function timeEntryOut(rec: KRecord, users: Record<string, KRecord>, schemaVersion: number): Rec {
  const te = toCanonicalTimeEntry(rec, users) as Rec;
  if (schemaVersion === 2) te.workLocation = 'unspecified';
  return te;
}

async function readTimeEntries(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  const k = need(src.kantata, 'kantata');
  const v = req.schemaVersion ?? 1;
  const users = (page: KantataPage) => (page.included?.users ?? {}) as Record<string, KRecord>;
  if (req.kind === 'item') {
    const m = /^KAN-TE-(\d{1,18})$/.exec(req.id!);
    if (!m) return notFound();
    const page = await k.page('time_entries', { only: m[1], include: 'user' });
    return item('timeentry', page.records.map((r) => timeEntryOut(r, users(page), v))[0], v);
  }
  const p = pageOf(req.query);
  const params: Record<string, unknown> = { include: 'user', page: Math.floor(p.o / p.l) + 1, per_page: p.l };
  const projectId = str(req.query, 'projectId', /^KAN-WS-\d{1,18}$/, 'must be a Kantata project id (KAN-WS-<workspace id>)');
  if (projectId) params.workspace_id = projectId.slice(7);
  const from = str(req.query, 'from', DATE, 'must be a date YYYY-MM-DD');
  const to = str(req.query, 'to', DATE, 'must be a date YYYY-MM-DD');
  if (from || to) params.date_performed_between = `${from ?? '1900-01-01'}:${to ?? '2999-12-31'}`;
  const status = str(req.query, 'status', /^(approved|billed|unbilled)$/, 'must be approved, billed or unbilled');
  if (status === 'approved') params.approved = true;
  if (status === 'billed') params.invoiced = true;
  if (status === 'unbilled') params.uninvoiced = true;
  const page = await k.page('time_entries', params);
  return list('timeentry', page.records.map((r) => timeEntryOut(r, users(page), v)), page.page < page.pageCount ? { o: p.o + p.l, l: p.l } : undefined, 'kantata', v);
}

// ------------------------------------------------------------------------------------------------ invoices (ERP)

const NS_STATUS: Record<string, string> = { open: 'posted', 'paid in full': 'paid', 'pending approval': 'draft', voided: 'void', void: 'void' };
const BC_STATUS: Record<string, string> = { draft: 'draft', open: 'posted', paid: 'paid', canceled: 'void', cancelled: 'void', corrective: 'void' };

function refsFrom(text: unknown): Rec[] {
  return String(text ?? '')
    .replace(/\s\+\d+$/, '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(s))
    .map((id) => ({ type: refType(id), id }));
}

/** NetSuite invoice record (GET with expandSubResources) -> canonical Invoice. `refs` maps customer / job internal ids to their external ids. */
export function invoiceFromNetSuite(inv: Rec, erp: Pick<ErpSource, 'billingEntity' | 'currency' | 'netsuite'>, refs: { customer?: string; job?: string } = {}): Rec {
  const sourceRefsField = erp.netsuite?.customFields ? erp.netsuite.customFields.sourceRefs : DEFAULT_NETSUITE_CUSTOM_FIELDS.sourceRefs;
  const currency = typeof inv.currency?.refName === 'string' && /^[A-Z]{3}$/.test(inv.currency.refName) ? inv.currency.refName : erp.currency;
  const lines = records(inv.item?.items ?? inv.item).map((l, i) => {
    const out: Rec = { lineNumber: Number(l.line ?? i + 1), description: String(l.description ?? l.item?.refName ?? 'service').slice(0, 500), quantity: Number(l.quantity ?? 0), unitPrice: { amount: Number(l.rate ?? 0), currency }, amount: { amount: Number(l.amount ?? 0), currency }, sourceRefs: sourceRefsField ? refsFrom(l[sourceRefsField]) : [] };
    if (l.item?.refName) out.role = String(l.item.refName).slice(0, 100);
    return out;
  });
  const out: Rec = {
    id: inv.externalId ? String(inv.externalId) : `NS-INV-${inv.id}`,
    version: 1,
    externalIds: { netsuite: String(inv.id) },
    number: inv.tranId ?? undefined,
    accountId: refs.customer,
    billingEntity: erp.billingEntity,
    currency,
    issueDate: date(inv.tranDate),
    dueDate: date(inv.dueDate),
    status: NS_STATUS[String(inv.status?.refName ?? inv.status ?? '').toLowerCase()] ?? 'posted',
    lines,
    subtotal: { amount: Number(inv.subtotal ?? 0), currency },
    taxTotal: { amount: Number(inv.taxTotal ?? 0), currency },
    total: { amount: Number(inv.total ?? 0), currency },
  };
  if (refs.job) out.projectId = refs.job;
  if (inv.otherRefNum) out.purchaseOrder = String(inv.otherRefNum).slice(0, 64);
  if (iso(inv.lastModifiedDate)) out.updatedAt = iso(inv.lastModifiedDate);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** Business Central salesInvoice with salesInvoiceLines -> canonical Invoice. */
export function invoiceFromBusinessCentral(inv: Rec, erp: Pick<ErpSource, 'billingEntity' | 'currency'>): Rec {
  const currency = inv.currencyCode || erp.currency;
  const lines = records(inv.salesInvoiceLines)
    .filter((l) => l.lineType !== 'Comment')
    .sort((a, b) => Number(a.sequence) - Number(b.sequence))
    .map((l, i) => {
      const amount = Number(l.amountExcludingTax ?? l.netAmount ?? Number(l.quantity ?? 0) * Number(l.unitPrice ?? 0));
      const out: Rec = { lineNumber: i + 1, description: String(l.description || l.lineObjectNumber || 'service').slice(0, 500), quantity: Number(l.quantity ?? 0), unitPrice: { amount: Number(l.unitPrice ?? 0), currency }, amount: { amount: money(amount), currency }, sourceRefs: refsFrom(l.description2) };
      if (typeof l.taxPercent === 'number') out.taxRate = l.taxPercent;
      return out;
    });
  const out: Rec = {
    id: inv.externalDocumentNumber ? String(inv.externalDocumentNumber) : `BC-INV-${inv.number}`,
    version: 1,
    externalIds: { businessCentral: String(inv.id) },
    number: inv.number ?? undefined,
    accountId: inv.customerNumber ?? undefined,
    billingEntity: erp.billingEntity,
    currency,
    issueDate: date(inv.invoiceDate),
    dueDate: date(inv.dueDate),
    status: BC_STATUS[String(inv.status ?? '').toLowerCase()] ?? 'posted',
    lines,
    subtotal: { amount: Number(inv.totalAmountExcludingTax ?? 0), currency },
    taxTotal: { amount: Number(inv.totalTaxAmount ?? 0), currency },
    total: { amount: Number(inv.totalAmountIncludingTax ?? 0), currency },
  };
  if (inv.customerPurchaseOrderReference) out.purchaseOrder = String(inv.customerPurchaseOrderReference).slice(0, 64);
  if (iso(inv.lastModifiedDateTime)) out.updatedAt = iso(inv.lastModifiedDateTime);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/**
 * Revenue event derived from a posted invoice: time-and-materials revenue is recognised as it is billed, so each
 * posted (or paid) invoice recognises its subtotal (tax excluded) on its issue date. Id `REV-<invoice id>`.
 */
export function revenueEventFromInvoice(inv: Rec): Rec | undefined {
  if (!['posted', 'sent', 'paid'].includes(inv.status)) return undefined;
  const out: Rec = {
    id: `REV-${inv.id}`.slice(0, 128),
    version: 1,
    externalIds: inv.externalIds,
    projectId: inv.projectId,
    invoiceId: inv.id,
    accountId: inv.accountId,
    billingEntity: inv.billingEntity,
    type: 'recognized',
    method: 'time-and-materials',
    amount: inv.subtotal,
    recognitionDate: inv.issueDate,
    sourceRefs: [{ type: 'invoice', id: inv.id }],
    notes: 'derived from the posted ERP invoice (the ERP exposes no revenue read)',
  };
  if (inv.contractId) out.contractId = inv.contractId;
  if (inv.updatedAt) out.updatedAt = inv.updatedAt;
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** Project ids of Kantata time entries (`KAN-TE-<id>` -> `KAN-WS-<workspace>`), for invoices the ERP does not tie to a project. */
async function projectsOfEntries(src: ReadSources, ids: string[]): Promise<Record<string, string>> {
  const kids = [...new Set(ids.map((id) => /^KAN-TE-(\d{1,18})$/.exec(id)?.[1]).filter(Boolean) as string[])];
  if (!kids.length || !src.kantata) return {};
  const out: Record<string, string> = {};
  for (let i = 0; i < kids.length; i += 200) {
    const page = await src.kantata.page('time_entries', { only: kids.slice(i, i + 200).join(','), per_page: 200 });
    for (const r of page.records) out[`KAN-TE-${r.id}`] = `KAN-WS-${r.workspace_id}`;
  }
  return out;
}

async function completeProjects(src: ReadSources, invoices: Rec[]): Promise<void> {
  const missing = invoices.filter((i) => !i.projectId);
  if (!missing.length) return;
  const projects = await projectsOfEntries(src, missing.flatMap((i) => (i.lines as Rec[]).flatMap((l) => (l.sourceRefs as Rec[]).map((r) => r.id))));
  for (const inv of missing) {
    const ps = new Set((inv.lines as Rec[]).flatMap((l) => (l.sourceRefs as Rec[]).map((r) => projects[r.id]).filter(Boolean)));
    if (ps.size === 1) inv.projectId = [...ps][0];
  }
}

class NetSuiteRefs {
  private cache = new Map<string, string | undefined>();
  constructor(private readonly ns: NonNullable<ErpSource['netsuite']>) {}
  async externalId(table: 'customer' | 'job', id: unknown): Promise<string | undefined> {
    if (id === undefined || id === null || !/^\d{1,18}$/.test(String(id))) return undefined;
    const key = `${table}:${id}`;
    if (!this.cache.has(key)) {
      const rows = (await this.ns.suiteqlPage(`SELECT id, externalid FROM ${table} WHERE id = ${Number(id)}`, { limit: 1, offset: 0 })).items;
      this.cache.set(key, rows[0]?.externalid ? String(rows[0].externalid) : undefined);
    }
    return this.cache.get(key);
  }
}

async function netsuiteInvoice(erp: ErpSource, refs: NetSuiteRefs, rec: Rec): Promise<Rec> {
  return invoiceFromNetSuite(rec, erp, { customer: await refs.externalId('customer', rec.entity?.id), job: await refs.externalId('job', rec.job?.id) });
}

/** One page of invoices of one ERP: `{items, more}`. */
async function erpInvoicePage(erp: ErpSource, offset: number, limit: number): Promise<{ items: Rec[]; more: boolean }> {
  if (erp.system === 'netsuite') {
    const ns = need(erp.netsuite, `netsuite (${erp.billingEntity})`);
    const page = await ns.suiteqlPage('SELECT id FROM invoice ORDER BY id', { limit, offset });
    const refs = new NetSuiteRefs(ns);
    const items: Rec[] = [];
    for (const row of page.items) items.push(await netsuiteInvoice(erp, refs, await ns.getRecord('invoice', String(row.id), { expandSubResources: true })));
    return { items, more: page.hasMore };
  }
  const bc = need(erp.businessCentral, `business central (${erp.billingEntity})`);
  const rows = await bc.salesInvoices({ top: limit + 1, skip: offset });
  return { items: rows.slice(0, limit).map((r) => invoiceFromBusinessCentral(r, erp)), more: rows.length > limit };
}

async function findInvoice(src: ReadSources, id: string): Promise<Rec | undefined> {
  const ns = /^NS-INV-(\d{1,18})$/.exec(id);
  const bcNo = /^BC-INV-(.{1,40})$/.exec(id);
  for (const erp of src.erps) {
    if (erp.system === 'netsuite' && erp.netsuite && !bcNo) {
      try {
        const rec = await erp.netsuite.getRecord('invoice', ns ? ns[1] : `eid:${id.replace(/[^A-Za-z0-9_-]/g, '_')}`, { expandSubResources: true });
        if (rec) return netsuiteInvoice(erp, new NetSuiteRefs(erp.netsuite), rec);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    } else if (erp.system === 'businessCentral' && erp.businessCentral && !ns) {
      const value = (bcNo ? bcNo[1] : id).replace(/'/g, "''");
      const rows = await erp.businessCentral.salesInvoices({ top: 1, skip: 0, filter: bcNo ? `number eq '${value}'` : `externalDocumentNumber eq '${value}'` });
      if (rows[0]) return invoiceFromBusinessCentral(rows[0], erp);
    }
  }
  return undefined;
}

function isNotFound(err: unknown): boolean {
  const e = err as { status?: number; statusCode?: number; response?: { status?: number }; errorClass?: string };
  return e?.status === 404 || e?.statusCode === 404 || e?.response?.status === 404 || e?.errorClass === 'not-found';
}

async function readInvoices(src: ReadSources, req: ReadRequest, revenue: boolean): Promise<ReadAnswer> {
  const entity = revenue ? 'revenueevent' : 'invoice';
  const toOut = (inv: Rec) => (revenue ? revenueEventFromInvoice(inv) : inv);
  if (req.kind === 'item') {
    let id = req.id!;
    if (revenue) {
      if (!id.startsWith('REV-')) return notFound();
      id = id.slice(4);
    }
    const inv = await findInvoice(src, id);
    if (inv) await completeProjects(src, [inv]);
    return item(entity, inv ? toOut(inv) : undefined);
  }
  const p = pageOf(req.query);
  const be = str(req.query, 'billingEntity', /^[A-Z0-9][A-Z0-9-]{1,31}$/, 'must be a billing entity code, e.g. NWA-US');
  const erps = be ? src.erps.filter((e) => e.billingEntity === be) : src.erps;
  if (be && !erps.length) throw new ReadInputError('unknown billing entity', [{ path: '/billingEntity', message: `no ERP is connected for ${be} (known: ${src.erps.map((e) => e.billingEntity).join(', ')})` }]);
  // The cursor walks the ERPs in order; s is the index in `erps` (stable for the same billingEntity filter).
  let s = p.s ?? 0;
  let offset = p.o;
  const invoices: Rec[] = [];
  let next: Cursor | undefined;
  while (s < erps.length && invoices.length < p.l) {
    const want = p.l - invoices.length;
    const page = await erpInvoicePage(erps[s], offset, want);
    invoices.push(...page.items);
    if (page.more) {
      offset += page.items.length;
      if (invoices.length >= p.l) next = { o: offset, l: p.l, s };
      if (!page.items.length) break;
    } else {
      s += 1;
      offset = 0;
      if (invoices.length >= p.l && s < erps.length) next = { o: 0, l: p.l, s };
    }
  }
  await completeProjects(src, invoices);
  const out = invoices.map(toOut).filter((x): x is Rec => !!x);
  return list(entity, out, next, src.erps.length === 1 ? src.erps[0].system : 'erp');
}

// ------------------------------------------------------------------------------------------------ answers

function need<T>(x: T | undefined, what: string): T {
  if (!x) throw new SourceUnavailable(`no ${what} connection is configured for this read`);
  return x;
}

export class SourceUnavailable extends Error {}

function notFound(): ReadAnswer {
  return { statusCode: 404, payload: { error: 'not found' } };
}

function item(entity: string, rec: Rec | undefined, version = 1): ReadAnswer {
  if (!rec) return notFound();
  const errs = problems(entity, rec, version);
  if (errs) return { statusCode: 502, payload: { error: 'the record in the system of record cannot be represented as a canonical record', errors: errs } };
  return { statusCode: 200, payload: rec };
}

function list(entity: string, recs: Rec[], next: Cursor | undefined, source: string, version = 1): ReadAnswer {
  const items: Rec[] = [];
  const incomplete: Array<{ id: unknown; errors: FieldError[] }> = [];
  for (const r of recs) {
    const errs = problems(entity, r, version);
    if (errs) incomplete.push({ id: r.id, errors: errs });
    else items.push(r);
  }
  const payload: Rec = { items, source };
  if (next) payload.nextCursor = encodeCursor(next);
  if (incomplete.length) payload.incomplete = incomplete;
  return { statusCode: 200, payload };
}

/** Answer one experience-API read from the systems of record. Throws ReadInputError (400) or the vendor error. */
export async function readFromSystemsOfRecord(src: ReadSources, req: ReadRequest): Promise<ReadAnswer> {
  switch (req.resource) {
    case 'customers':
      return readCustomers(src, req);
    case 'projects':
      return readProjects(src, req);
    case 'contracts':
      return readContracts(src, req);
    case 'resources':
      return readResources(src, req);
    case 'time-entries':
      return readTimeEntries(src, req);
    case 'invoices':
      return readInvoices(src, req, false);
    case 'revenue-events':
      return readInvoices(src, req, true);
    default:
      return notFound();
  }
}
