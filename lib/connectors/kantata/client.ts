/**
 * Kantata OX API v1 client (axios, no Node-RED): bearer auth with the application's token, or an OAuth 2.0 user token
 * (authorization-code flow, kept fresh with its refresh token at the app host's token endpoint), the
 * `{ count, meta, results, <plural>: {id: rec} }` envelope, paging, error mapping through `classify`,
 * the approved-uninvoiced poller with a durable cursor, and the `ConnectionExecutor` for writes.
 *
 * Writes (operation names for `ConnectionHandle.submit`):
 * - `createProjectShell` {workspace, customFields?, stories?, participations?, externalRef}: lookup-by-external-reference,
 *   then create; `customFields` ({ billingEntity, opportunityId, accountExternalId, erpProjectId } values) become the
 *   workspace's `custom_fields` under the ids the config node maps them to; a participation naming its person by
 *   `email` (instead of `user_id`) is resolved to the Kantata user with that email (`GET /users?by_email_address=`,
 *   cached in the cross-reference); nobody with it fails naming the person
 * - `createWorkspace` {workspace}, `updateWorkspace` {id, workspace} (budget changes: `{ price, budgeted: true }`)
 * - `createStories` {workspaceId, stories: [...]}, `addParticipations` {workspaceId, participations: [...]}
 * - `createTimeEntry` {time_entry}
 * - `markInvoiced` {workspaceId, timeEntryIds?, expenseIds?, invoiceNumber, invoiceDate?}: already-invoiced entries are skipped
 */
import axios, { AxiosInstance, AxiosRequestConfig } from 'axios';
import { attachGateToAxios, type RequestGate } from '../../delivery/request-gate';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { classify, FabricError, PermanentError, ValidationError } from '../../delivery/errors';
import { checkKantataCustomFields, isCustomFieldId, REQUIRED_KANTATA_CUSTOM_FIELDS, type KantataCustomField, type KantataCustomFields, type KRecord } from './mapping';
import { resolvePerson, type ConnectionXref } from '../../xref';

/** The system name of Kantata in the cross-reference and the ownership matrix. */
export const KANTATA_SYSTEM = 'kantata';

/**
 * How the connector authenticates, the two ways Kantata documents for a backend connector:
 * - `token`: the application's token, generated on the application's page (app.mavenlink.com/oauth/applications);
 * - `authorization-code`: a user token from the OAuth 2.0 authorization-code flow; the refresh token obtained once
 *   (docs/connectors/kantata.md) is exchanged for access tokens at the app host's token endpoint
 *   (`https://app.mavenlink.com/oauth/token`, derived from an `api.` base URL; set `tokenUrl` otherwise).
 */
export type KantataAuth =
  | { type: 'token'; accessToken: string }
  | { type: 'authorization-code'; clientId: string; clientSecret: string; refreshToken: string; tokenUrl?: string };

/** The app host's token endpoint for an API base URL (`https://api.mavenlink.com` -> `https://app.mavenlink.com/oauth/token`). */
export function kantataTokenUrl(baseUrl: string): string | undefined {
  try {
    const u = new URL(baseUrl);
    if (!/^api\./i.test(u.hostname)) return undefined;
    return `${u.protocol}//${u.hostname.replace(/^api\./i, 'app.')}${u.port ? `:${u.port}` : ''}/oauth/token`;
  } catch {
    return undefined;
  }
}

/** The operations `execute` writes (through the outbox); the kantata node's write list. */
export const KANTATA_WRITE_OPERATIONS = ['createProjectShell', 'createWorkspace', 'updateWorkspace', 'createStories', 'addParticipations', 'createTimeEntry', 'markInvoiced'] as const;

/** What the token endpoint answered; `refreshToken` replaces the one used (Kantata may rotate it). */
export interface KantataTokens {
  accessToken: string;
  refreshToken?: string;
  expiresIn?: number;
}

