/**
 * Node-RED `adminAuth` from the environment, and the refusal to expose an unauthenticated editor.
 *
 *   FABRIC_ADMIN_USER            admin user name (default `admin` when a hash is given)
 *   FABRIC_ADMIN_PASSWORD_HASH   bcrypt hash of the password ($2a$/$2b$/$2y$); generate with
 *                                `node -e "console.log(require('bcryptjs').hashSync(process.argv[1], 12))" 'your-password'`
 *   FABRIC_ADMIN_PERMISSIONS     `*` (default) or `read`
 *   FABRIC_ADMIN_SESSION_EXPIRY  seconds (default 28800 = 8 h)
 *   FABRIC_ADMIN_VIEWER_USER / FABRIC_ADMIN_VIEWER_PASSWORD_HASH  optional read-only operator (permissions `read`)
 *
 * The user gets the permissions given; `*` includes `ps-fabric.admin` (API keys, exceptions admin).
 */
export interface AdminAuth {
  type: 'credentials';
  sessionExpiryTime?: number;
  users: Array<{ username: string; password: string; permissions: string | string[] }>;
}

const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Builds `adminAuth` from env; undefined when no user is configured. Throws on a half or wrong configuration. */
export function adminAuthFromEnv(env: NodeJS.ProcessEnv = process.env): AdminAuth | undefined {
  const hash = env.FABRIC_ADMIN_PASSWORD_HASH?.trim();
  const user = env.FABRIC_ADMIN_USER?.trim();
  if (!hash) {
    if (user) throw new Error('FABRIC_ADMIN_USER is set but FABRIC_ADMIN_PASSWORD_HASH is not: set a bcrypt hash of the admin password (see docs/security.md)');
    return undefined;
  }
  if (!BCRYPT_RE.test(hash)) {
    throw new Error('FABRIC_ADMIN_PASSWORD_HASH is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters); it must never be the password itself (see docs/security.md)');
  }
  const username = user || 'admin';
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) throw new Error('FABRIC_ADMIN_USER must be 1-64 letters, digits and . _ @ -');
  const permRaw = (env.FABRIC_ADMIN_PERMISSIONS ?? '*').trim();
  const permissions = permRaw === '*' || permRaw === '' ? '*' : permRaw.split(/[\s,]+/).filter(Boolean);
  const expiry = Number(env.FABRIC_ADMIN_SESSION_EXPIRY ?? 28800);
  if (!Number.isInteger(expiry) || expiry < 60) throw new Error('FABRIC_ADMIN_SESSION_EXPIRY must be a whole number of seconds >= 60');
  const users: AdminAuth['users'] = [{ username, password: hash, permissions }];
  // an optional read-only operator (FABRIC_ADMIN_VIEWER_USER + FABRIC_ADMIN_VIEWER_PASSWORD_HASH): sees flows, changes nothing
  const viewerHash = env.FABRIC_ADMIN_VIEWER_PASSWORD_HASH?.trim();
  if (viewerHash) {
    if (!BCRYPT_RE.test(viewerHash)) throw new Error('FABRIC_ADMIN_VIEWER_PASSWORD_HASH is not a bcrypt hash (see docs/security.md)');
    const viewer = env.FABRIC_ADMIN_VIEWER_USER?.trim() || 'viewer';
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(viewer) || viewer === username) throw new Error('FABRIC_ADMIN_VIEWER_USER must be 1-64 letters, digits and . _ @ - and differ from FABRIC_ADMIN_USER');
    users.push({ username: viewer, password: viewerHash, permissions: 'read' });
  }
  return { type: 'credentials', sessionExpiryTime: expiry, users };
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Throws when the editor/admin API/dashboard (one server, one login) would listen on a non-loopback address (incl. 0.0.0.0, ::, unset host = all
 * interfaces) without adminAuth. Call before starting Node-RED.
 */
export function assertSafeExposure(host: string | undefined, adminAuth: unknown): void {
  if (isLoopback(host)) return;
  const a = adminAuth as Partial<AdminAuth> | undefined;
  const hasUsers = !!a && (typeof (a as { authenticate?: unknown }).authenticate === 'function' || (Array.isArray(a.users) && a.users.length > 0) || typeof a.users === 'function' || (a as { type?: string }).type === 'strategy');
  if (!hasUsers) {
    const where = host ? `address ${host}` : 'all network interfaces';
    throw new Error(
      `refusing to start: the Node-RED editor, admin API and dashboard would listen on ${where} without login. ` +
        'Set FABRIC_ADMIN_USER and FABRIC_ADMIN_PASSWORD_HASH (a bcrypt hash; see docs/security.md), or bind to 127.0.0.1.',
    );
  }
}
