/**
 * Builds the Node-RED settings object of PS Fabric from environment variables (docs/runtime.md lists them).
 * `settings.ts` (compiled to dist/settings.js) is `buildSettings(process.env)`, so the same settings serve
 * `npm start`, `node-red -s dist/settings.js` and the tests.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { DEFAULT_STORE_FILE } from '../lib/fabric/store-path';
import type { StoreOptions } from '../lib/store/registry';
import { adminAuthFromEnv, assertSafeExposure } from '../lib/governance/admin-auth';
import { httpAdminMiddleware, httpNodeMiddleware } from './http-hardening';
import { accessConfigFromEnv, sessionKey, type AccessConfig } from '../lib/governance/admin-access';
import { LoginThrottle } from '../lib/governance/login-throttle';
import { adminGuard, dashboardAccess, loginThrottle } from './admin-access';

export const PALETTE_CATEGORY = 'PS Fabric';

export interface FabricSettingsExtras {
  /** Absolute path of the SQLite store the runtime opens; nodes without a fabric-store config node use it. */
  storePath: string;
  /**
   * The runtime's store (scale-out: FABRIC_STORE_KIND=postgres + FABRIC_STORE_URL). Nodes that use "the runtime's
   * store" (fabric-mqtt-in without a store, a fabric-store node with an empty file) open this one.
   */
  store: StoreOptions;
  /** Identifies this runtime instance (FABRIC_INSTANCE_ID, default the host name): MQTT client ids, outbox and poller lease owners. */
  instanceId: string;
  /** Host names, public paths (FABRIC_ALLOWED_HOSTS, FABRIC_PUBLIC_PATHS): the launcher guards its server with them. */
  access: AccessConfig;
}

