/**
 * Username/password authentication and per-user topic authorisation for the embedded broker.
 *
 * Configuration (JSON, from FABRIC_MQTT_USERS_FILE or FABRIC_MQTT_USERS, see docs/runtime.md):
 * {
 *   "users": [
 *     { "username": "legacy-erp", "passwordHash": "$2b$10$...",          // bcrypt, or "password": "plain"
 *       "publish": ["fabric/v1/timeentry/+"], "subscribe": ["fabric/v1/invoice/#", "legacy/%u/#"] }
 *   ],
 *   "anonymous": { "publish": ["#"], "subscribe": ["#"] }                 // loopback clients without credentials
 * }
 * Patterns are MQTT topic filters; `%u` is replaced by the username and `%c` by the client id.
 * A publish is allowed when its topic matches a publish pattern; a subscription is allowed when every
 * topic its filter can match is matched by a subscribe pattern (`$share/<group>/` is stripped first).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface BrokerUser {
  username: string;
  /** Plain password (compared in constant time). Prefer `passwordHash`. */
  password?: string;
  /** bcrypt hash (`$2a$`/`$2b$`/`$2y$`), checked with bcryptjs. */
  passwordHash?: string;
  publish?: string[];
  subscribe?: string[];
  /**
   * The runtime's own connections (runtime/launcher.ts): a socket of theirs that does not drain is waited for, never
   * disconnected as a dead client (broker.ts, "Slow internal clients"); their sessions feed the inbox, so what the
   * broker holds for them is what retention asks about (redelivery.ts).
   */
  internal?: boolean;
}

export interface TopicRights {
  publish: string[];
  subscribe: string[];
}

export interface BrokerAuthConfig {
  users: BrokerUser[];
  /** Rights of clients that connect without credentials (only allowed where `mode` permits). */
  anonymous?: Partial<TopicRights>;
}

/**
 * `loopback` (default): credentials required from non-loopback addresses, optional from loopback;
 * `required`: credentials required from everyone; `off`: anonymous from everywhere (lab use only).
 */
export type AuthMode = 'loopback' | 'required' | 'off';

