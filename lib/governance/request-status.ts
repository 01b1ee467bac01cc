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

/** A progress report of the process layer; ignored (false) for an unknown tracking id or status. */
export async function recordUpdate(store: AuditStore, u: { trackingId: unknown; status: unknown; detail?: unknown; at?: number }): Promise<boolean> {
  if (typeof u.trackingId !== 'string' || !/^[0-9a-f-]{36}$/i.test(u.trackingId)) return false;
  if (!['processing', 'completed', 'failed'].includes(String(u.status))) return false;
  const first = await accepted(store, u.trackingId);
  if (!first) return false;
  await store.auditAppend({
    at: u.at ?? Date.now(),
    actor: 'process-layer',
    action: REQUEST_STATUS_ACTION,
    correlationId: u.trackingId,
    details: { status: String(u.status), ...(typeof u.detail === 'string' ? { detail: u.detail.slice(0, 500) } : {}) },
  });
  return true;
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
  }
  return out;
}
