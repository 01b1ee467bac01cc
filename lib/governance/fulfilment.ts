/**
 * Fulfilment of experience-API writes: what the process layer does with a `fabric/v1/<entity>/requested` event and
 * how it reports back on `fabric/v1/request/updated`. No Node-RED imports: the `api-fulfil` node injects the Kantata
 * reads (through the connection's `handle.call`), the outbox submit (`handle.submit`) and the idempotency store.
 *
 * Time entries (time-to-cash): the ownership matrix makes the PSA the system of record of a time entry's capture
 * fields and the ERP the owner of its billing fields (rate, invoiceId). So a portal entry is first recorded in the
 * PSA (Kantata) and then billed exactly like any other PSA entry (approved -> the time-to-cash PSA poll -> plan ->
 * ERP invoice). A portal that sets `invoiceId` is refused (owner team finance-ops); its `rate` (the schema requires
 * one on a billable entry) is never written, only checked against the PSA's rate for the person.
 *
 * Projects: created in the PSA, the system of record of the project shell (`createProjectShell`, looked up by the
 * project id as external reference, so a repeat creates nothing), then `fabric/v1/project/created`.
 */
import { activeOwnershipMatrix } from './write-ownership';
import { requireAuthorisedSource } from './bus-sources';
import type { OwnershipMatrix } from './ownership';
import type { IdempotencyService } from '../idempotency';
import type { Json } from '../store/store';

/** The outcome a `fabric/v1/request/updated` report carries. */
export interface StatusReport {
  trackingId: string;
  status: 'processing' | 'completed' | 'failed';
  detail: string;
  /** Field-level problems (failed). */
  errors?: Array<{ path: string; message: string }>;
  /** Ids the request produced in the systems, e.g. {psa: 'KAN-TE-9', invoice: 'INV-...'}. */
  references?: Record<string, string>;
}

/** An exception for the owner team (the flow's fabric-exception node stores it). */
export interface RaisedFailure {
  message: string;
  details: Array<{ path: string; message: string }>;
  errorClass: 'validation' | 'ownership';
  ownerTeam: string;
  recordKey: string;
}

export interface Requested<T = Record<string, any>> {
  trackingId: string;
  entity: string;
  data: T;
  requestedBy?: string;
}

/**
 * Runs read-modify-write sequences on one key one after another within this process (different keys run in
 * parallel). Instances sharing a store each serialise their own requests; see docs/governance.md.
 */
const keyTails = new Map<string, Promise<unknown>>();
async function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = keyTails.get(key) ?? Promise.resolve();
  const run = previous.then(fn);
  const tail = run.catch(() => undefined);
  keyTails.set(key, tail);
  try {
    return await run;
  } finally {
    if (keyTails.get(key) === tail) keyTails.delete(key);
  }
}

/** The requested CloudEvent the experience API published (id = tracking id). */
export function parseRequested(payload: unknown): Requested {
  const ev = typeof payload === 'string' ? JSON.parse(payload) : payload;
  if (!ev || typeof ev !== 'object') throw new Error('requested event: not a JSON object');
  const e = ev as Record<string, any>;
  requireAuthorisedSource(e, 'requested');
  const trackingId = String(e.correlationid ?? e.id ?? '');
  if (!/^[0-9a-f-]{36}$/i.test(trackingId)) throw new Error('requested event: no tracking id (id / correlationid)');
  if (!e.data || typeof e.data !== 'object' || typeof e.data.id !== 'string') throw new Error('requested event: data.id missing');
  const m = /^com\.psfabric\.([a-z]+)\.requested\.v\d+$/.exec(String(e.type ?? ''));
  return { trackingId, entity: m ? m[1] : '', data: e.data, ...(typeof e.requestedby === 'string' ? { requestedBy: e.requestedby } : {}) };
}

/** The CloudEvent published on `fabric/v1/request/updated` (api-requests mode `updated` reads `data`). */
export function statusEvent(r: StatusReport, now = new Date()): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: `${r.trackingId}:${r.status}:${now.getTime()}`,
    source: '/ps-fabric/process-layer',
    type: 'com.psfabric.request.updated.v1',
    subject: r.trackingId,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    correlationid: r.trackingId,
    data: r as unknown as Record<string, unknown>,
  };
}

