/**
 * The legacy on-prem ERP's flat format (company FR01, billing entity NWA-FR), both ways.
 * One record per line, fields separated by `;`, no quoting (a `;` or line break inside a text field is
 * not representable: encoders replace them with `,` / space). Amounts and hours carry 2 implied decimals
 * (`0750` = 7.50). Dates `YYYYMMDD`, timestamps `YYYYMMDDHHMMSS` (UTC). Lines end with CRLF; LF is accepted.
 *
 * TE  time entry (ERP -> fabric, topic `legacy/fr01/time/out`), 11 fields:
 *     TE;entryId;consultantCode;projectCode;date;hours;rate;currency;billable;approvedAt;description
 *     TE;FR-TE-000123;CON-011;FR01-LUM-OM;20261116;000750;000015500;EUR;Y;20261117093000;Order mgmt workshop
 * IH  invoice header (fabric -> ERP, topic `legacy/fr01/invoice/in`), 10 fields, followed by its IL lines in the same message:
 *     IH;invoiceNo;customerCode;projectCode;issueDate;dueDate;currency;netTotal;taxTotal;lineCount
 * IL  invoice line, 8 fields:
 *     IL;invoiceNo;lineNo;sourceEntryId;description;quantity;unitPrice;amount
 * AK  acknowledgement (ERP -> fabric, topic `legacy/fr01/invoice/ack`), 5 fields:
 *     AK;invoiceNo;OK|ER;erpDocumentNo-or-errorCode;message
 */
import crypto from 'node:crypto';
import { ValidationError, type FieldError } from '../../delivery/errors';

export const TOPICS = {
  timeOut: 'legacy/fr01/time/out',
  invoiceIn: 'legacy/fr01/invoice/in',
  invoiceAck: 'legacy/fr01/invoice/ack',
} as const;

export const LEGACY_BILLING_ENTITY = 'NWA-FR';
export const LEGACY_COMPANY = 'FR01';
/** Canonical ids of records that came from the legacy ERP: `LEG-<entryId>`. */
export const ID_PREFIX = 'LEG-';

export interface LegacyTimeEntry {
  entryId: string;
  consultantCode: string;
  projectCode: string;
  date: string; // YYYY-MM-DD
  hours: number;
  rate: number;
  currency: string;
  billable: boolean;
  approvedAt: string; // ISO
  description: string;
}

export interface LegacyInvoiceLine {
  lineNo: number;
  sourceEntryId: string;
  description: string;
  quantity: number;
  unitPrice: number;
  amount: number;
}

export interface LegacyInvoice {
  invoiceNo: string;
  customerCode: string;
  projectCode: string;
  issueDate: string;
  dueDate: string;
  currency: string;
  netTotal: number;
  taxTotal: number;
  lines: LegacyInvoiceLine[];
}

export interface LegacyAck {
  invoiceNo: string;
  ok: boolean;
  /** ERP document number when ok, error code otherwise. */
  reference: string;
  message: string;
}

/** A malformed line: which line, which field, what was expected, what came. */
export interface LineError {
  line: number;
  field: string;
  position: number;
  expected: string;
  got: string;
}

export class LegacyFormatError extends ValidationError {
  readonly lineErrors: LineError[];
  constructor(errors: LineError[]) {
    super(
      `legacy flat format: ${errors.map((e) => `line ${e.line} field ${e.position} (${e.field}): expected ${e.expected}, got ${JSON.stringify(e.got)}`).join('; ')}`,
      errors.map((e): FieldError => ({ path: `/lines/${e.line}/${e.field}`, message: `expected ${e.expected}, got ${JSON.stringify(e.got)}` })),
    );
    this.lineErrors = errors;
  }
}

// ---------- field codecs ----------
interface FieldSpec {
  name: string;
  expected: string;
  test: RegExp;
}
const F = {
  code: (name: string, max: number): FieldSpec => ({ name, expected: `1-${max} characters of A-Z a-z 0-9 . _ / -`, test: new RegExp(`^[A-Za-z0-9._/-]{1,${max}}$`) }),
  date: (name: string): FieldSpec => ({ name, expected: 'a date YYYYMMDD', test: /^\d{8}$/ }),
  stamp: (name: string): FieldSpec => ({ name, expected: 'a UTC timestamp YYYYMMDDHHMMSS', test: /^\d{14}$/ }),
  num: (name: string, digits: number): FieldSpec => ({ name, expected: `${digits} digits with 2 implied decimals`, test: new RegExp(`^\\d{${digits}}$`) }),
  int: (name: string, max: number): FieldSpec => ({ name, expected: `an integer of 1-${max} digits`, test: new RegExp(`^\\d{1,${max}}$`) }),
  currency: (name: string): FieldSpec => ({ name, expected: 'an ISO 4217 code in upper case', test: /^[A-Z]{3}$/ }),
  yn: (name: string): FieldSpec => ({ name, expected: 'Y or N', test: /^[YN]$/ }),
  text: (name: string, max: number): FieldSpec => ({ name, expected: `text up to ${max} characters`, test: new RegExp(`^[^;\\r\\n]{0,${max}}$`) }),
  status: (name: string): FieldSpec => ({ name, expected: 'OK or ER', test: /^(OK|ER)$/ }),
};

