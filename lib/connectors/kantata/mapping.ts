/**
 * Kantata records -> canonical TimeEntry / Expense (lib/model/schemas), plus the workspace context
 * (billing entity, opportunity, customer) a time-to-cash flow groups by. Ids: `KAN-TE-<id>`,
 * `KAN-EX-<id>`, project `KAN-WS-<workspace id>`; the Kantata id is kept in `externalIds.kantata`.
 */
/** A Kantata record as the API answers it (JSON). */
export type KRecord = Record<string, any>;

/**
 * The workspace custom fields PS Fabric writes and reads, by what they carry. Custom field ids differ in every Kantata
 * account, so each is a setting of the config node: the field's id, or its name as Kantata shows it (resolved through
 * `GET /custom_fields`). `null` = the account does not have it.
 * - billingEntity, accountExternalId: time-to-cash bills a workspace's time through them. A project shell is refused
 *   when the account lacks either (the time booked on it could not be invoiced).
 * - opportunityId, erpProjectId: optional; without them the shell is created without the value, reconciliation
 *   matches the project by its external reference only, and invoices do not name the ERP project.
 */
export interface KantataCustomFields {
  billingEntity: string | null;
  opportunityId: string | null;
  accountExternalId: string | null;
  erpProjectId: string | null;
}
export type KantataCustomField = keyof KantataCustomFields;

/** The names docs/connectors/kantata.md tells a firm to give the fields (Settings > Custom Fields > Projects). */
export const DEFAULT_KANTATA_CUSTOM_FIELDS: KantataCustomFields = {
  billingEntity: 'Billing Entity',
  opportunityId: 'Salesforce Opportunity Id',
  accountExternalId: 'Customer External Id',
  erpProjectId: 'ERP Project Id',
};

/** Fields a project shell cannot be created without (see KantataCustomFields). */
export const REQUIRED_KANTATA_CUSTOM_FIELDS: KantataCustomField[] = ['billingEntity', 'accountExternalId'];

/** The value type each field must have in Kantata (`GET /custom_fields` `value_type`). */
export const KANTATA_CUSTOM_FIELD_VALUE_TYPE = 'string';

/**
 * The config node's custom field setting (JSON object keyed as KantataCustomFields: an id such as "7731" or a field
 * name) merged over the defaults. Throws naming the setting and what was expected.
 */
export function checkKantataCustomFields(value: unknown): KantataCustomFields {
  const out: KantataCustomFields = { ...DEFAULT_KANTATA_CUSTOM_FIELDS };
  if (value === undefined || value === null || value === '') return out;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the Kantata custom fields setting must be a JSON object such as {"billingEntity":"7731"}');
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(k in DEFAULT_KANTATA_CUSTOM_FIELDS)) throw new Error(`the Kantata custom fields setting names '${k}', which is not one of ${Object.keys(DEFAULT_KANTATA_CUSTOM_FIELDS).join(', ')}`);
    const required = REQUIRED_KANTATA_CUSTOM_FIELDS.includes(k as KantataCustomField);
    if (v === null || v === '') {
      if (required) throw new Error(`the Kantata custom fields setting leaves '${k}' empty: time-to-cash cannot bill a project without it; give the id or name of a Project custom field of type text`);
      out[k as KantataCustomField] = null;
      continue;
    }
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) {
      out[k as KantataCustomField] = String(v);
      continue;
    }
    if (typeof v !== 'string' || !v.trim() || v.length > 255) throw new Error(`the Kantata custom fields setting gives '${k}' the value ${JSON.stringify(v)}: expected a custom field id (digits) or the field's name as Kantata shows it${required ? '' : ', or "" when the account does not have it'}`);
    out[k as KantataCustomField] = v.trim();
  }
  return out;
}

/** A setting value that is a custom field id rather than a name. */
export function isCustomFieldId(v: string): boolean {
  return /^\d+$/.test(v);
}

export interface WorkspaceContext {
  workspaceId: string;
  projectId: string;
  title: string;
  currency: string;
  billingEntity?: string;
  opportunityId?: string;
  accountExternalId?: string;
  erpProjectId?: string;
}

