/**
 * Canonical model -> Business Central API v2.0 payloads (customers, projects, timeRegistrationEntries,
 * salesInvoices with salesInvoiceLines). Pure functions; the one place that knows BC field names and lengths.
 */
import crypto from 'node:crypto';
import { ValidationError, type FieldError } from '../../delivery/errors';
import type { CanonicalAccount, CanonicalInvoice, CanonicalProject, CanonicalTimeEntry } from '../netsuite/mapping';

export type { CanonicalAccount, CanonicalInvoice, CanonicalProject, CanonicalTimeEntry } from '../netsuite/mapping';

export interface BusinessCentralMappingTables {
  /** The company's local currency (LCY): BC leaves currencyCode empty for it. */
  localCurrency: string;
  /** The company's country, to choose the VAT business posting group (tax area) of a customer. */
  companyCountry: string;
  /** Tax area code per situation; BC (non-US) exposes VAT business posting groups as taxAreas. */
  taxAreas: { domestic: string; eu: string; export: string };
  /** role -> item number used on invoice lines (`*` = default). */
  items: Record<string, string>;
}

export const BC_DEMO_TABLES: Record<string, BusinessCentralMappingTables> = {
  'NWA UK': { localCurrency: 'GBP', companyCountry: 'GB', taxAreas: { domestic: 'DOMESTIC', eu: 'EU', export: 'EXPORT' }, items: { '*': 'SRV-TIME', 'Solution Architect': 'SRV-ARCH', 'Engagement Manager': 'SRV-EM', 'Senior Consultant': 'SRV-SRCONS', Consultant: 'SRV-CONS' } },
  'NWA DE': { localCurrency: 'EUR', companyCountry: 'DE', taxAreas: { domestic: 'DOMESTIC', eu: 'EU', export: 'EXPORT' }, items: { '*': 'SRV-TIME', 'Solution Architect': 'SRV-ARCH', 'Engagement Manager': 'SRV-EM', 'Senior Consultant': 'SRV-SRCONS', Consultant: 'SRV-CONS' } },
};

const EU = new Set(['AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE']);

function fit(value: string, max: number, path: string, errors: FieldError[]): string {
  if (value.length > max) errors.push({ path, message: `is ${value.length} characters; Business Central allows ${max}` });
  return value;
}