/** Kantata reads and the durable write, as the node injects them. */
export interface PsaAccess {
  /** One page of a Kantata collection (`handle.call(() => client.page(...))`). */
  page(collection: string, params: Record<string, unknown>): Promise<{ records: Array<Record<string, any>>; included?: Record<string, Record<string, any>> }>;
  /** A write through the outbox (`handle.submit`): resolves with the vendor answer once delivered. */
  submit(w: { operation: string; request: Json; idempotencyKey: string; correlationId: string; recordKey: string; ownership?: { entity: string; fields: string[]; sourceSystem?: string } }): Promise<{ response: any; duplicate?: boolean }>;
}

export interface FulfilDeps {
  psa: PsaAccess;
  idempotency: Pick<IdempotencyService, 'claim' | 'get' | 'recordOutcome'>;
  matrix?: () => OwnershipMatrix;
}

export interface FulfilOutcome {
  reports: StatusReport[];
  exception?: RaisedFailure;
  /** time entries: a PSA poll should run now (the entry is in the PSA). */
  pollPsa?: boolean;
  /** projects: the project.created data. */
  created?: Record<string, any>;
}

/** Idempotency scopes: portal record id -> what it became; PSA entry id -> the requests waiting for its invoice. */
export const TE_SCOPE = 'experience-api:timeentry';
export const PSA_TE_SCOPE = 'experience-api:psa-timeentry';
export const PROJECT_SCOPE = 'experience-api:project';
const KEEP_MS = 400 * 86400000;
/** time-to-cash's record of billed entries (process-step t2c-posted). */
const BILLED_SCOPE = 'time-to-cash:billed';

interface TeOutcome {
  psaId?: string;
  trackingIds: string[];
  approved?: boolean;
  invoiceId?: string;
  erp?: string;
}

const TECHNICAL = new Set(['id', 'version', 'updatedAt', 'externalIds']);

function failure(trackingId: string, detail: string, errors: StatusReport['errors'], ownerTeam: string, recordKey: string, errorClass: RaisedFailure['errorClass'] = 'validation'): FulfilOutcome {
  return {
    reports: [{ trackingId, status: 'failed', detail, errors }],
    exception: { message: detail, details: errors ?? [], errorClass, ownerTeam, recordKey },
  };
}

async function workspaceFor(psa: PsaAccess, projectId: string): Promise<Record<string, any> | undefined> {
  const m = /^KAN-WS-(\d+)$/.exec(projectId);
  const p = m
    ? await psa.page('workspaces', { only: m[1], archived: 'include', per_page: 1 })
    : await psa.page('workspaces', { external_reference_service_model_ref: projectId, archived: 'include', per_page: 1 });
  return p.records[0];
}

async function userFor(psa: PsaAccess, person: Record<string, any> | undefined): Promise<Record<string, any> | undefined> {
  if (!person) return undefined;
  if (typeof person.email === 'string' && person.email) {
    const p = await psa.page('users', { by_email_address: person.email, per_page: 1 });
    const u = p.records.find((x) => String(x.email_address).toLowerCase() === person.email.toLowerCase());
    if (u) return u;
  }
  const m = /^KAN-U-(\d+)$/.exec(String(person.id ?? ''));
  if (m) return (await psa.page('users', { only: m[1], per_page: 1 })).records[0];
  return undefined;
}

/**
 * A portal time entry: ownership check, PSA lookups, `createTimeEntry` through the outbox (once per portal entry
 * id), then the PSA poll bills it. A repeat of the same entry id creates nothing and follows the first one.
 */
