/**
 * Plain NetSuite REST web services client (no Node-RED): authentication (OAuth 2.0 client credentials with a
 * JWT client assertion, or token-based auth = OAuth 1.0a HMAC-SHA256), record reads and writes, asynchronous
 * creates with `X-NetSuite-Idempotency-Key`, and SuiteQL with paging.
 *
 * It never retries a failed request on its own (the outbox does, after `classify`). Two repeats are not retries: an
 * OAuth 2.0 call answered 401 gets a new access token and is sent once more, and, under a delivery connection (request
 * gate attached), a request NetSuite throttled is sent again once the connection's Retry-After pause is over (see
 * `request`).
 */
import crypto from 'node:crypto';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import jwt from 'jsonwebtoken';
import OAuth from 'oauth-1.0a';
import { PermanentError, TransientError } from '../../delivery/errors';
import { attachGateToAxios, type RequestGate } from '../../delivery/request-gate';

export type NetSuiteAuthConfig =
  | {
      type: 'oauth2-m2m';
      /** Integration record client id (the JWT `iss`). */
      clientId: string;
      /** Certificate id from Setup > Integration > OAuth 2.0 Client Credentials (the JWT `kid`). */
      certificateId: string;
      /** PEM private key of the certificate uploaded to NetSuite. */
      privateKey: string;
      /** NetSuite accepts PS256/PS384/PS512 and ES256/ES384/ES512; RS256 only for older setups. */
      algorithm?: 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'RS256';
      scopes?: string[];
    }
  | { type: 'tba'; consumerKey: string; consumerSecret: string; tokenId: string; tokenSecret: string };

export interface NetSuiteClientOptions {
  /** Account id as NetSuite shows it, e.g. `1234567` or `1234567_SB1` (also the TBA realm). */
  accountId: string;
  /** Defaults to `https://<account-id>.suitetalk.api.netsuite.com` (lower case, `_` -> `-`). The sandbox: `<url>/netsuite`. */
  baseUrl?: string;
  auth: NetSuiteAuthConfig;
  timeoutMs?: number;
  /** How often and how long to poll an asynchronous job (creates with an idempotency key). */
  asyncPollIntervalMs?: number;
  asyncTimeoutMs?: number;
  /** How often one request answered 429 is sent again under a request gate before the 429 is thrown (default 3). */
  throttleResends?: number;
}

export interface RecordRef {
  id: string;
  location?: string;
}

export interface SuiteQlPage<T> {
  items: T[];
  hasMore: boolean;
  totalResults: number;
  offset: number;
  count: number;
}

export function defaultNetSuiteBaseUrl(accountId: string): string {
  return `https://${accountId.toLowerCase().replace(/_/g, '-')}.suitetalk.api.netsuite.com`;
}

