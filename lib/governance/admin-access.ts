/**
 * Who may reach the editor, the admin API and the dashboard from a browser, and as whom. Pure rules (no express,
 * no Node-RED); runtime/admin-access.ts applies them to HTTP requests, WebSocket upgrades and socket.io handshakes.
 *
 *  - Host names: only the names the runtime is configured to answer to (loopback names, FABRIC_HOST, and
 *    FABRIC_ALLOWED_HOSTS) so a page whose DNS name was rebound to this machine gets nothing (DNS rebinding).
 *  - Origin: a browser request from another origin is refused on every non-public path; no CORS is granted.
 *  - State-changing requests (POST/PUT/PATCH/DELETE) on non-public paths need a header a cross-site form or a
 *    "simple" fetch cannot send (`X-PS-Fabric-Request`, `Node-RED-API-Version` (the editor sends it) or
 *    `Authorization`), and /ps-fabric/* bodies must be JSON.
 *  - Public paths (FABRIC_PUBLIC_PATHS, default `/api/`): the experience APIs, which answer other machines under
 *    any name and carry their own credentials (API keys, JWT); the rules above do not apply there.
 *  - Dashboard sessions: an HMAC-signed cookie naming the user and permissions of the editor's login.
 */
import crypto from 'node:crypto';

export interface AccessConfig {
  /** Lower-case host names (no port) requests may name in `Host`. */
  allowedHosts: string[];
  /** Path prefixes served to other machines with their own credentials (no Host/Origin/CSRF rule). */
  publicPaths: string[];
}

export interface Refusal {
  status: number;
  error: string;
}

