/**
 * quote-to-project (docs/templates.md): a CRM opportunity turns Closed Won ->
 *   validate account + contract data (field-level list of what is missing, for sales ops)
 *   -> route the billing entity to its ERP (routing table, data) with tax + currency mapping
 *   -> plan every downstream write: ERP customer upsert, PSA project shell (workstreams from the opportunity
 *      lines, delivery manager, billing schedule, budget, staffing placeholders), Jira project + epic,
 *      `fabric/v1/project/created`, Teams card.
 *
 * The run key is the opportunity id: a second trigger of the same closed-won deal is a no-op. Every write
 * carries a stable idempotency key / external id derived from it, so a retried or replayed run never creates
 * anything twice, and because validation happens before the first write, nothing is half-created.
 */
import {
  DEFAULT_ERP_ROUTING, ProcessStepError, addDays, describeProblems, isBlank, money, routeFor,
  type ErpRoute, type ErpRoutingTable, type ErpSystem, type FieldProblem,
} from '../common';

export const PROCESS = 'quote-to-project';
/** Who fixes missing account / contract data. */
export const OWNER_TEAM = 'sales-ops';

// ------------------------------------------------------------------------------------------ input shapes
export interface Person {
  id: string;
  name?: string;
  email?: string;
  /** The person's Atlassian account id, when the firm's directory maps it; otherwise Jira finds the account by email. */
  jiraAccountId?: string;
  /** The person's Kantata user id, when the firm's directory maps it. */
  psaUserId?: string;
}

/**
 * The firm's people as the process needs them (a process-step setting): the CRM names the delivery manager by id
 * and usually by email; the directory adds the name and, where the firm maps them, the Jira / Kantata account ids.
 */
export type Directory = Person[];

/** Checks a configured directory: an array of people, each with an id, no two with the same id. */
export function parseDirectory(value: unknown): Directory {
  if (value === undefined || value === null || value === '') return [];
  if (!Array.isArray(value)) throw new Error('the directory must be a JSON array of people ({id, name?, email?, jiraAccountId?, psaUserId?})');
  const seen = new Set<string>();
  return value.map((p, i) => {
    if (!p || typeof p !== 'object' || typeof (p as Person).id !== 'string' || !(p as Person).id.trim()) throw new Error(`directory entry ${i} needs an "id" (the CRM's delivery manager id)`);
    const person = p as Person;
    if (seen.has(person.id)) throw new Error(`directory entry ${i}: the id "${person.id}" appears twice`);
    seen.add(person.id);
    for (const k of ['name', 'email', 'jiraAccountId', 'psaUserId'] as const) {
      if (person[k] !== undefined && typeof person[k] !== 'string') throw new Error(`directory entry ${i} ("${person.id}"): ${k} must be a string`);
    }
    return { id: person.id, ...(person.name ? { name: person.name } : {}), ...(person.email ? { email: person.email } : {}), ...(person.jiraAccountId ? { jiraAccountId: person.jiraAccountId } : {}), ...(person.psaUserId ? { psaUserId: person.psaUserId } : {}) };
  });
}
export interface Money {
  amount: number;
  currency: string;
}
export interface TaxRegistration {
  scheme: string;
  number: string;
  country: string;
}
/** Canonical Account (lib/model/schemas/account.v1.json), the fields this process reads. */
export interface DealAccount {
  id: string;
  version?: number;
  legalName?: string;
  displayName?: string;
  billingEntity?: string;
  country?: string;
  currency?: string;
  status?: string;
  industry?: string;
  paymentTermsDays?: number;
  taxRegistrations?: TaxRegistration[];
  addresses?: Array<{ type: string; line1?: string; city?: string; postalCode?: string; region?: string; country?: string }>;
  externalIds?: Record<string, string>;
}
export interface OpportunityLine {
  lineNumber: number;
  /** The workstream this line staffs (Salesforce `Workstream__c`). */
  description?: string;
  role?: string;
  quantity?: number;
  unit?: string;
  unitPrice?: Money;
  amount?: Money;
}
/** Canonical Opportunity (opportunity.v1.json) fields this process reads. */
export interface DealOpportunity {
  id: string;
  version?: number;
  accountId?: string;
  name?: string;
  stage?: string;
  amount?: Money;
  closeDate?: string;
  billingEntity?: string;
  billingType?: string;
  expectedStartDate?: string;
  updatedAt?: string;
  lines?: OpportunityLine[];
  externalIds?: Record<string, string>;
}
export type BillingSchedule =
  | { type: 'milestones'; milestones: Array<{ id: string; name: string; dueDate: string; amount: Money; status: string }> }
  | { type: 'time-and-materials'; invoiceFrequency: string; cap?: Money }
  | { type: 'retainer'; amount: Money; frequency: string; includedHours?: number };
export interface DealContract {
  id: string;
  number?: string;
  billingEntity?: string;
  currency?: string;
  startDate?: string;
  endDate?: string;
  status?: string;
  billingSchedule?: BillingSchedule;
}
/** What the trigger hands to the process: the deal as canonical records (plus the delivery manager). */
export interface CloseWonDeal {
  opportunity: DealOpportunity;
  account: DealAccount;
  contract?: DealContract;
  deliveryManager?: Person;
  /** When the deal turned Closed Won (epoch ms): the start of the lead-time KPI. Defaults to now. */
  closedWonAt?: number;
}

