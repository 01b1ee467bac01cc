/**
 * Plain Dynamics 365 Business Central API v2.0 client (no Node-RED): Entra ID client-credentials token
 * (cached until shortly before expiry, refreshed once on 401), company resolution, OData reads with
 * `@odata.nextLink` paging, creates, `PATCH` with `If-Match`, bound actions, and the OData v4 web services of
 * published pages (`ODataV4/Company('<name>')/<service>`) for what API v2.0 does not expose (project bill-to
 * customer, project tasks).
 * It never retries on its own: failures are thrown as axios errors for `classify` (429 keeps Retry-After).
 */
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { attachGateToAxios, type RequestGate } from '../../delivery/request-gate';
import { PermanentError, TransientError } from '../../delivery/errors';

export const BC_DEFAULT_SCOPE = 'https://api.businesscentral.dynamics.com/.default';

export interface BusinessCentralClientOptions {
  tenantId: string;
  environment: string;
  /** Company id (GUID) or name (e.g. `NWA UK`); a name is resolved once through `GET companies`. */
  company: string;
  clientId: string;
  clientSecret: string;
  /** Defaults to `https://api.businesscentral.dynamics.com`; the sandbox: `<url>/bc`. */
  baseUrl?: string;
  /** Defaults to `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`; the sandbox: `<url>/bc/oauth/<tenant>/oauth2/v2.0/token`. */
  tokenUrl?: string;
  scope?: string;
  timeoutMs?: number;
}