const TE_FIELDS = [F.code('entryId', 20), F.code('consultantCode', 10), F.code('projectCode', 20), F.date('date'), F.num('hours', 6), F.num('rate', 9), F.currency('currency'), F.yn('billable'), F.stamp('approvedAt'), F.text('description', 60)];
const IH_FIELDS = [F.code('invoiceNo', 20), F.code('customerCode', 20), F.code('projectCode', 20), F.date('issueDate'), F.date('dueDate'), F.currency('currency'), F.num('netTotal', 12), F.num('taxTotal', 12), F.int('lineCount', 4)];
const IL_FIELDS = [F.code('invoiceNo', 20), F.int('lineNo', 4), F.code('sourceEntryId', 20), F.text('description', 60), F.num('quantity', 8), F.num('unitPrice', 9), F.num('amount', 12)];
const AK_FIELDS = [F.code('invoiceNo', 20), F.status('status'), F.text('reference', 20), F.text('message', 200)];
const LAYOUTS: Record<string, FieldSpec[]> = { TE: TE_FIELDS, IH: IH_FIELDS, IL: IL_FIELDS, AK: AK_FIELDS };

const dateToIso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
const isoToDate = (d: string) => d.replace(/-/g, '').slice(0, 8);
const stampToIso = (s: string) => `${dateToIso(s)}T${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}Z`;
const isoToStamp = (iso: string) => new Date(iso).toISOString().replace(/[-:T]/g, '').slice(0, 14);
const implied = (s: string) => Number(s) / 100;
const pad = (value: number, digits: number, field: string): string => {
  const cents = Math.round(value * 100);
  if (!Number.isFinite(cents) || cents < 0 || String(cents).length > digits) throw new ValidationError(`legacy flat format: ${field} ${value} does not fit ${digits} digits with 2 implied decimals`, [{ path: `/${field}`, message: `0 .. ${(10 ** digits - 1) / 100}` }]);
  return String(cents).padStart(digits, '0');
};
const clean = (s: string, max: number) => String(s ?? '').replace(/;/g, ',').replace(/[\r\n]+/g, ' ').slice(0, max);