// ------------------------------------------------------------------------------------------ Salesforce -> deal
type Rec = Record<string, any>;

const STAGES: Record<string, string> = {
  'closed won': 'closed-won', 'closed lost': 'closed-lost', prospecting: 'prospecting', qualification: 'qualification',
  'proposal/price quote': 'proposal', 'negotiation/review': 'negotiation', 'needs analysis': 'qualification', 'value proposition': 'proposal',
};
export function canonicalStage(stage: unknown): string | undefined {
  if (typeof stage !== 'string') return undefined;
  return STAGES[stage.trim().toLowerCase()] ?? stage.trim().toLowerCase().replace(/[^a-z]+/g, '-');
}

/** ISO 3166 alpha-2 from what CRMs hold (`US`, `United Kingdom`, `UK`, `Deutschland`). */
export function countryCode(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.trim()) return undefined;
  const v = value.trim();
  const names: Record<string, string> = {
    uk: 'GB', 'united kingdom': 'GB', 'great britain': 'GB', england: 'GB', usa: 'US', 'united states': 'US', 'united states of america': 'US',
    germany: 'DE', deutschland: 'DE', france: 'FR', austria: 'AT', netherlands: 'NL', switzerland: 'CH', ireland: 'IE', canada: 'CA',
  };
  if (names[v.toLowerCase()]) return names[v.toLowerCase()];
  return /^[A-Za-z]{2}$/.test(v) ? v.toUpperCase() : undefined;
}

/**
 * Tax registration text as CRMs keep it -> canonical { scheme, number, country }:
 * `US-EIN-84-1234567` -> EIN 84-1234567 (US); `GB123456789` / `DE811234567` / `FR40303265045` -> VAT.
 */
export function parseTaxRegistration(raw: unknown, accountCountry?: string): TaxRegistration | undefined {
  if (typeof raw !== 'string' || !raw.trim()) return undefined;
  const text = raw.trim().toUpperCase().replace(/\s+/g, '');
  let m = /^([A-Z]{2})-(EIN|VAT|GST|SALES_TAX|STEUERNUMMER)-(.+)$/.exec(text);
  if (m) return { scheme: m[2], number: m[3], country: m[1] };
  m = /^(EIN|VAT|GST)[:-]?(.+)$/.exec(text);
  if (m) return { scheme: m[1], number: m[2], country: accountCountry ?? 'US' };
  m = /^(GB|DE|FR|AT|NL|IE|BE|IT|ES|CH)([0-9A-Z]{8,13})$/.exec(text);
  if (m) return { scheme: 'VAT', number: text, country: m[1] };
  if (/^\d{2}-\d{7}$/.test(text)) return { scheme: 'EIN', number: text, country: 'US' };
  return { scheme: 'OTHER', number: text, country: accountCountry ?? 'US' };
}

function sfDate(value: unknown): string | undefined {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : undefined;
}
function sfTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const t = Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isNaN(t) ? undefined : t;
}
function records(rel: unknown): Rec[] {
  if (Array.isArray(rel)) return rel as Rec[];
  if (rel && typeof rel === 'object' && Array.isArray((rel as Rec).records)) return (rel as Rec).records as Rec[];
  return [];
}

/**
 * Salesforce Account -> canonical Account (the CRM-held fields: identity, billing entity, country, currency, tax
 * registration, billing address). Missing values stay undefined so validation can name them. Also used by the
 * experience-API customers read (lib/governance/reads.ts).
 */
export function accountFromSalesforce(a: Rec): DealAccount {
  const country = countryCode(a.BillingCountry);
  const account: DealAccount = {
    id: (a.External_Id__c as string) || (a.Id ? `SF-${a.Id}` : ''),
    version: 1,
    legalName: a.Name ?? undefined,
    billingEntity: a.Billing_Entity__c ?? undefined,
    country,
    currency: a.CurrencyIsoCode ?? undefined,
    status: 'active',
    industry: a.Industry ?? undefined,
    externalIds: a.Id ? { salesforce: String(a.Id) } : undefined,
  };
  const tax = parseTaxRegistration(a.Tax_Registration__c, country);
  if (tax) account.taxRegistrations = [tax];
  if (a.BillingStreet || a.BillingCity || a.BillingPostalCode) {
    account.addresses = [{ type: 'billing', line1: a.BillingStreet ?? undefined, city: a.BillingCity ?? undefined, postalCode: a.BillingPostalCode ?? undefined, country }];
  }
  return account;
}

/**
 * Salesforce records (Opportunity with `OpportunityLineItems`, its Account, optionally a Contract) -> the deal.
 * Missing values stay missing (undefined) so validation can name them; nothing is invented.
 */
