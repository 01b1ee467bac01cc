/**
 * Applies lib/governance/admin-access.ts to the runtime's HTTP server, Node-RED's admin app and the dashboard
 * (docs/security.md, "Browsers, the editor and the dashboard"):
 *
 *  - guardHttpServer: every request and WebSocket upgrade of the launcher's server, before any listener (Node-RED,
 *    socket.io, the MQTT WebSocket) sees it; CORS headers are dropped from non-public answers (Node-RED's admin app
 *    adds `Access-Control-Allow-Origin: *` to everything by itself).
 *  - adminGuard: the same checks as httpAdminMiddleware, for `node-red -s dist/settings.js` where the launcher's
 *    server is not used.
 *  - loginThrottle: backoff on `POST /auth/token` (the editor's and the admin API's token endpoint) and the
 *    dashboard login.
 *  - dashboardAccess: the dashboard behind the editor's users: a login page, a signed session cookie, the
 *    dashboard's HTTP middleware and its socket.io middleware (anonymous sockets are refused before they get a byte).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import {
  auditAccess,
  checkRequest,
  checkUpgrade,
  hasPermission,
  hostAllowed,
  isPublicPath,
  readCookie,
  REQUEST_HEADER,
  SESSION_COOKIE,
  sessionUserName,
  signSession,
  userSessionKey,
  verifySession,
  type AccessConfig,
  type Refusal,
  type SessionUser,
} from '../lib/governance/admin-access';
import { LoginThrottle } from '../lib/governance/login-throttle';
import type { AdminAuth } from '../lib/governance/admin-auth';

type Req = express.Request;
type Res = express.Response;
type Next = express.NextFunction;

function refuse(res: http.ServerResponse, r: Refusal): void {
  if (res.headersSent) return;
  res.statusCode = r.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(JSON.stringify({ error: r.error }));
}

/** Makes `res` drop every Access-Control-* header set later (no CORS on admin routes). */
function withoutCors(res: http.ServerResponse): void {
  for (const name of res.getHeaderNames()) if (name.startsWith('access-control-')) res.removeHeader(name);
  const set = res.setHeader.bind(res);
  res.setHeader = ((name: string, value: number | string | readonly string[]) => (String(name).toLowerCase().startsWith('access-control-') ? res : set(name, value))) as typeof res.setHeader;
}

/** Guards every request and upgrade of `server` (call before anything listens on it). */
export function guardHttpServer(server: http.Server, cfg: AccessConfig, mqttPath = '/mqtt'): void {
  const emit = server.emit.bind(server) as (event: string, ...args: unknown[]) => boolean;
  server.emit = ((event: string, ...args: unknown[]): boolean => {
    if (event === 'request') {
      const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
      const refusal = checkRequest(cfg, req);
      if (refusal) {
        refuse(res, refusal);
        return true;
      }
      if (!isPublicPath(cfg, req.url)) withoutCors(res);
    } else if (event === 'upgrade') {
      const [req, socket] = args as [http.IncomingMessage, Duplex];
      const refusal = checkUpgrade(cfg, req, mqttPath);
      if (refusal) {
        socket.end(`HTTP/1.1 ${refusal.status} Refused\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ error: refusal.error })}`);
        return true;
      }
    }
    return emit(event, ...args);
  }) as typeof server.emit;
}

/** httpAdminMiddleware part: the request rules, and Node-RED's wildcard CORS headers removed. */
export function adminGuard(cfg: AccessConfig): (req: Req, res: Res, next: Next) => void {
  return (req, res, next) => {
    const refusal = checkRequest(cfg, { method: req.method, url: req.originalUrl ?? req.url, headers: req.headers });
    if (refusal) return refuse(res, refusal);
    if (!isPublicPath(cfg, req.originalUrl ?? req.url)) withoutCors(res);
    next();
  };
}

function clientAddress(req: http.IncomingMessage): string {
  return req.socket?.remoteAddress ?? 'unknown';
}

/**
 * Throttles `POST /auth/token` per user and address: 429 with Retry-After while blocked; the outcome of each try
 * (Node-RED answers 200 or 401/403) feeds the throttle. Needs the body parsed (JSON or form) before it.
 */
export function loginThrottle(throttle: LoginThrottle): (req: Req, res: Res, next: Next) => void {
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/auth/token') return next();
    form(req, res, (err?: unknown) => {
      if (err) return refuse(res, { status: 400, error: 'malformed login body' });
      const body = (req.body ?? {}) as Record<string, unknown>;
      const user = typeof body.username === 'string' ? body.username.slice(0, 128) : undefined;
      const address = clientAddress(req);
      const decision = throttle.check(user, address);
      if (!decision.ok) {
        res.setHeader('Retry-After', String(Math.ceil(decision.retryAfterMs / 1000)));
        auditAccess({ actor: user ? `user:${user}` : 'anonymous', action: 'admin.login.throttled', details: { ip: address } });
        return refuse(res, { status: 429, error: 'too many failed logins: wait before trying again' });
      }
      res.on('finish', () => {
        if (res.statusCode === 200) throttle.succeeded(user);
        else if (res.statusCode >= 400 && res.statusCode < 500) {
          throttle.failed(user, address);
          auditAccess({ actor: user ? `user:${user}` : 'anonymous', action: 'admin.login.refused', details: { ip: address, status: res.statusCode } });
        }
      });
      next();
    });
  };
}

