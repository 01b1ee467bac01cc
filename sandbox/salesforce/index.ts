/**
 * The Salesforce sandbox, mounted at `/salesforce`: what jsforce 3 calls for the subset PS Fabric uses.
 *  - `POST /services/oauth2/token` (client credentials, username-password, JWT bearer; see auth.ts)
 *  - `/services/data/vXX.X/`: `query` / `queryAll` (SOQL subset, paging via `nextRecordsUrl`),
 *    `sobjects/<Type>` (POST create, describe), `sobjects/<Type>/<Id>` (GET/PATCH/DELETE),
 *    `sobjects/<Type>/<ExtIdField>/<value>` (GET, PATCH upsert: 201 created, 200 (v46.0+) or 204 updated),
 *    `composite` (allOrNone, referenceId, `@{ref.id}`), `limits`; 401 INVALID_SESSION_ID for a bad or
 *    expired token; errors as `[{ message, errorCode, fields }]`.
 *  - Bayeux/CometD at `/salesforce/cometd/<version>` publishing change events (`/data/OpportunityChangeEvent`,
 *    `/data/ChangeEvents`, ...) for every change made through the REST API (see cometd.ts).
 *  - `POST /_sandbox/close-won/<Id or External_Id__c>`: closes an opportunity through the same code path as a PATCH.
 *  - `POST /_sandbox/expire-tokens`, `PUT /_sandbox/settings { queryBatchSize?, streamingConnectTimeoutSeconds? }`
 *    (how long a `/meta/connect` is held, the `advice.timeout`; Salesforce holds 110 s), `GET /_sandbox/cdc`.
 *  - An org unlike the demo firm's: `DELETE /_sandbox/schema/<sobject>[/fields/<field or child relationship>]`,
 *    and the integration user's permissions `PUT /_sandbox/access/<sobject> { read, create, edit }` /
 *    `PUT /_sandbox/access/<sobject>/fields/<field> { read, edit }` (field-level security); the reset restores both.
 *    API versions other than 58.0-64.0 answer 404 NOT_FOUND, as a retired version does.
 *  - Event gaps as Salesforce makes them: `POST /_sandbox/cdc/expire { throughReplayId? }` drops retained events
 *    (what the 72-hour retention does; a subscribe from a dropped replay id is then refused with Salesforce's
 *    `400::The replayId {N} you provided was invalid...`), and `POST /_sandbox/cdc/gap { sobject, id, values,
 *    overflow? }` changes a record the way a database-level job does: no change event, a gap event instead
 *    (`GAP_UPDATE`/`GAP_CREATE`, header only, with the record id) or, with `overflow`, a `GAP_OVERFLOW` event
 *    (entity only, no record ids).
 *  - A streaming outage for the sessions open now: `POST /_sandbox/cdc/fault { mode }` with `stall` (the sessions stay
 *    alive but their `/meta/connect` is never answered again: the events those replies carried are lost, as with a
 *    reply the client never reads), `expire` (the sessions end: `403::Unknown client`), `none` (ends a stall).
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import express from 'express';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { defaultAuthConfig, issueToken, IssuedToken, SalesforceAuthConfig } from './auth';
import { CdcEvent, CometdEndpoint, DEFAULT_CONNECT_TIMEOUT_S } from './cometd';
import { INTEGRATION_USER_ID, ORG_ID, seedSalesforce } from './seed';
import { FieldDef, OPPORTUNITY_STAGES, SObjectDef, SOBJECTS, accessOf, fieldDef, fieldEditable, fieldsOf, childRelationship, parentRelationship, removeFromSchema, restoreSchema, setAccess, sfDateTime, sobjectDef } from './schema';
import { executeSoql, SoqlError } from './soql';

export interface SfError {
  message: string;
  errorCode: string;
  fields?: string[];
}

/** A REST outcome: status, JSON body (undefined for 204) and extra headers. */
export interface RestResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class RestError extends Error {
  constructor(readonly status: number, readonly errors: SfError[]) {
    super(errors.map((e) => `${e.errorCode}: ${e.message}`).join('; '));
  }
}

const err = (status: number, errorCode: string, message: string, fields?: string[]): RestError => new RestError(status, [{ message, errorCode, ...(fields ? { fields } : {}) }]);
const notFound = () => err(404, 'NOT_FOUND', 'The requested resource does not exist');

interface Change {
  type: string;
  id: string;
  changeType: 'CREATE' | 'UPDATE' | 'DELETE';
  changedFields: string[];
  values: Record<string, unknown>;
}

interface StoredEvent {
  channels: string[];
  event: CdcEvent;
}

const DAILY_API_LIMIT = 100000;
const CDC_RETENTION = 5000;
const CURSOR_TTL_MS = 15 * 60 * 1000;
const VERSIONS = ['58.0', '59.0', '60.0', '61.0', '62.0', '63.0', '64.0'];

export interface SalesforceSandboxOptions {
  statePath?: string;
  baseUrl: () => string;
  auth?: Partial<SalesforceAuthConfig>;
}

export class SalesforceSandbox extends Sandbox {
  readonly auth: SalesforceAuthConfig;
  readonly baseUrl: () => string;
  /** Page size of query results; Salesforce's default is 2000 (the `Sforce-Query-Options: batchSize` header can lower it to 200). */
  queryBatchSize = 2000;
  private cursors = new Map<string, { records: unknown[]; totalSize: number; at: number }>();
  private apiCalls = 0;
  private pending: Change[] | null = null;
  private cometd?: CometdEndpoint;