export function dealFromSalesforce(input: { opportunity: Rec; account?: Rec; lineItems?: Rec[]; contract?: Rec; directory?: Directory }): CloseWonDeal {
  const o = input.opportunity ?? {};
  const a = input.account ?? o.Account ?? {};
  const currency = (o.CurrencyIsoCode ?? a.CurrencyIsoCode) as string | undefined;
  const items = input.lineItems ?? records(o.OpportunityLineItems);
  const account = accountFromSalesforce(a);
  const lines: OpportunityLine[] = items
    .slice()
    .sort((x, y) => Number(x.SortOrder ?? 0) - Number(y.SortOrder ?? 0))
    .map((li, i) => {
      const hours = Number(li.Hours__c ?? li.Quantity);
      const rate = Number(li.Rate__c ?? li.UnitPrice);
      const line: OpportunityLine = { lineNumber: i + 1, description: li.Workstream__c ?? li.Description ?? li.Name ?? undefined, role: li.Role__c ?? undefined, unit: 'hour' };
      if (Number.isFinite(hours)) line.quantity = hours;
      if (Number.isFinite(rate) && currency) line.unitPrice = { amount: rate, currency };
      if (Number.isFinite(hours) && Number.isFinite(rate) && currency) line.amount = { amount: money(hours * rate), currency };
      return line;
    });
  const opportunity: DealOpportunity = {
    id: String(o.Id ?? ''),
    version: 1,
    accountId: account.id || undefined,
    name: o.Name ?? undefined,
    stage: canonicalStage(o.StageName),
    closeDate: sfDate(o.CloseDate),
    billingEntity: a.Billing_Entity__c ?? undefined,
    billingType: o.Billing_Model__c ?? undefined,
    lines,
    externalIds: o.Id ? { salesforce: String(o.Id) } : undefined,
  };
  if (typeof o.Amount === 'number' && currency) opportunity.amount = { amount: o.Amount, currency };
  const dmId = o.Delivery_Manager_Id__c as string | undefined;
  const dmEmail = (o.Delivery_Manager_Email__c as string | undefined) || undefined;
  const known = dmId ? input.directory?.find((p) => p.id === dmId) ?? (dmEmail ? input.directory?.find((p) => p.email?.toLowerCase() === dmEmail.toLowerCase()) : undefined) : undefined;
  const deliveryManager: Person | undefined = dmId ? { ...known, id: dmId, ...(dmEmail ?? known?.email ? { email: dmEmail ?? known?.email } : {}) } : undefined;
  const deal: CloseWonDeal = { opportunity, account, deliveryManager };
  const closed = sfTime(o.LastModifiedDate ?? o.SystemModstamp);
  if (closed !== undefined) deal.closedWonAt = closed;
  const c = input.contract ?? records(o.Contracts__r)[0];
  if (c) {
    const frequency = String(c.Billing_Frequency__c ?? 'Monthly').toLowerCase();
    const type = (c.Billing_Model__c ?? o.Billing_Model__c) as string | undefined;
    const cur = (c.CurrencyIsoCode ?? currency) as string | undefined;
    let schedule: BillingSchedule | undefined;
    if (type === 'time-and-materials') schedule = { type: 'time-and-materials', invoiceFrequency: frequency === 'quarterly' ? 'quarterly' : 'monthly' };
    else if (type === 'retainer' && cur) schedule = { type: 'retainer', amount: { amount: Number(c.Total_Value__c ?? o.Amount ?? 0) / 12, currency: cur }, frequency: 'monthly' };
    else if (type === 'fixed-fee' && cur) {
      const ms = records(c.Billing_Milestones__r);
      schedule = { type: 'milestones', milestones: ms.map((m, i) => ({ id: String(m.External_Id__c ?? m.Id ?? `M${i + 1}`), name: String(m.Description__c ?? m.Name ?? `Milestone ${i + 1}`), dueDate: sfDate(m.Milestone_Date__c) ?? '', amount: { amount: Number(m.Amount__c ?? 0), currency: cur }, status: String(m.Status__c ?? 'Planned').toLowerCase() })) };
    }
    deal.contract = { id: String(c.External_Id__c ?? c.Id ?? ''), number: c.ContractNumber ?? undefined, billingEntity: a.Billing_Entity__c ?? undefined, currency: cur, startDate: sfDate(c.StartDate), endDate: sfDate(c.EndDate), status: c.Status ? String(c.Status).toLowerCase() : undefined, billingSchedule: schedule };
  }
  return deal;
}

/** A canonical deal's delivery manager completed from the directory (what the deal names wins). */
export function withDirectory(deal: CloseWonDeal, directory: Directory): CloseWonDeal {
  const dm = deal?.deliveryManager;
  const known = dm?.id ? directory.find((p) => p.id === dm.id) : undefined;
  return known ? { ...deal, deliveryManager: { ...known, ...dm } } : deal;
}

// ------------------------------------------------------------------------------------------ validation
export interface ValidationResult {
  ok: boolean;
  problems: FieldProblem[];
  route?: ErpRoute;
}