export async function fulfilTimeEntry(req: Requested, deps: FulfilDeps): Promise<FulfilOutcome> {
  const { trackingId, data } = req;
  const recordKey = `TimeEntry/${data.id}`;
  // `rate` is not written: the canonical schema wants it on a billable entry, but the rate is the ERP's (the PSA
  // applies it); the portal's value is only compared with the PSA's below. Everything else is written to the PSA.
  const fields = Object.keys(data).filter((f) => !TECHNICAL.has(f) && f !== 'rate');
  const check = (deps.matrix ?? activeOwnershipMatrix)().checkWrite('TimeEntry', 'kantata', fields, { sourceSystem: 'fabric' });
  if (!check.ok) {
    const teams = (check.error as { ownerTeams?: string[] }).ownerTeams ?? [];
    return failure(trackingId, `${check.error.message}: the portal records the hours; the invoice is set by billing`, check.error.details as StatusReport['errors'], teams[0] ?? 'finance-ops', recordKey, 'ownership');
  }

  // Once per entry id without a lock: the outbox key `experience-api:timeentry:<id>` makes a repeat (or a replay after
  // a crash) get the first write's Kantata entry back instead of creating another one.
  const ws = await workspaceFor(deps.psa, String(data.projectId));
  if (!ws) {
    return failure(trackingId, `time entry ${data.id}: project ${data.projectId} is not in the PSA (Kantata)`, [{ path: '/projectId', message: `no PSA workspace for ${data.projectId} (use a project id from GET /api/v1/projects)` }], 'delivery-ops', recordKey);
  }
  const user = await userFor(deps.psa, data.person);
  if (!user) {
    return failure(trackingId, `time entry ${data.id}: person ${data.person?.email ?? data.person?.id} is not a PSA user`, [{ path: data.person?.email ? '/person/email' : '/person/id', message: 'no Kantata user with that email address / id' }], 'delivery-ops', recordKey);
  }
  // The PSA applies the person's bill rate (the matrix: rates are not the portal's). Real Kantata takes it from the
  // workspace rate card itself; the rate sent here is the person's current rate as the PSA recorded it last.
  const last = await deps.psa.page('time_entries', { with_user_ids: String(user.id), order: 'date_performed:desc', per_page: 1 });
  const rateInCents = Number(last.records[0]?.rate_in_cents ?? 0);
  const given = data.rate as { amount?: number; currency?: string } | undefined;
  const rateProblems: Array<{ path: string; message: string }> = [];
  if (given?.currency && ws.currency && given.currency !== ws.currency) rateProblems.push({ path: '/rate/currency', message: `${given.currency} differs from the project currency ${ws.currency}` });
  if (given?.amount !== undefined && rateInCents > 0 && Math.abs(given.amount * 100 - rateInCents) > 0.5) {
    rateProblems.push({ path: '/rate/amount', message: `${given.amount} differs from the PSA bill rate ${rateInCents / 100} ${ws.currency ?? ''} of ${user.email_address ?? user.id}; the rate is the ERP's (owner team finance-ops), not the portal's`.replace(/ {2}/g, ' ') });
  }
  if (rateProblems.length) return failure(trackingId, `time entry ${data.id}: the rate does not match the PSA's`, rateProblems, 'finance-ops', recordKey);
  const story = /^KAN-ST-(\d+)$/.exec(String(data.workstreamId ?? ''));
  const timeEntry: Record<string, Json> = {
    workspace_id: String(ws.id),
    user_id: String(user.id),
    date_performed: String(data.date),
    time_in_minutes: Math.round(Number(data.hours) * 60),
    billable: data.billable === true,
    notes: String(data.notes ?? `portal time entry ${data.id}`).slice(0, 2000),
    ...(rateInCents > 0 ? { rate_in_cents: rateInCents } : {}),
    ...(story ? { story_id: story[1] } : {}),
  };
  const r = await deps.psa.submit({
    operation: 'createTimeEntry',
    request: { time_entry: timeEntry },
    idempotencyKey: `${TE_SCOPE}:${data.id}`,
    correlationId: trackingId,
    recordKey,
    ownership: { entity: 'TimeEntry', fields, sourceSystem: 'fabric' },
  });
  const rec = r.response as Record<string, any> | undefined;
  if (!rec?.id) throw new Error(`Kantata answered createTimeEntry without an id`);
  const psaId = `KAN-TE-${rec.id}`;
  // every request for this entry follows it to its invoice (a repeat joins the first request's list); two requests
  // for one entry in flight at once must not both read the old list and each write back only their own id
  const prev = await oneAtATime(`${TE_SCOPE}:${data.id}`, async () => {
    await deps.idempotency.claim(TE_SCOPE, data.id, KEEP_MS);
    const before = (await deps.idempotency.get(TE_SCOPE, data.id))?.outcome as unknown as TeOutcome | undefined;
    const trackingIds = [...new Set([...(before?.trackingIds ?? []), trackingId])];
    await deps.idempotency.recordOutcome(TE_SCOPE, data.id, { ...(before ?? {}), psaId, trackingIds, approved: !!rec.approved } as unknown as Json);
    await deps.idempotency.claim(PSA_TE_SCOPE, psaId, KEEP_MS);
    await deps.idempotency.recordOutcome(PSA_TE_SCOPE, psaId, { portalId: data.id, trackingIds } as Json);
    return before;
  });
  const refs = { psa: psaId, project: `KAN-WS-${ws.id}`, ...(prev?.invoiceId ? { invoice: prev.invoiceId } : {}) };
  const again = r.duplicate === true || (prev?.trackingIds?.length ?? 0) > 0;
  if (again && prev?.invoiceId) {
    return { reports: [{ trackingId, status: 'completed', detail: `time entry ${data.id} was already recorded in the PSA as ${psaId} and is on invoice ${prev.invoiceId}; nothing created again`, references: refs }] };
  }
  // the outbox answers a repeat with the creation's record: its approval flag may be old by now
  // an entry approved on creation may have been billed by a scheduled poll before its requests were linked above
  if (!prev?.invoiceId && rec.approved && (await deps.idempotency.get(BILLED_SCOPE, psaId))) {
    return { reports: [{ trackingId, status: 'completed', detail: `recorded in the PSA as ${psaId} and billed by time-to-cash`, references: refs }] };
  }
  const next = again ? 'billed by time-to-cash once approved in the PSA' : rec.approved ? 'approved; time-to-cash bills it with the next PSA poll' : 'waiting for approval in the PSA, then billed by time-to-cash';
  const what = again ? `time entry ${data.id} is already recorded in the PSA as ${psaId}; nothing created again` : `recorded in the PSA as ${psaId} (workspace KAN-WS-${ws.id})`;
  return { reports: [{ trackingId, status: 'processing', detail: `${what}; ${next}`, references: refs }], pollPsa: !again };
}