/** One token request (authorization_code or refresh_token) at the app host; errors classified. */
export async function requestKantataToken(tokenUrl: string, form: Record<string, string>, timeoutMs = 30000): Promise<KantataTokens> {
  try {
    const res = await axios.post(tokenUrl, new URLSearchParams(form).toString(), { headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, timeout: timeoutMs });
    const body = res.data as { access_token?: string; refresh_token?: string; expires_in?: number };
    if (!body.access_token) throw new PermanentError('Kantata token endpoint answered without access_token', { errorClass: 'auth', status: res.status });
    return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresIn: body.expires_in };
  } catch (err) {
    const e = kantataError(err);
    // invalid_grant / invalid_client from the token endpoint: a person must authorize again, retrying cannot help
    throw e.status === 400 || e.status === 401 ? new PermanentError(e.message, { errorClass: 'auth', status: e.status, response: e.response, cause: err }) : e;
  }
}

/**
 * Exchanges an authorization code (from `/oauth/authorize` on the app host, sent to the registered callback URL) for
 * the first access + refresh token: done once when a firm connects, the refresh token goes into the config node.
 */
export function exchangeKantataCode(opts: { tokenUrl: string; clientId: string; clientSecret: string; code: string; redirectUri: string; timeoutMs?: number }): Promise<KantataTokens> {
  return requestKantataToken(opts.tokenUrl, { grant_type: 'authorization_code', client_id: opts.clientId, client_secret: opts.clientSecret, code: opts.code, redirect_uri: opts.redirectUri }, opts.timeoutMs);
}

export interface KantataConfig {
  /** e.g. `https://api.mavenlink.com` or the sandbox `http://127.0.0.1:1881/kantata`; `/api/v1` is appended. */
  baseUrl: string;
  auth: KantataAuth;
  timeoutMs?: number;
  /** Service name written in external references (default `PSFabric`). */
  serviceName?: string;
  /** The account's workspace custom fields, by id or name (checked by checkKantataCustomFields; default DEFAULT_KANTATA_CUSTOM_FIELDS). */
  customFields?: Partial<KantataCustomFields>;
}

export type { KRecord } from './mapping';

export interface KantataPage {
  records: KRecord[];
  /** Included associations by plural key. */
  included: Record<string, Record<string, KRecord>>;
  count: number;
  pageCount: number;
  page: number;
}

/** Position of the approved-uninvoiced poller for one collection. The caller persists it (JSON). */
export interface CollectionCursor {
  /** Highest updated_at consumed (ISO). */
  updatedAt?: string;
  /** Ids already consumed whose updated_at equals `updatedAt` (the boundary second). */
  ids?: string[];
}
export interface KantataCursor {
  time_entries?: CollectionCursor;
  expenses?: CollectionCursor;
}

export interface PollResult {
  timeEntries: KRecord[];
  expenses: KRecord[];
  workspaces: Record<string, KRecord>;
  users: Record<string, KRecord>;
  cursor: KantataCursor;
  /** True when `maxRecords` stopped the poll early: poll again soon. */
  more: boolean;
}

const SECOND = 1000;
/** Re-reads of a boundary second in one poll (entries invoiced meanwhile) before the poll stops and asks to be run again. */
const MAX_BOUNDARY_RESTARTS = 5;

/** Turns any failure into a FabricError: Kantata's `errors: [{type, message}]` body is read by `classify` like every other vendor's. */
export function kantataError(err: unknown): FabricError {
  return classify(err);
}

export class KantataClient {
  readonly http: AxiosInstance;
  private token?: { value: string; expiresAt: number };
  private tokenPromise?: Promise<string>;
  /** The refresh token to use next (the configured one until the endpoint rotates it). */
  private refreshToken?: string;
  readonly serviceName: string;
  readonly customFields: KantataCustomFields;
  private fieldIds?: Promise<Partial<Record<KantataCustomField, string>>>;

  constructor(readonly config: KantataConfig) {
    this.http = axios.create({ baseURL: config.baseUrl.replace(/\/$/, '') + '/api/v1', timeout: config.timeoutMs ?? 30000 });
    this.serviceName = config.serviceName ?? 'PSFabric';
    this.customFields = checkKantataCustomFields(config.customFields);
  }

