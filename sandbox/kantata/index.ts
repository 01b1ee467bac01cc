/**
 * Kantata OX API v1 sandbox, mounted at `/kantata` (API under `/kantata/api/v1`).
 *
 * Follows shared/contracts/kantata/kantata-ox-v1-key-operations-extract.json: bodies wrapped in the
 * singular key (`{ "time_entry": {...} }`, bulk with the plural key), creates answer 200 with the
 * standard envelope `{ count, meta, results: [{key, id}], <plural>: { id: {...} } }`, ids are strings,
 * errors are `{ "errors": [{ "type", "message" }] }`, paging with `page`/`per_page` (default 20, max 200)
 * or `limit`/`offset`. Auth: `Authorization: Bearer <token>`, the token being either the application's own token
 * (generated on the application's page, `KANTATA_STATIC_TOKEN`) or a user token from the OAuth 2.0 authorization-code
 * flow on the app host (`/kantata/app/oauth/authorize` -> code -> `POST /kantata/app/oauth/token`, refreshed with
 * grant_type refresh_token). As on Kantata, the API host has no token endpoint and no other grant exists
 * (client_credentials is `unsupported_grant_type`).
 *
 * Where the extract leaves the wire open, the sandbox chooses and docs/connectors/kantata.md says so:
 * invoices (`POST /api/v1/invoices` with `time_entry_ids` / `expense_ids` marks entries invoiced),
 * external reference filters (`external_reference_service_name`, `external_reference_service_model_ref`),
 * `GET /api/v1/users`, and the custom field ids below.
 *
 * `PUT /_sandbox/change-window { seconds }` (0 or null: off, the default) makes the account refuse an `updated_after`
 * older than that many seconds with 400 `{ errors: [{ type: 'validation', message: 'updated_after ... change window ...' }] }`:
 * how PS Fabric's tests meet a poller cursor the vendor no longer serves (Kantata documents no such window; off by
 * default, the sandbox serves any `updated_after` as Kantata does).
 */
import express from 'express';
import crypto from 'node:crypto';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { ACCOUNTS, CONSULTANTS, OPPORTUNITIES, seedTimeEntries, entityByCode } from '../seed/firm';

export const KANTATA_CLIENT_ID = 'psfabric-sandbox';
export const KANTATA_CLIENT_SECRET = 'kantata-sandbox-secret';
/** The application's own token (Kantata: generated on the application's page, for a backend connector). */
export const KANTATA_STATIC_TOKEN = 'kantata-sandbox-token';
/** The callback URL registered for the sandbox application: the authorization-code flow accepts only this one. */
export const KANTATA_REDIRECT_URI = 'http://127.0.0.1:1880/psfabric/kantata/callback';

/** Custom fields of the sandbox account (GET /api/v1/custom_fields lists them). */
export const KANTATA_CUSTOM_FIELDS = {
  billingEntity: '501',
  opportunityId: '502',
  accountExternalId: '503',
  erpProjectId: '504',
} as const;

const TOKEN_TTL_S = 7200;
/** The month the seeded and generated time entries are dated in (the templates' roll-up period with the sandboxes). */
export const KANTATA_DEMO_MONTH = '2026-11';
const SEED_TIME = '2026-11-20T18:00:00+00:00';

/** Kantata timestamp (second precision, explicit offset). */
export function kantataNow(ms: number = Date.now()): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

function userIdOf(consultantId: string): string {
  return String(100000 + Number(consultantId.replace(/\D/g, '')));
}

