/**
 * SalesforceClient: one jsforce 3 Connection per configuration, logged in once with OAuth 2.0 client
 * credentials, JWT bearer or username-password, the token reused for every call and renewed (one new
 * login, shared by concurrent callers) when Salesforce answers 401 INVALID_SESSION_ID. No retries here:
 * writes go through the outbox (executor.ts), reads through the `readGate` the owner sets
 * (`ConnectionHandle.call`), and every failure leaves as a FabricError decided by `classify`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import jwt from 'jsonwebtoken';
// jsforce's main entry registers the streaming module that `conn.streaming` needs.
import jsforce from 'jsforce';
import type { Connection } from 'jsforce';
import { PermanentError, ValidationError } from '../../delivery/errors';
import type { Json } from '../../store/store';
import type { RequestGate } from '../../delivery/request-gate';
import { startClientSpan } from '../../telemetry';
import { CapturedResponse, toFabricError } from './errors';

export type SalesforceAuth =
  | { type: 'client-credentials'; clientId: string; clientSecret: string }
  | { type: 'password'; clientId: string; clientSecret: string; username: string; /** Password, with the security token appended when the org needs one. */ password: string }
  | { type: 'jwt'; clientId: string; username: string; privateKey: string; /** `aud` claim; defaults to the login URL. */ audience?: string };

export interface SalesforceConfig {
  /** Token endpoint host: https://login.salesforce.com, https://test.salesforce.com or the org's My Domain (required for client credentials). */
  loginUrl: string;
  /** Optional: used until the token response names the instance. */
  instanceUrl?: string;
  /** e.g. `62.0`. */
  apiVersion: string;
  auth: SalesforceAuth;
}

export interface SaveResult {
  id: string;
  success: boolean;
  errors: unknown[];
  created?: boolean;
}

export interface QueryPage {
  records: Record<string, any>[];
  totalSize: number;
  done: boolean;
  /** 0-based page number. */
  page: number;
}

export interface CompositeSubrequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  url: string;
  referenceId: string;
  body?: Json;
}

export interface CompositeRequest {
  allOrNone?: boolean;
  compositeRequest: CompositeSubrequest[];
}

export interface CompositeResponse {
  compositeResponse: { body: Json; httpHeaders: Record<string, string>; httpStatusCode: number; referenceId: string }[];
}

export type ReadGate = <T>(fn: (attempt: number) => Promise<T>) => Promise<T>;

interface CallContext {
  last?: CapturedResponse;
}

const calls = new AsyncLocalStorage<CallContext>();

const SOBJECT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

export class SalesforceClient {
  readonly config: SalesforceConfig;
  readonly conn: Connection;
  /** Reads pass through this (the node sets it to its ConnectionHandle.call); default: call directly. */
  readGate: ReadGate = (fn) => fn(1);
  /** The connection's request gate (set at registration): one rate-limit token per API call, writes and reads. */
  requestGate?: RequestGate;
  private loginPromise?: Promise<void>;
  private loggedIn = false;
  private refreshesWithoutSuccess = 0;
  private readonly listeners = new Set<(event: 'login' | 'refresh' | 'login-failed', detail?: unknown) => void>();
  /** Logins performed (tests and status use it: one per session, never one per message). */
  loginCount = 0;