/** The runtime's store from FABRIC_STORE_KIND / FABRIC_STORE_URL / FABRIC_STORE_SCHEMA (docs/scale-out.md). */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv, storePath: string): StoreOptions {
  const kind = (env.FABRIC_STORE_KIND ?? 'sqlite').trim() || 'sqlite';
  if (kind === 'sqlite') return { kind: 'sqlite', path: storePath };
  if (kind !== 'postgres') throw new Error(`FABRIC_STORE_KIND must be "sqlite" or "postgres", got "${kind}"`);
  const url = env.FABRIC_STORE_URL?.trim();
  if (!url) throw new Error('FABRIC_STORE_KIND=postgres needs FABRIC_STORE_URL (postgres://user:password@host:5432/database)');
  const poolMax = env.FABRIC_STORE_POOL_MAX ? Number(env.FABRIC_STORE_POOL_MAX) : undefined;
  if (poolMax !== undefined && !(Number.isInteger(poolMax) && poolMax > 0)) throw new Error(`FABRIC_STORE_POOL_MAX must be a positive integer, got "${env.FABRIC_STORE_POOL_MAX}"`);
  return { kind: 'postgres', connectionString: url, schema: env.FABRIC_STORE_SCHEMA?.trim() || undefined, poolMax, applicationName: `ps-fabric` };
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number, got "${raw}"`);
  return n;
}

/** The credential secret from FABRIC_CREDENTIAL_SECRET, or one generated once and kept in the user dir. */
export function credentialSecret(userDir: string, env: NodeJS.ProcessEnv, log: (msg: string) => void = console.log): string {
  if (env.FABRIC_CREDENTIAL_SECRET) return env.FABRIC_CREDENTIAL_SECRET;
  const file = path.join(userDir, '.credential-secret');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    /* not there yet */
  }
  fs.mkdirSync(userDir, { recursive: true });
  const secret = crypto.randomBytes(32).toString('hex');
  fs.writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  log(`[ps-fabric] FABRIC_CREDENTIAL_SECRET is not set: generated a credential secret and stored it in ${file} (keep this file with the flows; set FABRIC_CREDENTIAL_SECRET in production)`);
  return secret;
}

export function buildSettings(env: NodeJS.ProcessEnv = process.env): Record<string, any> {
  const userDir = path.resolve(env.FABRIC_USER_DIR ?? './.fabric');
  const flowFile = env.FABRIC_FLOW_FILE ?? 'flows.json';
  const paletteInstall = env.FABRIC_PALETTE_INSTALL === 'true';
  const storePath = path.resolve(userDir, env.FABRIC_STORE_PATH ?? DEFAULT_STORE_FILE);
  const instanceId = (env.FABRIC_INSTANCE_ID ?? '').trim() || os.hostname();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(instanceId)) throw new Error(`FABRIC_INSTANCE_ID must be 1-64 characters of A-Z a-z 0-9 . _ -, got "${instanceId}"`);
  const access = accessConfigFromEnv(env);
  const fabric: FabricSettingsExtras = { storePath, store: storeOptionsFromEnv(env, storePath), instanceId, access };
  const uiHost = env.FABRIC_HOST ?? '127.0.0.1';
  const adminAuth = adminAuthFromEnv(env);
  // Refuses (throws) before anything listens when the editor would be reachable from the network without login.
  assertSafeExposure(uiHost, adminAuth);
  if (['0.0.0.0', '::', ''].includes((env.FABRIC_HOST ?? '127.0.0.1').trim()) && !(env.FABRIC_ALLOWED_HOSTS ?? '').trim()) {
    console.log('[ps-fabric] the editor, admin API and dashboard answer only to localhost names: set FABRIC_ALLOWED_HOSTS to the names people use to reach this runtime (see docs/security.md)');
  }
  if (!adminAuth) {
    console.log('[ps-fabric] the editor has no login (loopback only). To require one: FABRIC_ADMIN_PASSWORD_HASH=$(node -e "console.log(require(\'bcryptjs\').hashSync(process.argv[1], 12))" \'your-password\') (see docs/security.md)');
  }
  const secret = credentialSecret(userDir, env);
  // one throttle for the editor's token endpoint and the dashboard login: a user blocked on one is blocked on both
  const throttle = new LoginThrottle();
  const dashboard = dashboardAccess({ adminAuth, key: sessionKey(secret), access, throttle });
  return {
    uiHost,
    ...(adminAuth ? { adminAuth } : {}),
    apiMaxLength: env.FABRIC_API_MAX_LENGTH ?? '5mb',
    // security headers + http-in JSON body limit (413) and malformed-JSON answer (400): runtime/http-hardening.ts
    httpNodeMiddleware: httpNodeMiddleware(env.FABRIC_HTTP_MAX_LENGTH ?? '1mb'),
    // Host / Origin / non-simple-request rules first (runtime/admin-access.ts), then headers and body parsing, then
    // the login throttle and the dashboard's login routes (which need the parsed body)
    httpAdminMiddleware: [adminGuard(access), ...httpAdminMiddleware(env.FABRIC_API_MAX_LENGTH ?? '5mb'), loginThrottle(throttle), dashboard.routes],
    // Dashboard 2 reads `dashboard.middleware` (its pages, assets, _setup) and `dashboard.ioMiddleware` (socket.io)
    dashboard: { middleware: dashboard.httpMiddleware, ioMiddleware: dashboard.ioMiddleware },
    uiPort: intEnv(env, 'FABRIC_PORT', 1880),
    userDir,
    flowFile,
    flowFilePretty: true,
    credentialSecret: secret,
    httpAdminRoot: '/',
    httpNodeRoot: '/',
    functionExternalModules: false,
    functionTimeout: 0,
    externalModules: {
      autoInstall: false,
      palette: { allowInstall: paletteInstall, allowUpdate: paletteInstall, allowUpload: paletteInstall },
      modules: { allowInstall: false },
    },
    diagnostics: { enabled: true, ui: true },
    runtimeState: { enabled: false, ui: false },
    // enabled: false answers the consent question, so no prompt and no update notification
    telemetry: { enabled: false, updateNotification: false },
    logging: {
      console: { level: env.FABRIC_LOG_LEVEL ?? 'info', metrics: false, audit: false },
    },
    exportGlobalContextKeys: false,
    editorTheme: {
      page: { title: 'PS Fabric' },
      header: { title: 'PS Fabric' },
      tours: false,
      palette: {
        // no catalogue fetch (and no palette manager) unless palette install is enabled
        ...(paletteInstall ? {} : { catalogues: [] }),
        categories: { order: [PALETTE_CATEGORY, 'subflows', 'common', 'function', 'network', 'sequence', 'parser', 'storage'] },
      },
      projects: { enabled: false },
      codeEditor: { lib: 'monaco' },
    },
    /** PS Fabric's own settings, visible to nodes as RED.settings.fabric. */
    fabric,
  };
}
