/**
 * Canonical model (lib/model/schemas/*.v1.json) -> NetSuite record payloads. The one place that knows
 * NetSuite field names; pure functions, so the mapping is testable without HTTP.
 *
 * Lookups that need the account (subsidiary, currency, tax item, service item, employee internal ids) come in
 * through `NetSuiteMappingTables`, filled from the config node and, where missing, from SuiteQL by the executor.
 */
import { ValidationError, type FieldError } from '../../delivery/errors';

// ---- the canonical shapes this mapping reads (subset of the v1 schemas) ----
export interface CanonicalMoney {
  amount: number;
  currency: string;
}
export interface CanonicalPerson {
  id: string;
  name?: string;
  email?: string;
}
export interface CanonicalAccount {
  id: string;
  version?: number;
  legalName: string;
  displayName?: string;
  billingEntity: string;
  country: string;
  currency: string;
  status?: string;
  industry?: string;
  paymentTermsDays?: number;
  externalIds?: Record<string, string>;
  taxRegistrations?: Array<{ scheme: string; number: string; country: string }>;
  addresses?: Array<{ type: string; line1: string; line2?: string; line3?: string; city: string; region?: string; postalCode?: string; country: string }>;
  primaryContact?: CanonicalPerson;
}
export interface CanonicalProject {
  id: string;
  accountId: string;
  code: string;
  name: string;
  billingEntity: string;
  currency: string;
  billingType: string;
  status: string;
  startDate: string;
  endDate?: string;
  deliveryManager: CanonicalPerson;
  externalIds?: Record<string, string>;
  opportunityId?: string;
  contractId?: string;
  budget?: { amount: CanonicalMoney; hours?: number };
}
export interface CanonicalTimeEntry {
  id: string;
  person: CanonicalPerson;
  projectId: string;
  date: string;
  hours: number;
  role: string;
  billable: boolean;
  rate?: { amount: number; currency: string; unit: string };
  status: string;
  notes?: string;
  externalIds?: Record<string, string>;
}
export interface CanonicalInvoiceLine {
  lineNumber: number;
  description: string;
  role?: string;
  quantity: number;
  unit?: string;
  unitPrice: CanonicalMoney;
  amount: CanonicalMoney;
  taxRate?: number;
  taxAmount?: CanonicalMoney;
  sourceRefs: Array<{ type: string; id: string; hours?: number; amount?: CanonicalMoney }>;
}
export interface CanonicalInvoice {
  id: string;
  number?: string;
  accountId: string;
  billingEntity: string;
  projectId?: string;
  contractId?: string;
  currency: string;
  issueDate: string;
  dueDate: string;
  periodStart?: string;
  periodEnd?: string;
  status: string;
  purchaseOrder?: string;
  lines: CanonicalInvoiceLine[];
  subtotal: CanonicalMoney;
  taxTotal: CanonicalMoney;
  total: CanonicalMoney;
  externalIds?: Record<string, string>;
}
export type CanonicalBillingSchedule =
  | { type: 'milestones'; milestones: Array<{ id: string; name: string; dueDate: string; amount: CanonicalMoney; status: string }> }
  | { type: 'time-and-materials'; invoiceFrequency: string; cap?: CanonicalMoney }
  | { type: 'retainer'; amount: CanonicalMoney; frequency: string; includedHours?: number; firstInvoiceDate?: string };

/** Internal ids the payloads reference. */
export interface NetSuiteMappingTables {
  /** billing entity code -> subsidiary internal id, e.g. `{ "NWA-US": "1" }`. */
  subsidiaries: Record<string, string>;
  /** ISO currency -> currency internal id, e.g. `{ USD: "1" }`. */
  currencies: Record<string, string>;
  /** country (ISO 3166 alpha-2) or `"*"` -> sales tax item internal id; absent -> customer not taxable. */
  taxItems?: Record<string, string>;
  /** role name or `"*"` -> service item internal id used on time bills and invoice lines. */
  serviceItems: Record<string, string>;
  /** terms days -> NetSuite terms internal id (optional). */
  terms?: Record<string, string>;
  /** canonical billing type -> job billing type (TM, FBM, FBI, CB); default DEFAULT_JOB_BILLING_TYPES. */
  jobBillingTypes?: Record<string, string>;
  /** The account's custom field script ids (default DEFAULT_NETSUITE_CUSTOM_FIELDS; null = not in the account). */
  customFields?: Partial<NetSuiteCustomFields>;
}