  constructor(config: SalesforceConfig) {
    if (!config.loginUrl) throw new ValidationError('Salesforce: a login URL is required', [{ path: '/loginUrl', message: 'required' }]);
    if (!/^\d+\.\d$/.test(config.apiVersion)) throw new ValidationError(`Salesforce: API version must look like 62.0, got ${config.apiVersion}`, [{ path: '/apiVersion', message: 'must look like 62.0' }]);
    this.config = { ...config, loginUrl: config.loginUrl.replace(/\/+$/, '') };
    const auth = config.auth;
    this.conn = new jsforce.Connection({
      loginUrl: this.config.loginUrl,
      instanceUrl: config.instanceUrl?.replace(/\/+$/, ''),
      version: config.apiVersion,
      oauth2: { loginUrl: this.config.loginUrl, clientId: auth.clientId, clientSecret: 'clientSecret' in auth ? auth.clientSecret : undefined },
      refreshFn: (_conn, callback) => {
        // Called by jsforce on 401 INVALID_SESSION_ID; it retries the request once with the new token.
        // Two renewals in a row without a successful response in between means the new token is refused too.
        this.refreshesWithoutSuccess += 1;
        if (this.refreshesWithoutSuccess > 1) {
          this.refreshesWithoutSuccess = 0;
          callback(new Error('the new access token was refused as well (INVALID_SESSION_ID)'));
          return;
        }
        this.login(true).then(
          () => {
            this.emit('refresh');
            callback(null, this.conn.accessToken ?? undefined);
          },
          (e: Error) => callback(e),
        );
      },
    }) as Connection;
    this.instrument((this.conn as any)._transport);
    this.instrument((this.conn as any).oauth2._transport);
  }