  constructor(opts: SalesforceSandboxOptions) {
    super({
      name: 'salesforce',
      seed: seedSalesforce,
      statePath: opts.statePath,
      errorBody: (status, message) => [{ message, errorCode: status === 503 ? 'SERVER_UNAVAILABLE' : 'UNKNOWN_EXCEPTION' }],
      // Salesforce answers an exceeded daily or concurrent API limit with 403 REQUEST_LIMIT_EXCEEDED and no Retry-After
      limitExceeded: (kind) => ({ status: 403, body: [{ message: kind === 'concurrency' ? 'ConcurrentPerOrgLongTxn Limit exceeded.' : 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }] }),
      faultExempt: [/^\/services\/oauth2\//, /^\/_sandbox\//, /^\/id\//],
    });
    this.baseUrl = opts.baseUrl;
    this.auth = { ...defaultAuthConfig(), ...(opts.auth ?? {}) };
    this.routes();
  }

  attachCometd(server: http.Server): void {
    this.cometd = new CometdEndpoint(
      {
        isValidToken: (t) => this.tokenRecord(t) !== undefined,
        retained: (channel) => this.storedEvents().filter((e) => e.channels.includes(channel)).map((e) => e.event),
        lastReplayId: () => Number(this.meta().counters.replayId ?? 0),
        channels: this.channels(),
      },
      `/${this.name}/cometd`,
    );
    this.cometd.attach(server);
  }

  /** CometD clients subscribed to `channel` now (Salesforce counts concurrent streaming clients per org). */
  streamingSubscribers(channel: string): number {
    return this.cometd?.subscriberCount(channel) ?? 0;
  }

  override close(): void {
    this.cometd?.close();
    super.close();
  }

  override reset(): void {
    super.reset();
    restoreSchema();
    this.cursors.clear();
    this.queryBatchSize = 2000;
    if (this.cometd) {
      this.cometd.fault('none');
      this.cometd.connectTimeoutSeconds = DEFAULT_CONNECT_TIMEOUT_S;
    }
  }

  // ---------- tokens ----------

  tokenRecord(token: string): IssuedToken | undefined {
    const rec = this.collection<IssuedToken>('_tokens')[token];
    if (!rec || rec.expiresAt < Date.now()) return undefined;
    return rec;
  }

  expireTokens(): number {
    const tokens = this.collection('_tokens');
    const n = Object.keys(tokens).length;
    this.state._tokens = {};
    this.changed();
    return n;
  }

  // ---------- routes ----------

  private routes(): void {
    const r = this.router;
    r.post('/services/oauth2/token', (req, res) => {
      const params = new URLSearchParams(typeof req.body === 'string' ? req.body : req.body && typeof req.body === 'object' ? (req.body as Record<string, string>) : '');
      for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string' && !params.has(k)) params.set(k, v);
      const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const outcome = issueToken(this.auth, params, basic, this.baseUrl());
      if (outcome.ok) {
        // Forget expired tokens now and then so a persisted state stays small.
        const tokens = this.collection<IssuedToken>('_tokens');
        for (const [t, rec] of Object.entries(tokens)) if (rec.expiresAt < Date.now()) delete tokens[t];
        tokens[outcome.token] = outcome.record;
        this.changed();
      }
      res.status(outcome.status).set('Cache-Control', 'no-cache,must-revalidate,max-age=0,no-store,private').json(outcome.body);
    });
    r.post('/services/oauth2/revoke', (req, res) => {
      const params = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      const token = params.get('token') ?? String(req.query.token ?? '');
      delete this.collection('_tokens')[token];
      this.changed();
      res.status(200).end();
    });
    r.get('/id/:org/:user', (req, res) => {
      const rec = this.bearer(req);
      if (!rec) return res.status(403).type('text/plain').send('Bad_OAuth_Token');
      res.json({ id: `${this.baseUrl()}/id/${ORG_ID}/${rec.userId}`, user_id: rec.userId, organization_id: ORG_ID, username: rec.username, display_name: 'PS Fabric Integration', active: true, user_type: 'STANDARD', urls: { rest: `${this.baseUrl()}/services/data/v{version}/`, query: `${this.baseUrl()}/services/data/v{version}/query/`, sobjects: `${this.baseUrl()}/services/data/v{version}/sobjects/` } });
    });
    r.get(/^\/services\/data\/?$/, (_req, res) => {
      res.json(VERSIONS.map((v) => ({ label: `v${v}`, url: `/services/data/v${v}`, version: v })));
    });
    r.all(/^\/services\/data\/(v\d+\.\d)(?:\/(.*))?$/, (req, res) => {
      const version = req.params[0];
      const rest = (req.params[1] ?? '').replace(/\/$/, '');
      if (!this.bearer(req)) {
        res.status(401).json([{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
        return;
      }
      // a version the org does not serve (retired or not yet released) answers as Salesforce does
      if (!VERSIONS.includes(version.slice(1))) {
        res.status(404).json([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
        return;
      }
      this.apiCalls += 1;
      const query = new URLSearchParams(req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '');
      const out = this.transaction(() => this.dispatch(req.method, version, rest, query, req.body, req.headers));
      res.set('Sforce-Limit-Info', `api-usage=${this.apiCalls}/${DAILY_API_LIMIT}`);
      for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
      if (out.body === undefined) res.status(out.status).end();
      else res.status(out.status).json(out.body);
    });
    // Sandbox conveniences (fault-exempt, not part of the Salesforce API).
    r.post('/_sandbox/close-won/:id', (req, res) => {
      const opp = this.findRecord('Opportunity', req.params.id) ?? this.findByExternalId('Opportunity', 'External_Id__c', req.params.id)[0];
      if (!opp) return res.status(404).json([{ message: `no Opportunity with Id or External_Id__c ${req.params.id}`, errorCode: 'NOT_FOUND' }]);
      const out = this.transaction(() => this.dispatch('PATCH', 'v62.0', `sobjects/Opportunity/${opp.Id}`, new URLSearchParams(), { StageName: 'Closed Won' }, {}));
      if (out.status >= 400) return res.status(out.status).json(out.body);
      const rec = this.findRecord('Opportunity', opp.Id)!;
      res.json({ id: rec.Id, Name: rec.Name, StageName: rec.StageName, SystemModstamp: rec.SystemModstamp, replayId: this.meta().counters.replayId });
    });
    r.post('/_sandbox/expire-tokens', (_req, res) => {
      res.json({ expired: this.expireTokens() });
    });
    r.put('/_sandbox/settings', express.json(), (req, res) => {
      const body = (req.body ?? {}) as { queryBatchSize?: unknown; streamingConnectTimeoutSeconds?: unknown };
      if (body.queryBatchSize === undefined && body.streamingConnectTimeoutSeconds === undefined) return res.status(400).json({ error: 'give queryBatchSize and/or streamingConnectTimeoutSeconds' });
      const size = Number(body.queryBatchSize ?? this.queryBatchSize);
      if (!Number.isInteger(size) || size < 1) return res.status(400).json({ error: 'queryBatchSize must be a positive integer' });
      const hold = Number(body.streamingConnectTimeoutSeconds ?? this.cometd?.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_S);
      if (!(Number.isFinite(hold) && hold > 0 && hold <= 110)) return res.status(400).json({ error: 'streamingConnectTimeoutSeconds must be a number of seconds, 0 < s <= 110 (Salesforce holds 110)' });
      this.queryBatchSize = size;
      if (this.cometd) this.cometd.connectTimeoutSeconds = hold;
      res.json({ queryBatchSize: this.queryBatchSize, streamingConnectTimeoutSeconds: this.cometd?.connectTimeoutSeconds ?? hold });
    });
    // An org without a field, child relationship or object (e.g. no multi-currency: Opportunity/fields/CurrencyIsoCode).
    r.delete('/_sandbox/schema/:sobject/fields/:field', (req, res) => {
      if (!removeFromSchema(req.params.sobject, req.params.field)) return res.status(404).json({ error: `no ${req.params.sobject}.${req.params.field} in the schema` });
      res.status(204).end();
    });
    // The integration user's permission set: object permissions { read, create, edit } and field-level security
    // { read, edit } (e.g. no Edit on Opportunity, Billing_Model__c not visible); the reset grants everything again.
    r.put('/_sandbox/access/:sobject', express.json(), (req, res) => {
      if (!setAccess(req.params.sobject, undefined, (req.body ?? {}) as Record<string, unknown>)) return res.status(404).json({ error: `no sObject ${req.params.sobject} in the schema` });
      res.status(204).end();
    });
    r.put('/_sandbox/access/:sobject/fields/:field', express.json(), (req, res) => {
      if (!setAccess(req.params.sobject, req.params.field, (req.body ?? {}) as Record<string, unknown>)) return res.status(404).json({ error: `no ${req.params.sobject}.${req.params.field} in the schema` });
      res.status(204).end();
    });
    r.delete('/_sandbox/schema/:sobject', (req, res) => {
      if (!removeFromSchema(req.params.sobject)) return res.status(404).json({ error: `no sObject ${req.params.sobject} in the schema` });
      res.status(204).end();
    });
    r.get('/_sandbox/cdc', (_req, res) => {
      res.json(this.storedEvents().map((e) => ({ channels: e.channels, ...e.event })));
    });
    r.post('/_sandbox/cdc/expire', express.json(), (req, res) => {
      const through = (req.body as { throughReplayId?: unknown } | undefined)?.throughReplayId;
      const last = Number(this.meta().counters.replayId ?? 0);
      const upTo = through === undefined ? last : Number(through);
      if (!Number.isInteger(upTo) || upTo < 0) return res.status(400).json({ error: 'throughReplayId must be a non-negative integer' });
      const stored = this.collection<StoredEvent>('_cdc');
      let expired = 0;
      for (const id of Object.keys(stored)) {
        if (Number(id) <= upTo) {
          delete stored[id];
          expired += 1;
        }
      }
      this.changed();
      res.json({ expired, oldestRetained: this.storedEvents()[0]?.event.event.replayId ?? null, lastReplayId: last });
    });
    r.post('/_sandbox/cdc/fault', express.json(), (req, res) => {
      const mode = (req.body as { mode?: unknown } | undefined)?.mode;
      if (mode !== 'stall' && mode !== 'expire' && mode !== 'none') return res.status(400).json({ error: 'mode must be "stall" (open sessions get no /meta/connect reply again), "expire" (open sessions end now) or "none"' });
      res.json({ mode, sessions: this.cometd?.fault(mode) ?? 0 });
    });
    r.post('/_sandbox/cdc/gap', express.json(), (req, res) => {
      const body = (req.body ?? {}) as { sobject?: unknown; id?: unknown; values?: unknown; overflow?: unknown };
      const def = sobjectDef(String(body.sobject ?? 'Opportunity'));
      if (!def) return res.status(400).json({ error: `unknown sobject ${String(body.sobject)}` });
      const rec = this.findRecord(def.name, String(body.id ?? '')) ?? this.findByExternalId(def.name, 'External_Id__c', String(body.id ?? ''))[0];
      if (!rec) return res.status(404).json({ error: `no ${def.name} with Id or External_Id__c ${String(body.id)}` });
      if (!body.values || typeof body.values !== 'object') return res.status(400).json({ error: 'values must be an object of fields to set' });
      const out = this.transaction(() => this.dispatch('PATCH', 'v62.0', `sobjects/${def.name}/${rec.Id}`, new URLSearchParams(), body.values, {}), body.overflow === true ? 'GAP_OVERFLOW' : 'GAP');
      if (out.status >= 400) return res.status(out.status).json(out.body);
      res.json({ id: rec.Id, replayId: this.meta().counters.replayId });
    });
  }

  private bearer(req: express.Request): IssuedToken | undefined {
    const m = /^(?:Bearer|OAuth)\s+(.+)$/i.exec((req.headers.authorization ?? '').trim());
    return m ? this.tokenRecord(m[1]) : undefined;
  }

  // ---------- transactions and change events ----------

  /**
   * Runs one API request; change events for what it committed are published afterwards (`gap`: gap events
   * instead, as for a change made outside the application servers).
   */
  private transaction(fn: () => RestResult, gap?: 'GAP' | 'GAP_OVERFLOW'): RestResult {
    const outer = this.pending === null;
    if (outer) this.pending = [];
    try {
      const result = fn();
      if (outer) this.commit(this.pending ?? [], gap);
      return result;
    } finally {
      if (outer) this.pending = null;
    }
  }

  private commit(all: Change[], gap?: 'GAP' | 'GAP_OVERFLOW'): void {
    if (all.length === 0) return;
    // An overflow event per entity, without record ids; a gap event per record, header only.
    const changes = gap === 'GAP_OVERFLOW' ? [...new Map(all.map((c) => [c.type, c])).values()] : all;
    this.changed();
    const meta = this.meta();
    const transactionKey = crypto.randomUUID();
    const commitNumber = Date.now() * 1000 + Math.floor(Math.random() * 1000);
    const stored = this.collection<StoredEvent>('_cdc');
    const touched = new Set<string>();
    changes.forEach((c, i) => {
      meta.counters.replayId = Number(meta.counters.replayId ?? 0) + 1;
      const replayId = meta.counters.replayId as number;
      const entity = c.type;
      const channel = changeChannel(entity);
      stored[String(replayId)] = {
        channels: [channel, '/data/ChangeEvents'],
        event: {
          schema: `psfabric-sandbox-${entity}-cdc-v1`,
          payload: {
            ChangeEventHeader: {
              entityName: entity,
              recordIds: gap === 'GAP_OVERFLOW' ? [] : [c.id],
              changeType: gap === 'GAP_OVERFLOW' ? 'GAP_OVERFLOW' : gap ? `GAP_${c.changeType}` : c.changeType,
              changeOrigin: 'com/salesforce/api/rest/62.0',
              transactionKey,
              sequenceNumber: gap ? 1 : i + 1,
              commitTimestamp: Date.now(),
              commitNumber,
              commitUser: INTEGRATION_USER_ID,
              nulledFields: gap ? [] : Object.entries(c.values).filter(([, v]) => v === null).map(([k]) => k),
              diffFields: [],
              changedFields: gap ? [] : c.changedFields,
            },
            ...(gap ? {} : c.values),
          },
          event: { replayId },
        },
      };
      touched.add(channel).add('/data/ChangeEvents');
    });
    const ids = Object.keys(stored).map(Number).sort((a, b) => a - b);
    for (const id of ids.slice(0, Math.max(0, ids.length - CDC_RETENTION))) delete stored[String(id)];
    for (const ch of touched) this.cometd?.published(ch);
  }

  private storedEvents(): StoredEvent[] {
    const stored = this.collection<StoredEvent>('_cdc');
    return Object.keys(stored)
      .map(Number)
      .sort((a, b) => a - b)
      .map((k) => stored[String(k)]);
  }

  private channels(): string[] {
    return [...Object.keys(SOBJECTS).map(changeChannel), '/data/ChangeEvents'];
  }

  private meta(): { counters: Record<string, number> } {
    const m = this.collection<any>('_meta');
    if (!m.counters) m.counters = { replayId: 0, contractNumber: 100, autoName: 100 };
    return m as { counters: Record<string, number> };
  }

  // ---------- records ----------

  private findRecord(type: string, id: string): Record<string, any> | undefined {
    const def = sobjectDef(type);
    if (!def) return undefined;
    const coll = this.collection<Record<string, any>>(def.name);
    if (coll[id]) return coll[id];
    // 15-character ids are accepted too (case-sensitive prefix of the 18-character id).
    if (id.length === 15) return Object.values(coll).find((r) => String(r.Id).startsWith(id));
    return undefined;
  }

  private findByExternalId(type: string, field: string, value: string): Record<string, any>[] {
    const def = sobjectDef(type);
    if (!def) return [];
    return Object.values(this.collection<Record<string, any>>(def.name)).filter((r) => r[field] !== null && r[field] !== undefined && String(r[field]) === value);
  }

  private attributes(type: string, id: string, version = 'v62.0') {
    return { type, url: `/services/data/${version}/sobjects/${type}/${id}` };
  }

  private newId(def: SObjectDef): string {
    return (def.keyPrefix + 'Hs' + this.nextId('').padStart(13, '0')).slice(0, 18);
  }

  // ---------- the REST API ----------

  /** One REST request (also used for composite subrequests). Never throws: errors become Salesforce error bodies. */
  dispatch(method: string, version: string, path: string, query: URLSearchParams, body: unknown, headers: http.IncomingHttpHeaders): RestResult {
    try {
      return this.route(method.toUpperCase(), version, path, query, body, headers);
    } catch (e) {
      if (e instanceof RestError) return { status: e.status, body: e.errors };
      if (e instanceof SoqlError) return { status: 400, body: [{ message: e.message, errorCode: e.errorCode }] };
      return { status: 500, body: [{ message: e instanceof Error ? e.message : String(e), errorCode: 'UNKNOWN_EXCEPTION' }] };
    }
  }

  private route(method: string, version: string, path: string, query: URLSearchParams, body: unknown, headers: http.IncomingHttpHeaders): RestResult {
    const parts = path === '' ? [] : path.split('/').map((p) => decodeURIComponent(p));
    const [head, a, b, c] = parts;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw err(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${method}' not allowed. Allowed are ${methods.join(',')}`);
    };
    if (parts.length === 0) {
      allow('GET');
      const base = `/services/data/${version}`;
      return { status: 200, body: { sobjects: `${base}/sobjects`, query: `${base}/query`, queryAll: `${base}/queryAll`, composite: `${base}/composite`, limits: `${base}/limits` } };
    }
    if (head === 'limits' && parts.length === 1) {
      allow('GET');
      return { status: 200, body: this.limits() };
    }
    if ((head === 'query' || head === 'queryAll') && parts.length === 1) {
      allow('GET');
      const q = query.get('q');
      if (!q) throw err(400, 'MALFORMED_QUERY', 'A query string has to be specified');
      return this.query(version, q, headers);
    }
    if ((head === 'query' || head === 'queryAll') && parts.length === 2) {
      allow('GET');
      return this.queryMore(version, a);
    }
    if (head === 'composite' && parts.length === 1) {
      allow('POST');
      return this.composite(version, body);
    }
    if (head === 'sobjects') {
      if (parts.length === 1) {
        allow('GET');
        return { status: 200, body: { encoding: 'UTF-8', maxBatchSize: 200, sobjects: Object.values(SOBJECTS).filter((d) => sobjectDef(d.name)).map((d) => describeGlobalEntry(d, version)) } };
      }
      const def = sobjectDef(a);
      if (!def) throw notFound();
      if (parts.length === 2) {
        if (method === 'GET') return { status: 200, body: { objectDescribe: describeGlobalEntry(def, version), recentItems: [] } };
        allow('POST');
        const id = this.write(def, null, body, version);
        return { status: 201, body: { id, success: true, errors: [] }, headers: { Location: `/services/data/${version}/sobjects/${def.name}/${id}` } };
      }
      if (parts.length === 3 && b === 'describe') {
        allow('GET');
        return { status: 200, body: describe(def, version) };
      }
      if (parts.length === 3) {
        const rec = this.findRecord(def.name, b);
        if (method === 'GET') {
          if (!rec) throw notFound();
          return { status: 200, body: this.render(def, rec, version, query.get('fields')) };
        }
        if (method === 'PATCH') {
          if (!rec) throw notFound();
          this.write(def, rec.Id, body, version);
          return { status: 204 };
        }
        if (method === 'DELETE') {
          if (!rec) throw err(404, 'ENTITY_IS_DELETED', 'entity is deleted');
          this.remove(def, rec.Id);
          return { status: 204 };
        }
        allow('GET', 'PATCH', 'DELETE');
      }
      if (parts.length === 4) {
        const field = fieldDef(def, b);
        if (!field || !(field.externalId || field.name === 'Id')) throw err(404, 'NOT_FOUND', `Provided external ID field does not exist or is not accessible: ${b}`);
        const matches = field.name === 'Id' ? [this.findRecord(def.name, c)].filter((x): x is Record<string, any> => !!x) : this.findByExternalId(def.name, field.name, c);
        if (matches.length > 1) return { status: 300, body: matches.map((m) => `/services/data/${version}/sobjects/${def.name}/${m.Id}`) };
        const existing = matches[0];
        if (method === 'GET') {
          if (!existing) throw notFound();
          return { status: 200, body: this.render(def, existing, version, query.get('fields')) };
        }
        if (method === 'DELETE') {
          if (!existing) throw notFound();
          this.remove(def, existing.Id);
          return { status: 204 };
        }
        if (method === 'PATCH' || (method === 'POST' && field.name === 'Id')) {
          const input = { ...((body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>) };
          const bodyKey = Object.keys(input).find((k) => k.toLowerCase() === field.name.toLowerCase());
          if (bodyKey !== undefined) {
            if (String(input[bodyKey]) !== c) throw err(400, 'INVALID_FIELD', `The value of the external ID field in the body (${String(input[bodyKey])}) doesn't match the value in the URL (${c})`, [field.name]);
            delete input[bodyKey];
          }
          if (existing) {
            this.write(def, existing.Id, input, version);
            return apiVersion(version) >= 46 ? { status: 200, body: { id: existing.Id, success: true, errors: [], created: false } } : { status: 204 };
          }
          if (field.name === 'Id') throw notFound();
          const id = this.write(def, null, { ...input, [field.name]: c }, version);
          return { status: 201, body: { id, success: true, errors: [], created: true }, headers: { Location: `/services/data/${version}/sobjects/${def.name}/${id}` } };
        }
        allow('GET', 'PATCH', 'DELETE');
      }
    }
    throw notFound();
  }

  private limits() {
    const used = this.apiCalls;
    return {
      DailyApiRequests: { Max: DAILY_API_LIMIT, Remaining: Math.max(0, DAILY_API_LIMIT - used) },
      DailyAsyncApexExecutions: { Max: 250000, Remaining: 250000 },
      DailyBulkV2QueryJobs: { Max: 10000, Remaining: 10000 },
      DailyDurableStreamingApiEvents: { Max: 10000, Remaining: Math.max(0, 10000 - Number(this.meta().counters.replayId ?? 0)) },
      DataStorageMB: { Max: 1024, Remaining: 1020 },
      HourlyPublishedStandardVolumePlatformEvents: { Max: 50000, Remaining: 50000 },
      MonthlyPlatformEventsUsageEntitlement: { Max: 50000, Remaining: 50000 },
    };
  }

  private render(def: SObjectDef, rec: Record<string, any>, version: string, fields: string | null): Record<string, unknown> {
    const out: Record<string, unknown> = { attributes: this.attributes(def.name, rec.Id, version) };
    const names = fields
      ? fields.split(',').map((f) => {
          const fd = fieldDef(def, f.trim());
          if (!fd) throw err(400, 'INVALID_FIELD', `No such column '${f.trim()}' on sobject of type ${def.name}`);
          return fd.name;
        })
      : fieldsOf(def).map((f) => f.name);
    for (const n of names) out[n] = rec[n] ?? null;
    return out;
  }

  // ---------- query ----------

  private query(version: string, soql: string, headers: http.IncomingHttpHeaders): RestResult {
    // objects (and child relationships' objects) the user has no Read on are unknown to its queries
    for (const m of soql.matchAll(/\bFROM\s+([A-Za-z][A-Za-z0-9_]*)/gi)) {
      const def = sobjectDef(m[1]) ?? Object.values(SOBJECTS).map((d) => childRelationship(d, m[1])).find(Boolean)?.childType;
      const target = typeof def === 'string' ? sobjectDef(def) : def;
      if (target && !accessOf(target).read) throw err(400, 'INVALID_TYPE', `sObject type '${m[1]}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`);
    }
    const result = executeSoql(
      {
        records: (type) => Object.values(this.collection<Record<string, any>>(type)),
        byId: (type, id) => this.findRecord(type, id),
        attributes: (type, id) => this.attributes(type, id, version),
      },
      soql,
    );
    let batch = this.queryBatchSize;
    const opt = /batchSize=(\d+)/i.exec(String(headers['sforce-query-options'] ?? ''));
    if (opt) batch = Math.min(batch, Math.max(200, Math.min(2000, Number(opt[1]))));
    return this.page(version, result.records, result.totalSize, 0, batch);
  }

  private page(version: string, records: unknown[], totalSize: number, offset: number, batch: number, cursorId?: string): RestResult {
    const slice = records.slice(offset, offset + batch);
    const next = offset + slice.length;
    const done = next >= records.length;
    const now = Date.now();
    for (const [k, v] of this.cursors) if (now - v.at > CURSOR_TTL_MS) this.cursors.delete(k);
    const body: Record<string, unknown> = { totalSize, done, records: slice };
    if (!done) {
      const id = cursorId ?? `01g${this.nextId('').padStart(12, '0')}`;
      this.cursors.set(id, { records, totalSize, at: now });
      body.nextRecordsUrl = `/services/data/${version}/query/${id}-${next}`;
    } else if (cursorId) this.cursors.delete(cursorId);
    return { status: 200, body };
  }

  private queryMore(version: string, locator: string): RestResult {
    const m = /^(01g[A-Za-z0-9]+)-(\d+)$/.exec(locator);
    const cursor = m ? this.cursors.get(m[1]) : undefined;
    if (!m || !cursor) throw err(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    const offset = Number(m[2]);
    return this.page(version, cursor.records, cursor.totalSize, offset, this.queryBatchSize, m[1]);
  }

  // ---------- DML ----------

  /** Creates (id null) or updates a record; returns its id. Throws RestError with Salesforce's codes. */
  private write(def: SObjectDef, id: string | null, body: unknown, version: string): string {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw err(400, 'JSON_PARSER_ERROR', 'The request body must be a JSON object');
    const coll = this.collection<Record<string, any>>(def.name);
    const existing = id ? coll[id] : undefined;
    const changes: Record<string, unknown> = {};
    const access = accessOf(def);
    if (!(existing ? access.edit : access.create)) throw err(400, 'INSUFFICIENT_ACCESS_OR_READONLY', `insufficient access rights on object id: you do not have ${existing ? 'Edit' : 'Create'} permission on ${def.name}`);
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (key === 'attributes') continue;
      let field = fieldDef(def, key);
      let v = value;
      if (!field) {
        const rel = parentRelationship(def, key);
        if (rel && value && typeof value === 'object' && !Array.isArray(value)) {
          v = this.resolveRelationshipByExternalId(rel, value as Record<string, unknown>);
          field = rel;
        } else throw err(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${def.name}`, [key]);
      }
      if ((field.readOnly || !fieldEditable(def, field.name)) && !(field.name === 'Id' && existing && v === existing.Id)) {
        throw err(400, 'INVALID_FIELD_FOR_INSERT_UPDATE', `Unable to create/update fields: ${field.name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`, [field.name]);
      }
      changes[field.name] = this.coerce(def, field, v);
    }
    const now = sfDateTime(Date.now());
    const next: Record<string, any> = existing ? { ...existing, ...changes } : { ...Object.fromEntries(def.fields.map((f) => [f.name, null])), ...changes };
    const missing = def.fields.filter((f) => f.required && (next[f.name] === null || next[f.name] === undefined || next[f.name] === ''));
    if (missing.length) throw err(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.map((f) => f.name).join(', ')}]`, missing.map((f) => f.name));
    for (const f of def.fields.filter((x) => x.externalId)) {
      const value = next[f.name];
      if (value === null || value === undefined) continue;
      const dup = Object.values(coll).find((r) => r.Id !== id && r[f.name] !== null && String(r[f.name]) === String(value));
      if (dup) throw err(400, 'DUPLICATE_VALUE', `duplicate value found: ${f.name} duplicates value on record with id: ${dup.Id}`, [f.name]);
    }
    // Derived and system fields.
    if (def.name === 'Opportunity') {
      const stage = OPPORTUNITY_STAGES[next.StageName];
      next.IsClosed = stage.closed;
      next.IsWon = stage.won;
      if (!('Probability' in changes) && (!existing || 'StageName' in changes)) next.Probability = stage.probability;
    }
    if (def.name === 'Contact') next.Name = [next.FirstName, next.LastName].filter(Boolean).join(' ');
    if (def.name === 'OpportunityLineItem') next.TotalPrice = typeof next.Quantity === 'number' && typeof next.UnitPrice === 'number' ? next.Quantity * next.UnitPrice : null;
    const counters = this.meta().counters;
    if (!existing) {
      next.Id = this.newId(def);
      next.IsDeleted = false;
      next.OwnerId = next.OwnerId ?? INTEGRATION_USER_ID;
      next.CreatedDate = now;
      next.CreatedById = INTEGRATION_USER_ID;
      if (def.name === 'Contract') {
        counters.contractNumber = Number(counters.contractNumber ?? 100) + 1;
        next.ContractNumber = String(counters.contractNumber).padStart(8, '0');
      }
      if (def.autoName) {
        counters.autoName = Number(counters.autoName ?? 100) + 1;
        next.Name = `${def.autoName}${String(counters.autoName).padStart(4, '0')}`;
      }
    }
    next.LastModifiedDate = now;
    next.LastModifiedById = INTEGRATION_USER_ID;
    next.SystemModstamp = now;
    coll[next.Id] = next;
    const changedFields = existing ? Object.keys(next).filter((k) => k !== 'SystemModstamp' && JSON.stringify(next[k]) !== JSON.stringify(existing[k])) : [];
    const values = existing ? Object.fromEntries(changedFields.map((k) => [k, next[k]])) : Object.fromEntries(Object.entries(next).filter(([k, v]) => v !== null && k !== 'Id' && k !== 'IsDeleted' && k !== 'SystemModstamp'));
    this.pending?.push({ type: def.name, id: next.Id, changeType: existing ? 'UPDATE' : 'CREATE', changedFields, values });
    void version;
    return next.Id;
  }

  private resolveRelationshipByExternalId(rel: FieldDef, value: Record<string, unknown>): string {
    const target = sobjectDef(rel.referenceTo ?? '');
    const entries = Object.entries(value).filter(([k]) => k !== 'attributes');
    if (!target || entries.length !== 1) throw err(400, 'INVALID_FIELD', `Cannot resolve relationship ${rel.relationshipName}: give exactly one external ID field`, [rel.name]);
    const [key, ext] = entries[0];
    const f = fieldDef(target, key);
    if (!f || !f.externalId) throw err(400, 'INVALID_FIELD', `Field ${key} is not an external ID field of ${target.name}`, [rel.name]);
    const found = this.findByExternalId(target.name, f.name, String(ext));
    if (found.length === 0) throw err(400, 'INVALID_FIELD', `Foreign key external ID: ${String(ext)} not found for field ${f.name} in entity ${target.name}`, [rel.name]);
    if (found.length > 1) throw err(300, 'MULTIPLE_CHOICES', `More than 1 record found for external ID field ${f.name}: ${String(ext)}`, [rel.name]);
    return found[0].Id;
  }

  private coerce(def: SObjectDef, field: FieldDef, value: unknown): unknown {
    if (value === null || value === undefined) return null;
    const parseErr = (kind: string) => err(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${kind} from ${typeof value === 'string' ? 'VALUE_STRING' : 'VALUE'} value ${JSON.stringify(value)} or request may be missing a required field`, [field.name]);
    switch (field.type) {
      case 'double':
      case 'currency':
      case 'percent':
        if (typeof value !== 'number' || !Number.isFinite(value)) throw parseErr(field.type === 'currency' ? 'currency' : 'double');
        return value;
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw parseErr('int');
        return value;
      case 'boolean':
        if (typeof value !== 'boolean') throw parseErr('boolean');
        return value;
      case 'date':
        if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) throw parseErr('date');
        return value;
      case 'datetime':
        if (typeof value !== 'string' || Number.isNaN(Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2')))) throw parseErr('datetime');
        return sfDateTime(Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2')));
      case 'reference': {
        if (typeof value !== 'string') throw parseErr('reference');
        const target = field.referenceTo ? sobjectDef(field.referenceTo) : undefined;
        if (target) {
          const rec = this.findRecord(target.name, value);
          if (!rec) throw err(400, 'INVALID_CROSS_REFERENCE_KEY', `invalid cross reference id`, [field.name]);
          return rec.Id;
        }
        return value;
      }
      case 'picklist':
        if (typeof value !== 'string') throw parseErr('picklist');
        if (field.name === 'StageName' && field.picklist && !field.picklist.includes(value)) {
          throw err(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `Stage: bad value for restricted picklist field: ${value}`, [field.name]);
        }
        return value;
      default:
        if (typeof value === 'object') throw parseErr('string');
        return String(value);
    }
  }

  private remove(def: SObjectDef, id: string): void {
    const coll = this.collection<Record<string, any>>(def.name);
    delete coll[id];
    this.pending?.push({ type: def.name, id, changeType: 'DELETE', changedFields: [], values: {} });
    // Master-detail children go with their parent.
    for (const child of def.children) {
      if (def.name === 'Opportunity' && child.childType === 'OpportunityLineItem') {
        const kids = this.collection<Record<string, any>>(child.childType);
        for (const [kid, rec] of Object.entries(kids)) if (rec[child.field] === id) delete kids[kid];
      }
    }
  }

  // ---------- composite ----------

  private composite(version: string, body: unknown): RestResult {
    const b = (body ?? {}) as { allOrNone?: boolean; compositeRequest?: unknown };
    if (!Array.isArray(b.compositeRequest) || b.compositeRequest.length === 0) throw err(400, 'JSON_PARSER_ERROR', 'compositeRequest: the composite request must contain at least one subrequest');
    if (b.compositeRequest.length > 25) throw err(400, 'LIMIT_EXCEEDED', 'Limit Exceeded: the composite request cannot contain more than 25 subrequests');
    const subs = b.compositeRequest as { method?: string; url?: string; referenceId?: string; body?: unknown }[];
    const seen = new Set<string>();
    for (const s of subs) {
      if (!s.referenceId || !/^[A-Za-z0-9_]+$/.test(s.referenceId)) throw err(400, 'INVALID_INPUT', `Invalid referenceId ${JSON.stringify(s.referenceId)}: use letters, digits and underscores`);
      if (seen.has(s.referenceId)) throw err(400, 'DUPLICATE_VALUE', `Duplicate referenceId provided in the request: ${s.referenceId}`);
      seen.add(s.referenceId);
      if (!s.method || !s.url) throw err(400, 'INVALID_INPUT', `Subrequest ${s.referenceId} needs a method and a url`);
    }
    // Salesforce: of the 25 subrequests, at most 5 may be query operations or sObject Collections
    const heavy = subs.filter((s) => /^\/services\/data\/v\d+\.\d\/(query|queryAll|composite\/sobjects)(\/|\?|$)/.test(String(s.url))).length;
    if (heavy > 5) throw err(400, 'LIMIT_EXCEEDED', `Limit Exceeded: a composite request can contain at most 5 query or sObject Collections subrequests, got ${heavy}`);
    const allOrNone = b.allOrNone === true;
    const snapshot = allOrNone ? JSON.stringify(Object.fromEntries(Object.keys(SOBJECTS).map((t) => [t, this.collection(t)]))) : '';
    const pendingBefore = this.pending ? this.pending.length : 0;
    const countersBefore = JSON.stringify(this.meta().counters);
    const results: { body: unknown; httpHeaders: Record<string, string>; httpStatusCode: number; referenceId: string }[] = [];
    const outputs = new Map<string, unknown>();
    const failedRefs = new Set<string>();
    let failedAt = -1;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i];
      const ref = s.referenceId as string;
      let resolved: { url: string; body: unknown };
      try {
        resolved = { url: resolveRefs(s.url as string, outputs, failedRefs, ref) as string, body: resolveRefs(s.body, outputs, failedRefs, ref) };
      } catch (e) {
        const halted = e instanceof RestError ? e.errors : [{ errorCode: 'PROCESSING_HALTED', message: String(e) }];
        results.push({ body: halted, httpHeaders: {}, httpStatusCode: 400, referenceId: ref });
        failedRefs.add(ref);
        if (allOrNone) {
          failedAt = i;
          break;
        }
        continue;
      }
      const m = /^\/services\/data\/(v\d+\.\d)\/([^?]*)(?:\?(.*))?$/.exec(resolved.url);
      const out: RestResult = m
        ? this.dispatch(s.method as string, m[1], m[2].replace(/\/$/, ''), new URLSearchParams(m[3] ?? ''), resolved.body, {})
        : { status: 400, body: [{ errorCode: 'INVALID_INPUT', message: `Invalid URL for a composite subrequest: ${resolved.url}` }] };
      if (m && m[2].startsWith('composite')) {
        results.push({ body: [{ errorCode: 'INVALID_INPUT', message: 'composite subrequests cannot be composite requests' }], httpHeaders: {}, httpStatusCode: 400, referenceId: ref });
        failedRefs.add(ref);
        continue;
      }
      results.push({ body: out.body ?? null, httpHeaders: out.headers ?? {}, httpStatusCode: out.status, referenceId: ref });
      if (out.status >= 400) {
        failedRefs.add(ref);
        if (allOrNone) {
          failedAt = i;
          break;
        }
      } else outputs.set(ref, out.body);
    }
    if (allOrNone && failedAt >= 0) {
      const restored = JSON.parse(snapshot) as Record<string, Record<string, unknown>>;
      for (const [t, coll] of Object.entries(restored)) this.state[t] = coll;
      this.meta().counters = JSON.parse(countersBefore);
      if (this.pending) this.pending.length = pendingBefore;
      const halted = [{ errorCode: 'PROCESSING_HALTED', message: 'The transaction was rolled back since another operation in the same transaction failed.' }];
      const final = subs.map((s, i) => (i === failedAt ? results[i] : { body: halted, httpHeaders: {}, httpStatusCode: 400, referenceId: s.referenceId as string }));
      return { status: 200, body: { compositeResponse: final } };
    }
    return { status: 200, body: { compositeResponse: results } };
  }
}

function changeChannel(entity: string): string {
  return entity.endsWith('__c') ? `/data/${entity.slice(0, -3)}__ChangeEvent` : `/data/${entity}ChangeEvent`;
}

function apiVersion(version: string): number {
  return Number(version.replace(/^v/, ''));
}

/** Replaces `@{ref.path}` in strings (a whole-string reference keeps the referenced value's type). */
function resolveRefs(value: unknown, outputs: Map<string, unknown>, failed: Set<string>, current: string): unknown {
  if (typeof value === 'string') {
    const lookup = (expr: string): unknown => {
      const [ref, ...rest] = expr.split('.');
      if (failed.has(ref) || !outputs.has(ref)) throw err(400, 'PROCESSING_HALTED', `Invalid reference specified. No value for ${expr} found in ${ref}. Provided referenceId ${current}.`);
      let v: any = outputs.get(ref);
      for (const seg of rest.join('.').split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== '')) v = v?.[seg];
      if (v === undefined) throw err(400, 'PROCESSING_HALTED', `Invalid reference specified. No value for ${expr} found in ${ref}. Provided referenceId ${current}.`);
      return v;
    };
    const whole = /^@\{([^}]+)\}$/.exec(value);
    if (whole) return lookup(whole[1]);
    return value.replace(/@\{([^}]+)\}/g, (_m, expr: string) => String(lookup(expr)));
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, outputs, failed, current));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, outputs, failed, current)]));
  return value;
}

function describeGlobalEntry(def: SObjectDef, version: string) {
  return {
    name: def.name,
    label: def.label,
    keyPrefix: def.keyPrefix,
    custom: def.name.endsWith('__c'),
    createable: accessOf(def).create,
    updateable: accessOf(def).edit,
    deletable: accessOf(def).edit,
    queryable: accessOf(def).read,
    urls: { sobject: `/services/data/${version}/sobjects/${def.name}`, describe: `/services/data/${version}/sobjects/${def.name}/describe`, rowTemplate: `/services/data/${version}/sobjects/${def.name}/{ID}` },
  };
}

function describe(def: SObjectDef, version: string) {
  return {
    ...describeGlobalEntry(def, version),
    fields: fieldsOf(def).map((f) => ({
      name: f.name,
      type: f.type,
      label: f.name.replace(/__c$/, '').replace(/_/g, ' '),
      nillable: !f.required,
      createable: !f.readOnly && fieldEditable(def, f.name),
      updateable: !f.readOnly && fieldEditable(def, f.name),
      externalId: !!f.externalId,
      idLookup: !!f.externalId || f.name === 'Id',
      referenceTo: f.referenceTo ? [f.referenceTo] : [],
      relationshipName: f.relationshipName ?? null,
      picklistValues: (f.picklist ?? []).map((v) => ({ value: v, label: v, active: true })),
    })),
    childRelationships: def.children.filter((c) => childRelationship(def, c.name)).map((c) => ({ childSObject: c.childType, field: c.field, relationshipName: c.name })),
  };
}

export const salesforceSandbox: VendorSandboxFactory = {
  name: 'salesforce',
  create: (opts) => new SalesforceSandbox({ statePath: opts.statePath, baseUrl: opts.baseUrl }),
  attach: (server, sandbox) => (sandbox as SalesforceSandbox).attachCometd(server),
};