function validDate(d: string): boolean {
  const iso = dateToIso(d);
  const t = Date.parse(`${iso}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === iso;
}

/** Splits and checks one line against its record type; errors carry the 1-based line number. */
export function parseLine(text: string, lineNo = 1): { type: string; fields: Record<string, string> } | { errors: LineError[] } {
  const parts = text.replace(/\r$/, '').split(';');
  const type = parts[0];
  const layout = LAYOUTS[type];
  if (!layout) return { errors: [{ line: lineNo, field: 'recordType', position: 1, expected: `one of ${Object.keys(LAYOUTS).join(', ')}`, got: type.slice(0, 20) }] };
  if (parts.length !== layout.length + 1) return { errors: [{ line: lineNo, field: 'fieldCount', position: parts.length, expected: `${layout.length + 1} fields for ${type}`, got: String(parts.length) }] };
  const errors: LineError[] = [];
  const fields: Record<string, string> = {};
  layout.forEach((spec, i) => {
    const v = parts[i + 1];
    let ok = spec.test.test(v);
    if (ok && spec.expected.startsWith('a date')) ok = validDate(v);
    if (ok && spec.expected.startsWith('a UTC timestamp')) ok = validDate(v.slice(0, 8)) && Number(v.slice(8, 10)) < 24 && Number(v.slice(10, 12)) < 60 && Number(v.slice(12, 14)) < 60;
    if (!ok) errors.push({ line: lineNo, field: spec.name, position: i + 2, expected: spec.expected, got: v });
    fields[spec.name] = v;
  });
  return errors.length ? { errors } : { type, fields };
}

function splitLines(payload: string | Buffer): string[] {
  return String(payload).split(/\r?\n/).filter((l) => l.trim() !== '');
}

// ---------- time entries ----------
export function encodeTimeEntry(e: LegacyTimeEntry): string {
  return ['TE', e.entryId, e.consultantCode, e.projectCode, isoToDate(e.date), pad(e.hours, 6, 'hours'), pad(e.rate, 9, 'rate'), e.currency, e.billable ? 'Y' : 'N', isoToStamp(e.approvedAt), clean(e.description, 60)].join(';');
}

export interface DecodeResult<T> {
  records: T[];
  errors: LineError[];
}

/** Decodes every TE line of a payload; malformed lines are reported, not thrown. */
export function decodeTimeEntries(payload: string | Buffer): DecodeResult<LegacyTimeEntry> {
  const out: DecodeResult<LegacyTimeEntry> = { records: [], errors: [] };
  splitLines(payload).forEach((line, i) => {
    const parsed = parseLine(line, i + 1);
    if ('errors' in parsed) return void out.errors.push(...parsed.errors);
    if (parsed.type !== 'TE') return void out.errors.push({ line: i + 1, field: 'recordType', position: 1, expected: 'TE', got: parsed.type });
    const f = parsed.fields;
    out.records.push({ entryId: f.entryId, consultantCode: f.consultantCode, projectCode: f.projectCode, date: dateToIso(f.date), hours: implied(f.hours), rate: implied(f.rate), currency: f.currency, billable: f.billable === 'Y', approvedAt: stampToIso(f.approvedAt), description: f.description });
  });
  return out;
}

/** Legacy time entry -> canonical TimeEntry (lib/model/schemas/time-entry.v1.json). */
export function toCanonicalTimeEntry(e: LegacyTimeEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: `${ID_PREFIX}${e.entryId}`,
    version: 1,
    externalIds: { legacy: e.entryId },
    person: { id: e.consultantCode },
    projectId: e.projectCode,
    date: e.date,
    hours: e.hours,
    role: 'Consultant',
    billable: e.billable,
    rate: { amount: e.rate, currency: e.currency, unit: 'hour' },
    status: 'approved',
    approvedAt: e.approvedAt,
  };
  if (e.description) out.notes = e.description;
  return out;
}

/** Canonical TimeEntry -> legacy record (for the simulator and tests). */
export function fromCanonicalTimeEntry(t: Record<string, any>): LegacyTimeEntry {
  return {
    entryId: String(t.externalIds?.legacy ?? String(t.id).replace(ID_PREFIX, '')),
    consultantCode: t.person?.id,
    projectCode: t.projectId,
    date: t.date,
    hours: t.hours,
    rate: t.rate?.amount ?? 0,
    currency: t.rate?.currency ?? 'EUR',
    billable: !!t.billable,
    approvedAt: t.approvedAt ?? new Date().toISOString(),
    description: t.notes ?? '',
  };
}

// ---------- invoices ----------
export function encodeInvoice(inv: LegacyInvoice): string {
  const lines = [['IH', inv.invoiceNo, inv.customerCode, inv.projectCode, isoToDate(inv.issueDate), isoToDate(inv.dueDate), inv.currency, pad(inv.netTotal, 12, 'netTotal'), pad(inv.taxTotal, 12, 'taxTotal'), String(inv.lines.length)].join(';')];
  for (const l of inv.lines) lines.push(['IL', inv.invoiceNo, String(l.lineNo), l.sourceEntryId, clean(l.description, 60), pad(l.quantity, 8, 'quantity'), pad(l.unitPrice, 9, 'unitPrice'), pad(l.amount, 12, 'amount')].join(';'));
  return lines.join('\r\n') + '\r\n';
}

/** Decodes one invoice message (IH then its IL lines); checks line count, numbering and totals. */
export function decodeInvoice(payload: string | Buffer): { invoice?: LegacyInvoice; errors: LineError[] } {
  const lines = splitLines(payload);
  const errors: LineError[] = [];
  let inv: LegacyInvoice | undefined;
  lines.forEach((line, i) => {
    const parsed = parseLine(line, i + 1);
    if ('errors' in parsed) return void errors.push(...parsed.errors);
    const f = parsed.fields;
    if (i === 0) {
      if (parsed.type !== 'IH') return void errors.push({ line: 1, field: 'recordType', position: 1, expected: 'IH (an invoice starts with its header)', got: parsed.type });
      inv = { invoiceNo: f.invoiceNo, customerCode: f.customerCode, projectCode: f.projectCode, issueDate: dateToIso(f.issueDate), dueDate: dateToIso(f.dueDate), currency: f.currency, netTotal: implied(f.netTotal), taxTotal: implied(f.taxTotal), lines: [] };
      (inv as LegacyInvoice & { declared?: number }).declared = Number(f.lineCount);
      return;
    }
    if (parsed.type !== 'IL') return void errors.push({ line: i + 1, field: 'recordType', position: 1, expected: 'IL', got: parsed.type });
    if (inv && f.invoiceNo !== inv.invoiceNo) errors.push({ line: i + 1, field: 'invoiceNo', position: 2, expected: `the header's invoice number ${inv.invoiceNo}`, got: f.invoiceNo });
    inv?.lines.push({ lineNo: Number(f.lineNo), sourceEntryId: f.sourceEntryId, description: f.description, quantity: implied(f.quantity), unitPrice: implied(f.unitPrice), amount: implied(f.amount) });
  });
  if (lines.length === 0) errors.push({ line: 1, field: 'recordType', position: 1, expected: 'IH', got: '' });
  if (inv && errors.length === 0) {
    const declared = (inv as LegacyInvoice & { declared?: number }).declared!;
    if (declared !== inv.lines.length) errors.push({ line: 1, field: 'lineCount', position: 10, expected: `${inv.lines.length} (the IL lines that follow)`, got: String(declared) });
    const sum = Math.round(inv.lines.reduce((s, l) => s + l.amount, 0) * 100);
    if (sum !== Math.round(inv.netTotal * 100)) errors.push({ line: 1, field: 'netTotal', position: 8, expected: `the sum of the line amounts ${(sum / 100).toFixed(2)}`, got: inv.netTotal.toFixed(2) });
  }
  if (inv) delete (inv as LegacyInvoice & { declared?: number }).declared;
  return errors.length ? { errors } : { invoice: inv, errors };
}