// ------------------------------------------------------------------ dashboard

export interface DashboardAccessOptions {
  adminAuth?: AdminAuth;
  key: Buffer;
  access: AccessConfig;
  throttle: LoginThrottle;
  /** Mount point of the dashboard (Dashboard 2's ui-base path). */
  dashboardPath?: string;
}

/** The user a socket.io connection authenticated as (set by the socket middleware; read by the dashboard plugin). */
export interface DashboardSocketUser {
  username?: string;
  permissions: SessionUser['permissions'];
}

const LOGIN_PATH = '/ps-fabric/login';
const SESSION_PATH = '/ps-fabric/session';

function loginPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>PS Fabric - sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;background:#f4f6f9;display:flex;justify-content:center;padding-top:12vh}
form{background:#fff;padding:24px 28px;border-radius:8px;box-shadow:0 2px 8px #0002;min-width:280px}
h1{font-size:18px;margin:0 0 16px;color:#1a2b4a}label{display:block;font-size:13px;margin:10px 0 4px}
input{width:100%;box-sizing:border-box;padding:6px 8px;border:1px solid #c8ccd4;border-radius:4px}
button{margin-top:16px;width:100%;padding:8px;background:#0d74ce;color:#fff;border:0;border-radius:4px;cursor:pointer}
#psf-error{color:#c62828;font-size:13px;margin-top:10px;min-height:1em}</style></head>
<body><form id="psf-login"><h1>PS Fabric dashboard</h1>
<label for="psf-user">User</label><input id="psf-user" name="username" autocomplete="username" required>
<label for="psf-password">Password</label><input id="psf-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="psf-submit">Sign in</button><div id="psf-error" role="alert"></div></form>
<script>
document.getElementById('psf-login').addEventListener('submit', function (e) {
  e.preventDefault();
  var next = new URLSearchParams(location.search).get('next') || '/dashboard';
  if (!/^\\/dashboard(\\/[A-Za-z0-9._~\\/-]*)?$/.test(next)) next = '/dashboard';
  fetch('${SESSION_PATH}', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', '${REQUEST_HEADER}': '1' },
    body: JSON.stringify({ username: document.getElementById('psf-user').value, password: document.getElementById('psf-password').value }) })
    .then(function (r) { return r.json().then(function (b) { if (r.ok) location.assign(next); else document.getElementById('psf-error').textContent = b.error || ('sign-in failed (' + r.status + ')'); }); })
    .catch(function () { document.getElementById('psf-error').textContent = 'sign-in failed'; });
});
</script></body></html>`;
}

let dummyHash: string | undefined;

async function checkCredentials(adminAuth: AdminAuth, username: string, password: string): Promise<SessionUser | undefined> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bcrypt = require('bcryptjs') as { compare(p: string, h: string): Promise<boolean> };
  const user = adminAuth.users.find((u) => u.username === username);
  // unknown users are compared with a throw-away hash so the answer time does not tell which users exist
  dummyHash ??= (bcrypt as unknown as { hashSync(p: string, r: number): string }).hashSync('unknown user', 10);
  const hash = user?.password ?? dummyHash;
  const ok = await bcrypt.compare(password, hash);
  return ok && user ? { username: user.username, permissions: user.permissions } : undefined;
}

export function dashboardAccess(opts: DashboardAccessOptions) {
  const loginRequired = !!opts.adminAuth && opts.adminAuth.users.length > 0;
  const dashboardPath = opts.dashboardPath ?? '/dashboard';
  const expirySeconds = opts.adminAuth?.sessionExpiryTime ?? 28800;

  const keyFor = (username: string): Buffer | undefined => {
    const user = opts.adminAuth?.users.find((u) => u.username === username);
    return user ? userSessionKey(opts.key, user.username, user.password) : undefined;
  };
  /** The session's user with their current permissions (a permission change applies at once), or undefined. */
  const sessionOf = (cookieHeader: string | undefined): SessionUser | undefined => {
    const token = readCookie(cookieHeader, SESSION_COOKIE);
    const name = sessionUserName(token);
    const key = name === undefined ? undefined : keyFor(name);
    const claimed = key ? verifySession(token, key) : undefined;
    const current = claimed ? opts.adminAuth?.users.find((u) => u.username === claimed.username) : undefined;
    return current && hasPermission(current.permissions, 'ps-fabric.read') ? { username: current.username, permissions: current.permissions } : undefined;
  };

  /** Login page and session endpoints, part of httpAdminMiddleware (JSON bodies are parsed before it). */
  const routes = express.Router();
  routes.get(LOGIN_PATH, (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(loginPage());
  });
  routes.post(SESSION_PATH, (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.slice(0, 128) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const address = clientAddress(req);
    if (!loginRequired || !opts.adminAuth) return refuse(res, { status: 404, error: 'no login is configured (FABRIC_ADMIN_PASSWORD_HASH): the dashboard is open on loopback' });
    const decision = opts.throttle.check(username, address);
    if (!decision.ok) {
      res.setHeader('Retry-After', String(Math.ceil(decision.retryAfterMs / 1000)));
      auditAccess({ actor: username ? `user:${username}` : 'anonymous', action: 'dashboard.login.throttled', details: { ip: address } });
      return refuse(res, { status: 429, error: 'too many failed logins: wait before trying again' });
    }
    checkCredentials(opts.adminAuth, username, password).then(
      (user) => {
        if (!user || !hasPermission(user.permissions, 'ps-fabric.read')) {
          opts.throttle.failed(username, address);
          auditAccess({ actor: username ? `user:${username}` : 'anonymous', action: 'dashboard.login.refused', details: { ip: address } });
          return refuse(res, { status: 401, error: 'wrong user name or password' });
        }
        opts.throttle.succeeded(username);
        const token = signSession(user, Date.now() + expirySeconds * 1000, keyFor(user.username) as Buffer);
        res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${expirySeconds}${req.secure ? '; Secure' : ''}`);
        auditAccess({ actor: `user:${user.username}`, action: 'dashboard.login', details: { ip: address } });
        res.setHeader('Cache-Control', 'no-store');
        res.json({ username: user.username, operator: hasPermission(user.permissions, 'ps-fabric.write') });
      },
      () => refuse(res, { status: 500, error: 'login failed' }),
    );
  });
  routes.post(`${SESSION_PATH}/logout`, (_req, res) => {
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    res.json({ ok: true });
  });

  /** Dashboard 2 `middleware` setting: every dashboard page, asset and `_setup` call. */
  const httpMiddleware = (req: Req, res: Res, next: Next): void => {
    if (!loginRequired || sessionOf(req.headers.cookie)) return next();
    const wantsPage = req.method === 'GET' && /text\/html/.test(String(req.headers.accept ?? ''));
    if (wantsPage) {
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(302, `${LOGIN_PATH}?next=${encodeURIComponent(dashboardPath + (req.path === '/' ? '' : req.path))}`);
      return;
    }
    refuse(res, { status: 401, error: `sign in first: ${LOGIN_PATH}` });
  };

  /** Dashboard 2 `ioMiddleware` setting (replaces its default, whose checks are kept: no direct WebSocket, same origin). */
  const ioMiddleware = (socket: any, next: (err?: Error) => void): void => {
    const req = socket.request as http.IncomingMessage;
    if (String(socket.client?.conn?.request?.url ?? req.url ?? '').includes('transport=websocket')) {
      socket.client?.conn?.close?.();
      return;
    }
    if (socket.handshake?.xdomain !== false || !hostAllowed(opts.access, req.headers.host)) return next(new Error('cross-origin or unknown host'));
    if (!loginRequired) {
      socket.data.psfUser = { permissions: '*' } satisfies DashboardSocketUser;
      return next();
    }
    const user = sessionOf(req.headers.cookie);
    if (!user) {
      auditAccess({ actor: 'anonymous', action: 'dashboard.connect.refused', details: { ip: clientAddress(req) } });
      return next(new Error('sign in first'));
    }
    socket.data.psfUser = { username: user.username, permissions: user.permissions } satisfies DashboardSocketUser;
    next();
  };

  return { loginRequired, routes, httpMiddleware, ioMiddleware };
}

/** The launcher's last handler: errors answered as JSON without a stack, the stack logged once. */
export function jsonErrorHandler(log: (line: string) => void) {
  return (err: unknown, req: Req, res: Res, next: Next): void => {
    const e = err as { status?: number; statusCode?: number; message?: string; stack?: string; expose?: boolean };
    const status = Number(e?.status ?? e?.statusCode ?? 500);
    const code = status >= 400 && status < 600 ? status : 500;
    if (code >= 500) log(`${req.method} ${String(req.originalUrl ?? req.url).split('?')[0].slice(0, 200)} failed: ${e?.stack ?? String(err)}`);
    if (res.headersSent) return next(err);
    res.status(code).json({ error: code >= 500 ? 'internal error' : e?.expose !== false && e?.message ? String(e.message).slice(0, 200) : 'bad request' });
  };
}