/**
 * The account's custom fields PS Fabric writes, by what they carry. Each is a firm's customisation (its script id is
 * chosen when the field is created), so each is a setting of the config node; `null` says the account does not have
 * it, and the write degrades as documented on each field (docs/connectors/netsuite.md).
 */
export interface NetSuiteCustomFields {
  /**
   * Transaction column field on invoice item lines: the canonical ids (time entries, expenses) a line bills. Without
   * it an invoice could not say what it bills (replays and reconciliation rely on it), so an invoice is refused.
   */
  sourceRefs: string | null;
  /** Entity field on the project (job): the contract billing schedule as JSON. Without it the schedule stays in the CRM only. */
  billingSchedule: string | null;
  /** Entity field on the project: the budget amount. Without it only the budgeted hours reach NetSuite. */
  budgetAmount: string | null;
  /** Entity field on the project: a time-and-materials cap. Without it a change order with a cap is refused. */
  billingCap: string | null;
}

/** The script ids of the fields as docs/connectors/netsuite.md tells a firm to create them. */
export const DEFAULT_NETSUITE_CUSTOM_FIELDS: NetSuiteCustomFields = {
  sourceRefs: 'custcol_psf_source_refs',
  billingSchedule: 'custentity_psf_billing_schedule',
  budgetAmount: 'custentity_psf_budget_amount',
  billingCap: 'custentity_psf_billing_cap',
};

/** Where each custom field lives: the record, NetSuite's script id prefix, the field type to create, the type the metadata catalog shows. */
export const NETSUITE_CUSTOM_FIELD_KINDS: Record<keyof NetSuiteCustomFields, { record: 'invoice' | 'job'; sublist?: 'item'; prefix: string; createAs: string; schemaType: 'string' | 'number'; setting: string }> = {
  sourceRefs: { record: 'invoice', sublist: 'item', prefix: 'custcol', createAs: 'Transaction Line Field (Customization > Lists, Records, & Fields > Transaction Line Fields > New), type Long Text, applied to Sale Item and Invoice', schemaType: 'string', setting: 'sourceRefs' },
  billingSchedule: { record: 'job', prefix: 'custentity', createAs: 'Entity Field (Customization > Lists, Records, & Fields > Entity Fields > New), type Long Text, Applies To: Project', schemaType: 'string', setting: 'billingSchedule' },
  budgetAmount: { record: 'job', prefix: 'custentity', createAs: 'Entity Field (Customization > Lists, Records, & Fields > Entity Fields > New), type Currency, Applies To: Project', schemaType: 'number', setting: 'budgetAmount' },
  billingCap: { record: 'job', prefix: 'custentity', createAs: 'Entity Field (Customization > Lists, Records, & Fields > Entity Fields > New), type Currency, Applies To: Project', schemaType: 'number', setting: 'billingCap' },
};

/**
 * The config node's custom field setting (JSON object, keys as in NetSuiteCustomFields) merged over the defaults; `""`
 * or `null` = the account does not have the field. Throws naming the setting and what was expected.
 */
export function checkNetSuiteCustomFields(value: unknown): NetSuiteCustomFields {
  const out: NetSuiteCustomFields = { ...DEFAULT_NETSUITE_CUSTOM_FIELDS };
  if (value === undefined || value === null || value === '') return out;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the NetSuite custom fields setting must be a JSON object such as {"sourceRefs":"custcol_acme_billed_ids"}');
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const kind = NETSUITE_CUSTOM_FIELD_KINDS[k as keyof NetSuiteCustomFields];
    if (!kind) throw new Error(`the NetSuite custom fields setting names '${k}', which is not one of ${Object.keys(NETSUITE_CUSTOM_FIELD_KINDS).join(', ')}`);
    if (v === null || v === '') {
      out[k as keyof NetSuiteCustomFields] = null;
      continue;
    }
    if (typeof v !== 'string' || !new RegExp(`^${kind.prefix}[a-z0-9_]+$`, 'i').test(v)) throw new Error(`the NetSuite custom fields setting gives '${k}' the value ${JSON.stringify(v)}: expected the script id of a ${kind.record === 'invoice' ? 'transaction line' : 'project entity'} field (${kind.prefix}_...), or "" when the account does not have it`);
    out[k as keyof NetSuiteCustomFields] = v.toLowerCase();
  }
  return out;
}