export function parseAuthConfig(text: string, origin: string): BrokerAuthConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${origin}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${origin}: expected an object with a "users" array`);
  const obj = raw as Record<string, unknown>;
  const users = obj.users ?? [];
  if (!Array.isArray(users)) throw new Error(`${origin}: "users" must be an array`);
  const seen = new Set<string>();
  const out: BrokerUser[] = users.map((u, i) => {
    if (!u || typeof u !== 'object') throw new Error(`${origin}: users[${i}] must be an object`);
    const user = u as Record<string, unknown>;
    if (typeof user.username !== 'string' || !user.username) throw new Error(`${origin}: users[${i}].username must be a non-empty string`);
    if (seen.has(user.username)) throw new Error(`${origin}: users[${i}].username "${user.username}" is listed twice`);
    seen.add(user.username);
    if (typeof user.password !== 'string' && typeof user.passwordHash !== 'string') {
      throw new Error(`${origin}: users[${i}] ("${user.username}") needs "password" or "passwordHash"`);
    }
    for (const key of ['publish', 'subscribe'] as const) {
      const list = user[key];
      if (list !== undefined && (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || !validFilter(p)))) {
        throw new Error(`${origin}: users[${i}].${key} must be an array of MQTT topic filters`);
      }
    }
    return {
      username: user.username,
      password: typeof user.password === 'string' ? user.password : undefined,
      passwordHash: typeof user.passwordHash === 'string' ? user.passwordHash : undefined,
      publish: (user.publish as string[] | undefined) ?? [],
      subscribe: (user.subscribe as string[] | undefined) ?? [],
    };
  });
  const anon = obj.anonymous as Partial<TopicRights> | undefined;
  return { users: out, anonymous: anon };
}

export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): BrokerAuthConfig {
  if (env.FABRIC_MQTT_USERS_FILE) {
    return parseAuthConfig(fs.readFileSync(env.FABRIC_MQTT_USERS_FILE, 'utf8'), env.FABRIC_MQTT_USERS_FILE);
  }
  if (env.FABRIC_MQTT_USERS) return parseAuthConfig(env.FABRIC_MQTT_USERS, 'FABRIC_MQTT_USERS');
  return { users: [] };
}

export function validFilter(filter: string): boolean {
  if (!filter || filter.length > 65535) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+'));
}

/** Does a concrete topic match an MQTT filter? (`$`-topics are not matched by a leading wildcard.) */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Is every topic that `filter` can match also matched by `pattern`? */
export function filterCovered(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  if (filter.startsWith('$') && (p[0] === '+' || p[0] === '#')) return false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= f.length) return false;
    if (f[i] === '#') return false;
    if (p[i] === '+') continue;
    if (f[i] === '+' || p[i] !== f[i]) return false;
  }
  return p.length === f.length;
}

export function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(slash + 1);
}

function expand(pattern: string, username: string, clientId: string): string {
  return pattern.replace(/%u/g, username).replace(/%c/g, clientId);
}

export function mayPublish(rights: TopicRights, topic: string, username: string, clientId: string): boolean {
  return rights.publish.some((p) => topicMatches(expand(p, username, clientId), topic));
}

export function maySubscribe(rights: TopicRights, filter: string, username: string, clientId: string): boolean {
  const f = stripShare(filter);
  return rights.subscribe.some((p) => filterCovered(expand(p, username, clientId), f));
}

function constantTimeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export async function checkPassword(user: BrokerUser, password: string): Promise<boolean> {
  if (user.passwordHash) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bcrypt = require('bcryptjs') as { compare(p: string, h: string): Promise<boolean> };
    return bcrypt.compare(password, user.passwordHash);
  }
  return constantTimeEqual(password, user.password ?? '');
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.') || address === 'in-process';
}

// ------------------------------------------------------------------ the governed bus (docs/security.md, "The bus")

/**
 * Topics that carry requests and status, and every topic a template acts on (flows/*.json fabric-mqtt-in): only the
 * runtime's own connections and named clients (FABRIC_MQTT_USERS) may publish them. A forged message here would
 * create records in the vendors' systems or change what a consumer's request status says.
 */
export const GOVERNED_TOPICS: readonly string[] = Object.freeze([
  'fabric/v1/+/requested', // experience-API writes handed to the processes
  'fabric/v1/request/#', // request status
  'fabric/v1/opportunity/closed-won', // quote-to-project
  'fabric/v1/contract/amendment-approved', // change-order-to-billing
  'fabric/v1/kpi/reconcile-request', // performance-to-reporting
  'legacy/#', // the legacy ERP's time entries and invoice acknowledgements (time-to-cash)
]);

/** What the docs call public: business events a local script or dashboard may watch without credentials. */
export const PUBLIC_EVENT_TOPICS: readonly string[] = Object.freeze([
  'fabric/v1/project/created',
  'fabric/v1/contract/amended',
  'fabric/v1/invoice/posted',
  'fabric/v1/kpi/rollup',
  'fabric/v1/kpi/snapshot',
  'fabric/v1/kpi/reconciliation',
]);

/** Rights of clients without credentials on the runtime's broker unless FABRIC_MQTT_USERS sets `anonymous`: read the public events, nothing else. */
export function governedAnonymousRights(): TopicRights {
  return { publish: [], subscribe: [...PUBLIC_EVENT_TOPICS] };
}

/** The legacy ERP (NWA-FR) as a named client: its own topics only. */
export function legacyErpRights(company = 'fr01'): TopicRights {
  return { publish: [`legacy/${company}/time/out`, `legacy/${company}/invoice/ack`], subscribe: [`legacy/${company}/invoice/in`] };
}

/** Is `topic` one only allowed principals may publish? */
export function isGovernedTopic(topic: string): boolean {
  return GOVERNED_TOPICS.some((p) => topicMatches(p, topic));
}
