/**
 * The ApiGate: everything an experience-API request must pass before a flow acts on it. Pure TypeScript
 * (no Node-RED, no express): the api-gate node turns `msg.req` into a GateRequest and the GateResult back
 * into either a passed message or a refusal written to `msg.res`.
 *
 * Order of checks (each refusal has a status and a JSON body `{error, errors?}`):
 *   1. path tricks in the raw URL (dot segments, encoded slashes)        400
 *   2. route: /api/<version>/<resource>[/<id>]                          404 (unknown), 405 (method)
 *   3. public routes (openapi.json) pass without credentials
 *   4. authentication: X-API-Key or Authorization: Bearer <JWT>         401 + WWW-Authenticate
 *   5. per-consumer rate limit (token bucket)                          429 + Retry-After
 *   6. scope <resource>:<read|write>                                   403
 *   7. id in the path                                                  400
 *   8. body size                                                       413
 *   9. content type of writes                                          415
 *  10. `__proto__`/`constructor`/`prototype` keys, over-deep nesting    400
 *  11. canonical schema of the API version                             400 with field paths
 * Every response gets the security headers, `API-Version`, and for deprecated versions Deprecation/Sunset/Link.
 * Every decision is reported to the audit sink (if any).
 */
import crypto from 'node:crypto';
import type { FieldError } from '../delivery/errors';
import { hasScope, type Consumer, type ConsumerRegistry } from './consumers';
import { JwtError, type JwtVerifier } from './jwt';
import { TokenBuckets, type RateLimit } from './rate-limit';
import { API_VERSIONS, OPENAPI_PATH, REQUESTS_PATH, REQUESTS_SCOPE, resourceByPath, type ApiResource } from './resources';
import { SECURITY_HEADERS, findHostileKeys, idProblem, urlTrick } from './security';
import { DEFAULT_DEPRECATIONS, deprecationHeaders, findDeprecation, type Deprecation } from './versioning';

export type Verb = 'read' | 'write';

export interface GateRequest {
  method: string;
  /** The raw request URL as received (path + query), before decoding: `req.originalUrl`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed body (http in node parses JSON); undefined for GET. */
  body?: unknown;
  /** Decoded route parameter `id`, when the http in route has one. */
  params?: Record<string, string>;
  ip?: string;
}

export interface GateRoute {
  version: string;
  /** Path segment: `projects`, `time-entries`, `requests`, `openapi.json`. */
  resource: string;
  kind: 'collection' | 'item' | 'request-status' | 'openapi';
  verb: Verb;
  entity?: string;
  schemaVersion?: number;
  id?: string;
  /** For accepted writes: the id the caller polls at /api/v1/requests/<trackingId>. */
  trackingId?: string;
  deprecated?: boolean;
}

export type GateResult =
  | { ok: true; consumer: Consumer; route: GateRoute; headers: Record<string, string> }
  | { ok: false; status: number; body: { error: string; errors?: FieldError[] }; headers: Record<string, string>; consumer?: Consumer; route?: Partial<GateRoute> };

export interface ApiAuditEvent {
  at: number;
  outcome: 'accepted' | 'refused';
  status?: number;
  reason?: string;
  consumer?: string;
  method: string;
  path: string;
  resource?: string;
  id?: string;
  trackingId?: string;
  ip?: string;
}
export type ApiAuditSink = (event: ApiAuditEvent) => void | Promise<void>;

/** Validates a body against an entity's canonical schema at a version; [] when valid. */
export type BodyValidator = (entity: string, schemaVersion: number, body: unknown) => FieldError[];

export interface ApiGateOptions {
  consumers?: ConsumerRegistry;
  jwt?: JwtVerifier;
  rateLimit?: RateLimit;
  maxBodyBytes?: number;
  deprecations?: Deprecation[];
  validator?: BodyValidator;
  audit?: ApiAuditSink;
  /** Serve openapi.json without credentials (default true). */
  publicOpenApi?: boolean;
  /** Mount point, default `/api`. */
  basePath?: string;
  now?: () => number;
}

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 10, burst: 20 };

export class ApiGate {
  private readonly buckets: TokenBuckets;
  private readonly now: () => number;
  readonly maxBodyBytes: number;
  readonly basePath: string;

  constructor(private readonly opts: ApiGateOptions) {
    this.now = opts.now ?? Date.now;
    this.buckets = new TokenBuckets(opts.rateLimit ?? DEFAULT_RATE_LIMIT, this.now);
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.basePath = (opts.basePath ?? '/api').replace(/\/+$/, '');
  }

  async check(req: GateRequest): Promise<GateResult> {
    const result = await this.decide(req);
    this.report(req, result);
    return result;
  }