const SF = {
  legalName: 'Account.Name', billingEntity: 'Account.Billing_Entity__c', country: 'Account.BillingCountry', currency: 'Account.CurrencyIsoCode',
  tax: 'Account.Tax_Registration__c', street: 'Account.BillingStreet', city: 'Account.BillingCity', postalCode: 'Account.BillingPostalCode',
  stage: 'Opportunity.StageName', amount: 'Opportunity.Amount', closeDate: 'Opportunity.CloseDate', billingType: 'Opportunity.Billing_Model__c',
  dm: 'Opportunity.Delivery_Manager_Id__c', dmEmail: 'Opportunity.Delivery_Manager_Email__c', lines: 'Opportunity.OpportunityLineItems', workstream: 'OpportunityLineItem.Workstream__c',
  role: 'OpportunityLineItem.Role__c', hours: 'OpportunityLineItem.Hours__c', rate: 'OpportunityLineItem.Rate__c',
};

/**
 * Everything a closed-won deal needs before anything is written downstream. Returns every problem at once
 * (not only the first), each with the canonical path and the Salesforce field to fix.
 */
export function validateDeal(deal: CloseWonDeal, routing: ErpRoutingTable = DEFAULT_ERP_ROUTING): ValidationResult {
  const problems: FieldProblem[] = [];
  const a = deal.account ?? ({} as DealAccount);
  const o = deal.opportunity ?? ({} as DealOpportunity);
  const acc = (path: string, sourceField: string, message: string) => problems.push({ record: 'account', recordId: a.id || a.externalIds?.salesforce, path, sourceField, message });
  const opp = (path: string, sourceField: string, message: string) => problems.push({ record: 'opportunity', recordId: o.id, path, sourceField, message });

  if (isBlank(o.id)) opp('/id', 'Opportunity.Id', 'is missing');
  if (isBlank(a.id)) acc('/id', 'Account.External_Id__c', 'is missing: the legal customer needs a stable external id');
  if (isBlank(a.legalName)) acc('/legalName', SF.legalName, 'is missing: the ERP customer needs a legal name');
  if (isBlank(a.country)) acc('/country', SF.country, 'is missing or not a country (ISO 3166 code or name expected)');
  if (isBlank(a.currency)) acc('/currency', SF.currency, 'is missing');
  const entity = a.billingEntity ?? o.billingEntity;
  const route = routeFor(entity, routing);
  if (isBlank(entity)) acc('/billingEntity', SF.billingEntity, 'is missing: which of our legal entities bills this customer?');
  else if (!route) acc('/billingEntity', SF.billingEntity, `"${entity}" has no ERP in the routing table (known: ${Object.keys(routing).join(', ')})`);
  if (!a.taxRegistrations || a.taxRegistrations.length === 0 || a.taxRegistrations.every((t) => isBlank(t.number))) {
    acc('/taxRegistrations', SF.tax, 'is missing: a tax registration (VAT / EIN) is mandatory for an invoiceable customer');
  }
  const billing = a.addresses?.find((x) => x.type === 'billing');
  if (!billing) acc('/addresses', SF.street, 'is missing: no billing address');
  else {
    if (isBlank(billing.line1)) acc('/addresses/0/line1', SF.street, 'is missing');
    if (isBlank(billing.city)) acc('/addresses/0/city', SF.city, 'is missing');
    if (isBlank(billing.postalCode)) acc('/addresses/0/postalCode', SF.postalCode, 'is missing');
  }

  if (o.stage !== 'closed-won') opp('/stage', SF.stage, `must be Closed Won (got ${o.stage ?? 'nothing'})`);
  if (!o.amount || !(o.amount.amount > 0)) opp('/amount', SF.amount, 'must be a positive amount');
  if (isBlank(o.closeDate)) opp('/closeDate', SF.closeDate, 'is missing');
  if (!['time-and-materials', 'fixed-fee', 'retainer'].includes(String(o.billingType))) opp('/billingType', SF.billingType, `must be time-and-materials, fixed-fee or retainer (got ${o.billingType ?? 'nothing'})`);
  if (!deal.deliveryManager || isBlank(deal.deliveryManager.id)) opp('/deliveryManager', SF.dm, 'is missing: the project needs a delivery manager');
  else if (isBlank(deal.deliveryManager.email) && isBlank(deal.deliveryManager.jiraAccountId)) {
    opp('/deliveryManager/email', SF.dmEmail, `is missing: the delivery manager ${deal.deliveryManager.id} leads the Jira project, whose account is found by email (or mapped in the directory)`);
  }
  const lines = o.lines ?? [];
  if (lines.length === 0) opp('/lines', SF.lines, 'no opportunity lines: workstreams and budget come from them');
  lines.forEach((l, i) => {
    if (isBlank(l.description)) opp(`/lines/${i}/description`, SF.workstream, 'is missing: which workstream does this line staff?');
    if (isBlank(l.role)) opp(`/lines/${i}/role`, SF.role, 'is missing');
    if (!(Number(l.quantity) > 0)) opp(`/lines/${i}/quantity`, SF.hours, 'must be more than 0 hours');
    if (!l.unitPrice || !(l.unitPrice.amount >= 0)) opp(`/lines/${i}/unitPrice`, SF.rate, 'is missing');
  });

  // currency: the deal is invoiced by the entity's ERP company, which must accept the deal currency
  const dealCurrency = o.amount?.currency ?? a.currency;
  if (route && dealCurrency) {
    const allowed = new Set([route.currency, ...(route.invoiceCurrencies ?? [])]);
    if (!allowed.has(dealCurrency)) opp('/amount/currency', 'Opportunity.CurrencyIsoCode', `${dealCurrency} cannot be invoiced by ${entity} (${route.erp} company ${route.company} invoices in ${[...allowed].join(', ')})`);
  }
  if (a.currency && o.amount?.currency && a.currency !== o.amount.currency) {
    opp('/amount/currency', 'Opportunity.CurrencyIsoCode', `deal currency ${o.amount.currency} differs from the account currency ${a.currency}`);
  }

  const c = deal.contract;
  if (c) {
    const con = (path: string, sourceField: string, message: string) => problems.push({ record: 'contract', recordId: c.id, path, sourceField, message });
    if (isBlank(c.startDate)) con('/startDate', 'Contract.StartDate', 'is missing');
    if (!c.billingSchedule) con('/billingSchedule', 'Contract.Billing_Model__c', 'is missing: no billing schedule can be derived');
    else if (c.billingSchedule.type === 'milestones') {
      if (c.billingSchedule.milestones.length === 0) con('/billingSchedule/milestones', 'Contract.Billing_Milestones__r', 'a fixed-fee contract needs at least one billing milestone');
      c.billingSchedule.milestones.forEach((m, i) => {
        if (isBlank(m.dueDate)) con(`/billingSchedule/milestones/${i}/dueDate`, 'Billing_Milestone__c.Milestone_Date__c', 'is missing');
      });
    }
    if (c.currency && dealCurrency && c.currency !== dealCurrency) con('/currency', 'Contract.CurrencyIsoCode', `contract currency ${c.currency} differs from the deal currency ${dealCurrency}`);
    if (c.billingEntity && entity && c.billingEntity !== entity) con('/billingEntity', 'Contract billing entity', `contract is with ${c.billingEntity} but the account is billed by ${entity}`);
  }
  return { ok: problems.length === 0, problems, route };
}