  on(listener: (event: 'login' | 'refresh' | 'login-failed', detail?: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: 'login' | 'refresh' | 'login-failed', detail?: unknown): void {
    for (const l of this.listeners) {
      try {
        l(event, detail);
      } catch {
        // a status listener must not break a call
      }
    }
  }

  /** Records each response's status and headers in the current call's context (jsforce's errors lack them). */
  private instrument(transport: { httpRequest: (...args: any[]) => any }): void {
    const original = transport.httpRequest.bind(transport);
    transport.httpRequest = (req: unknown, options: Record<string, unknown> = {}) => {
      // jsforce would retry 429/5xx and network errors itself (up to 5 times with backoff); in PS Fabric
      // the delivery engine owns retries, so every request is sent exactly once here.
      // the CLIENT span of this request (lib/telemetry), its traceparent sent to Salesforce
      const r = req as { method?: string; url?: string; headers?: Record<string, string> };
      const span = startClientSpan('salesforce', r.method ?? 'GET', r.url ?? '');
      if (Object.keys(span.headers).length) r.headers = { ...(r.headers ?? {}), ...span.headers };
      const promise = original(req, { ...options, retry: { ...((options.retry as object) ?? {}), maxRetries: 0 } });
      const ctx = calls.getStore();
      promise.then(
        (res: { statusCode: number; headers: Record<string, string>; body: string }) => {
          span.end(res.statusCode);
          if (ctx) ctx.last = { status: res.statusCode, headers: res.headers ?? {}, body: typeof res.body === 'string' ? res.body : '' };
          if (res.statusCode < 400) this.refreshesWithoutSuccess = 0;
        },
        (err: unknown) => span.end(undefined, err),
      );
      return promise;
    };
  }

  get isLoggedIn(): boolean {
    return this.loggedIn && !!this.conn.accessToken;
  }

  get instanceUrl(): string {
    return this.conn.instanceUrl;
  }

  /** Logs in unless a session exists (`force` renews it). Concurrent callers share one login. */
  async login(force = false): Promise<void> {
    if (!force && this.isLoggedIn) return;
    if (this.loginPromise) return this.loginPromise;
    this.loginPromise = (async () => {
      const ctx: CallContext = {};
      try {
        await calls.run(ctx, async () => await this.conn.authorize(this.grant()));
        this.loggedIn = true;
        this.loginCount += 1;
        this.emit('login');
      } catch (e) {
        this.loggedIn = false;
        const fe = toFabricError(e, ctx.last);
        this.emit('login-failed', fe);
        throw fe;
      } finally {
        this.loginPromise = undefined;
      }
    })();
    return this.loginPromise;
  }

  private grant(): { grant_type: string; [k: string]: string } {
    const auth = this.config.auth;
    switch (auth.type) {
      case 'client-credentials':
        return { grant_type: 'client_credentials' };
      case 'password':
        return { grant_type: 'password', username: auth.username, password: auth.password };
      case 'jwt': {
        const assertion = jwt.sign({ iss: auth.clientId, sub: auth.username, aud: auth.audience || this.config.loginUrl }, auth.privateKey, { algorithm: 'RS256', expiresIn: 180 });
        return { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion };
      }
      default:
        throw new PermanentError(`Salesforce: unknown auth type ${(auth as { type: string }).type}`, { errorClass: 'auth' });
    }
  }

  /** Runs one API call with a session, the response capture, and jsforce errors turned into FabricErrors. */
  async invoke<T>(fn: (conn: Connection, ctx: CallContext) => Promise<T>): Promise<T> {
    await this.login();
    const ctx: CallContext = {};
    try {
      // `await` inside the context: jsforce queries are lazy thenables that start when awaited.
      const run = () => calls.run(ctx, async () => await fn(this.conn, ctx));
      return await (this.requestGate ? this.requestGate.throttle(run) : run());
    } catch (e) {
      throw toFabricError(e, ctx.last);
    }
  }

  private read<T>(fn: (conn: Connection, ctx: CallContext) => Promise<T>): Promise<T> {
    return this.readGate(() => this.invoke(fn));
  }

  // ---------- reads ----------

  /** Streams a SOQL query page by page (each page one read through the gate); returns the total size. */
  async queryPages(soql: string, onPage: (page: QueryPage) => void | Promise<void>, opts: { batchSize?: number; all?: boolean } = {}): Promise<number> {
    const headers = opts.batchSize ? { 'Sforce-Query-Options': `batchSize=${opts.batchSize}` } : undefined;
    let result = await this.read((conn) => conn.query(soql, { autoFetch: false, scanAll: !!opts.all, headers } as any) as unknown as Promise<any>);
    let page = 0;
    for (;;) {
      await onPage({ records: result.records ?? [], totalSize: result.totalSize, done: !!result.done || !result.nextRecordsUrl, page });
      if (result.done || !result.nextRecordsUrl) return result.totalSize;
      const next: string = result.nextRecordsUrl;
      page += 1;
      result = await this.read((conn) => conn.queryMore(next, { headers } as any) as unknown as Promise<any>);
    }
  }

  /** All records of a SOQL query (every page). Use queryPages for large results. */
  async query<T = Record<string, any>>(soql: string, opts: { batchSize?: number; all?: boolean } = {}): Promise<{ totalSize: number; records: T[] }> {
    const records: T[] = [];
    const totalSize = await this.queryPages(soql, (p) => void records.push(...(p.records as T[])), opts);
    return { totalSize, records };
  }

  async get(sobject: string, id: string, fields?: string[]): Promise<Record<string, any>> {
    checkName(sobject);
    if (!id) throw new ValidationError('Salesforce get: an Id is required', [{ path: '/id', message: 'required' }]);
    return this.read((conn) => conn.sobject(sobject).retrieve(id, fields ? { fields } : {}) as Promise<Record<string, any>>);
  }

  /** GET sobjects/<Type>/<ExtIdField>/<value>. */
  async getByExternalId(sobject: string, field: string, value: string): Promise<Record<string, any>> {
    checkName(sobject);
    checkName(field);
    return this.read((conn) => conn.request({ method: 'GET', url: `/sobjects/${sobject}/${field}/${encodeURIComponent(value)}` }) as Promise<Record<string, any>>);
  }

  /** `GET sobjects/<Type>/describe`; undefined when the org has no such object (404 NOT_FOUND). */
  async describe(sobject: string): Promise<{ fields: Array<{ name: string }>; childRelationships: Array<{ relationshipName: string | null }> } | undefined> {
    checkName(sobject);
    try {
      return await this.read((conn) => conn.request({ method: 'GET', url: `/sobjects/${sobject}/describe` }) as Promise<any>);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  async limits(): Promise<Json> {
    return this.read((conn) => conn.limits() as unknown as Promise<Json>);
  }

  // ---------- writes (call these from the executor, not from nodes) ----------

  async create(sobject: string, record: Record<string, unknown>): Promise<SaveResult> {
    checkName(sobject);
    return this.invoke((conn) => conn.sobject(sobject).create(stripMeta(record)) as unknown as Promise<SaveResult>);
  }

  async update(sobject: string, id: string, record: Record<string, unknown>): Promise<SaveResult> {
    checkName(sobject);
    if (!id) throw new ValidationError('Salesforce update: an Id is required', [{ path: '/id', message: 'required' }]);
    const { Id: _ignored, ...rest } = stripMeta(record);
    return this.invoke((conn) => conn.sobject(sobject).update({ ...rest, Id: id }) as unknown as Promise<SaveResult>);
  }

  async delete(sobject: string, id: string): Promise<SaveResult> {
    checkName(sobject);
    return this.invoke((conn) => conn.sobject(sobject).destroy(id) as unknown as Promise<SaveResult>);
  }

  /**
   * PATCH sobjects/<Type>/<ExtIdField>/<value>: 201 created, 200 (API 46.0+) or 204 updated.
   * `created` is true only for a 201; the id is looked up when an old API version answers 204 without it.
   */
  async upsert(sobject: string, externalIdField: string, externalId: string, record: Record<string, unknown>): Promise<SaveResult> {
    checkName(sobject);
    checkName(externalIdField);
    if (externalId === undefined || externalId === null || String(externalId) === '') throw new ValidationError(`Salesforce upsert: a value for ${externalIdField} is required`, [{ path: `/${externalIdField}`, message: 'required' }]);
    const body = stripMeta(record);
    for (const k of Object.keys(body)) if (k.toLowerCase() === externalIdField.toLowerCase()) delete body[k];
    const result = await this.invoke(async (conn, ctx) => {
      const res = (await conn.sobject(sobject).upsert({ ...body, [externalIdField]: encodeURIComponent(String(externalId)) } as any, externalIdField)) as unknown as SaveResult;
      return { ...res, created: ctx.last?.status === 201 || res.created === true };
    });
    if (!result.id) {
      const rec = await this.getByExternalId(sobject, externalIdField, String(externalId));
      result.id = rec.Id;
    }
    return { id: result.id, success: result.success !== false, errors: result.errors ?? [], created: !!result.created };
  }

  /** POST composite. Subrequest failures are in the response; with allOrNone they are thrown (see executor). */
  async composite(request: CompositeRequest): Promise<CompositeResponse> {
    if (!request || !Array.isArray(request.compositeRequest) || request.compositeRequest.length === 0) {
      throw new ValidationError('Salesforce composite: compositeRequest must be a non-empty array', [{ path: '/compositeRequest', message: 'must be a non-empty array' }]);
    }
    return this.invoke((conn) => conn.request({ method: 'POST', url: '/composite', body: JSON.stringify(request), headers: { 'content-type': 'application/json' } }) as Promise<CompositeResponse>);
  }

  /**
   * A CometD (faye) client for the Streaming API (see cdc.ts), carrying the current token. Wrapped in an
   * object because a faye client is itself a thenable that never settles: awaiting it directly hangs.
   */
  async streamingClient(extensions: unknown[]): Promise<{ faye: any }> {
    await this.login();
    return { faye: (this.conn as any).streaming.createClient(extensions) };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !SOBJECT_NAME.test(name)) throw new ValidationError(`Salesforce: ${JSON.stringify(name)} is not a valid sObject or field name`, [{ path: '/sobject', message: 'invalid name' }]);
}

function stripMeta(record: Record<string, unknown>): Record<string, unknown> {
  if (!record || typeof record !== 'object' || Array.isArray(record)) throw new ValidationError('Salesforce: the record must be an object', [{ path: '/record', message: 'must be an object' }]);
  const { attributes: _a, ...rest } = record;
  return rest;
}

/** Formats epoch ms as a SOQL datetime literal (UTC, no quotes). */
export function soqlDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Quotes a string for SOQL. */
export function soqlString(value: string): string {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