function seedState(): Record<string, Record<string, any>> {
  const users: Record<string, any> = {};
  for (const c of CONSULTANTS) {
    const id = userIdOf(c.id);
    users[id] = { id, full_name: c.name, email_address: c.email, headline: c.role, account_id: '9001', external_id: c.id };
  }
  const workspaces: Record<string, any> = {};
  const stories: Record<string, any> = {};
  const participations: Record<string, any> = {};
  const wsByOpp: Record<string, string> = {};
  const storyByOppWs: Record<string, string> = {};
  let storySeq = 600000;
  let partSeq = 800000;
  let wsSeq = 400000;
  for (const opp of OPPORTUNITIES.filter((o) => o.delivered)) {
    const account = ACCOUNTS.find((a) => a.sfId === opp.accountSfId)!;
    const id = String(++wsSeq);
    wsByOpp[opp.sfId] = id;
    workspaces[id] = {
      id,
      title: opp.name,
      description: `${account.name} — ${opp.billingModel}`,
      archived: false,
      budgeted: true,
      price: opp.amount,
      price_in_cents: Math.round(opp.amount * 100),
      currency: opp.currency,
      start_date: '2026-11-02',
      due_date: '2027-03-31',
      status: { color: 'green', key: 310, message: 'Active' },
      stage: 'project',
      require_time_approvals: true,
      require_expense_approvals: true,
      time_trackable: true,
      account_id: '9001',
      client_name: account.name,
      primary_maven_id: userIdOf(opp.deliveryManagerId),
      custom_fields: [
        { custom_field_id: KANTATA_CUSTOM_FIELDS.billingEntity, value: account.billingEntity },
        { custom_field_id: KANTATA_CUSTOM_FIELDS.opportunityId, value: opp.sfId },
        { custom_field_id: KANTATA_CUSTOM_FIELDS.accountExternalId, value: account.externalId },
      ],
      external_references: [{ service_name: 'Salesforce', service_model: 'Opportunity', service_model_ref: opp.sfId }],
      created_at: '2026-11-01T09:00:00+00:00',
      updated_at: '2026-11-01T09:00:00+00:00',
    };
    for (const line of opp.lines) {
      const sid = String(++storySeq);
      storyByOppWs[`${opp.sfId}|${line.workstream}`] = sid;
      stories[sid] = {
        id: sid, workspace_id: id, title: line.workstream, story_type: 'task', state: 'started', billable: true,
        time_estimate_in_minutes: line.hours * 60, budget_estimate_in_cents: line.hours * line.rate * 100,
        created_at: '2026-11-01T09:00:00+00:00', updated_at: '2026-11-01T09:00:00+00:00',
      };
    }
    const people = new Set<string>([opp.deliveryManagerId]);
    for (const te of seedTimeEntries()) if (te.opportunitySfId === opp.sfId) people.add(te.consultantId);
    for (const p of people) {
      const pid = String(++partSeq);
      participations[pid] = { id: pid, workspace_id: id, user_id: userIdOf(p), role: 'maven', access_level: p === opp.deliveryManagerId ? 'admin' : 'edit_time_and_expenses', created_at: '2026-11-01T09:00:00+00:00', updated_at: '2026-11-01T09:00:00+00:00' };
    }
  }
  const time_entries: Record<string, any> = {};
  const invoices: Record<string, any> = {};
  let teSeq = 700000;
  for (const te of seedTimeEntries()) {
    const opp = OPPORTUNITIES.find((o) => o.sfId === te.opportunitySfId)!;
    const consultant = CONSULTANTS.find((c) => c.id === te.consultantId)!;
    const wsId = wsByOpp[opp.sfId];
    const firstStory = storyByOppWs[`${opp.sfId}|${opp.lines[0].workstream}`];
    const id = String(++teSeq);
    const invoiceId = te.invoiced ? `9${wsId}` : null;
    if (invoiceId && !invoices[invoiceId]) {
      invoices[invoiceId] = { id: invoiceId, workspace_ids: [wsId], time_entry_ids: [], expense_ids: [], invoice_date: '2026-11-09', status: 'sent', currency: opp.currency, created_at: '2026-11-09T10:00:00+00:00', updated_at: '2026-11-09T10:00:00+00:00', external_references: [{ service_name: 'PSFabric', service_model: 'Invoice', service_model_ref: `SEED-INV-${wsId}` }] };
    }
    if (invoiceId) invoices[invoiceId].time_entry_ids.push(id);
    time_entries[id] = {
      id,
      workspace_id: wsId,
      user_id: userIdOf(consultant.id),
      story_id: firstStory,
      date_performed: te.date,
      time_in_minutes: Math.round(te.hours * 60),
      billable: te.billable,
      notes: te.notes,
      rate_in_cents: Math.round(consultant.billRate * 100),
      cost_rate_in_cents: Math.round(consultant.costRate * 100),
      currency: opp.currency,
      currency_base_unit: 100,
      currency_symbol: opp.currency === 'USD' ? '$' : opp.currency === 'GBP' ? '£' : '€',
      approved: te.approved,
      is_invoiced: te.invoiced,
      invoice_id: invoiceId,
      taxable: true,
      external_reference_ids: [],
      seed_ref: te.id,
      created_at: `${te.date}T18:00:00+00:00`,
      updated_at: te.approved ? SEED_TIME : `${te.date}T18:00:00+00:00`,
    };
  }
  const expenses: Record<string, any> = {};
  let exSeq = 750000;
  const categories = [['Travel', 42500], ['Lodging', 18900], ['Meals', 6400]] as const;
  for (const opp of OPPORTUNITIES.filter((o) => o.delivered)) {
    const wsId = wsByOpp[opp.sfId];
    categories.forEach(([category, cents], i) => {
      const id = String(++exSeq);
      const invoiced = i === 0;
      const invoiceId = invoiced ? `9${wsId}` : null;
      if (invoiceId && invoices[invoiceId]) invoices[invoiceId].expense_ids.push(id);
      expenses[id] = {
        id, workspace_id: wsId, user_id: userIdOf(opp.deliveryManagerId), date: `2026-11-${String(3 + i * 4).padStart(2, '0')}`,
        category, expense_category_id: String(70 + i), amount_in_cents: cents, currency: opp.currency, notes: `${category} for client workshop`,
        billable: true, reimbursable: true, approved: i < 2, is_invoiced: invoiced && !!invoices[invoiceId!], invoice_id: invoices[invoiceId ?? ''] ? invoiceId : null,
        created_at: '2026-11-12T12:00:00+00:00', updated_at: SEED_TIME,
      };
    });
  }
  const custom_fields: Record<string, any> = {
    [KANTATA_CUSTOM_FIELDS.billingEntity]: { id: KANTATA_CUSTOM_FIELDS.billingEntity, name: 'Billing Entity', subject_type: 'Workspace', value_type: 'string' },
    [KANTATA_CUSTOM_FIELDS.opportunityId]: { id: KANTATA_CUSTOM_FIELDS.opportunityId, name: 'Salesforce Opportunity Id', subject_type: 'Workspace', value_type: 'string' },
    [KANTATA_CUSTOM_FIELDS.accountExternalId]: { id: KANTATA_CUSTOM_FIELDS.accountExternalId, name: 'Customer External Id', subject_type: 'Workspace', value_type: 'string' },
    [KANTATA_CUSTOM_FIELDS.erpProjectId]: { id: KANTATA_CUSTOM_FIELDS.erpProjectId, name: 'ERP Project Id', subject_type: 'Workspace', value_type: 'string' },
  };
  // Keep the seed's billing entities reachable for tests (NWA-FR is on the legacy ERP).
  void entityByCode;
  return {
    users, workspaces, stories, participations, time_entries, expenses, invoices, custom_fields,
    oauth_tokens: { [KANTATA_STATIC_TOKEN]: { token: KANTATA_STATIC_TOKEN, expires_at: 8.64e15 } },
    _counters: { seq: { value: 1000000 } },
  };
}