/** `fieldNames`: custom field id -> KantataCustomField, from `KantataClient.customFieldNames()`. */
export function workspaceContext(ws: KRecord | undefined, fieldNames: Record<string, string>): WorkspaceContext | undefined {
  if (!ws) return undefined;
  const ctx: WorkspaceContext = { workspaceId: String(ws.id), projectId: `KAN-WS-${ws.id}`, title: ws.title, currency: ws.currency };
  for (const cf of ws.custom_fields ?? ws.custom_field_values ?? []) {
    const name = fieldNames[String(cf.custom_field_id)];
    if (name) (ctx as unknown as Record<string, unknown>)[name] = cf.value;
  }
  return ctx;
}

function toIso(ts: string | undefined): string | undefined {
  if (!ts) return undefined;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().replace(/\.000Z$/, 'Z');
}

export function toCanonicalTimeEntry(rec: KRecord, users: Record<string, KRecord> = {}): Record<string, unknown> {
  const user = users[String(rec.user_id)];
  const person: Record<string, unknown> = { id: user?.external_id ?? `KAN-U-${rec.user_id}` };
  if (user?.full_name) person.name = user.full_name;
  if (user?.email_address) person.email = user.email_address;
  const out: Record<string, unknown> = {
    id: `KAN-TE-${rec.id}`,
    version: 1,
    updatedAt: toIso(rec.updated_at),
    externalIds: { kantata: String(rec.id) },
    person,
    projectId: `KAN-WS-${rec.workspace_id}`,
    date: rec.date_performed,
    hours: Math.round((Number(rec.time_in_minutes) / 60) * 100) / 100,
    role: user?.headline || 'Consultant',
    billable: !!rec.billable,
    status: rec.is_invoiced ? 'billed' : rec.approved ? 'approved' : 'submitted',
  };
  if (rec.story_id) out.workstreamId = `KAN-ST-${rec.story_id}`;
  if (rec.billable || rec.rate_in_cents) out.rate = { amount: Number(rec.rate_in_cents ?? 0) / 100, currency: rec.currency, unit: 'hour' };
  if (rec.approved) out.approvedAt = toIso(rec.updated_at);
  if (rec.invoice_id) out.invoiceId = `KAN-INV-${rec.invoice_id}`;
  if (rec.notes) out.notes = String(rec.notes).slice(0, 2000);
  if (!out.updatedAt) delete out.updatedAt;
  return out;
}

export function toCanonicalExpense(rec: KRecord, users: Record<string, KRecord> = {}): Record<string, unknown> {
  const user = users[String(rec.user_id)];
  const out: Record<string, unknown> = {
    id: `KAN-EX-${rec.id}`,
    version: 1,
    updatedAt: toIso(rec.updated_at),
    externalIds: { kantata: String(rec.id) },
    person: { id: user?.external_id ?? `KAN-U-${rec.user_id}`, ...(user?.full_name ? { name: user.full_name } : {}) },
    projectId: `KAN-WS-${rec.workspace_id}`,
    date: rec.date,
    category: canonicalCategory(rec.category),
    amount: { amount: Number(rec.amount_in_cents) / 100, currency: rec.currency },
    billable: !!rec.billable,
    status: rec.is_invoiced ? 'billed' : rec.approved ? 'approved' : 'submitted',
  };
  if (rec.approved) out.approvedAt = toIso(rec.updated_at);
  if (rec.notes) out.description = String(rec.notes);
  if (rec.reimbursable !== undefined) out.reimbursable = !!rec.reimbursable;
  if (rec.invoice_id) out.invoiceId = `KAN-INV-${rec.invoice_id}`;
  if (!out.updatedAt) delete out.updatedAt;
  return out;
}

const CATEGORY: Record<string, string> = { travel: 'ground-transport', airfare: 'airfare', flight: 'airfare', rail: 'rail', train: 'rail', lodging: 'lodging', hotel: 'lodging', meals: 'meals', mileage: 'mileage', software: 'software', subcontractor: 'subcontractor' };

export function canonicalCategory(category: unknown): string {
  return CATEGORY[String(category ?? '').trim().toLowerCase()] ?? 'other';
}

/** Kantata id back from a canonical id (`KAN-TE-123` -> `123`); other ids pass through. */
export function kantataId(canonicalId: string): string {
  const m = /^KAN-[A-Z]+-(.+)$/.exec(canonicalId);
  return m ? m[1] : canonicalId;
}