// ------------------------------------------------------------------------------------------ tax + currency per ERP
export interface ErpCustomerMapping {
  erp: ErpSystem;
  company: string;
  /** The ERP's tax code / tax area for this customer (from the route's taxCodes). */
  taxCode?: string;
  /** Currency the ERP customer is invoiced in. */
  currency: string;
  /** Primary tax registration as the ERP's `vatRegistrationNumber` / `defaultTaxReg` field expects it. */
  taxRegistrationNumber?: string;
}

export function erpCustomerMapping(account: DealAccount, route: ErpRoute): ErpCustomerMapping {
  const country = account.country ?? route.country;
  const taxCode = route.taxCodes ? (route.taxCodes[country] ?? route.taxCodes['*']) : undefined;
  const reg = account.taxRegistrations?.find((t) => t.country === country) ?? account.taxRegistrations?.[0];
  const currency = account.currency && new Set([route.currency, ...(route.invoiceCurrencies ?? [])]).has(account.currency) ? account.currency : route.currency;
  return { erp: route.erp, company: route.company, taxCode, currency, taxRegistrationNumber: reg?.number };
}

// ------------------------------------------------------------------------------------------ plan
export interface PlanOptions {
  routing?: ErpRoutingTable;
  /**
   * Jira account id of a person (the Jira project lead); default: the person's `jiraAccountId`. Without one the Jira
   * write names the lead by email and the connector finds the account (user search), or fails naming the person.
   */
  jiraAccountIdOf?: (person: Person) => string | undefined;
  /**
   * PSA user id of a person (staffing the delivery manager); default: the person's `psaUserId`. Without one the
   * participation names the person by email and the Kantata connector finds the user, or fails naming the person.
   */
  psaUserIdOf?: (person: Person) => string | undefined;
  /** Link to the opportunity in the CRM, for the Teams card. */
  crmUrl?: string;
  source?: string;
  now?: () => number;
}

export interface PlannedWrite {
  /** The flow step that performs it (and the exception's step when it fails). */
  step: 'erp-customer' | 'erp-project' | 'psa-project' | 'jira-project' | 'jira-epic' | 'notify';
  system: ErpSystem | 'kantata' | 'jira' | 'teams';
  operation: string;
  /** Stable: the same deal always yields the same key, so a repeat is de-duplicated by the outbox / vendor. */
  idempotencyKey: string;
  /** Business record, for audit and exception auto-resolve. */
  recordKey: string;
  request: Record<string, unknown>;
}

export interface QuoteToProjectPlan {
  process: typeof PROCESS;
  runKey: string;
  opportunityId: string;
  closedWonAt: number;
  erp: ErpCustomerMapping;
  account: DealAccount;
  project: Record<string, any>;
  staffing: Array<Record<string, any>>;
  writes: {
    erpCustomer: PlannedWrite;
    /**
     * The ERP project: NetSuite job (external id = project id; the change-order template updates its billing schedule)
     * or Business Central project (number from the company's number series unless its config types numbers; the
     * number BC answers becomes the project's businessCentral external id). Absent for the legacy ERP, which keeps
     * no projects.
     */
    erpProject?: PlannedWrite;
    psaProject: PlannedWrite;
    jiraProject: PlannedWrite;
    jiraEpic: PlannedWrite;
    notify: PlannedWrite;
  };
}