/**
 * The legacy ERP keeps 20 characters of invoice number. Our invoice ids are longer (customer, project and period),
 * and cutting them made invoices of one month collide, so the ERP booked only the first. A long id keeps a readable
 * head and ends in a hash of the whole id: stable across re-runs (a repost is recognised), distinct per invoice.
 */
export function legacyInvoiceNo(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9._/-]/g, '-');
  if (cleaned.length <= 20) return cleaned;
  const hash = BigInt('0x' + crypto.createHash('sha256').update(id).digest('hex').slice(0, 16)).toString(36).toUpperCase().padStart(8, '0').slice(-8);
  return `${cleaned.slice(0, 11).replace(/[-._/]+$/, '')}-${hash}`;
}

/** Canonical Invoice (lib/model/schemas/invoice.v1.json) -> legacy invoice posting. */
export function fromCanonicalInvoice(inv: Record<string, any>): LegacyInvoice {
  const problems: FieldError[] = [];
  if (inv.billingEntity !== undefined && inv.billingEntity !== LEGACY_BILLING_ENTITY) problems.push({ path: '/billingEntity', message: `the legacy ERP bills ${LEGACY_BILLING_ENTITY} only, got ${inv.billingEntity}` });
  if (!Array.isArray(inv.lines) || inv.lines.length === 0) problems.push({ path: '/lines', message: 'at least one line' });
  if (problems.length) throw new ValidationError('invoice cannot be posted to the legacy ERP', problems);
  const number = String(inv.number ?? inv.id);
  const lines: LegacyInvoiceLine[] = inv.lines.map((l: Record<string, any>, i: number) => ({
    lineNo: l.lineNumber ?? i + 1,
    sourceEntryId: String(l.sourceRefs?.[0]?.id ?? '').replace(ID_PREFIX, '').replace(/^KAN-[A-Z]+-/, '') || `L${i + 1}`,
    description: l.description,
    quantity: l.quantity,
    unitPrice: l.unitPrice?.amount ?? 0,
    amount: l.amount?.amount ?? 0,
  }));
  return {
    invoiceNo: legacyInvoiceNo(number),
    customerCode: String(inv.accountId),
    projectCode: String(inv.projectId ?? 'NONE'),
    issueDate: inv.issueDate,
    dueDate: inv.dueDate,
    currency: inv.currency,
    netTotal: inv.subtotal?.amount ?? lines.reduce((s, l) => s + l.amount, 0),
    taxTotal: inv.taxTotal?.amount ?? 0,
    lines,
  };
}

// ---------- acknowledgements ----------
export function encodeAck(a: LegacyAck): string {
  return ['AK', a.invoiceNo, a.ok ? 'OK' : 'ER', clean(a.reference, 20), clean(a.message, 200)].join(';') + '\r\n';
}

export function decodeAck(payload: string | Buffer): { ack?: LegacyAck; errors: LineError[] } {
  const line = splitLines(payload)[0] ?? '';
  const parsed = parseLine(line, 1);
  if ('errors' in parsed) return { errors: parsed.errors };
  if (parsed.type !== 'AK') return { errors: [{ line: 1, field: 'recordType', position: 1, expected: 'AK', got: parsed.type }] };
  const f = parsed.fields;
  return { ack: { invoiceNo: f.invoiceNo, ok: f.status === 'OK', reference: f.reference, message: f.message }, errors: [] };
}