/** NetSuite wants an RFC 4122 UUID as idempotency key; derive one deterministically from any outbox key. */
export function netsuiteIdempotencyKey(key: string): string {
  const h = crypto.createHash('sha1').update(`ps-fabric:netsuite:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

function idFromLocation(location: string | undefined): string | undefined {
  if (!location) return undefined;
  const m = /\/([^/?]+)\/?(?:\?.*)?$/.exec(location);
  return m ? decodeURIComponent(m[1]) : undefined;
}

export class NetSuiteClient {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  private readonly http: AxiosInstance;
  private readonly opts: NetSuiteClientOptions;
  private token?: { value: string; expiresAt: number };
  private tokenPromise?: Promise<string>;
  private readonly oauth1?: OAuth;
  /** Request gates attached (useRequestGate): while one is, the gate holds a re-sent request until Retry-After has passed. */
  private gates = 0;

  constructor(opts: NetSuiteClientOptions) {
    this.opts = opts;
    this.baseUrl = (opts.baseUrl ?? defaultNetSuiteBaseUrl(opts.accountId)).replace(/\/+$/, '');
    this.tokenUrl = `${this.baseUrl}/services/rest/auth/oauth2/v1/token`;
    this.http = axios.create({ timeout: opts.timeoutMs ?? 60000, maxRedirects: 0 });
    if (opts.auth.type === 'tba') {
      this.oauth1 = new OAuth({
        consumer: { key: opts.auth.consumerKey, secret: opts.auth.consumerSecret },
        signature_method: 'HMAC-SHA256',
        hash_function: (base, key) => crypto.createHmac('sha256', key).update(base).digest('base64'),
        realm: opts.accountId,
      });
    }
  }

  /**
   * Routes every request of this client (token fetches, lookups, writes, async-job polls, reads) through the
   * connection's request gate: one rate-limit token each (lib/delivery/request-gate.ts). Returns the detach function.
   */
  useRequestGate(gate: RequestGate): () => void {
    const detach = attachGateToAxios(this.http, gate);
    this.gates += 1;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.gates -= 1;
      detach();
    };
  }

  get authType(): NetSuiteAuthConfig['type'] {
    return this.opts.auth.type;
  }

  /** Drops the cached access token (the next call fetches a new one). */
  invalidateToken(): void {
    this.token = undefined;
  }

  /** OAuth 2.0 client credentials: a signed JWT assertion exchanged for a bearer token, cached until shortly before expiry. */
  async accessToken(): Promise<string> {
    if (this.opts.auth.type !== 'oauth2-m2m') throw new PermanentError('access tokens are only used with OAuth 2.0 client credentials', { errorClass: 'internal' });
    if (this.token && this.token.expiresAt > Date.now() + 30000) return this.token.value;
    if (!this.tokenPromise) {
      this.tokenPromise = this.fetchToken().finally(() => {
        this.tokenPromise = undefined;
      });
    }
    return this.tokenPromise;
  }

  private async fetchToken(): Promise<string> {
    const a = this.opts.auth as Extract<NetSuiteAuthConfig, { type: 'oauth2-m2m' }>;
    const now = Math.floor(Date.now() / 1000);
    let assertion: string;
    try {
      assertion = jwt.sign({ iss: a.clientId, scope: (a.scopes ?? ['rest_webservices']).join(','), aud: this.tokenUrl, iat: now, exp: now + 3600 }, a.privateKey, { algorithm: a.algorithm ?? 'PS256', header: { alg: a.algorithm ?? 'PS256', typ: 'JWT', kid: a.certificateId } });
    } catch (err) {
      throw new PermanentError(`NetSuite: cannot sign the client assertion with the configured private key (${(err as Error).message})`, { errorClass: 'auth', cause: err });
    }
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
    const res = await this.http.post(this.tokenUrl, form.toString(), { headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, validateStatus: () => true });
    if (res.status >= 500 || res.status === 429) throw new TransientError(`NetSuite token endpoint answered ${res.status}`, { status: res.status, response: res.data });
    if (res.status !== 200 || typeof res.data?.access_token !== 'string') {
      throw new PermanentError(`NetSuite token request rejected (HTTP ${res.status}): ${res.data?.error ?? ''}${res.data?.error_description ? ' - ' + res.data.error_description : ''}`.trim(), { errorClass: 'auth', status: res.status, response: res.data });
    }
    const ttl = Number(res.data.expires_in ?? 3600);
    this.token = { value: res.data.access_token, expiresAt: Date.now() + (Number.isFinite(ttl) ? ttl : 3600) * 1000 };
    return this.token.value;
  }

  private async authHeader(method: string, url: string): Promise<string> {
    if (this.opts.auth.type === 'oauth2-m2m') return `Bearer ${await this.accessToken()}`;
    const a = this.opts.auth;
    const data = this.oauth1!.authorize({ url, method }, { key: a.tokenId, secret: a.tokenSecret });
    return this.oauth1!.toHeader(data).Authorization;
  }

  /** One REST call under `/services/rest`; throws axios errors for non-2xx (classify them). */
  async request<T = any>(method: string, path: string, opts: { data?: unknown; params?: Record<string, string | number | boolean | undefined>; headers?: Record<string, string>; acceptStatus?: number[] } = {}): Promise<AxiosResponse<T>> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.params ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = (/^https?:/.test(path) ? path : `${this.baseUrl}/services/rest${path}`) + (qs.toString() ? (path.includes('?') ? '&' : '?') + qs.toString() : '');
    const send = async () =>
      this.http.request<T>({
        method,
        url,
        data: opts.data,
        // an unknown field fails loudly (NetSuite's default, Warning, drops it silently: an invoice line would lose the
        // custom field that links it to the time it bills)
        headers: { Accept: 'application/json', ...(opts.data !== undefined ? { 'Content-Type': 'application/json', 'X-NetSuite-PropertyNameValidation': 'Error' } : {}), ...(opts.headers ?? {}), Authorization: await this.authHeader(method, url) },
        validateStatus: (s) => (s >= 200 && s < 300) || (opts.acceptStatus ?? []).includes(s),
      });
    // NetSuite refuses a throttled request (429) before running it, so sending it again is safe even for a create.
    // One write is several requests (lookups, async create, job polls, task result): without this, one 429 among
    // them failed the whole attempt, and at a month-end burst under the quota the retries of a write ran out on
    // throttling alone (the write went to the exception queue). Only under a gate: it pauses the whole connection
    // for the Retry-After (attachGateToAxios) and holds the re-sent request until then, or ends the attempt with
    // GatePausedError when the pause is longer than the attempt may wait.
    for (let resent = 0; ; resent++) {
      try {
        return await send();
      } catch (err) {
        const status = axios.isAxiosError(err) ? err.response?.status : undefined;
        if (status === 429 && this.gates > 0 && resent < (this.opts.throttleResends ?? 3)) continue;
        if (this.opts.auth.type === 'oauth2-m2m' && status === 401) {
          this.invalidateToken();
          return send();
        }
        throw err;
      }
    }
  }

  async getRecord<T = Record<string, any>>(type: string, idOrEid: string, opts: { expandSubResources?: boolean; fields?: string[] } = {}): Promise<T> {
    const res = await this.request<T>('GET', `/record/v1/${type}/${encodeURIComponent(idOrEid).replace(/%3A/g, ':')}`, { params: { expandSubResources: opts.expandSubResources ? 'true' : undefined, fields: opts.fields?.join(',') } });
    return res.data;
  }

  /** The record, or undefined on 404. */
  async findRecord<T = Record<string, any>>(type: string, idOrEid: string, opts: { expandSubResources?: boolean; fields?: string[] } = {}): Promise<T | undefined> {
    try {
      return await this.getRecord<T>(type, idOrEid, opts);
    } catch (err) {
      if (axios.isAxiosError(err) && err.response?.status === 404) return undefined;
      throw err;
    }
  }

  /** `PUT /record/v1/<type>/eid:<externalId>`: creates or updates, 204 + Location. Idempotent by nature. */
  async upsert(type: string, externalId: string, body: Record<string, unknown>, opts: { replace?: string[] } = {}): Promise<RecordRef> {
    if (!/^[A-Za-z0-9_-]+$/.test(externalId)) throw new PermanentError(`NetSuite external ids may only contain letters, digits, _ and -: ${JSON.stringify(externalId)}`, { errorClass: 'validation' });
    const res = await this.request('PUT', `/record/v1/${type}/eid:${externalId}`, { data: body, params: { replace: opts.replace?.join(',') } });
    return this.refFrom(res);
  }

  async update(type: string, id: string, body: Record<string, unknown>, opts: { replace?: string[] } = {}): Promise<RecordRef> {
    const res = await this.request('PATCH', `/record/v1/${type}/${id}`, { data: body, params: { replace: opts.replace?.join(',') } });
    return { id, location: res.headers.location as string | undefined };
  }

  /**
   * Creates a record. With an idempotency key the request runs asynchronously (`Prefer: respond-async`,
   * `X-NetSuite-Idempotency-Key`): a repeat of the same key is refused with IDEMPOTENCY_ERROR and the Location of
   * the first job, whose result is returned instead, so the record is created once. NetSuite ignores the key on
   * synchronous requests, hence the asynchronous form.
   */
  async create(type: string, body: Record<string, unknown>, idempotencyKey?: string): Promise<RecordRef & { replayed?: boolean }> {
    if (!idempotencyKey) return this.refFrom(await this.request('POST', `/record/v1/${type}`, { data: body }));
    // The body is part of the key: an exception replayed with an edited payload must not get the old job's answer.
    const bodyHash = crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
    const res = await this.request('POST', `/record/v1/${type}`, { data: body, headers: { Prefer: 'respond-async', 'X-NetSuite-Idempotency-Key': netsuiteIdempotencyKey(`${idempotencyKey}#${bodyHash}`) }, acceptStatus: [400] });
    let replayed = false;
    if (res.status === 400) {
      const codes = ((res.data as any)?.['o:errorDetails'] ?? []).map((d: any) => d['o:errorCode']);
      if (!codes.includes('IDEMPOTENCY_ERROR') || !res.headers.location) {
        // Not an idempotency refusal: surface it like any other 400.
        throw Object.assign(new Error(`Request failed with status code 400`), { isAxiosError: true, response: { status: 400, data: res.data, headers: res.headers } });
      }
      replayed = true;
    } else if (res.status !== 202 || !res.headers.location) {
      // The account executed it synchronously after all.
      return this.refFrom(res);
    }
    const ref = await this.followAsyncJob(res.headers.location as string);
    return { ...ref, replayed };
  }

  /** Polls an async job until it completes, then reads its task result (the original 204 + Location, or the error). */
  async followAsyncJob(jobLocation: string): Promise<RecordRef> {
    const deadline = Date.now() + (this.opts.asyncTimeoutMs ?? 120000);
    const interval = this.opts.asyncPollIntervalMs ?? 500;
    const jobUrl = /^https?:/.test(jobLocation) ? jobLocation : `${this.baseUrl}${jobLocation}`;
    for (;;) {
      const job = (await this.request('GET', jobUrl)).data as { completed?: boolean; progress?: string };
      if (job.completed) break;
      if (Date.now() > deadline) throw new TransientError(`NetSuite async job ${jobUrl} still ${job.progress ?? 'pending'} after ${this.opts.asyncTimeoutMs ?? 120000} ms`);
      await new Promise((r) => setTimeout(r, interval));
    }
    const tasks = (await this.request('GET', `${jobUrl}/task`)).data as { items?: Array<{ id?: string; links?: Array<{ href: string }> }> };
    const task = tasks.items?.[0];
    const taskUrl = task?.links?.[0]?.href ?? `${jobUrl}/task/${task?.id}`;
    const result = await this.request('GET', `${taskUrl}/result`);
    return this.refFrom(result);
  }

  private refFrom(res: AxiosResponse): RecordRef {
    const location = res.headers.location as string | undefined;
    const id = idFromLocation(location) ?? (res.data as any)?.id;
    if (!id) throw new PermanentError(`NetSuite answered ${res.status} without a Location header`, { errorClass: 'internal', status: res.status, response: res.data });
    return { id: String(id), location };
  }

  /** One SuiteQL page (`Prefer: transient`). */
  async suiteqlPage<T = Record<string, string>>(q: string, opts: { limit?: number; offset?: number } = {}): Promise<SuiteQlPage<T>> {
    const res = await this.request('POST', '/query/v1/suiteql', { data: { q }, params: { limit: opts.limit ?? 1000, offset: opts.offset ?? 0 }, headers: { Prefer: 'transient' } });
    const d = res.data as { items?: Array<Record<string, unknown>>; hasMore?: boolean; totalResults?: number; offset?: number; count?: number };
    const items = (d.items ?? []).map((row) => {
      const { links: _links, ...rest } = row;
      return rest as T;
    });
    return { items, hasMore: !!d.hasMore, totalResults: d.totalResults ?? items.length, offset: d.offset ?? opts.offset ?? 0, count: d.count ?? items.length };
  }

  /** All rows of a SuiteQL query, page by page (NetSuite caps a query at 100,000 rows). */
  async suiteql<T = Record<string, string>>(q: string, opts: { pageSize?: number; maxRows?: number } = {}): Promise<T[]> {
    const limit = Math.min(1000, Math.max(1, opts.pageSize ?? 1000));
    const out: T[] = [];
    let offset = 0;
    for (;;) {
      const page = await this.suiteqlPage<T>(q, { limit, offset });
      out.push(...page.items);
      if (!page.hasMore || page.items.length === 0 || (opts.maxRows !== undefined && out.length >= opts.maxRows)) break;
      offset += page.items.length;
    }
    return opts.maxRows !== undefined ? out.slice(0, opts.maxRows) : out;
  }
}

/** SuiteQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