  /** The account's workspace (project) custom fields. */
  async workspaceCustomFields(): Promise<KRecord[]> {
    return (await this.all('custom_fields')).filter((f) => String(f.subject_type ?? 'Workspace').toLowerCase() === 'workspace');
  }

  /**
   * Each mapped field's id in this account: an id setting as given, a name looked up once in `GET /custom_fields`.
   * A name the account does not have is left out (the field is then treated as absent, see KantataCustomFields).
   */
  customFieldIds(): Promise<Partial<Record<KantataCustomField, string>>> {
    if (!this.fieldIds) {
      const entries = Object.entries(this.customFields) as Array<[KantataCustomField, string | null]>;
      const byName = entries.some(([, v]) => v !== null && !isCustomFieldId(v));
      this.fieldIds = (async () => {
        const fields = byName ? await this.workspaceCustomFields() : [];
        const out: Partial<Record<KantataCustomField, string>> = {};
        for (const [key, v] of entries) {
          if (v === null) continue;
          if (isCustomFieldId(v)) out[key] = v;
          else {
            const f = fields.find((x) => String(x.name).trim().toLowerCase() === v.toLowerCase());
            if (f) out[key] = String(f.id);
          }
        }
        return out;
      })();
      this.fieldIds.catch(() => (this.fieldIds = undefined));
    }
    return this.fieldIds;
  }

  /** Custom field id -> KantataCustomField, for workspaceContext. */
  async customFieldNames(): Promise<Record<string, string>> {
    return Object.fromEntries(Object.entries(await this.customFieldIds()).map(([key, id]) => [id, key]));
  }

  /**
   * `custom_fields` of a workspace write from values by KantataCustomField. A required field the account lacks refuses
   * the write naming the field and the setting; an optional one is left out.
   */
  async customFieldValues(values: Partial<Record<KantataCustomField, unknown>>): Promise<Array<{ custom_field_id: string; value: string }>> {
    const ids = await this.customFieldIds();
    const out: Array<{ custom_field_id: string; value: string }> = [];
    const missing: KantataCustomField[] = [];
    for (const [key, value] of Object.entries(values) as Array<[KantataCustomField, unknown]>) {
      if (value === undefined || value === null || value === '') continue;
      const id = ids[key];
      if (id) out.push({ custom_field_id: id, value: String(value) });
      else if (REQUIRED_KANTATA_CUSTOM_FIELDS.includes(key)) missing.push(key);
    }
    if (missing.length) {
      throw new ValidationError(
        `Kantata account has no project custom field for ${missing.map((k) => `${k} (setting custom fields > ${k} = ${JSON.stringify(this.customFields[k])})`).join(', ')}: time-to-cash could not bill the project's time. Create a Project custom field of type Text in Kantata (Settings > Custom Fields) or name an existing one in the kantata-config setting, then replay`,
        missing.map((k) => ({ path: `/customFields/${k}`, message: `no Kantata custom field ${JSON.stringify(this.customFields[k])}` })),
      );
    }
    return out;
  }