/** Minimal request shape (node:http IncomingMessage or express Request). */
export interface RequestLike {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Paths probes and scrapers reach by IP (Kubernetes, Prometheus): read-only, no Host rule. */
const PROBE_PATHS = ['/healthz', '/metrics'];
/** Headers a browser only sends cross-site after a CORS preflight (which this runtime never grants). */
export const REQUEST_HEADER = 'X-PS-Fabric-Request';
const NON_SIMPLE_HEADERS = [REQUEST_HEADER.toLowerCase(), 'node-red-api-version', 'authorization'];
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[?[0-9a-f:.]+\]?$/;
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

function header(req: RequestLike, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The access configuration from FABRIC_HOST, FABRIC_ALLOWED_HOSTS and FABRIC_PUBLIC_PATHS; throws on a bad value. */
export function accessConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AccessConfig {
  const hosts = new Set(['localhost', '127.0.0.1', '::1']);
  const own = (env.FABRIC_HOST ?? '127.0.0.1').trim().toLowerCase();
  if (!WILDCARD_HOSTS.has(own)) hosts.add(own.replace(/^\[|\]$/g, ''));
  for (const raw of (env.FABRIC_ALLOWED_HOSTS ?? '').split(',')) {
    const h = raw.trim().toLowerCase().replace(/^\[|\]$/g, '');
    if (!h) continue;
    if (!HOST_RE.test(h)) throw new Error(`FABRIC_ALLOWED_HOSTS: "${raw.trim()}" is not a host name or IP address (a comma-separated list without ports or wildcards, e.g. fabric.example.com,10.0.0.5)`);
    hosts.add(h);
  }
  const publicPaths = (env.FABRIC_PUBLIC_PATHS ?? '/api/').split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of publicPaths) {
    if (!p.startsWith('/') || p === '/' || !p.endsWith('/')) throw new Error(`FABRIC_PUBLIC_PATHS: "${p}" must be a path prefix like /api/ (starting and ending with "/", not "/" itself)`);
  }
  return { allowedHosts: [...hosts], publicPaths };
}

/** The host name of a Host header or origin authority, lower case, without port and brackets. */
export function hostName(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(v) ?? /^([^:]+)(?::\d+)?$/.exec(v);
  if (m) return m[1];
  return v.includes(':') && !v.includes('.') ? v : undefined; // bare IPv6 without brackets
}

export function hostAllowed(cfg: AccessConfig, hostHeader: string | undefined): boolean {
  const h = hostName(hostHeader);
  if (!h) return false;
  return cfg.allowedHosts.includes(h) || /^127(\.\d{1,3}){3}$/.test(h);
}

function pathOf(url: string | undefined): string {
  return String(url ?? '/').split('?')[0];
}

export function isPublicPath(cfg: AccessConfig, url: string | undefined): boolean {
  const p = pathOf(url);
  return cfg.publicPaths.some((prefix) => p.startsWith(prefix));
}

/** Why the URL path cannot be decoded (bad percent-encoding), or undefined. */
export function badEncoding(url: string | undefined): string | undefined {
  try {
    decodeURIComponent(pathOf(url));
    return undefined;
  } catch {
    return 'malformed percent-encoding in the URL path';
  }
}

/** True when `Origin` names another origin than the one the request was sent to (or the opaque origin "null"). */
function crossOrigin(req: RequestLike): boolean {
  const origin = header(req, 'origin');
  if (origin === undefined) return false;
  let authority: string;
  try {
    authority = new URL(origin).host.toLowerCase();
  } catch {
    return true; // "null" (sandboxed frames, file:) and garbage
  }
  return authority !== String(header(req, 'host') ?? '').trim().toLowerCase();
}

/** Why an HTTP request is refused before any route sees it, or undefined. */
export function checkRequest(cfg: AccessConfig, req: RequestLike): Refusal | undefined {
  const encoding = badEncoding(req.url);
  if (encoding) return { status: 400, error: encoding };
  const p = pathOf(req.url);
  if (PROBE_PATHS.includes(p) || isPublicPath(cfg, p)) return undefined;
  if (!hostAllowed(cfg, header(req, 'host'))) {
    return { status: 421, error: 'this runtime does not answer to that host name: add it to FABRIC_ALLOWED_HOSTS (docs/security.md)' };
  }
  if (crossOrigin(req)) return { status: 403, error: 'cross-origin requests to the editor, admin API and dashboard are refused' };
  const method = String(req.method ?? 'GET').toUpperCase();
  // socket.io's polling transport POSTs text/plain: it writes only to a session id that another site cannot read
  // (the handshake GET answers without CORS), and its own middleware checks origin and login
  if (STATE_CHANGING.has(method) && !/\/socket\.io\/$/.test(p)) {
    if (!NON_SIMPLE_HEADERS.some((h) => String(header(req, h) ?? '').trim() !== '')) {
      return { status: 403, error: `a state-changing admin request needs the header "${REQUEST_HEADER}: 1" (or Authorization / Node-RED-API-Version), so that no other web page can send it` };
    }
    const hasBody = Number(header(req, 'content-length') ?? 0) > 0 || header(req, 'transfer-encoding') !== undefined;
    if (p.startsWith('/ps-fabric/') && hasBody && !/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(String(header(req, 'content-type') ?? ''))) {
      return { status: 415, error: 'PS Fabric admin requests take JSON bodies (Content-Type: application/json)' };
    }
  }
  return undefined;
}

/**
 * Why a WebSocket upgrade is refused, or undefined. Browsers always send `Origin` on WebSockets: such upgrades
 * must come from this runtime's own pages under an allowed name. Without `Origin` (MQTT clients, not browsers)
 * only the MQTT endpoint is open to other names; its clients authenticate to the broker.
 */
export function checkUpgrade(cfg: AccessConfig, req: RequestLike, mqttPath = '/mqtt'): Refusal | undefined {
  const encoding = badEncoding(req.url);
  if (encoding) return { status: 400, error: encoding };
  const browser = header(req, 'origin') !== undefined;
  if (!browser && pathOf(req.url) === mqttPath) return undefined;
  if (!hostAllowed(cfg, header(req, 'host'))) return { status: 421, error: 'host name not allowed' };
  if (crossOrigin(req)) return { status: 403, error: 'cross-origin WebSocket refused' };
  return undefined;
}

// ------------------------------------------------------------------ permissions (Node-RED adminAuth semantics)

export type Permissions = string | string[];

/** Node-RED's rule: `*` everything, `read` every `*.read`, `write` every `*.write`, else exact. */
export function hasPermission(scope: Permissions | undefined, wanted: string): boolean {
  if (scope === undefined) return false;
  if (Array.isArray(scope)) return scope.some((s) => hasPermission(s, wanted));
  if (scope === '*' || scope === wanted) return true;
  if (scope === 'read' || scope === '*.read') return /^((.+)\.)?read$/.test(wanted);
  if (scope === 'write' || scope === '*.write') return /^((.+)\.)?write$/.test(wanted);
  return false;
}

/** Dashboard commands that change something (the exception console's actions): operators only. */
export const DASHBOARD_WRITE_COMMANDS: readonly string[] = Object.freeze(['replay', 'edit-replay', 'discard', 'bulk-replay', 'figures']);
/** Dashboard commands a viewer may send: they only choose what is shown. */
export const DASHBOARD_READ_COMMANDS: readonly string[] = Object.freeze(['refresh', 'filter', 'filter.region', 'filter.entity', 'exceptions.filter', 'detail', 'ownership']);

/**
 * The permission a message a dashboard client sends needs. A template widget chooses its topic in the browser, so
 * anything but the known read commands needs `ps-fabric.write`; widgets whose topic the flow sets (dropdowns,
 * buttons: `fromTemplate` false) need `ps-fabric.read`.
 */
export function dashboardPermissionFor(topic: unknown, fromTemplate: boolean): 'ps-fabric.read' | 'ps-fabric.write' {
  if (!fromTemplate) return 'ps-fabric.read';
  return typeof topic === 'string' && DASHBOARD_READ_COMMANDS.includes(topic) ? 'ps-fabric.read' : 'ps-fabric.write';
}

// ------------------------------------------------------------------ dashboard session cookie

export const SESSION_COOKIE = 'psf_dashboard';

export interface SessionUser {
  username: string;
  permissions: Permissions;
}

/** The session key, derived from the credential secret (so sessions survive a restart and die with a new secret). */
export function sessionKey(credentialSecret: string): Buffer {
  return crypto.createHmac('sha256', credentialSecret).update('ps-fabric dashboard session v1').digest();
}

export function signSession(user: SessionUser, expiresAt: number, key: Buffer): string {
  const body = Buffer.from(JSON.stringify({ u: user.username, p: user.permissions, e: expiresAt })).toString('base64url');
  const mac = crypto.createHmac('sha256', key).update(body).digest('base64url');
  return `${body}.${mac}`;
}

/** The user name a session token claims, unverified: to pick the key `verifySession` then checks it with. */
export function sessionUserName(token: string | undefined): string | undefined {
  if (!token || token.length > 4096 || token.indexOf('.') <= 0) return undefined;
  try {
    const v = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { u?: unknown };
    return typeof v.u === 'string' ? v.u : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The key of one user's sessions: bound to their current password hash, so changing a password (or removing the
 * user) ends their sessions at once.
 */
export function userSessionKey(key: Buffer, username: string, passwordHash: string): Buffer {
  return crypto.createHmac('sha256', key).update(`${username}\u0000${passwordHash}`).digest();
}

export function verifySession(token: string | undefined, key: Buffer, now = Date.now()): SessionUser | undefined {
  if (!token || token.length > 4096) return undefined;
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const body = token.slice(0, dot);
  const mac = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(crypto.createHmac('sha256', key).update(body).digest('base64url'));
  if (mac.length !== expected.length || !crypto.timingSafeEqual(mac, expected)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { u?: unknown; p?: unknown; e?: unknown };
    if (typeof v.u !== 'string' || typeof v.e !== 'number' || v.e <= now) return undefined;
    const p = v.p;
    if (typeof p !== 'string' && !(Array.isArray(p) && p.every((x) => typeof x === 'string'))) return undefined;
    return { username: v.u, permissions: p as Permissions };
  } catch {
    return undefined;
  }
}

/** A cookie's value from a Cookie header, or undefined. */
export function readCookie(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

// ------------------------------------------------------------------ audit of access decisions

export interface AccessAuditEntry {
  actor: string;
  action: string;
  details?: Record<string, string | number | boolean | null>;
}
export type AccessAudit = (entry: AccessAuditEntry) => void;

const AUDIT_KEY = Symbol.for('ps-fabric.access-audit');
const g = globalThis as unknown as Record<symbol, AccessAudit | undefined>;

/** Sets (or clears) where logins, refusals and dashboard commands are audited (the launcher: lib/audit). */
export function setAccessAudit(sink: AccessAudit | undefined): void {
  g[AUDIT_KEY] = sink;
}
export function auditAccess(entry: AccessAuditEntry): void {
  try {
    g[AUDIT_KEY]?.(entry);
  } catch {
    /* auditing never breaks a request */
  }
}