function customFieldsOf(t: Pick<NetSuiteMappingTables, 'customFields'> | undefined): NetSuiteCustomFields {
  return { ...DEFAULT_NETSUITE_CUSTOM_FIELDS, ...(t?.customFields ?? {}) };
}

/** NetSuite external ids: letters, digits, _ and - only. */
export function toExternalId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_');
}

function need<T>(value: T | undefined, path: string, message: string, errors: FieldError[]): T | undefined {
  if (value === undefined || value === null || value === '') errors.push({ path, message });
  return value;
}

function lookup(table: Record<string, string> | undefined, key: string): string | undefined {
  if (!table) return undefined;
  return table[key] ?? table[key.toUpperCase()] ?? table['*'];
}

function throwIf(errors: FieldError[], what: string): void {
  if (errors.length) throw new ValidationError(`${what}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
}

/** Account -> customer body for `PUT /record/v1/customer/eid:<externalId>` (subsidiary, currency and tax mapped). */
export function accountToCustomer(account: CanonicalAccount, t: NetSuiteMappingTables): { externalId: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const subsidiary = need(lookup(t.subsidiaries, account.billingEntity), '/billingEntity', `has no NetSuite subsidiary mapped (billing entity ${account.billingEntity})`, errors);
  const currency = need(t.currencies[account.currency], '/currency', `${account.currency} is not a currency of the NetSuite account`, errors);
  throwIf(errors, `Account ${account.id} cannot be sent to NetSuite`);
  const externalId = toExternalId(account.externalIds?.netsuite && !/^\d+$/.test(account.externalIds.netsuite) ? account.externalIds.netsuite : account.id);
  const taxItem = lookup(t.taxItems, account.country);
  const reg = account.taxRegistrations?.find((r) => r.country === account.country) ?? account.taxRegistrations?.[0];
  const billing = account.addresses?.find((a) => a.type === 'billing') ?? account.addresses?.[0];
  const body: Record<string, unknown> = {
    externalId,
    entityId: externalId,
    companyName: account.legalName.slice(0, 83),
    isPerson: false,
    subsidiary: { id: subsidiary },
    currency: { id: currency },
    taxable: !!taxItem,
    ...(taxItem ? { taxItem: { id: taxItem } } : {}),
    ...(reg ? { vatRegNumber: reg.number } : {}),
    ...(account.primaryContact?.email ? { email: account.primaryContact.email } : {}),
    ...(account.paymentTermsDays !== undefined && t.terms?.[String(account.paymentTermsDays)] ? { terms: { id: t.terms[String(account.paymentTermsDays)] } } : {}),
    ...(account.status === 'inactive' ? { isInactive: true } : {}),
  };
  if (billing) {
    body.addressBook = {
      items: [{ defaultBilling: true, defaultShipping: billing.type !== 'shipping' ? true : false, label: 'Billing', addressBookAddress: { addr1: billing.line1, ...(billing.line2 ? { addr2: billing.line2 } : {}), city: billing.city, ...(billing.region ? { state: billing.region } : {}), ...(billing.postalCode ? { zip: billing.postalCode } : {}), country: { id: billing.country } } }],
    };
  }
  return { externalId, body };
}

/** Project -> job body. `customerId` is the customer's internal id (parent); `managerId` the employee's, if known. */
export function projectToJob(project: CanonicalProject, t: NetSuiteMappingTables, refs: { customerId: string; managerId?: string }): { externalId: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const subsidiary = need(lookup(t.subsidiaries, project.billingEntity), '/billingEntity', `has no NetSuite subsidiary mapped (billing entity ${project.billingEntity})`, errors);
  const currency = need(t.currencies[project.currency], '/currency', `${project.currency} is not a currency of the NetSuite account`, errors);
  throwIf(errors, `Project ${project.id} cannot be sent to NetSuite`);
  const externalId = toExternalId(project.externalIds?.netsuite && !/^\d+$/.test(project.externalIds.netsuite) ? project.externalIds.netsuite : project.id);
  const fields = customFieldsOf(t);
  return {
    externalId,
    body: {
      externalId,
      entityId: project.code.slice(0, 83),
      companyName: project.name.slice(0, 83),
      parent: { id: refs.customerId },
      subsidiary: { id: subsidiary },
      currency: { id: currency },
      startDate: project.startDate,
      ...(project.endDate ? { projectedEndDate: project.endDate } : {}),
      ...(refs.managerId ? { projectManager: { id: refs.managerId } } : {}),
      jobBillingType: jobBillingTypeFor(project.billingType, t),
      ...(project.budget && fields.budgetAmount ? { [fields.budgetAmount]: project.budget.amount.amount } : {}),
      ...(project.budget?.hours !== undefined ? { estimatedTimeOverride: toDuration(project.budget.hours) } : {}),
    },
  };
}

/**
 * NetSuite's job billing type for a canonical billing type: time and materials `TM`, fixed fee billed by milestones
 * `FBM` (Fixed Bid, Milestone), a retainer billed per interval `FBI` (Fixed Bid, Interval); `CB` (Charge-Based) where
 * the account bills from charges. The table's `jobBillingTypes` overrides each.
 */
export const DEFAULT_JOB_BILLING_TYPES: Record<string, string> = { 'time-and-materials': 'TM', 'fixed-fee': 'FBM', retainer: 'FBI' };

export function jobBillingTypeFor(billingType: string, t?: Pick<NetSuiteMappingTables, 'jobBillingTypes'>): string {
  return t?.jobBillingTypes?.[billingType] ?? DEFAULT_JOB_BILLING_TYPES[billingType] ?? 'TM';
}

/**
 * Billing schedule of a contract -> the job fields that carry it. Without the schedule field only the job billing type
 * changes; a cap the account has no field for is refused (NetSuite would be the one place the cap is recorded for
 * billing, and dropping it could let a capped contract be overbilled).
 */
export function billingScheduleToJob(schedule: CanonicalBillingSchedule, t?: Pick<NetSuiteMappingTables, 'jobBillingTypes' | 'customFields'>): Record<string, unknown> {
  const custom = customFieldsOf(t);
  const fields: Record<string, unknown> = custom.billingSchedule ? { [custom.billingSchedule]: JSON.stringify(schedule) } : {};
  if (schedule.type === 'time-and-materials') {
    fields.jobBillingType = jobBillingTypeFor('time-and-materials', t);
    if (schedule.cap) {
      if (!custom.billingCap) throw new ValidationError(`the billing schedule has a cap of ${schedule.cap.amount} ${schedule.cap.currency}, and the NetSuite account has no cap field (netsuite-config setting Custom fields > billingCap is empty, or the field it names is not in the account): create a Currency entity field applied to Project and name it in the setting, then replay; Check setup names what is missing`, [{ path: '/billingSchedule/cap', message: 'no NetSuite field for the cap (setting billingCap)' }]);
      fields[custom.billingCap] = schedule.cap.amount;
    }
  } else if (schedule.type === 'milestones') fields.jobBillingType = jobBillingTypeFor('fixed-fee', t);
  else fields.jobBillingType = jobBillingTypeFor('retainer', t);
  return fields;
}

/** Decimal hours -> NetSuite duration `H:MM`. */
export function toDuration(hours: number): string {
  const minutes = Math.round(hours * 60);
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}`;
}

/** TimeEntry -> timeBill body. `jobId` is the project's internal id (NetSuite puts customer:job in `customer`). */
export function timeEntryToTimeBill(entry: CanonicalTimeEntry, t: NetSuiteMappingTables, refs: { employeeId: string; jobId: string; subsidiaryId?: string }): { externalId: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const item = need(lookup(t.serviceItems, entry.role), '/role', `has no NetSuite service item mapped (role ${entry.role})`, errors);
  if (!(entry.hours > 0 && entry.hours <= 24)) errors.push({ path: '/hours', message: `must be more than 0 and at most 24, got ${entry.hours}` });
  throwIf(errors, `Time entry ${entry.id} cannot be sent to NetSuite`);
  const externalId = toExternalId(entry.id);
  return {
    externalId,
    body: {
      externalId,
      employee: { id: refs.employeeId },
      customer: { id: refs.jobId },
      item: { id: item },
      tranDate: entry.date,
      hours: toDuration(entry.hours),
      isBillable: entry.billable,
      ...(entry.rate ? { rate: entry.rate.unit === 'day' ? Math.round((entry.rate.amount / 8) * 100) / 100 : entry.rate.amount } : {}),
      memo: `${entry.id}${entry.notes ? ' - ' + entry.notes : ''}`.slice(0, 999),
      ...(refs.subsidiaryId ? { subsidiary: { id: refs.subsidiaryId } } : {}),
    },
  };
}

/**
 * Invoice -> invoice body with `item.items[]`; each line names the records it bills in the source refs column. An
 * account without that column gets no invoice: a line that cannot say which time it bills could bill it twice.
 */
export function invoiceToInvoice(invoice: CanonicalInvoice, t: NetSuiteMappingTables, refs: { customerId: string; jobId?: string }): { externalId: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const sourceRefs = customFieldsOf(t).sourceRefs;
  if (!sourceRefs) throw new ValidationError(`Invoice ${invoice.id} cannot be sent to NetSuite: the account has no transaction line field for the ids a line bills (netsuite-config setting Custom fields > sourceRefs is empty, or the field it names is not in the account). Create a Long Text transaction line field applied to Sale Item and Invoice (e.g. custcol_psf_source_refs), name it in the setting, then replay; Check setup names what is missing`, [{ path: '/lines/sourceRefs', message: 'no NetSuite field for the source refs (setting sourceRefs)' }]);
  const subsidiary = need(lookup(t.subsidiaries, invoice.billingEntity), '/billingEntity', `has no NetSuite subsidiary mapped (billing entity ${invoice.billingEntity})`, errors);
  const currency = need(t.currencies[invoice.currency], '/currency', `${invoice.currency} is not a currency of the NetSuite account`, errors);
  const lines = invoice.lines.map((line, i) => {
    const item = need(lookup(t.serviceItems, line.role ?? '*'), `/lines/${i}/role`, `has no NetSuite service item mapped (role ${line.role ?? '(none)'})`, errors);
    if (!line.sourceRefs?.length) errors.push({ path: `/lines/${i}/sourceRefs`, message: 'must name the entries the line bills' });
    const ids = (line.sourceRefs ?? []).map((r) => r.id);
    return {
      item: { id: item },
      quantity: line.quantity,
      rate: line.unitPrice.amount,
      amount: line.amount.amount,
      description: line.description.slice(0, 4000),
      [sourceRefs]: ids.join(',').slice(0, 3999),
      ...(refs.jobId ? { job: { id: refs.jobId } } : {}),
    };
  });
  throwIf(errors, `Invoice ${invoice.id} cannot be sent to NetSuite`);
  const externalId = toExternalId(invoice.id);
  return {
    externalId,
    body: {
      externalId,
      entity: { id: refs.customerId },
      ...(refs.jobId ? { job: { id: refs.jobId } } : {}),
      subsidiary: { id: subsidiary },
      currency: { id: currency },
      tranDate: invoice.issueDate,
      dueDate: invoice.dueDate,
      ...(invoice.purchaseOrder ? { otherRefNum: invoice.purchaseOrder } : {}),
      memo: `PS Fabric ${invoice.id}${invoice.periodStart ? ` ${invoice.periodStart}..${invoice.periodEnd ?? ''}` : ''}`.slice(0, 999),
      item: { items: lines },
    },
  };
}