  /** Bearer token: the application's token, or a cached user token refreshed a minute before it expires. */
  async accessToken(force = false): Promise<string> {
    const auth = this.config.auth;
    if (auth.type === 'token') return auth.accessToken;
    if (!force && this.token && this.token.expiresAt - 60 * SECOND > Date.now()) return this.token.value;
    if (!this.tokenPromise) {
      this.tokenPromise = (async () => {
        const url = auth.tokenUrl || kantataTokenUrl(this.config.baseUrl);
        if (!url) throw new PermanentError(`Kantata: no token URL for ${this.config.baseUrl}: set the config node's token URL (the app host's /oauth/token)`, { errorClass: 'auth' });
        const refreshToken = this.refreshToken ?? auth.refreshToken;
        if (!refreshToken) throw new PermanentError('Kantata: the authorization-code login needs a refresh token (docs/connectors/kantata.md: authorize once, store the refresh token)', { errorClass: 'auth' });
        try {
          const t = await requestKantataToken(url, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: auth.clientId, client_secret: auth.clientSecret }, this.config.timeoutMs);
          if (t.refreshToken) this.refreshToken = t.refreshToken;
          this.token = { value: t.accessToken, expiresAt: Date.now() + (t.expiresIn ?? 3600) * SECOND };
          return t.accessToken;
        } finally {
          this.tokenPromise = undefined;
        }
      })();
    }
    return this.tokenPromise;
  }

  /** One request; a 401 on a cached OAuth token fetches a new token once (token expiry, not a retry policy). */
  async request<T = KRecord>(method: string, path: string, opts: { params?: Record<string, unknown>; data?: unknown } = {}): Promise<T> {
    const send = async (token: string) => {
      const cfg: AxiosRequestConfig = { method, url: path, params: opts.params, data: opts.data, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } };
      return (await this.http.request<T>(cfg)).data;
    };
    const token = await this.accessToken();
    try {
      return await send(token);
    } catch (err) {
      const status = (err as { response?: { status?: number } }).response?.status;
      if (status === 401 && this.config.auth.type === 'authorization-code') {
        this.token = undefined;
        try {
          return await send(await this.accessToken(true));
        } catch (err2) {
          throw kantataError(err2);
        }
      }
      throw kantataError(err);
    }
  }

  /** One page of a collection, records in `results` order. */
  async page(collection: string, params: Record<string, unknown> = {}): Promise<KantataPage> {
    const body = await this.request<KRecord>('GET', `/${collection}`, { params });
    return parseEnvelope(body, collection);
  }

  /** Every page of a collection (use for bounded lists: users, stories of a workspace). */
  async all(collection: string, params: Record<string, unknown> = {}, perPage = 200): Promise<KRecord[]> {
    const out: KRecord[] = [];
    for (let page = 1; ; page++) {
      const p = await this.page(collection, { ...params, page, per_page: perPage });
      out.push(...p.records);
      if (page >= p.pageCount || p.records.length === 0) return out;
    }
  }

  async get(collection: string, id: string, include?: string): Promise<KRecord> {
    const body = await this.request<KRecord>('GET', `/${collection}/${encodeURIComponent(id)}`, { params: include ? { include } : undefined });
    const page = parseEnvelope(body, collection);
    return page.records[0];
  }

  async findWorkspaceByExternalRef(ref: string): Promise<KRecord | undefined> {
    const p = await this.page('workspaces', { external_reference_service_model_ref: ref, archived: 'include', per_page: 1 });
    return p.records[0];
  }

  async findUserByEmail(email: string): Promise<KRecord | undefined> {
    const p = await this.page('users', { by_email_address: email, per_page: 1 });
    return p.records.find((u) => String(u.email_address).toLowerCase() === email.toLowerCase());
  }

  /**
   * Approved, uninvoiced time entries and expenses changed after the cursor, oldest first.
   * Keyset paging on `updated_after` (so entries invoiced meanwhile cannot shift pages), with
   * a page-number fallback when a whole page shares the boundary second; when the total count drops during that
   * fallback (entries invoiced meanwhile shift its pages), the boundary is read again from its first page. Returns the new cursor;
   * the caller persists it only after it has stored or handed on the records. `sweep` ignores the given
   * cursor (reads every approved uninvoiced record) and still returns the cursor at the newest one read.
   */
  async pollApproved(cursor: KantataCursor = {}, opts: { perPage?: number; maxRecords?: number; workspaceId?: string; include?: ('time_entries' | 'expenses')[]; sweep?: boolean } = {}): Promise<PollResult> {
    const perPage = opts.perPage ?? 200;
    const maxRecords = opts.maxRecords ?? 10000;
    const result: PollResult = { timeEntries: [], expenses: [], workspaces: {}, users: {}, cursor: { ...cursor }, more: false };
    for (const collection of opts.include ?? ['time_entries', 'expenses'] as const) {
      const given: CollectionCursor = opts.sweep ? {} : (cursor[collection] ?? {});
      let updatedAt = given.updatedAt;
      // ids read at the boundary second: a Set, a month-end burst puts thousands of entries in one second
      let seen = new Set<string>(given.ids ?? []);
      const out = collection === 'time_entries' ? result.timeEntries : result.expenses;
      let pageNo = 1;
      let lastCount = 0;
      let restarts = 0;
      for (;;) {
        const params: Record<string, unknown> = { approved: true, uninvoiced: true, order: 'updated_at:asc', per_page: perPage, page: pageNo, include: 'workspace,user' };
        if (opts.workspaceId) params.workspace_id = opts.workspaceId;
        if (updatedAt) params.updated_after = new Date(Date.parse(updatedAt) - SECOND).toISOString();
        const p = await this.page(collection, params);
        if (pageNo > 1 && p.count < lastCount) {
          // Entries left the filter (invoiced) while we paged through the boundary second: the pages moved back and
          // this one starts past records not read yet. Reading it would move the cursor beyond them and lose them,
          // so the boundary is read again from its first page (the ones already read are skipped by id).
          lastCount = p.count;
          pageNo = 1;
          if (++restarts > MAX_BOUNDARY_RESTARTS) {
            result.more = true;
            break;
          }
          continue;
        }
        lastCount = p.count;
        Object.assign(result.workspaces, p.included.workspaces ?? {});
        Object.assign(result.users, p.included.users ?? {});
        const before = updatedAt;
        for (const rec of p.records) {
          const t = Date.parse(rec.updated_at);
          const b = updatedAt ? Date.parse(updatedAt) : -Infinity;
          const id = String(rec.id);
          if (t < b || (t === b && seen.has(id))) continue;
          out.push(rec);
          if (t === b) seen.add(id);
          else {
            updatedAt = rec.updated_at;
            seen = new Set([id]);
          }
        }
        if (updatedAt !== undefined) result.cursor[collection] = { updatedAt, ids: [...seen] };
        if (p.records.length < perPage) break;
        if (out.length >= maxRecords) {
          result.more = true;
          break;
        }
        // Keyset: the next request starts at the new boundary; while the boundary stays (a page of one second), page forward.
        pageNo = updatedAt === before ? pageNo + 1 : 1;
      }
    }
    return result;
  }

  /** The executor for the outbox; operations listed in the file header. */
  executor(): ConnectionExecutor {
    return { execute: (operation, request, ctx) => this.execute(operation, request, ctx), attachRequestGate: (gate) => this.useRequestGate(gate) };
  }

  /**
   * Routes every request of this client (token fetches, lookups, writes, async-job polls, reads) through the
   * connection's request gate: one rate-limit token each (lib/delivery/request-gate.ts). Returns the detach function.
   */
  useRequestGate(gate: RequestGate): () => void {
    return attachGateToAxios(this.http, gate);
  }

  async execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as KRecord;
    switch (operation) {
      case 'createProjectShell':
        return this.createProjectShell(req, ctx) as Promise<Json>;
      case 'createWorkspace':
        return firstOf(await this.request('POST', '/workspaces', { data: { workspace: need(req, 'workspace') } }), 'workspaces');
      case 'updateWorkspace':
        return firstOf(await this.request('PUT', `/workspaces/${encodeURIComponent(String(need(req, 'id')))}`, { data: { workspace: need(req, 'workspace') } }), 'workspaces');
      case 'createStories':
        return this.createStories(String(need(req, 'workspaceId')), need(req, 'stories') as KRecord[]) as Promise<Json>;
      case 'addParticipations':
        return this.addParticipations(String(need(req, 'workspaceId')), need(req, 'participations') as KRecord[]) as Promise<Json>;
      case 'createTimeEntry':
        return firstOf(await this.request('POST', '/time_entries', { data: { time_entry: need(req, 'time_entry') } }), 'time_entries');
      case 'markInvoiced':
        return this.markInvoiced(req, ctx) as Promise<Json>;
      default:
        throw new ValidationError(`unknown Kantata operation "${operation}"`, [{ path: '/operation', message: `expected one of ${KANTATA_WRITE_OPERATIONS.join(', ')}` }]);
    }
  }

  /** Workspace + stories (workstreams) + participations, each step skipped when already there, so a retry is harmless. */
  async createProjectShell(req: KRecord, ctx: ExecutionContext): Promise<KRecord> {
    const ws = need(req, 'workspace') as KRecord;
    const externalRef = String(req.externalRef ?? ctx.idempotencyKey);
    let workspace = await this.findWorkspaceByExternalRef(externalRef);
    const created = !workspace;
    if (!workspace) {
      const mapped = req.customFields && typeof req.customFields === 'object' ? await this.customFieldValues(req.customFields as Partial<Record<KantataCustomField, unknown>>) : [];
      const custom = [...(Array.isArray(ws.custom_fields) ? (ws.custom_fields as KRecord[]) : []), ...mapped];
      const body = { ...ws, ...(custom.length ? { custom_fields: custom } : {}), external_reference: { service_name: this.serviceName, service_model: 'Project', service_model_ref: externalRef, status: 'synced' } };
      workspace = firstOf(await this.request('POST', '/workspaces', { data: { workspace: body } }), 'workspaces') as KRecord;
    }
    await ctx.xref?.record('project', externalRef, KANTATA_SYSTEM, { id: String(workspace.id) });
    const stories = Array.isArray(req.stories) && req.stories.length ? await this.createStories(workspace.id, req.stories) : { created: [], existing: [] };
    const participations = Array.isArray(req.participations) && req.participations.length ? await this.addParticipations(workspace.id, await this.participantsByUser(req.participations, ctx.xref)) : [];
    return { workspace, created, stories, participations };
  }

  async createStories(workspaceId: string, stories: KRecord[]): Promise<{ created: KRecord[]; existing: KRecord[] }> {
    const existing = await this.all('stories', { workspace_id: workspaceId });
    const byTitle = new Map(existing.map((s) => [String(s.title), s]));
    const missing = stories.filter((s) => !byTitle.has(String(s.title)));
    let created: KRecord[] = [];
    for (let i = 0; i < missing.length; i += 300) {
      const chunk = missing.slice(i, i + 300).map((s) => ({ story_type: 'task', ...s, workspace_id: workspaceId }));
      created = created.concat(parseEnvelope(await this.request('POST', '/stories', { data: { stories: chunk } }), 'stories').records);
    }
    return { created, existing: stories.filter((s) => byTitle.has(String(s.title))).map((s) => byTitle.get(String(s.title))!) };
  }

  /**
   * Participations with `user_id`: a participation naming its person by `email` (and `name`, for the message) gets the
   * id of the Kantata user with that email. Nobody with it: a validation error naming the person and the account, so
   * the write waits in the exception queue until the user exists in Kantata, then a replay completes it.
   */
  async participantsByUser(participations: KRecord[], xref?: ConnectionXref): Promise<KRecord[]> {
    const out: KRecord[] = [];
    for (const [i, p] of participations.entries()) {
      if (p.user_id !== undefined || typeof p.email !== 'string') {
        out.push(p);
        continue;
      }
      const { email, name, ...rest } = p;
      const user = await resolvePerson(xref, KANTATA_SYSTEM, email, async () => {
        const u = await this.findUserByEmail(email);
        return u ? { id: String(u.id) } : undefined;
      });
      if (!user) {
        const who = typeof name === 'string' && name ? `${name} <${email}>` : email;
        throw new ValidationError(`Kantata user ${who} cannot be resolved on ${this.config.baseUrl}: no Kantata user has this email. Invite the person to the Kantata account (Settings > Members), then replay.`, [{ path: `/participations/${i}/email`, message: 'no Kantata user has this email' }]);
      }
      out.push({ ...rest, user_id: user.id });
    }
    return out;
  }

  async addParticipations(workspaceId: string, participations: KRecord[]): Promise<KRecord[]> {
    const out: KRecord[] = [];
    for (const p of participations) {
      out.push(firstOf(await this.request('POST', '/participations', { data: { participation: { role: 'maven', ...p, workspace_id: workspaceId } } }), 'participations') as KRecord);
    }
    return out;
  }

  /**
   * Marks entries invoiced by creating a Kantata invoice that holds them, with the ERP invoice number as
   * external reference. Lookup first: entries already invoiced (e.g. by an earlier attempt whose answer was lost)
   * are skipped, and when none is left the call is a no-op that reports the existing invoice ids.
   */
  async markInvoiced(req: KRecord, ctx: ExecutionContext): Promise<KRecord> {
    const teIds: string[] = (req.timeEntryIds ?? []).map(String);
    const exIds: string[] = (req.expenseIds ?? []).map(String);
    if (teIds.length + exIds.length === 0) throw new ValidationError('markInvoiced needs timeEntryIds or expenseIds', [{ path: '/timeEntryIds', message: 'at least one id expected' }]);
    const invoiceNumber = String(req.invoiceNumber ?? ctx.idempotencyKey);
    const pending = async (collection: string, ids: string[]) => {
      const recs: KRecord[] = [];
      for (let i = 0; i < ids.length; i += 200) recs.push(...(await this.page(collection, { only: ids.slice(i, i + 200).join(','), per_page: 200 })).records);
      const found = new Map(recs.map((r) => [String(r.id), r]));
      const notFound = ids.filter((id) => !found.has(id));
      if (notFound.length) throw new PermanentError(`Kantata ${collection} not found: ${notFound.join(', ')}`, { errorClass: 'not-found', status: 404 });
      return { open: recs.filter((r) => !r.is_invoiced).map((r) => String(r.id)), done: recs.filter((r) => r.is_invoiced) };
    };
    const te = teIds.length ? await pending('time_entries', teIds) : { open: [], done: [] };
    const ex = exIds.length ? await pending('expenses', exIds) : { open: [], done: [] };
    const already = [...new Set([...te.done, ...ex.done].map((r) => String(r.invoice_id)))];
    if (te.open.length + ex.open.length === 0) return { invoice: null, alreadyInvoiced: true, invoiceIds: already };
    const workspaceIds = req.workspaceId ? [String(req.workspaceId)] : (req.workspaceIds ?? []).map(String);
    const body = {
      invoice: {
        workspace_ids: workspaceIds,
        time_entry_ids: te.open,
        expense_ids: ex.open,
        invoice_date: req.invoiceDate,
        external_reference: { service_name: this.serviceName, service_model: 'Invoice', service_model_ref: invoiceNumber, status: 'synced' },
      },
    };
    const invoice = firstOf(await this.request('POST', '/invoices', { data: body }), 'invoices');
    return { invoice, alreadyInvoiced: false, invoiceIds: already, marked: { timeEntries: te.open, expenses: ex.open } };
  }
}

export function parseEnvelope(body: KRecord, collection: string): KantataPage {
  const map = (body?.[collection] ?? {}) as Record<string, KRecord>;
  const results = (Array.isArray(body?.results) ? body.results : []) as { key: string; id: string }[];
  const records = results.filter((r) => r.key === collection).map((r) => map[r.id]).filter(Boolean);
  const included: Record<string, Record<string, KRecord>> = {};
  for (const [k, v] of Object.entries(body ?? {})) if (k !== collection && v && typeof v === 'object' && !Array.isArray(v) && k !== 'meta') included[k] = v as Record<string, KRecord>;
  const meta = (body?.meta ?? {}) as KRecord;
  return { records, included, count: Number(body?.count ?? meta.count ?? records.length), pageCount: Number(meta.page_count ?? 1), page: Number(meta.page_number ?? 1) };
}

function firstOf(body: KRecord, collection: string): Json {
  return (parseEnvelope(body, collection).records[0] ?? null) as Json;
}

function need(req: KRecord, key: string): unknown {
  if (req[key] === undefined || req[key] === null) throw new ValidationError(`request.${key} is required`, [{ path: `/${key}`, message: 'required' }]);
  return req[key];
}