  private async decide(req: GateRequest): Promise<GateResult> {
    const headers: Record<string, string> = { ...SECURITY_HEADERS };
    const refuse = (status: number, error: string, errors?: FieldError[], extra: Record<string, string> = {}, consumer?: Consumer, route?: Partial<GateRoute>): GateResult => ({
      ok: false,
      status,
      body: errors?.length ? { error, errors } : { error },
      headers: { ...headers, ...extra },
      ...(consumer ? { consumer } : {}),
      ...(route ? { route } : {}),
    });

    // 1. path tricks
    const url = String(req.url ?? '');
    const trick = urlTrick(url);
    if (trick) return refuse(400, 'invalid path', [{ path: 'url', message: trick }]);

    // 2. route
    const pathname = url.split('?')[0];
    if (!pathname.startsWith(this.basePath + '/')) return refuse(404, 'not found');
    const segments = pathname.slice(this.basePath.length + 1).split('/');
    if (segments[segments.length - 1] === '' && segments.length > 1) segments.pop(); // trailing slash
    const [version, resource, rawId, ...rest] = segments;
    if (!(API_VERSIONS as readonly string[]).includes(version) || !resource || rest.length) return refuse(404, 'not found');
    const method = String(req.method ?? '').toUpperCase();
    const verb: Verb = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
    headers['API-Version'] = version;

    let route: GateRoute;
    let res: ApiResource | undefined;
    if (resource === OPENAPI_PATH && rawId === undefined) {
      if (verb !== 'read') return refuse(405, 'method not allowed', undefined, { Allow: 'GET' });
      route = { version, resource, kind: 'openapi', verb };
    } else if (resource === REQUESTS_PATH) {
      if (rawId === undefined) return refuse(404, 'not found');
      if (verb !== 'read') return refuse(405, 'method not allowed', undefined, { Allow: 'GET' });
      route = { version, resource, kind: 'request-status', verb, id: req.params?.id ?? safeDecode(rawId) };
    } else {
      res = resourceByPath(resource);
      if (!res || res.versions[version] === undefined) return refuse(404, 'not found');
      const kind = rawId === undefined ? 'collection' : 'item';
      if (kind === 'item' && verb !== 'read') return refuse(405, 'method not allowed', undefined, { Allow: 'GET' });
      if (kind === 'collection' && method !== 'GET' && method !== 'HEAD' && method !== 'POST') return refuse(405, 'method not allowed', undefined, { Allow: 'GET, POST' });
      // read-only resources: refused like any method the resource does not have (before credentials, no effect)
      if (kind === 'collection' && res.readOnly && method === 'POST') return refuse(405, `method not allowed: ${res.path} are read-only here (${res.readOnly})`, undefined, { Allow: 'GET' });
      route = { version, resource, kind, verb, entity: res.entity, schemaVersion: res.versions[version] };
      if (kind === 'item') route.id = req.params?.id ?? safeDecode(rawId);
      const dep = findDeprecation(this.opts.deprecations ?? DEFAULT_DEPRECATIONS, version, resource);
      if (dep && Date.parse(dep.deprecatedAt) <= this.now()) {
        route.deprecated = true;
        Object.assign(headers, deprecationHeaders(dep));
      } else if (dep) {
        Object.assign(headers, deprecationHeaders(dep)); // announced ahead of time (RFC 9745 allows a future date)
      }
    }

    // 3. public
    if (route.kind === 'openapi' && this.opts.publicOpenApi !== false) {
      return { ok: true, consumer: { id: 'anonymous', kind: 'anonymous', name: 'anonymous', scopes: [] }, route, headers };
    }

    // 4. authenticate
    const auth = await this.authenticate(req);
    if (!auth.consumer) {
      return refuse(401, auth.reason ?? 'authentication required', undefined, { 'WWW-Authenticate': 'Bearer realm="ps-fabric", error="invalid_token"' }, undefined, route);
    }
    const consumer = auth.consumer;

    // 5. rate limit
    const taken = this.buckets.take(consumer.id, consumer.rateLimit);
    if (!taken.ok) {
      const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
      return refuse(429, 'rate limit exceeded', undefined, { 'Retry-After': String(seconds) }, consumer, route);
    }

    // 6. scope
    const scopeName = route.kind === 'request-status' ? REQUESTS_SCOPE : (res as ApiResource).scope;
    if (!hasScope(consumer.scopes, scopeName, verb)) {
      return refuse(403, `missing scope ${scopeName}:${verb}`, undefined, {}, consumer, route);
    }

    // 7. id
    if (route.id !== undefined) {
      const problem = idProblem(route.id);
      if (problem) return refuse(400, 'invalid id', [{ path: route.kind === 'request-status' ? 'trackingId' : 'id', message: problem }], {}, consumer, route);
    }

    if (verb === 'write') {
      // 8. size
      const declared = Number(headerOf(req.headers, 'content-length'));
      const measured = req.body === undefined ? 0 : Buffer.byteLength(typeof req.body === 'string' ? req.body : safeStringify(req.body));
      if ((Number.isFinite(declared) && declared > this.maxBodyBytes) || measured > this.maxBodyBytes) {
        return refuse(413, `request body larger than ${this.maxBodyBytes} bytes`, undefined, {}, consumer, route);
      }
      // 9. content type
      const ct = String(headerOf(req.headers, 'content-type') ?? '').toLowerCase();
      if (!/^application\/([a-z0-9.+-]*\+)?json\b/.test(ct)) {
        return refuse(415, 'content type must be application/json', undefined, {}, consumer, route);
      }
      if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
        return refuse(400, 'invalid request body', [{ path: '/', message: 'must be a JSON object' }], {}, consumer, route);
      }
      // 10. hostile keys
      const hostile = findHostileKeys(req.body);
      if (hostile.length) return refuse(400, 'invalid request body', hostile, {}, consumer, route);
      // 11. schema
      if (this.opts.validator && route.entity && route.schemaVersion) {
        const errors = this.opts.validator(route.entity, route.schemaVersion, req.body);
        if (errors.length) return refuse(400, 'validation failed', errors, {}, consumer, route);
      }
      route.trackingId = crypto.randomUUID();
    }
    return { ok: true, consumer, route, headers };
  }

  private async authenticate(req: GateRequest): Promise<{ consumer?: Consumer; reason?: string }> {
    const apiKey = headerOf(req.headers, 'x-api-key');
    const authz = headerOf(req.headers, 'authorization');
    if (apiKey !== undefined) {
      if (!this.opts.consumers) return { reason: 'API keys are not accepted here' };
      const c = await this.opts.consumers.verify(apiKey);
      return c ? { consumer: c } : { reason: 'invalid API key' };
    }
    if (authz !== undefined) {
      const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i.exec(authz);
      if (!m) return { reason: 'unsupported Authorization header (expected Bearer <JWT>)' };
      if (!this.opts.jwt) return { reason: 'bearer tokens are not accepted here' };
      try {
        const c = await this.opts.jwt.verify(m[1]);
        const { claims: _claims, ...consumer } = c;
        void _claims;
        return { consumer };
      } catch (err) {
        return { reason: err instanceof JwtError ? `invalid bearer token: ${err.message}` : 'invalid bearer token' };
      }
    }
    return { reason: 'authentication required (X-API-Key header or Authorization: Bearer <JWT>)' };
  }

  private report(req: GateRequest, r: GateResult): void {
    const sink = this.opts.audit ?? globalAuditSink();
    if (!sink) return;
    const route = r.route;
    const event: ApiAuditEvent = {
      at: this.now(),
      outcome: r.ok ? 'accepted' : 'refused',
      method: String(req.method ?? '').toUpperCase(),
      path: String(req.url ?? '').split('?')[0].slice(0, 300),
      ...(r.ok ? {} : { status: r.status, reason: r.body.error }),
      ...(r.consumer ? { consumer: r.consumer.id } : {}),
      ...(route?.resource ? { resource: route.resource } : {}),
      ...(route?.id ? { id: route.id } : {}),
      ...(route?.trackingId ? { trackingId: route.trackingId } : {}),
      ...(req.ip ? { ip: req.ip } : {}),
    };
    try {
      const p = sink(event);
      if (p && typeof (p as Promise<void>).catch === 'function') (p as Promise<void>).catch(() => undefined);
    } catch {
      /* auditing must never break the API */
    }
  }
}

