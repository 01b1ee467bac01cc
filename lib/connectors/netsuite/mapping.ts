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
}

/** Transaction-line custom column that names the canonical records a line bills (comma-separated). */
export const SOURCE_REFS_FIELD = 'custcol_psf_source_refs';
/** Custom entity field on the project (job) carrying the contract billing schedule as JSON. */
export const BILLING_SCHEDULE_FIELD = 'custentity_psf_billing_schedule';

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
      ...(project.budget ? { custentity_psf_budget_amount: project.budget.amount.amount, ...(project.budget.hours !== undefined ? { estimatedTimeOverride: toDuration(project.budget.hours) } : {}) } : {}),
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

/** Billing schedule of a contract -> the job fields that carry it. */
export function billingScheduleToJob(schedule: CanonicalBillingSchedule, t?: Pick<NetSuiteMappingTables, 'jobBillingTypes'>): Record<string, unknown> {
  const fields: Record<string, unknown> = { [BILLING_SCHEDULE_FIELD]: JSON.stringify(schedule) };
  if (schedule.type === 'time-and-materials') {
    fields.jobBillingType = jobBillingTypeFor('time-and-materials', t);
    if (schedule.cap) fields.custentity_psf_billing_cap = schedule.cap.amount;
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

/** Invoice -> invoice body with `item.items[]`; each line names the records it bills in SOURCE_REFS_FIELD and its memo. */
export function invoiceToInvoice(invoice: CanonicalInvoice, t: NetSuiteMappingTables, refs: { customerId: string; jobId?: string }): { externalId: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
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
      [SOURCE_REFS_FIELD]: ids.join(',').slice(0, 3999),
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