/** Kantata's error body. */
export function kantataErrors(type: string, ...messages: string[]): { errors: { type: string; message: string }[] } {
  return { errors: messages.map((message) => ({ type, message })) };
}

function errorTypeFor(status: number): string {
  if (status === 401) return 'authentication';
  if (status === 403) return 'authorization';
  if (status === 404) return 'not_found';
  if (status === 422 || status === 400) return 'validation';
  if (status === 429) return 'rate_limit';
  return 'system';
}

type Rec = Record<string, any>;

/** The standard envelope: `results` in order, the records in a map under their plural key, plus includes. */
function envelope(key: string, records: Rec[], totalCount: number, page: number, perPage: number, includes: Record<string, Rec[]> = {}): Rec {
  const body: Rec = {
    count: totalCount,
    meta: { count: totalCount, page_count: Math.max(1, Math.ceil(totalCount / perPage)), page_number: page, page_size: perPage },
    results: records.map((r) => ({ key, id: r.id })),
    [key]: Object.fromEntries(records.map((r) => [r.id, r])),
  };
  for (const [k, list] of Object.entries(includes)) body[k] = { ...(body[k] ?? {}), ...Object.fromEntries(list.map((r) => [r.id, r])) };
  return body;
}

function presence(q: unknown): boolean {
  // Kantata's presence-only filters are processed as true whenever the parameter is present.
  return q !== undefined;
}

function bool(q: unknown): boolean | undefined {
  if (q === undefined) return undefined;
  return !['false', '0', 'no'].includes(String(q).toLowerCase());
}

function csv(q: unknown): string[] | undefined {
  if (q === undefined || q === '') return undefined;
  return String(q).split(',').map((s) => s.trim()).filter(Boolean);
}