function headerOf(headers: GateRequest['headers'], name: string): string | undefined {
  const v = headers?.[name] ?? headers?.[name.toLowerCase()];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : String(v);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

// ---- the process-wide audit sink (the runtime wires lib/audit's AuditTrail here) ----
const SINK_KEY = Symbol.for('ps-fabric.api-audit-sink.v1');
const g = globalThis as unknown as Record<symbol, ApiAuditSink | undefined>;

/** Sets (or clears) the sink every ApiGate without its own `audit` option reports to. */
export function setApiAuditSink(sink: ApiAuditSink | undefined): void {
  g[SINK_KEY] = sink;
}
export function globalAuditSink(): ApiAuditSink | undefined {
  return g[SINK_KEY];
}

/** Adapts lib/audit's AuditTrail (or anything with `append`) into an ApiAuditSink. */
export function auditTrailSink(trail: { append(entry: { actor: string; action: string; recordKey?: string; correlationId?: string; details?: import('../store/store').Json; at?: number }): Promise<void> }): ApiAuditSink {
  return (e) =>
    trail.append({
      at: e.at,
      actor: e.consumer ?? 'anonymous',
      action: `api.request.${e.outcome}`,
      ...(e.trackingId ? { correlationId: e.trackingId } : {}),
      ...(e.resource && e.id ? { recordKey: `${e.resource}/${e.id}` } : {}),
      details: JSON.parse(JSON.stringify({ method: e.method, path: e.path, status: e.status ?? null, reason: e.reason ?? null, ip: e.ip ?? null })),
    });
}