/** After time-to-cash posted an invoice: the requests whose PSA entries are on it are completed. */
export async function invoicePosted(entryIds: string[], invoice: { id: string; erp?: string; erpDocument?: string }, deps: Pick<FulfilDeps, 'idempotency'>): Promise<StatusReport[]> {
  const reports: StatusReport[] = [];
  for (const psaId of entryIds) {
    const rec = (await deps.idempotency.get(PSA_TE_SCOPE, psaId))?.outcome as { portalId?: string; trackingIds?: string[] } | undefined;
    if (!rec?.trackingIds?.length) continue;
    if (rec.portalId) {
      const prev = (await deps.idempotency.get(TE_SCOPE, rec.portalId))?.outcome as unknown as TeOutcome | undefined;
      if (prev) await deps.idempotency.recordOutcome(TE_SCOPE, rec.portalId, { ...prev, invoiceId: invoice.id, ...(invoice.erp ? { erp: invoice.erp } : {}) } as unknown as Json);
    }
    const where = invoice.erp ? ` in ${invoice.erp}${invoice.erpDocument ? ` (document ${invoice.erpDocument})` : ''}` : '';
    for (const trackingId of rec.trackingIds) {
      reports.push({ trackingId, status: 'completed', detail: `recorded in the PSA as ${psaId} and billed on invoice ${invoice.id}${where}`, references: { psa: psaId, invoice: invoice.id } });
    }
  }
  return reports;
}

/** time-to-cash blocked a PSA entry (master data, rate, hours): the portal requests for it have failed. */
export async function entryBlocked(psaId: string, message: string, details: Array<{ path?: string; message?: string }>, deps: Pick<FulfilDeps, 'idempotency'>): Promise<StatusReport[]> {
  const rec = (await deps.idempotency.get(PSA_TE_SCOPE, psaId))?.outcome as { trackingIds?: string[] } | undefined;
  const errors = details.map((d) => ({ path: String(d.path ?? '/'), message: String(d.message ?? '') }));
  return (rec?.trackingIds ?? []).map((trackingId) => ({ trackingId, status: 'failed' as const, detail: `${message} (the entry is in the PSA as ${psaId}; fix it there, the exception queue has it)`, errors, references: { psa: psaId } }));
}