export function createKantataSandbox(opts: { statePath?: string } = {}): Sandbox {
  const sb = new Sandbox({
    name: 'kantata',
    seed: seedState,
    statePath: opts.statePath,
    errorBody: (status, message) => kantataErrors(errorTypeFor(status), message),
    faultExempt: [/^\/app\/oauth\//, /^\/_sandbox\//],
  });
  const r = sb.router;

  const nextId = (): string => {
    const c = sb.collection<{ value: number }>('_counters');
    if (!c.seq) c.seq = { value: 1000000 };
    c.seq.value += 1;
    return String(c.seq.value);
  };
  const fail = (res: express.Response, status: number, ...messages: string[]) => res.status(status).json(kantataErrors(errorTypeFor(status), ...messages));

  // ---- OAuth 2.0 on the app host (authorization code + refresh token) ----
  const oauthError = (res: express.Response, status: number, error: string, description: string) => res.status(status).json({ error, error_description: description });
  r.get('/app/oauth/authorize', (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.client_id !== KANTATA_CLIENT_ID) return oauthError(res, 400, 'invalid_client', 'Unknown client_id.');
    if (q.response_type !== 'code') return oauthError(res, 400, 'unsupported_response_type', 'response_type must be code.');
    if (q.redirect_uri !== KANTATA_REDIRECT_URI) return oauthError(res, 400, 'invalid_redirect_uri', 'The redirect_uri does not match the callback URL registered for the application.');
    // the sandbox's user always agrees; the code is short-lived and single-use
    const code = crypto.randomBytes(16).toString('hex');
    sb.collection('oauth_codes')[code] = { code, redirect_uri: q.redirect_uri, expires_at: Date.now() + 10 * 60 * 1000 };
    sb.changed();
    res.redirect(302, `${q.redirect_uri}?code=${code}${q.state ? `&state=${encodeURIComponent(q.state)}` : ''}`);
  });
  r.post('/app/oauth/token', (req, res) => {
    const body = (typeof req.body === 'string' ? Object.fromEntries(new URLSearchParams(req.body)) : req.body ?? {}) as Rec;
    const grant = body.grant_type;
    if (!['authorization_code', 'refresh_token'].includes(grant)) return oauthError(res, 400, 'unsupported_grant_type', `grant_type ${String(grant)} is not supported: use authorization_code (then refresh_token), or the application's token`);
    let clientId = body.client_id;
    let clientSecret = body.client_secret;
    const basic = /^Basic (.+)$/i.exec(req.header('authorization') ?? '');
    if (basic) [clientId, clientSecret] = Buffer.from(basic[1], 'base64').toString().split(':');
    if (clientId !== KANTATA_CLIENT_ID || clientSecret !== KANTATA_CLIENT_SECRET) return oauthError(res, 401, 'invalid_client', 'Client authentication failed.');
    if (grant === 'authorization_code') {
      const code = sb.collection<Rec>('oauth_codes')[String(body.code ?? '')];
      if (!code || code.expires_at < Date.now()) return oauthError(res, 400, 'invalid_grant', 'The authorization code is invalid, expired or already used.');
      if (body.redirect_uri !== code.redirect_uri) return oauthError(res, 400, 'invalid_grant', 'The redirect_uri does not match the one the code was issued for.');
      delete sb.collection('oauth_codes')[code.code];
    } else {
      const refresh = sb.collection<Rec>('oauth_refresh_tokens')[String(body.refresh_token ?? '')];
      if (!refresh) return oauthError(res, 400, 'invalid_grant', 'The refresh token is invalid or was revoked.');
    }
    const token = crypto.randomBytes(24).toString('hex');
    // a refresh keeps its refresh token (the connector stores only the configured one); a new authorization gets a new one
    const refreshToken = grant === 'refresh_token' ? String(body.refresh_token) : crypto.randomBytes(16).toString('hex');
    sb.collection('oauth_tokens')[token] = { token, expires_at: Date.now() + TOKEN_TTL_S * 1000 };
    sb.collection('oauth_refresh_tokens')[refreshToken] = { token: refreshToken };
    sb.changed();
    res.json({ access_token: token, token_type: 'bearer', expires_in: TOKEN_TTL_S, refresh_token: refreshToken, created_at: Math.floor(Date.now() / 1000) });
  });

  // ---- sandbox conveniences (no auth, no faults) ----
  const conv = express.Router();
  conv.use(express.json());
  conv.post('/approve', (req, res) => {
    const ids = csv(Array.isArray(req.body?.ids) ? req.body.ids.join(',') : req.body?.ids);
    const ws = req.body?.workspaceId ? String(req.body.workspaceId) : undefined;
    const now = kantataNow();
    const approved: string[] = [];
    for (const kind of ['time_entries', 'expenses']) {
      for (const e of Object.values(sb.collection<Rec>(kind))) {
        if (e.approved) continue;
        if (ids && !ids.includes(e.id)) continue;
        if (ws && e.workspace_id !== ws) continue;
        if (kind === 'expenses' && !req.body?.includeExpenses && !ids) continue;
        e.approved = true;
        e.updated_at = now;
        approved.push(e.id);
      }
    }
    sb.changed();
    res.json({ approved: approved.length, ids: approved });
  });
  conv.post('/generate-time', (req, res) => {
    const count = Math.min(Number(req.body?.count ?? 100), 500000);
    if (!Number.isInteger(count) || count < 1) {
      res.status(400).json({ error: 'count must be a positive integer' });
      return;
    }
    const workspaces = Object.values(sb.collection<Rec>('workspaces'));
    const ws = req.body?.workspaceId ? workspaces.filter((w) => w.id === String(req.body.workspaceId)) : workspaces;
    if (ws.length === 0) {
      res.status(404).json({ error: `no workspace ${req.body?.workspaceId}` });
      return;
    }
    const approved = req.body?.approved !== false;
    const users = Object.values(sb.collection<Rec>('users'));
    const entries = sb.collection<Rec>('time_entries');
    const now = kantataNow();
    const created: string[] = [];
    for (let i = 0; i < count; i++) {
      const w = ws[i % ws.length];
      const user = users[i % users.length];
      const consultant = CONSULTANTS.find((c) => c.email === user.email_address);
      const id = nextId();
      const day = 1 + (i % 28);
      entries[id] = {
        id, workspace_id: w.id, user_id: user.id, story_id: null, date_performed: `${KANTATA_DEMO_MONTH}-${String(day).padStart(2, '0')}`,
        time_in_minutes: [480, 450, 360, 240][i % 4], billable: true, notes: `Generated entry ${i + 1}`,
        rate_in_cents: Math.round((consultant?.billRate ?? 150) * 100), cost_rate_in_cents: Math.round((consultant?.costRate ?? 60) * 100),
        currency: w.currency, currency_base_unit: 100, currency_symbol: '', approved, is_invoiced: false, invoice_id: null, taxable: true,
        external_reference_ids: [], created_at: now, updated_at: now,
      };
      created.push(id);
    }
    sb.changed();
    res.json({ created: created.length, firstId: created[0], lastId: created[created.length - 1] });
  });
  // revoke a refresh token, as a user removing the application's access does
  conv.delete('/refresh-tokens/:token', (req, res) => {
    delete sb.collection('oauth_refresh_tokens')[req.params.token];
    sb.changed();
    res.status(204).end();
  });
  conv.put('/change-window', (req, res) => {
    const raw = req.body?.seconds;
    const seconds = raw === null || raw === undefined ? 0 : Number(raw);
    if (!Number.isInteger(seconds) || seconds < 0) {
      res.status(400).json({ error: 'seconds must be a non-negative whole number (0 turns the window off)' });
      return;
    }
    sb.collection<{ value: number }>('_settings').changeWindow = { value: seconds };
    sb.changed();
    res.json({ seconds });
  });
  // a person joins the account (in Kantata an administrator invites them and they accept): tests make a person
  // exist after a run failed to find them by email
  conv.post('/users', (req, res) => {
    const email = typeof req.body?.email_address === 'string' ? req.body.email_address.trim() : '';
    if (!email) {
      res.status(400).json({ error: 'email_address is required' });
      return;
    }
    const users = sb.collection<Rec>('users');
    if (Object.values(users).some((u) => String(u.email_address).toLowerCase() === email.toLowerCase())) {
      res.status(409).json({ error: `a user with email ${email} exists` });
      return;
    }
    const id = nextId();
    users[id] = { id, full_name: String(req.body?.full_name ?? email), email_address: email, headline: String(req.body?.headline ?? ''), account_id: '9001' };
    sb.changed();
    res.status(201).json(users[id]);
  });
  sb.app.use('/_sandbox', conv);

  // ---- auth for the API ----
  r.use('/api/v1', (req, res, next) => {
    const m = /^Bearer\s+(.+)$/i.exec(req.header('authorization') ?? '');
    const tok = m ? sb.collection<Rec>('oauth_tokens')[m[1].trim()] : undefined;
    if (!tok || tok.expires_at < Date.now()) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="api", error="invalid_token"');
      fail(res, 401, m ? 'The access token is invalid or has expired.' : 'You must be logged in to access this resource.');
      return;
    }
    next();
  });

  // ---- generic listing ----
  const paging = (req: express.Request): { page: number; perPage: number; offset: number } | string => {
    const q = req.query as Record<string, string | undefined>;
    if (q.limit !== undefined || q.offset !== undefined) {
      const limit = Number(q.limit ?? 20);
      const offset = Number(q.offset ?? 0);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) return 'limit must be between 1 and 200';
      if (!Number.isInteger(offset) || offset < 0) return 'offset must be a non-negative integer';
      return { page: Math.floor(offset / limit) + 1, perPage: limit, offset };
    }
    const page = Number(q.page ?? 1);
    const perPage = Number(q.per_page ?? 20);
    if (!Number.isInteger(page) || page < 1) return 'page must be a positive integer';
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 200) return 'per_page must be between 1 and 200';
    return { page, perPage, offset: (page - 1) * perPage };
  };
  const byId = (a: Rec, b: Rec) => Number(a.id) - Number(b.id);
  const orderBy = (list: Rec[], order: string | undefined, def: string): Rec[] => {
    const [field, dir] = (order ?? def).split(':');
    const sign = dir === 'desc' ? -1 : 1;
    const key = (r: Rec) => (field === 'updated_at' || field === 'created_at' ? Date.parse(r[field]) : r[field]);
    return list.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka < kb) return -sign;
      if (ka > kb) return sign;
      return byId(a, b) * sign;
    });
  };
  const commonFilters = (req: express.Request, list: Rec[]): Rec[] | string => {
    const q = req.query as Record<string, string | undefined>;
    let out = list;
    const only = csv(q.only);
    if (only) out = out.filter((r) => only.includes(r.id));
    for (const [param, cmp] of [['updated_after', 1], ['updated_before', -1], ['created_after', 1], ['created_before', -1]] as const) {
      if (q[param] === undefined) continue;
      const t = Date.parse(q[param]!);
      if (Number.isNaN(t)) return `${param} must be an ISO 8601 timestamp`;
      const windowS = sb.collection<{ value: number }>('_settings').changeWindow?.value ?? 0;
      if (param === 'updated_after' && windowS > 0 && t < Date.now() - windowS * 1000) {
        return `updated_after ${q[param]} is older than the change window of this account (${windowS} s): read without updated_after`;
      }
      const field = param.startsWith('updated') ? 'updated_at' : 'created_at';
      out = out.filter((r) => (cmp === 1 ? Date.parse(r[field]) > t : Date.parse(r[field]) < t));
    }
    if (q.external_reference_service_model_ref !== undefined || q.external_reference_service_name !== undefined) {
      out = out.filter((r) => (r.external_references ?? []).some((x: Rec) =>
        (q.external_reference_service_model_ref === undefined || x.service_model_ref === q.external_reference_service_model_ref) &&
        (q.external_reference_service_name === undefined || x.service_name === q.external_reference_service_name)));
    }
    const wsIds = csv(q.workspace_ids) ?? (q.workspace_id !== undefined ? [String(q.workspace_id)] : undefined);
    if (wsIds) out = out.filter((r) => wsIds.includes(r.workspace_id ?? r.id));
    return out;
  };
  const includesFor = (req: express.Request, records: Rec[]): Record<string, Rec[]> => {
    const inc = csv(req.query.include) ?? [];
    const out: Record<string, Rec[]> = {};
    const pick = (coll: string, field: string) => {
      const c = sb.collection<Rec>(coll);
      out[coll] = [...new Set(records.map((r) => r[field]).filter(Boolean))].map((id) => c[id]).filter(Boolean);
    };
    if (inc.includes('workspace')) pick('workspaces', 'workspace_id');
    if (inc.includes('user')) pick('users', 'user_id');
    if (inc.includes('story')) pick('stories', 'story_id');
    if (inc.includes('invoice')) pick('invoices', 'invoice_id');
    return out;
  };
  const list = (key: string, filter: (req: express.Request, l: Rec[]) => Rec[] | string, defaultOrder: string) =>
    (req: express.Request, res: express.Response) => {
      const p = paging(req);
      if (typeof p === 'string') return fail(res, 400, p);
      let l: Rec[] | string = commonFilters(req, Object.values(sb.collection<Rec>(key)));
      if (typeof l !== 'string') l = filter(req, l);
      if (typeof l === 'string') return fail(res, 400, l);
      const sorted = orderBy(l, req.query.order as string | undefined, defaultOrder);
      const pageRecs = sorted.slice(p.offset, p.offset + p.perPage);
      res.json(envelope(key, pageRecs, sorted.length, p.page, p.perPage, includesFor(req, pageRecs)));
    };
  const getOne = (key: string, label: string) => (req: express.Request, res: express.Response) => {
    const rec = sb.collection<Rec>(key)[req.params.id];
    if (!rec) return fail(res, 404, `${label} ${req.params.id} not found`);
    res.json(envelope(key, [rec], 1, 1, 1, includesFor(req, [rec])));
  };
  const unwrap = (req: express.Request, singular: string, plural: string): Rec[] | string => {
    const body = (req.body ?? {}) as Rec;
    if (Array.isArray(body[plural])) return body[plural].length > (plural === 'stories' ? 300 : 100) ? `at most ${plural === 'stories' ? 300 : 100} ${plural} per request` : body[plural];
    if (body[singular] && typeof body[singular] === 'object') return [body[singular]];
    return `request body must be wrapped in "${singular}" (or "${plural}" for bulk)`;
  };
  const missing = (o: Rec, required: string[]): string[] => required.filter((k) => o[k] === undefined || o[k] === null || o[k] === '').map((k) => `${k} can't be blank`);
  const timestamps = (rec: Rec) => {
    const now = kantataNow();
    rec.created_at = rec.created_at ?? now;
    rec.updated_at = now;
    return rec;
  };

  // ---- users / custom fields ----
  r.get('/api/v1/users', list('users', (req, l) => {
    const email = req.query.by_email_address as string | undefined;
    return email ? l.filter((u) => String(u.email_address).toLowerCase() === email.toLowerCase()) : l;
  }, 'id:asc'));
  r.get('/api/v1/users/me', (_req, res) => res.json(envelope('users', [{ id: '100000', full_name: 'PS Fabric Integration', email_address: 'integration@northwind-advisory.example' }], 1, 1, 1)));
  r.get('/api/v1/custom_fields', list('custom_fields', (_q, l) => l, 'id:asc'));
  // An account without a custom field, or with one under another id / name / type (Settings > Custom Fields); reset restores the seed's.
  r.delete('/_sandbox/custom_fields/:id', (req, res) => {
    if (!sb.collection('custom_fields')[req.params.id]) return res.status(404).json({ error: `no custom field ${req.params.id}` });
    delete sb.collection('custom_fields')[req.params.id];
    sb.changed();
    res.status(204).end();
  });
  r.put('/_sandbox/custom_fields/:id', express.json(), (req, res) => {
    const b = (req.body ?? {}) as Rec;
    if (!/^\d+$/.test(req.params.id) || typeof b.name !== 'string' || !b.name) return res.status(400).json({ error: 'PUT /_sandbox/custom_fields/<numeric id> { name, subject_type?: Workspace, value_type?: string }' });
    const rec = { id: req.params.id, name: b.name, subject_type: String(b.subject_type ?? 'Workspace'), value_type: String(b.value_type ?? 'string') };
    sb.collection('custom_fields')[req.params.id] = rec;
    sb.changed();
    res.json(rec);
  });

  /** A workspace write may name only existing Project (Workspace) custom fields. */
  const customFieldProblems = (list: unknown): string[] =>
    (Array.isArray(list) ? (list as Rec[]) : []).flatMap((cf) => {
      const def = sb.collection<Rec>('custom_fields')[String(cf.custom_field_id)];
      if (!def) return [`custom field ${cf.custom_field_id} does not exist`];
      if (String(def.subject_type).toLowerCase() !== 'workspace') return [`custom field ${cf.custom_field_id} (${def.name}) is a ${def.subject_type} field, not a Project (Workspace) field`];
      return [];
    });

  // ---- workspaces ----
  r.get('/api/v1/workspaces', list('workspaces', (req, l) => {
    const archived = req.query.archived as string | undefined;
    if (archived === 'only') return l.filter((w) => w.archived);
    if (archived === 'include' || req.query.include_archived !== undefined) return l;
    return l.filter((w) => !w.archived);
  }, 'id:asc'));
  r.get('/api/v1/workspaces/:id', getOne('workspaces', 'Workspace'));
  r.post('/api/v1/workspaces', (req, res) => {
    const items = unwrap(req, 'workspace', 'workspaces');
    if (typeof items === 'string') return fail(res, 400, items);
    const problems: string[] = [];
    for (const w of items) {
      problems.push(...missing(w, ['title']));
      if (w.budgeted && (w.price === undefined || w.price === null)) problems.push('price is required for a budgeted project');
      if (w.currency !== undefined && !/^[A-Z]{3}$/.test(String(w.currency))) problems.push(`currency ${w.currency} is not a valid currency`);
      problems.push(...customFieldProblems(w.custom_fields));
      for (const p of w.participations ?? []) if (!sb.collection('users')[String(p.user_id)]) problems.push(`user ${p.user_id} does not exist`);
    }
    if (problems.length) return fail(res, 422, ...problems);
    const created = items.map((w) => {
      const id = nextId();
      const price = w.price !== undefined ? Number(w.price) : undefined;
      const rec = timestamps({
        id, title: String(w.title), description: w.description ?? '', archived: false, budgeted: !!w.budgeted,
        price, price_in_cents: price !== undefined ? Math.round(price * 100) : undefined, currency: w.currency ?? 'USD',
        start_date: w.start_date ?? null, due_date: w.due_date ?? null, status: { color: 'grey', key: 300, message: 'Not Started' },
        stage: w.stage ?? 'project', require_time_approvals: w.require_time_approvals ?? true, require_expense_approvals: w.require_expense_approvals ?? true,
        time_trackable: w.time_trackable ?? true, account_id: '9001', client_name: w.client_name ?? w.client_role_name ?? null,
        primary_maven_id: w.primary_maven_id ? String(w.primary_maven_id) : null, custom_fields: (w.custom_fields ?? []).map((c: Rec) => ({ custom_field_id: String(c.custom_field_id), value: c.value })),
        external_references: w.external_reference ? [w.external_reference] : [],
      });
      sb.collection('workspaces')[id] = rec;
      for (const p of w.participations ?? []) {
        const pid = nextId();
        sb.collection('participations')[pid] = timestamps({ id: pid, workspace_id: id, user_id: String(p.user_id), role: 'maven', access_level: p.access ?? p.access_level ?? 'edit_time_and_expenses' });
      }
      return rec;
    });
    sb.changed();
    res.status(200).json(envelope('workspaces', created, created.length, 1, created.length));
  });
  r.put('/api/v1/workspaces/:id', (req, res) => {
    const rec = sb.collection<Rec>('workspaces')[req.params.id];
    if (!rec) return fail(res, 404, `Workspace ${req.params.id} not found`);
    const w = (req.body ?? {}).workspace;
    if (!w || typeof w !== 'object') return fail(res, 400, 'request body must be wrapped in "workspace"');
    if (w.price !== undefined && (!Number.isFinite(Number(w.price)) || Number(w.price) < 0)) return fail(res, 422, 'price must be a non-negative number');
    const cfProblems = customFieldProblems(w.custom_fields);
    if (cfProblems.length) return fail(res, 422, ...cfProblems);
    for (const k of ['title', 'description', 'budgeted', 'currency', 'start_date', 'due_date', 'stage', 'archived']) if (w[k] !== undefined) rec[k] = w[k];
    if (w.price !== undefined) {
      rec.price = Number(w.price);
      rec.price_in_cents = Math.round(Number(w.price) * 100);
    }
    if (Array.isArray(w.custom_fields)) {
      for (const cf of w.custom_fields) {
        const existing = rec.custom_fields.find((c: Rec) => c.custom_field_id === String(cf.custom_field_id));
        if (existing) existing.value = cf.value;
        else rec.custom_fields.push({ custom_field_id: String(cf.custom_field_id), value: cf.value });
      }
    }
    timestamps(rec);
    sb.changed();
    res.json(envelope('workspaces', [rec], 1, 1, 1));
  });

  // ---- participations ----
  r.get('/api/v1/participations', (req, res, next) => {
    if (req.query.workspace_id === undefined) return fail(res, 400, 'workspace_id is required');
    next();
  }, list('participations', (req, l) => (req.query.by_user ? l.filter((p) => p.user_id === String(req.query.by_user)) : l), 'updated_at:desc'));
  r.post('/api/v1/participations', (req, res) => {
    const items = unwrap(req, 'participation', 'participations');
    if (typeof items === 'string') return fail(res, 400, items);
    const problems: string[] = [];
    for (const p of items) {
      problems.push(...missing(p, ['workspace_id', 'role']));
      if (p.workspace_id && !sb.collection('workspaces')[String(p.workspace_id)]) problems.push(`workspace ${p.workspace_id} does not exist`);
      if (p.user_id && !sb.collection('users')[String(p.user_id)]) problems.push(`user ${p.user_id} does not exist`);
      if (p.role && !['maven', 'buyer'].includes(p.role)) problems.push('role must be maven or buyer');
    }
    if (problems.length) return fail(res, 422, ...problems);
    const created = items.map((p) => {
      const existing = Object.values(sb.collection<Rec>('participations')).find((x) => x.workspace_id === String(p.workspace_id) && x.user_id === String(p.user_id));
      if (existing) return existing; // Kantata answers with the existing participation for a user already on the project.
      const id = nextId();
      const rec = timestamps({ id, workspace_id: String(p.workspace_id), user_id: p.user_id ? String(p.user_id) : null, role: p.role, access_level: p.access_level ?? 'edit_time_and_expenses' });
      sb.collection('participations')[id] = rec;
      return rec;
    });
    sb.changed();
    res.json(envelope('participations', created, created.length, 1, created.length));
  });

  // ---- stories ----
  r.get('/api/v1/stories', list('stories', (req, l) => (req.query.story_type ? l.filter((s) => s.story_type === req.query.story_type) : l), 'updated_at:desc'));
  r.get('/api/v1/stories/:id', getOne('stories', 'Story'));
  r.post('/api/v1/stories', (req, res) => {
    const items = unwrap(req, 'story', 'stories');
    if (typeof items === 'string') return fail(res, 400, items);
    const problems: string[] = [];
    for (const s of items) {
      problems.push(...missing(s, ['workspace_id', 'title']));
      if (s.workspace_id && !sb.collection('workspaces')[String(s.workspace_id)]) problems.push(`workspace ${s.workspace_id} does not exist`);
      if (s.story_type && !['task', 'deliverable', 'milestone', 'issue'].includes(s.story_type)) problems.push('story_type must be one of task, deliverable, milestone, issue');
      if (s.description && String(s.description).length >= 1000) problems.push('description is too long (maximum is 999 characters)');
    }
    if (problems.length) return fail(res, 422, ...problems);
    const created = items.map((s) => {
      const id = nextId();
      const rec = timestamps({
        id, workspace_id: String(s.workspace_id), title: String(s.title), story_type: s.story_type ?? 'task', description: s.description ?? '',
        state: s.state ?? 'not started', billable: s.billable ?? true, parent_id: s.parent_id ? String(s.parent_id) : null,
        time_estimate_in_minutes: s.time_estimate_in_minutes ?? null, budget_estimate_in_cents: s.budget_estimate_in_cents ?? null,
        start_date: s.start_date ?? null, due_date: s.due_date ?? null, external_references: s.external_reference ? [s.external_reference] : [],
      });
      sb.collection('stories')[id] = rec;
      return rec;
    });
    sb.changed();
    res.json(envelope('stories', created, created.length, 1, created.length));
  });

  // ---- time entries and expenses ----
  const invoiceFilters = (req: express.Request, l: Rec[]): Rec[] => {
    const q = req.query;
    let out = l;
    if (presence(q.approved)) out = out.filter((e) => e.approved);
    if (presence(q.invoiced)) out = out.filter((e) => e.is_invoiced);
    if (presence(q.uninvoiced)) out = out.filter((e) => !e.is_invoiced);
    const billable = bool(q.billable);
    if (billable !== undefined) out = out.filter((e) => e.billable === billable);
    if (q.in_active_invoice_id !== undefined) out = out.filter((e) => e.invoice_id === String(q.in_active_invoice_id));
    const users = csv(q.with_user_ids);
    if (users) out = out.filter((e) => users.includes(e.user_id));
    return out;
  };
  r.get('/api/v1/time_entries', list('time_entries', (req, l) => {
    let out = invoiceFilters(req, l);
    const between = req.query.date_performed_between as string | undefined;
    if (between) {
      const [from, to] = between.split(':');
      out = out.filter((e) => e.date_performed >= from && e.date_performed <= to);
    }
    return out;
  }, 'date_performed:desc'));
  r.get('/api/v1/time_entries/:id', getOne('time_entries', 'TimeEntry'));
  r.get('/api/v1/expenses', list('expenses', (req, l) => invoiceFilters(req, l), 'date:desc'));
  r.get('/api/v1/expenses/:id', getOne('expenses', 'Expense'));
  r.post('/api/v1/time_entries', (req, res) => {
    const items = unwrap(req, 'time_entry', 'time_entries');
    if (typeof items === 'string') return fail(res, 400, items);
    const problems: string[] = [];
    for (const t of items) {
      problems.push(...missing(t, ['workspace_id', 'date_performed', 'time_in_minutes']));
      if (t.workspace_id && !sb.collection('workspaces')[String(t.workspace_id)]) problems.push(`workspace ${t.workspace_id} does not exist`);
      if (t.time_in_minutes !== undefined && (!Number.isInteger(Number(t.time_in_minutes)) || Number(t.time_in_minutes) < 0)) problems.push('time_in_minutes must be a non-negative integer');
    }
    if (problems.length) return fail(res, 422, ...problems);
    const created = items.map((t) => {
      const ws = sb.collection<Rec>('workspaces')[String(t.workspace_id)];
      const id = nextId();
      const rec = timestamps({
        id, workspace_id: String(t.workspace_id), user_id: String(t.user_id ?? '100000'), story_id: t.story_id ? String(t.story_id) : null,
        date_performed: t.date_performed, time_in_minutes: Number(t.time_in_minutes), billable: t.billable ?? true, notes: t.notes ?? '',
        rate_in_cents: t.rate_in_cents ?? 0, currency: ws.currency, currency_base_unit: 100, approved: !ws.require_time_approvals,
        is_invoiced: false, invoice_id: null, taxable: true, external_reference_ids: [],
      });
      sb.collection('time_entries')[id] = rec;
      return rec;
    });
    sb.changed();
    res.json(envelope('time_entries', created, created.length, 1, created.length));
  });
  r.put('/api/v1/time_entries/:id', (req, res) => {
    const rec = sb.collection<Rec>('time_entries')[req.params.id];
    if (!rec) return fail(res, 404, `TimeEntry ${req.params.id} not found`);
    const t = (req.body ?? {}).time_entry;
    if (!t || typeof t !== 'object') return fail(res, 400, 'request body must be wrapped in "time_entry"');
    if (rec.is_invoiced && ['time_in_minutes', 'rate_in_cents', 'date_performed', 'billable'].some((k) => t[k] !== undefined)) return fail(res, 422, 'Time entry is locked because it has been invoiced');
    for (const k of ['time_in_minutes', 'rate_in_cents', 'date_performed', 'billable', 'notes', 'story_id']) if (t[k] !== undefined) rec[k] = t[k];
    if (t.external_reference) {
      rec.external_references = [...(rec.external_references ?? []).filter((x: Rec) => x.service_name !== t.external_reference.service_name || x.service_model !== t.external_reference.service_model), t.external_reference];
    }
    timestamps(rec);
    sb.changed();
    res.json(envelope('time_entries', [rec], 1, 1, 1));
  });

  // ---- invoices: how entries become invoiced ----
  r.get('/api/v1/invoices', list('invoices', (_q, l) => l, 'id:asc'));
  r.get('/api/v1/invoices/:id', getOne('invoices', 'Invoice'));
  r.post('/api/v1/invoices', (req, res) => {
    const inv = (req.body ?? {}).invoice;
    if (!inv || typeof inv !== 'object') return fail(res, 400, 'request body must be wrapped in "invoice"');
    const teIds: string[] = (inv.time_entry_ids ?? []).map(String);
    const exIds: string[] = (inv.expense_ids ?? []).map(String);
    const problems: string[] = [];
    const wsIds: string[] = (inv.workspace_ids ?? (inv.workspace_id ? [inv.workspace_id] : [])).map(String);
    if (wsIds.length === 0) problems.push("workspace_ids can't be blank");
    if (teIds.length + exIds.length === 0) problems.push('an invoice needs at least one time entry or expense');
    const tes = sb.collection<Rec>('time_entries');
    const exs = sb.collection<Rec>('expenses');
    for (const id of teIds) {
      const e = tes[id];
      if (!e) problems.push(`time entry ${id} does not exist`);
      else if (e.is_invoiced) problems.push(`time entry ${id} has already been invoiced (invoice ${e.invoice_id})`);
      else if (!e.approved) problems.push(`time entry ${id} is not approved`);
      else if (!wsIds.includes(e.workspace_id)) problems.push(`time entry ${id} does not belong to workspace ${wsIds.join(',')}`);
    }
    for (const id of exIds) {
      const e = exs[id];
      if (!e) problems.push(`expense ${id} does not exist`);
      else if (e.is_invoiced) problems.push(`expense ${id} has already been invoiced (invoice ${e.invoice_id})`);
      else if (!e.approved) problems.push(`expense ${id} is not approved`);
    }
    if (problems.length) return fail(res, 422, ...problems);
    const id = nextId();
    const rec = timestamps({
      id, workspace_ids: wsIds, time_entry_ids: teIds, expense_ids: exIds, invoice_date: inv.invoice_date ?? kantataNow().slice(0, 10),
      due_date: inv.due_date ?? null, status: 'sent', currency: sb.collection<Rec>('workspaces')[wsIds[0]]?.currency ?? null,
      external_references: inv.external_reference ? [inv.external_reference] : [],
    });
    sb.collection('invoices')[id] = rec;
    const now = kantataNow();
    for (const t of teIds) Object.assign(tes[t], { is_invoiced: true, invoice_id: id, updated_at: now });
    for (const e of exIds) Object.assign(exs[e], { is_invoiced: true, invoice_id: id, updated_at: now });
    sb.changed();
    res.json(envelope('invoices', [rec], 1, 1, 1));
  });

  r.use('/api/v1', (req, res) => fail(res, 404, `No route matches ${req.method} ${req.path}`));
  return sb;
}

export const kantataSandbox: VendorSandboxFactory = {
  name: 'kantata',
  create: ({ statePath }) => createKantataSandbox({ statePath }),
};