/**
 * A readable Jira project key: a 3-letter mnemonic of the account followed by a 2-4 letter mnemonic of the project,
 * e.g. `GLXEHR` for Globex Health Systems / "Globex - EHR Integration Phase 2".
 *  - account: the first word of its name (letters only); up to 3 letters as is, longer: its first letter, the first
 *    consonant after it and its last consonant (Globex -> GLX, Thames -> THS, Acme -> ACM);
 *  - project: the opportunity name without a leading "<account word> - "; its first all-capital word of 2-4 letters
 *    (EHR, CRM, QA), otherwise the initials of its first three words (Claims Portal -> CP);
 * letters only (Jira Cloud's default key pattern has no digits), 10 at most. The key is a proposal: two deals can
 * share it, so the Jira connector checks it against the site and makes it unique (jira-config key pattern).
 */
export function jiraKeyFor(accountName: string, projectName: string): string {
  const plain = (t: string) => t.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const letters = (t: string) => plain(t).replace(/[^A-Za-z]/g, '').toUpperCase();
  const words = plain(accountName).split(/[^A-Za-z]+/).filter(Boolean);
  const first = letters(words[0] ?? '') || 'PRJ';
  let account = first;
  if (first.length > 3) {
    const consonants = first.slice(1).replace(/[AEIOUY]/g, '');
    account = consonants.length >= 2 ? first[0] + consonants[0] + consonants[consonants.length - 1] : first.slice(0, 3);
  }
  const name = plain(projectName);
  const sep = /\s+[-–:]\s+|:\s+/.exec(name);
  const rest = sep && words[0] && name.slice(0, sep.index).toLowerCase().startsWith(words[0].toLowerCase()) ? name.slice(sep.index + sep[0].length) : name;
  const projectWords = rest.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const acronym = projectWords.find((w) => /^[A-Z]{2,4}$/.test(w));
  const project = acronym ?? (projectWords.slice(0, 3).map((w) => letters(w)[0] ?? '').join('') || 'P');
  return (account + project).slice(0, 10);
}

function slug(text: string, max = 12): string {
  return text.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, '').toUpperCase().slice(0, max);
}

/**
 * Builds the whole run from a valid deal: canonical project + every downstream request with its key.
 * Throws ProcessStepError (for sales-ops) when the deal is not valid, so nothing downstream is started.
 */