function throwIf(errors: FieldError[], what: string): void {
  if (errors.length) throw new ValidationError(`${what}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
}

/**
 * Where customer and project numbers come from. `series` (default): BC assigns them from the company's number
 * series and the connector never types one (a series without Manual Nos. refuses a typed number). `manual`: the
 * connector types the canonical id / project code, which only a series with Manual Nos. accepts.
 */
export type BcNumbering = 'series' | 'manual';
export const BC_NUMBERINGS: readonly BcNumbering[] = ['series', 'manual'];

/** The customer number BC gave this account, when the canonical record already carries it (not a GUID). */
export function knownBcNumber(externalIds: Record<string, string> | undefined): string | undefined {
  const bc = externalIds?.businessCentral;
  return bc && !/^[0-9a-f]{8}-/i.test(bc) ? bc : undefined;
}

/** Customer number typed in `manual` numbering (max 20): the BC external id if known, else the canonical id. */
export function customerNumberOf(account: Pick<CanonicalAccount, 'id' | 'externalIds'>): string {
  return knownBcNumber(account.externalIds) ?? account.id;
}

/** The tax registration number BC keeps for the account (country prefix of the canonical scheme removed). */
export function bcTaxRegistrationNumber(account: Pick<CanonicalAccount, 'country' | 'taxRegistrations'>): string | undefined {
  const reg = account.taxRegistrations?.find((r) => r.country === account.country) ?? account.taxRegistrations?.[0];
  return reg ? reg.number.replace(/^[A-Z]{2}-[A-Z]+-/, '') : undefined;
}

export function taxAreaCodeFor(country: string, t: BusinessCentralMappingTables): string {
  if (country === t.companyCountry) return t.taxAreas.domestic;
  if (EU.has(country) && EU.has(t.companyCountry)) return t.taxAreas.eu;
  return t.taxAreas.export;
}

export function bcCurrencyCode(currency: string, t: BusinessCentralMappingTables): string {
  return currency === t.localCurrency ? '' : currency;
}

/** Account -> customer body (without taxAreaId, which the connector resolves from `taxAreaCode`). */
export function accountToCustomer(account: CanonicalAccount, t: BusinessCentralMappingTables, numbering: BcNumbering = 'series'): { number?: string; taxAreaCode: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const number = numbering === 'manual' ? fit(customerNumberOf(account), 20, '/id', errors) : undefined;
  const billing = account.addresses?.find((a) => a.type === 'billing') ?? account.addresses?.[0];
  const taxRegistrationNumber = bcTaxRegistrationNumber(account);
  const body: Record<string, unknown> = {
    ...(number ? { number } : {}),
    displayName: fit(account.legalName, 100, '/legalName', errors),
    type: 'Company',
    currencyCode: bcCurrencyCode(account.currency, t),
    taxLiable: true,
    taxRegistrationNumber: taxRegistrationNumber !== undefined ? fit(taxRegistrationNumber, 20, '/taxRegistrations/0/number', errors) : '',
    ...(billing ? { addressLine1: fit(billing.line1, 100, '/addresses/0/line1', errors), addressLine2: billing.line2 ?? '', city: fit(billing.city, 30, '/addresses/0/city', errors), state: billing.region ?? '', postalCode: billing.postalCode ?? '', country: billing.country } : { country: account.country }),
    ...(account.primaryContact?.email ? { email: account.primaryContact.email } : {}),
    ...(account.status === 'on-hold' || account.status === 'inactive' ? { blocked: 'All' } : {}),
  };
  throwIf(errors, `Account ${account.id} cannot be sent to Business Central`);
  return { number, taxAreaCode: taxAreaCodeFor(account.country, t), body };
}

/** Project number typed in `manual` numbering (max 20): the BC external id if known, else the project code (or id). */
export function projectNumberOf(project: Pick<CanonicalProject, 'id' | 'code' | 'externalIds'>): string {
  return knownBcNumber(project.externalIds) ?? (project.code.length <= 20 ? project.code : project.id);
}

/**
 * The project's BC name (max 100): its name and, in brackets, its canonical id. API v2.0 projects carry only number
 * and displayName, so with series numbering the name is the one stable thing a lookup (and reconciliation) can find
 * the project by; the id in it keeps two projects of the same name apart.
 */
export function projectDisplayNameOf(project: Pick<CanonicalProject, 'id' | 'name'>): string {
  const suffix = ` (${project.id})`;
  return project.name.slice(0, Math.max(0, 100 - suffix.length)).trimEnd() + suffix;
}

export function projectToProject(project: CanonicalProject, numbering: BcNumbering = 'series'): { number?: string; displayName: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const number = numbering === 'manual' ? fit(projectNumberOf(project), 20, '/code', errors) : undefined;
  const displayName = fit(projectDisplayNameOf(project), 100, '/code', errors);
  throwIf(errors, `Project ${project.id} cannot be sent to Business Central`);
  return { number, displayName, body: { ...(number ? { number } : {}), displayName } };
}

export function timeEntryToRegistration(entry: CanonicalTimeEntry, refs: { jobNumber: string; jobTaskNumber: string; employeeNumber?: string }): Record<string, unknown> {
  const errors: FieldError[] = [];
  if (!(entry.hours > 0 && entry.hours <= 24)) errors.push({ path: '/hours', message: `must be more than 0 and at most 24, got ${entry.hours}` });
  const employeeNumber = fit(refs.employeeNumber ?? entry.person.id, 20, '/person/id', errors);
  throwIf(errors, `Time entry ${entry.id} cannot be sent to Business Central`);
  return { employeeNumber, jobNumber: refs.jobNumber, jobTaskNumber: refs.jobTaskNumber, date: entry.date, quantity: entry.hours };
}

/** Stable `externalDocumentNumber` (max 35) for an invoice: its id, or a hash of it when longer. */
export function externalDocumentNumberOf(invoiceId: string): string {
  if (invoiceId.length <= 35) return invoiceId;
  return 'PSF-' + crypto.createHash('sha256').update(invoiceId).digest('hex').slice(0, 31).toUpperCase();
}

/**
 * Invoice -> salesInvoice with salesInvoiceLines for a deep insert. Hour lines whose sourceRefs all carry hours
 * become one BC line per entry (quantity = its hours, description2 = the entry id), so every BC line names exactly
 * one time entry; other lines stay one line with the ids in description2 (max 50, longer lists are cut with "+n").
 */
export function invoiceToSalesInvoice(invoice: CanonicalInvoice, t: BusinessCentralMappingTables, refs: { customerNumber: string }): { externalDocumentNumber: string; body: Record<string, unknown> } {
  const errors: FieldError[] = [];
  const lines: Record<string, unknown>[] = [];
  invoice.lines.forEach((line, i) => {
    const itemNumber = t.items[line.role ?? ''] ?? t.items['*'];
    if (!itemNumber) errors.push({ path: `/lines/${i}/role`, message: `has no Business Central item mapped (role ${line.role ?? '(none)'})` });
    if (!line.sourceRefs?.length) errors.push({ path: `/lines/${i}/sourceRefs`, message: 'must name the entries the line bills' });
    const description = line.description.slice(0, 100);
    const perEntry = (line.unit ?? 'hour') === 'hour' && line.sourceRefs.length > 1 && line.sourceRefs.every((r) => typeof r.hours === 'number');
    if (perEntry) {
      for (const ref of line.sourceRefs) lines.push({ lineType: 'Item', lineObjectNumber: itemNumber, description, description2: ref.id.slice(0, 50), quantity: ref.hours, unitPrice: line.unitPrice.amount });
    } else {
      let refsText = line.sourceRefs.map((r) => r.id).join(',');
      if (refsText.length > 50) {
        const ids = line.sourceRefs.map((r) => r.id);
        let kept = '';
        let n = 0;
        for (const id of ids) {
          const next = kept ? `${kept},${id}` : id;
          if (next.length + ` +${ids.length - n - 1}`.length > 50) break;
          kept = next;
          n += 1;
        }
        refsText = `${kept} +${ids.length - n}`;
      }
      lines.push({ lineType: 'Item', lineObjectNumber: itemNumber, description, description2: refsText, quantity: line.quantity, unitPrice: line.unitPrice.amount });
    }
  });
  const externalDocumentNumber = externalDocumentNumberOf(invoice.id);
  throwIf(errors, `Invoice ${invoice.id} cannot be sent to Business Central`);
  return {
    externalDocumentNumber,
    body: {
      externalDocumentNumber,
      customerNumber: refs.customerNumber,
      invoiceDate: invoice.issueDate,
      postingDate: invoice.issueDate,
      dueDate: invoice.dueDate,
      currencyCode: bcCurrencyCode(invoice.currency, t),
      ...(invoice.purchaseOrder ? { customerPurchaseOrderReference: invoice.purchaseOrder.slice(0, 35) } : {}),
      salesInvoiceLines: lines,
    },
  };
}
