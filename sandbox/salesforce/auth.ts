/**
 * The sandbox's OAuth 2.0 token endpoint (`POST /services/oauth2/token`), for the three flows PS Fabric
 * uses: client credentials, username-password and JWT bearer. Error bodies follow Salesforce's
 * `{ error, error_description }` shape with status 400 (401 for a bad client on client credentials).
 *
 * JWT bearer: when a public key is configured (option `jwtPublicKey` or env `SANDBOX_SF_JWT_PUBLIC_KEY`)
 * the assertion's RS256 signature is verified against it; without one the sandbox runs in "any
 * well-formed assertion" mode and checks only iss (a known client id), sub (a known user), aud (a login
 * URL) and exp (not past).
 */
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import { INTEGRATION_USER_ID, ORG_ID } from './seed';

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  /** The user the client-credentials flow runs as. */
  runAs: string;
}

export interface SandboxUser {
  username: string;
  password: string;
  userId: string;
}

export interface SalesforceAuthConfig {
  clients: SandboxClient[];
  users: SandboxUser[];
  jwtPublicKey?: string;
  tokenTtlMs: number;
}

export const DEFAULT_CLIENT_ID = 'psfabric-sandbox-client';
export const DEFAULT_CLIENT_SECRET = 'psfabric-sandbox-secret';
export const DEFAULT_USERNAME = 'integration@northwind-advisory.example';
export const DEFAULT_PASSWORD = 'sandbox-password';

export function defaultAuthConfig(env: NodeJS.ProcessEnv = process.env): SalesforceAuthConfig {
  const username = env.SANDBOX_SF_USERNAME || DEFAULT_USERNAME;
  return {
    clients: [{ clientId: env.SANDBOX_SF_CLIENT_ID || DEFAULT_CLIENT_ID, clientSecret: env.SANDBOX_SF_CLIENT_SECRET || DEFAULT_CLIENT_SECRET, runAs: username }],
    users: [{ username, password: env.SANDBOX_SF_PASSWORD || DEFAULT_PASSWORD, userId: INTEGRATION_USER_ID }],
    jwtPublicKey: env.SANDBOX_SF_JWT_PUBLIC_KEY || undefined,
    tokenTtlMs: Number(env.SANDBOX_SF_TOKEN_TTL_MS) || 2 * 60 * 60 * 1000,
  };
}

export interface IssuedToken {
  userId: string;
  username: string;
  clientId: string;
  issuedAt: number;
  expiresAt: number;
}

export type TokenOutcome =
  | { ok: true; status: 200; body: Record<string, string>; token: string; record: IssuedToken }
  | { ok: false; status: number; body: { error: string; error_description: string } };

const fail = (status: number, error: string, error_description: string): TokenOutcome => ({ ok: false, status, body: { error, error_description } });

const LOGIN_AUDIENCES = ['https://login.salesforce.com', 'https://test.salesforce.com'];

export function issueToken(cfg: SalesforceAuthConfig, params: URLSearchParams, basicAuth: string | undefined, loginBase: string, now = Date.now()): TokenOutcome {
  const grant = params.get('grant_type');
  let clientId = params.get('client_id') ?? undefined;
  let clientSecret = params.get('client_secret') ?? undefined;
  if (basicAuth) {
    const decoded = Buffer.from(basicAuth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      clientId = clientId ?? decodeURIComponent(decoded.slice(0, i));
      clientSecret = clientSecret ?? decodeURIComponent(decoded.slice(i + 1));
    }
  }
  const checkClient = (needSecret: boolean): SandboxClient | TokenOutcome => {
    const client = cfg.clients.find((c) => c.clientId === clientId);
    if (!client) return fail(400, 'invalid_client_id', 'client identifier invalid');
    if (needSecret && client.clientSecret !== clientSecret) return fail(400, 'invalid_client', 'invalid client credentials');
    return client;
  };
  let user: SandboxUser | undefined;
  let client: SandboxClient;
  switch (grant) {
    case 'password': {
      const c = checkClient(true);
      if ('ok' in c) return c;
      client = c;
      user = cfg.users.find((u) => u.username.toLowerCase() === (params.get('username') ?? '').toLowerCase());
      if (!user || user.password !== params.get('password')) return fail(400, 'invalid_grant', 'authentication failure');
      break;
    }
    case 'client_credentials': {
      const c = checkClient(true);
      if ('ok' in c) return c;
      client = c;
      user = cfg.users.find((u) => u.username === client.runAs);
      if (!user) return fail(400, 'invalid_grant', 'no client credentials user enabled');
      break;
    }
    case 'urn:ietf:params:oauth:grant-type:jwt-bearer': {
      const assertion = params.get('assertion') ?? '';
      const decoded = jwt.decode(assertion, { complete: true });
      if (!decoded || typeof decoded.payload !== 'object' || decoded.payload === null) return fail(400, 'invalid_grant', 'invalid assertion');
      if (cfg.jwtPublicKey) {
        try {
          jwt.verify(assertion, cfg.jwtPublicKey, { algorithms: ['RS256'], ignoreExpiration: true });
        } catch {
          return fail(400, 'invalid_grant', 'invalid assertion');
        }
      }
      const claims = decoded.payload as jwt.JwtPayload;
      clientId = claims.iss;
      const c = checkClient(false);
      if ('ok' in c) return c;
      client = c;
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      const allowed = [...LOGIN_AUDIENCES, loginBase.replace(/\/$/, '')];
      if (!audiences.some((a) => typeof a === 'string' && allowed.includes(a.replace(/\/$/, '')))) return fail(400, 'invalid_grant', 'audience is invalid');
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < now) return fail(400, 'invalid_grant', 'expired authorization code');
      user = cfg.users.find((u) => u.username.toLowerCase() === String(claims.sub ?? '').toLowerCase());
      if (!user) return fail(400, 'invalid_grant', "user hasn't approved this consumer");
      break;
    }
    default:
      return fail(400, 'unsupported_grant_type', 'grant type not supported');
  }
  const token = `${ORG_ID}!${crypto.randomBytes(24).toString('base64url')}`;
  const issuedAt = String(now);
  const idUrl = `${loginBase}/id/${ORG_ID}/${user.userId}`;
  const signature = crypto.createHmac('sha256', client.clientSecret).update(idUrl + issuedAt).digest('base64');
  return {
    ok: true,
    status: 200,
    token,
    record: { userId: user.userId, username: user.username, clientId: client.clientId, issuedAt: now, expiresAt: now + cfg.tokenTtlMs },
    body: { access_token: token, instance_url: loginBase, id: idUrl, token_type: 'Bearer', issued_at: issuedAt, signature, scope: 'api' },
  };
}