export function planQuoteToProject(deal: CloseWonDeal, options: PlanOptions = {}): QuoteToProjectPlan {
  const routing = options.routing ?? DEFAULT_ERP_ROUTING;
  const v = validateDeal(deal, routing);
  if (!v.ok || !v.route) {
    throw new ProcessStepError(`Closed-won opportunity ${deal.opportunity?.id ?? '?'} cannot start a project: ${describeProblems(v.problems)}`, v.problems, OWNER_TEAM, deal.opportunity?.id ? `Opportunity/${deal.opportunity.id}` : undefined);
  }
  const o = deal.opportunity;
  const a = deal.account;
  const dm = deal.deliveryManager!;
  const route = v.route;
  const erp = erpCustomerMapping(a, route);
  const currency = o.amount!.currency;
  const runKey = `${PROCESS}:${o.id}`;
  const projectId = `PRJ-${o.id}`;
  const start = o.expectedStartDate ?? deal.contract?.startDate ?? o.closeDate!;
  const lines = o.lines!;

  // workstreams: one per distinct workstream on the lines, budget hours summed
  const byWorkstream = new Map<string, { name: string; hours: number; amount: number; roles: Set<string> }>();
  for (const l of lines) {
    const name = String(l.description).trim();
    const ws = byWorkstream.get(name) ?? { name, hours: 0, amount: 0, roles: new Set<string>() };
    ws.hours += Number(l.quantity);
    ws.amount += Number(l.quantity) * Number(l.unitPrice!.amount);
    ws.roles.add(String(l.role));
    byWorkstream.set(name, ws);
  }
  const workstreams = [...byWorkstream.values()].map((w, i) => ({ id: `WS-${slug(o.id, 18)}-${i + 1}`, name: w.name, budgetHours: money(w.hours) }));
  const budgetHours = money(lines.reduce((s, l) => s + Number(l.quantity), 0));
  const budgetAmount = money(lines.reduce((s, l) => s + Number(l.quantity) * Number(l.unitPrice!.amount), 0));
  const billingType = o.billingType!;
  const billingSchedule: BillingSchedule = deal.contract?.billingSchedule
    ?? (billingType === 'time-and-materials'
      ? { type: 'time-and-materials', invoiceFrequency: 'monthly' }
      : billingType === 'retainer'
        ? { type: 'retainer', amount: { amount: money(o.amount!.amount / 12), currency }, frequency: 'monthly' }
        : { type: 'milestones', milestones: [
          { id: `${projectId}-M1`, name: 'Kick-off (30%)', dueDate: addDays(start, 14), amount: { amount: money(o.amount!.amount * 0.3), currency }, status: 'planned' },
          { id: `${projectId}-M2`, name: 'Acceptance (70%)', dueDate: addDays(start, 90), amount: { amount: money(o.amount!.amount - money(o.amount!.amount * 0.3)), currency }, status: 'planned' },
        ] });
  const project: Record<string, any> = {
    id: projectId,
    version: 1,
    accountId: a.id,
    opportunityId: o.id,
    code: `${slug(a.legalName ?? a.id, 6)}-${slug(o.id, 20).slice(-6)}`,
    name: String(o.name ?? `${a.legalName} project`).slice(0, 200),
    billingEntity: a.billingEntity ?? o.billingEntity,
    currency,
    billingType,
    status: 'planned',
    startDate: start,
    deliveryManager: { id: dm.id, ...(dm.name ? { name: dm.name } : {}), ...(dm.email ? { email: dm.email } : {}) },
    budget: { amount: { amount: billingType === 'time-and-materials' ? budgetAmount : money(o.amount!.amount), currency }, hours: budgetHours },
    workstreams,
    externalIds: { salesforce: o.id },
  };
  if (deal.contract?.id) project.contractId = deal.contract.id;
  if (deal.contract?.endDate) project.endDate = deal.contract.endDate;

  // staffing placeholders (canonical ResourceAssignment, status proposed): one per role and workstream
  const staffing = lines.map((l, i) => ({
    id: `RA-${slug(o.id, 18)}-${i + 1}`,
    version: 1,
    projectId,
    person: { id: `TBD-${slug(String(l.role), 20) || 'ROLE'}`, name: `Unnamed ${l.role}` },
    role: String(l.role),
    startDate: start,
    endDate: project.endDate ?? addDays(start, 90),
    status: 'proposed',
    hoursPerWeek: Math.min(40, money(Number(l.quantity) / 12)),
    billRate: { amount: Number(l.unitPrice!.amount), currency, unit: 'hour' },
  }));

  const account = { ...a, billingEntity: a.billingEntity ?? o.billingEntity, status: 'active' };
  const jiraKey = jiraKeyFor(a.legalName ?? a.id, String(o.name ?? ''));
  const leadAccountId = (options.jiraAccountIdOf ?? ((p: Person) => p.jiraAccountId))(dm);
  const lead = leadAccountId ? { leadAccountId } : { lead: { email: dm.email, ...(dm.name ? { name: dm.name } : {}) } };
  const psaUserId = (options.psaUserIdOf ?? ((p: Person) => p.psaUserId))(dm);
  const kantataStories = workstreams.map((w) => {
    const ws = byWorkstream.get(w.name)!;
    return { title: w.name, story_type: 'task', billable: true, time_estimate_in_minutes: Math.round(ws.hours * 60), budget_estimate_in_cents: Math.round(ws.amount * 100), description: `Roles: ${[...ws.roles].join(', ')}` };
  });
  const base = `q2p:${o.id}`;
  const teamsFacts: Record<string, string> = {
    Customer: String(a.legalName),
    'Billing entity': `${project.billingEntity} (${route.erp} ${route.company})`,
    Amount: `${o.amount!.amount.toLocaleString('en-US')} ${currency}`,
    'Delivery manager': dm.name ?? dm.email ?? dm.id,
    Workstreams: workstreams.map((w) => w.name).join(', '),
    Jira: jiraKey,
  };
  return {
    process: PROCESS,
    runKey,
    opportunityId: o.id,
    closedWonAt: deal.closedWonAt ?? (options.now ?? Date.now)(),
    erp,
    account,
    project,
    staffing,
    writes: {
      erpCustomer: {
        step: 'erp-customer', system: route.erp, operation: route.erp === 'legacy' ? 'upsertCustomer' : 'upsertCustomer',
        idempotencyKey: `${base}:erp-customer:${a.id}`, recordKey: `Account/${a.id}`,
        request: { account, erp: { company: erp.company, taxCode: erp.taxCode ?? null, currency: erp.currency, taxRegistrationNumber: erp.taxRegistrationNumber ?? null } },
      },
      ...(route.erp === 'netsuite'
        ? {
            erpProject: {
              step: 'erp-project' as const, system: route.erp, operation: 'createProject',
              idempotencyKey: `${base}:erp-project`, recordKey: `Project/${projectId}`,
              request: { project, customerExternalId: a.id, managerExternalId: dm.id },
            },
          }
        : route.erp === 'businessCentral'
          ? {
              // the account tells the connector which BC customer to bill (the one erp-customer found or created)
              erpProject: {
                step: 'erp-project' as const, system: route.erp, operation: 'createProject',
                idempotencyKey: `${base}:erp-project`, recordKey: `Project/${projectId}`,
                request: { project, account, company: route.company },
              },
            }
          : {}),
      psaProject: {
        step: 'psa-project', system: 'kantata', operation: 'createProjectShell',
        idempotencyKey: `${base}:psa-project`, recordKey: `Project/${projectId}`,
        request: {
          externalRef: projectId,
          workspace: {
            title: project.name,
            description: `${a.legalName} — ${billingType}; opportunity ${o.id}`,
            currency,
            budgeted: true,
            // Kantata takes the budget as `price` in currency units (price_in_cents is read-only)
            price: project.budget.amount.amount,
            start_date: start,
            ...(project.endDate ? { due_date: project.endDate } : {}),
          },
          // the Kantata connection maps these to the account's custom field ids (kantata-config setting)
          customFields: { billingEntity: project.billingEntity, opportunityId: o.id, accountExternalId: a.id },
          stories: kantataStories,
          // the delivery manager's Kantata user: mapped in the directory, else found by email by the connector
          participations: psaUserId
            ? [{ user_id: psaUserId, role: 'maven', access_level: 'admin' }]
            : dm.email ? [{ email: dm.email, ...(dm.name ? { name: dm.name } : {}), role: 'maven', access_level: 'admin' }] : [],
          billingSchedule,
          staffingPlaceholders: staffing.map((s) => ({ role: s.role, hoursPerWeek: s.hoursPerWeek, startDate: s.startDate, endDate: s.endDate })),
        },
      },
      jiraProject: {
        step: 'jira-project', system: 'jira', operation: 'createProject',
        idempotencyKey: `${base}:jira-project`, recordKey: `Project/${projectId}`,
        request: { key: jiraKey, ref: projectId, name: `${project.name}`.slice(0, 80), ...lead, description: `Delivery space for ${project.name} (${projectId})` },
      },
      jiraEpic: {
        step: 'jira-epic', system: 'jira', operation: 'createEpic',
        idempotencyKey: `${base}:jira-epic`, recordKey: `Project/${projectId}`,
        request: {
          projectKey: jiraKey,
          summary: `${project.name}`.slice(0, 250),
          description: `Delivery of ${project.name} for ${a.legalName}.\nWorkstreams: ${workstreams.map((w) => `${w.name} (${w.budgetHours} h)`).join(', ')}.\nBudget: ${project.budget.amount.amount} ${currency}, ${budgetHours} h.`,
          labels: ['psfabric', `sf-${o.id}`],
        },
      },
      notify: {
        step: 'notify', system: 'teams', operation: 'postCard',
        idempotencyKey: `${base}:notify`, recordKey: `Project/${projectId}`,
        request: { title: `New project: ${project.name}`, text: `Closed-won deal set up in ${route.erp}, the PSA and Jira.`, facts: teamsFacts, style: 'good', ...(options.crmUrl ? { link: { title: 'Opportunity', url: `${options.crmUrl.replace(/\/$/, '')}/${o.id}` } } : {}) },
      },
    },
  };
}