export type ODataEntity = Record<string, any> & { id: string; '@odata.etag'?: string };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** OData string literal. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export class BusinessCentralClient {
  readonly apiUrl: string;
  readonly tokenUrl: string;
  private readonly http: AxiosInstance;
  private readonly opts: BusinessCentralClientOptions;
  private token?: { value: string; expiresAt: number };
  private tokenPromise?: Promise<string>;
  private companyId?: string;
  private companyName?: string;

  constructor(opts: BusinessCentralClientOptions) {
    this.opts = opts;
    const base = (opts.baseUrl ?? 'https://api.businesscentral.dynamics.com').replace(/\/+$/, '');
    this.apiUrl = `${base}/v2.0/${encodeURIComponent(opts.tenantId)}/${encodeURIComponent(opts.environment)}/api/v2.0`;
    this.tokenUrl = opts.tokenUrl ?? `https://login.microsoftonline.com/${encodeURIComponent(opts.tenantId)}/oauth2/v2.0/token`;
    this.http = axios.create({ timeout: opts.timeoutMs ?? 60000, maxRedirects: 0 });
    if (GUID.test(opts.company)) this.companyId = opts.company;
    else this.companyName = opts.company;
  }

  invalidateToken(): void {
    this.token = undefined;
  }

  /**
   * Routes every request of this client (token fetches, lookups, writes, async-job polls, reads) through the
   * connection's request gate: one rate-limit token each (lib/delivery/request-gate.ts). Returns the detach function.
   */
  useRequestGate(gate: RequestGate): () => void {
    return attachGateToAxios(this.http, gate);
  }

  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 60000) return this.token.value;
    if (!this.tokenPromise) {
      this.tokenPromise = this.fetchToken().finally(() => {
        this.tokenPromise = undefined;
      });
    }
    return this.tokenPromise;
  }

  private async fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.opts.clientId, client_secret: this.opts.clientSecret, scope: this.opts.scope ?? BC_DEFAULT_SCOPE });
    const res = await this.http.post(this.tokenUrl, form.toString(), { headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, validateStatus: () => true });
    if (res.status >= 500 || res.status === 429) throw new TransientError(`Entra ID token endpoint answered ${res.status}`, { status: res.status, response: res.data });
    if (res.status !== 200 || typeof res.data?.access_token !== 'string') {
      const d = res.data ?? {};
      throw new PermanentError(`Business Central token request rejected (HTTP ${res.status}): ${d.error ?? ''}${d.error_description ? ' - ' + String(d.error_description).split(' Trace ID')[0] : ''}`.trim(), { errorClass: 'auth', status: res.status, response: { error: d.error ?? null, error_codes: d.error_codes ?? null } });
    }
    const ttl = Number(res.data.expires_in ?? 3599);
    this.token = { value: res.data.access_token, expiresAt: Date.now() + (Number.isFinite(ttl) ? ttl : 3599) * 1000 };
    return this.token.value;
  }

  /** One call relative to the API root (`companies(...)/...`) or an absolute URL (nextLink). Throws on non-2xx. */
  async request<T = any>(method: string, path: string, opts: { data?: unknown; params?: Record<string, string | number | undefined>; headers?: Record<string, string> } = {}): Promise<AxiosResponse<T>> {
    const qs = Object.entries(opts.params ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join('&');
    const url = (/^https?:/.test(path) ? path : `${this.apiUrl}/${path}`) + (qs ? (path.includes('?') ? '&' : '?') + qs : '');
    const send = async () =>
      this.http.request<T>({
        method,
        url,
        data: opts.data,
        headers: { Accept: 'application/json', ...(opts.data !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(opts.headers ?? {}), Authorization: `Bearer ${await this.accessToken()}` },
      });
    try {
      return await send();
    } catch (err) {
      if (axios.isAxiosError(err) && err.response?.status === 401) {
        this.invalidateToken();
        return send();
      }
      throw err;
    }
  }

  /** `companies(<id>)`, resolving a company name once. */
  async companyPath(): Promise<string> {
    if (!this.companyId) {
      const rows = await this.list<ODataEntity>('companies', { filter: `name eq ${odataString(this.opts.company)}` });
      if (!rows[0]) throw new PermanentError(`Business Central: no company named ${this.opts.company} in ${this.opts.environment}`, { errorClass: 'not-found' });
      this.companyId = rows[0].id;
    }
    return `companies(${this.companyId})`;
  }

  /** `<base>/v2.0/<tenant>/<env>/ODataV4/Company('<name>')/<service>`: a page published as a web service. */
  async webServiceUrl(service: string): Promise<string> {
    if (!this.companyName) this.companyName = String((await this.request<ODataEntity>('GET', await this.companyPath())).data.name);
    return `${this.apiUrl.replace(/\/api\/v2\.0$/, '')}/ODataV4/Company(${encodeURIComponent(odataString(this.companyName))})/${encodeURIComponent(service)}`;
  }

  /** Rows of a published page's web service matching `filter` (one page of results is enough for key lookups). */
  async pageFind<T = Record<string, any>>(service: string, filter: string): Promise<T[]> {
    return (await this.request<{ value: T[] }>('GET', await this.webServiceUrl(service), { params: { $filter: filter } })).data.value ?? [];
  }

  async pageCreate<T = Record<string, any>>(service: string, body: Record<string, unknown>): Promise<T> {
    return (await this.request<T>('POST', await this.webServiceUrl(service), { data: body })).data;
  }

  /** `PATCH <service>(<key>)` with `If-Match`; `key` is the OData key text, e.g. `'J00010'` or `Job_No='J1',Job_Task_No='1000'`. */
  async pagePatch<T = Record<string, any>>(service: string, key: string, body: Record<string, unknown>, etag: string): Promise<T> {
    return (await this.request<T>('PATCH', `${await this.webServiceUrl(service)}(${encodeURIComponent(key)})`, { data: body, headers: { 'If-Match': etag } })).data;
  }

  /** Every entity of a collection, following `@odata.nextLink`. `path` is relative to the API root. */
  async list<T = ODataEntity>(path: string, opts: { filter?: string; top?: number; select?: string[]; expand?: string[]; maxPages?: number } = {}): Promise<T[]> {
    const out: T[] = [];
    let res = await this.request<{ value: T[]; '@odata.nextLink'?: string }>('GET', path, { params: { $filter: opts.filter, $top: opts.top, $select: opts.select?.join(','), $expand: opts.expand?.join(',') } });
    let pages = 1;
    for (;;) {
      out.push(...(res.data.value ?? []));
      const next = res.data['@odata.nextLink'];
      if (!next || (opts.maxPages !== undefined && pages >= opts.maxPages)) break;
      res = await this.request('GET', next);
      pages += 1;
    }
    return out;
  }

  /** Entities of a company collection (`customers`, `salesInvoices`, ...). */
  async listIn<T = ODataEntity>(set: string, opts: { filter?: string; top?: number; select?: string[]; expand?: string[] } = {}): Promise<T[]> {
    return this.list<T>(`${await this.companyPath()}/${set}`, opts);
  }

  async findOne<T = ODataEntity>(set: string, filter: string, expand?: string[]): Promise<T | undefined> {
    const rows = await this.listIn<T>(set, { filter, top: 2, expand });
    return rows[0];
  }

  async get<T = ODataEntity>(set: string, id: string, expand?: string[]): Promise<T> {
    return (await this.request<T>('GET', `${await this.companyPath()}/${set}(${id})`, { params: { $expand: expand?.join(',') } })).data;
  }

  async create<T = ODataEntity>(set: string, body: Record<string, unknown>, expand?: string[]): Promise<T> {
    return (await this.request<T>('POST', `${await this.companyPath()}/${set}`, { data: body, params: { $expand: expand?.join(',') } })).data;
  }

  /** `PATCH` with `If-Match: <etag>` (BC refuses a PATCH without one; a stale one answers 412). */
  async patch<T = ODataEntity>(set: string, id: string, body: Record<string, unknown>, etag: string): Promise<T> {
    return (await this.request<T>('PATCH', `${await this.companyPath()}/${set}(${id})`, { data: body, headers: { 'If-Match': etag } })).data;
  }

  /** Bound action, e.g. `salesInvoices(<id>)/Microsoft.NAV.post` (204). */
  async action(set: string, id: string, action: string): Promise<void> {
    await this.request('POST', `${await this.companyPath()}/${set}(${id})/Microsoft.NAV.${action}`);
  }
}