/** Kantata `createProjectShell` request for a canonical project (the shape quote-to-project writes). */
export function projectShellRequest(project: Record<string, any>, dmUserId?: string): Record<string, Json> {
  const ws: Record<string, Json> = {
    title: String(project.name),
    // the projects read takes the billing type from "<customer> — <billing type>"
    description: `${project.accountId} — ${project.billingType}`,
    currency: String(project.currency),
    budgeted: true,
    price: Number(project.budget?.amount?.amount ?? 0),
    start_date: String(project.startDate),
    ...(project.endDate ? { due_date: String(project.endDate) } : {}),
  };
  return {
    externalRef: String(project.id),
    workspace: ws,
    // the Kantata connection maps these to the account's custom field ids (kantata-config setting)
    customFields: { billingEntity: String(project.billingEntity), ...(project.opportunityId ? { opportunityId: String(project.opportunityId) } : {}), accountExternalId: String(project.accountId) },
    stories: (Array.isArray(project.workstreams) ? project.workstreams : []).map((w: Record<string, any>) => ({
      title: String(w.name),
      ...(w.budgetHours ? { time_estimate_in_minutes: Math.round(Number(w.budgetHours) * 60) } : {}),
    })),
    participations: dmUserId ? [{ user_id: dmUserId, role: 'maven', access_level: 'admin' }] : [],
  };
}

/**
 * A portal project: created in the PSA once (external reference = the project id), then project.created. The
 * delivery manager must be a PSA user (the PSA shows the project under them).
 */
export async function fulfilProject(req: Requested, deps: FulfilDeps): Promise<FulfilOutcome> {
  const { trackingId, data } = req;
  const recordKey = `Project/${data.id}`;
  const fields = Object.keys(data).filter((f) => !TECHNICAL.has(f));
  // the PSA holds the shell as system of record and the financials as the ERP's replica (as quote-to-project writes them)
  const check = (deps.matrix ?? activeOwnershipMatrix)().checkWrite('Project', 'kantata', fields);
  if (!check.ok) {
    const teams = (check.error as { ownerTeams?: string[] }).ownerTeams ?? [];
    return failure(trackingId, check.error.message, check.error.details as StatusReport['errors'], teams[0] ?? 'pmo', recordKey, 'ownership');
  }
  const dm = await userFor(deps.psa, data.deliveryManager);
  if (!dm) {
    return failure(trackingId, `project ${data.id}: delivery manager ${data.deliveryManager?.email ?? data.deliveryManager?.id} is not a PSA user`, [{ path: '/deliveryManager/email', message: 'no Kantata user with that email address' }], 'pmo', recordKey);
  }
  const r = await deps.psa.submit({
    operation: 'createProjectShell',
    request: projectShellRequest(data, String(dm.id)),
    idempotencyKey: `${PROJECT_SCOPE}:${data.id}`,
    correlationId: trackingId,
    recordKey,
    ownership: { entity: 'Project', fields },
  });
  let ws = r.response?.workspace as Record<string, any> | undefined;
  // a repeat the outbox answered from its record without the vendor answer: the workspace is found by its reference
  ws ??= await workspaceFor(deps.psa, String(data.id));
  if (!ws?.id) throw new Error(`project ${data.id}: Kantata did not answer with a workspace`);
  const psaId = `KAN-WS-${ws.id}`;
  const first = await deps.idempotency.claim(PROJECT_SCOPE, String(data.id), KEEP_MS);
  if (first.claimed) await deps.idempotency.recordOutcome(PROJECT_SCOPE, String(data.id), { psaId, trackingId } as Json);
  const again = !first.claimed || r.duplicate === true || r.response?.created === false;
  const created = { ...data, externalIds: { ...(data.externalIds ?? {}), kantata: String(ws.id) } };
  return {
    reports: [{ trackingId, status: 'completed', detail: again ? `project ${data.id} is already in the PSA as ${psaId}; nothing created again` : `project ${data.id} created in the PSA as ${psaId}`, references: { psa: psaId } }],
    ...(again ? {} : { created }),
  };
}