/**
 * What q2p-plan does with a deal, given its claim of the run key (the opportunity id):
 *  - `start`: first claim, a new run;
 *  - `continue`: the key is claimed but no outcome was recorded and the deal comes back from its trigger's inbox
 *    (`redelivered`: the runtime stopped before the run completed, e.g. a crash mid-provisioning). It goes through the
 *    same writes again: each has a stable idempotency key, so what the first attempt did is answered from the outbox
 *    and only the rest is written. An operator's replay (`replay`) continues as well, completed or not;
 *  - `duplicate`: the run completed (outcome recorded by q2p-complete), or another copy of the deal arrives while the
 *    first run is still in progress (not a redelivery): that run goes on, this copy has nothing to do.
 */
export type RunDecision = 'start' | 'continue' | 'duplicate';

export function runDecision(claim: { claimed: boolean; existing?: { outcome?: unknown } }, options: { replay?: boolean; redelivered?: boolean } = {}): RunDecision {
  if (claim.claimed) return 'start';
  if (options.replay) return 'continue';
  const outcome = claim.existing?.outcome;
  return (outcome === undefined || outcome === null) && options.redelivered ? 'continue' : 'duplicate';
}

/** What the downstream writes answered, as the flow collects them. */
export interface QuoteToProjectResults {
  erpCustomer?: Record<string, any>;
  erpProject?: Record<string, any>;
  psaProject?: Record<string, any>;
  jiraProject?: Record<string, any>;
  jiraEpic?: Record<string, any>;
}

/** The active project with the ids every system gave it: the `project.created` event's data. */
export function completeProject(plan: QuoteToProjectPlan, results: QuoteToProjectResults, now: () => number = Date.now): Record<string, any> {
  const externalIds: Record<string, string> = { ...(plan.project.externalIds ?? {}) };
  const ws = results.psaProject?.workspace;
  if (ws?.id !== undefined) externalIds.kantata = String(ws.id);
  if (results.jiraProject?.key) externalIds.jira = String(results.jiraProject.key);
  if (results.erpProject?.id !== undefined && plan.erp.erp === 'netsuite') externalIds.netsuite = String(results.erpProject.externalId ?? results.erpProject.id);
  if (results.erpProject?.number !== undefined && plan.erp.erp === 'businessCentral') externalIds.businessCentral = String(results.erpProject.number);
  const erpId = results.erpCustomer?.id ?? results.erpCustomer?.number ?? results.erpCustomer?.customerNumber;
  const erpKey = plan.erp.erp === 'businessCentral' ? 'businessCentral' : plan.erp.erp;
  const project = { ...plan.project, status: 'active', version: (plan.project.version ?? 1) + 1, updatedAt: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'), externalIds };
  return { project, customer: { accountId: plan.account.id, erp: plan.erp.erp, company: plan.erp.company, [erpKey + 'Id']: erpId !== undefined ? String(erpId) : null }, epic: results.jiraEpic?.key ?? null, leadTimeMs: now() - plan.closedWonAt };
}
