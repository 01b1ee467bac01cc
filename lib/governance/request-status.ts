/**
 * Durable status of accepted experience-API writes, kept in the store's audit trail (append only, shared by every
 * instance on the same store, survives restarts): one `api.request.status` entry per change, correlation id =
 * tracking id. The current status is the newest entry; the first (`accepted`) names the consumer that may read it.
 */
import type { AuditRecord, Json, Store } from '../store/store';

export const REQUEST_STATUS_ACTION = 'api.request.status';
export const REQUEST_STATUSES = ['accepted', 'processing', 'completed', 'failed'] as const;
export type RequestStatusValue = (typeof REQUEST_STATUSES)[number];

export interface RequestStatus {
  trackingId: string;
  status: RequestStatusValue;
  entity: string;
  recordId?: string;
  acceptedAt: string;
  updatedAt?: string;
  detail?: string;
  /** failed: the field-level problems, each naming the field (JSON Pointer into the request body). */
  errors?: Array<{ path: string; message: string }>;
  /** What the request produced in the systems, e.g. `{psa: 'KAN-TE-9', invoice: 'INV-…'}`. */
  references?: Record<string, string>;
}

type AuditStore = Pick<Store, 'auditAppend' | 'auditList'>;

export async function recordAccepted(store: AuditStore, r: { trackingId: string; consumer: string; entity: string; recordId?: string; at?: number }): Promise<void> {
  const at = r.at ?? Date.now();
  await store.auditAppend({
    at,
    actor: r.consumer,
    action: REQUEST_STATUS_ACTION,
    correlationId: r.trackingId,
    ...(r.recordId ? { recordKey: `${r.entity}/${r.recordId}` } : {}),
    details: { status: 'accepted', consumer: r.consumer, entity: r.entity, ...(r.recordId ? { recordId: r.recordId } : {}) } as Json,
  });
}

/** Whether a progress report was recorded; when not, why (for the exception the consumer raises). */
export type UpdateOutcome = { recorded: true } | { recorded: false; reason: string };

/** A progress report of the process layer; refused (with the reason) for a missing or unknown tracking id or status. */
export async function recordUpdate(store: AuditStore, u: { trackingId: unknown; status: unknown; detail?: unknown; errors?: unknown; references?: unknown; at?: number }): Promise<UpdateOutcome> {
  if (typeof u.trackingId !== 'string' || !/^[0-9a-f-]{36}$/i.test(u.trackingId)) return { recorded: false, reason: `request update: data.trackingId must be the tracking id (a UUID) of an accepted request, got ${describe(u.trackingId)}` };
  if (!['processing', 'completed', 'failed'].includes(String(u.status))) return { recorded: false, reason: `request update for ${u.trackingId}: data.status must be processing, completed or failed, got ${describe(u.status)}` };
  const first = await accepted(store, u.trackingId);
  if (!first) return { recorded: false, reason: `request update for ${u.trackingId}: no accepted request has this tracking id (not accepted by an experience API on this store)` };
  await store.auditAppend({
    at: u.at ?? Date.now(),
    actor: 'process-layer',
    action: REQUEST_STATUS_ACTION,
    correlationId: u.trackingId,
    details: { status: String(u.status), ...(typeof u.detail === 'string' ? { detail: u.detail.slice(0, 500) } : {}), ...cleanErrors(u.errors), ...cleanReferences(u.references) } as Json,
  });
  return { recorded: true };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = typeof v === 'string' ? JSON.stringify(v.slice(0, 60)) : (JSON.stringify(v) ?? String(v)).slice(0, 60);
  return text;
}

// the reports come over the bus: keep only the documented shapes, bounded, so the status answer stays schema-valid
function cleanErrors(v: unknown): { errors?: Json } {
  if (!Array.isArray(v)) return {};
  const errors = v
    .filter((e) => e && typeof e === 'object')
    .slice(0, 50)
    .map((e) => ({ path: String((e as Record<string, unknown>).path ?? '/').slice(0, 300), message: String((e as Record<string, unknown>).message ?? '').slice(0, 500) }));
  return errors.length ? { errors } : {};
}
function cleanReferences(v: unknown): { references?: Json } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  const refs: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>).slice(0, 20)) if (/^[A-Za-z][A-Za-z0-9]{0,39}$/.test(k) && (typeof x === 'string' || typeof x === 'number')) refs[k] = String(x).slice(0, 200);
  return Object.keys(refs).length ? { references: refs } : {};
}

async function history(store: AuditStore, trackingId: string): Promise<AuditRecord[]> {
  return store.auditList({ correlationId: trackingId, action: REQUEST_STATUS_ACTION, limit: 200 });
}

async function accepted(store: AuditStore, trackingId: string): Promise<AuditRecord | undefined> {
  const h = await history(store, trackingId);
  return h.find((e) => (e.details as Record<string, unknown> | undefined)?.status === 'accepted');
}

/** The status of a request for its consumer; undefined when unknown or another consumer's. */
export async function requestStatus(store: AuditStore, trackingId: string, consumer: string): Promise<RequestStatus | undefined> {
  const h = await history(store, trackingId); // newest first
  const first = h.find((e) => (e.details as Record<string, unknown> | undefined)?.status === 'accepted');
  const d0 = first?.details as Record<string, unknown> | undefined;
  if (!first || !d0 || d0.consumer !== consumer) return undefined;
  const latest = h[0];
  const d = latest.details as Record<string, unknown>;
  const out: RequestStatus = { trackingId, status: d.status as RequestStatusValue, entity: String(d0.entity), acceptedAt: new Date(first.at).toISOString() };
  if (typeof d0.recordId === 'string') out.recordId = d0.recordId;
  if (latest !== first) {
    out.updatedAt = new Date(latest.at).toISOString();
    if (typeof d.detail === 'string') out.detail = d.detail;
    if (Array.isArray(d.errors)) out.errors = d.errors as RequestStatus['errors'];
    if (d.references && typeof d.references === 'object') out.references = d.references as Record<string, string>;
  }
  return out;
}
