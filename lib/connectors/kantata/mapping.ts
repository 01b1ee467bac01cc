/**
 * Kantata records -> canonical TimeEntry / Expense (lib/model/schemas), plus the workspace context
 * (billing entity, opportunity, customer) a time-to-cash flow groups by. Ids: `KAN-TE-<id>`,
 * `KAN-EX-<id>`, project `KAN-WS-<workspace id>`; the Kantata id is kept in `externalIds.kantata`.
 */
import type { KRecord } from './client';

export const CUSTOM_FIELD_NAMES: Record<string, string> = { '501': 'billingEntity', '502': 'opportunityId', '503': 'accountExternalId', '504': 'erpProjectId' };

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

export function workspaceContext(ws: KRecord | undefined, fieldNames: Record<string, string> = CUSTOM_FIELD_NAMES): WorkspaceContext | undefined {
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
