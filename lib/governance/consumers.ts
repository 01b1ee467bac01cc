/**
 * API consumers and their keys, kept in the Store (table `api_consumers`), so every runtime instance on one store
 * (docs/scale-out.md) knows every key: one issued or revoked on one instance holds on all of them.
 *
 * A key looks like `psf_<keyId>_<secret>`: the key id (12 hex characters) is not secret and is how a key
 * is found; the whole key is stored only as a bcrypt hash. The key is returned once, when it is issued.
 * Verified keys are remembered in memory as a SHA-256 digest so that bcrypt (tens of ms by design) runs
 * once per key and process, not once per request; the digest never leaves the process.
 *
 * A consumer row read from the store is trusted for `cacheTtlMs` (default 2 s) so that a request costs no store
 * round trip (a PostgreSQL query per request would); a revoke on another instance therefore takes effect here
 * within that time, a revoke on this instance at once. One registry per store per process (`consumerRegistry`).
 *
 * Before the store held them, keys lived in `<userDir>/ps-fabric/api-consumers.json`; `importLegacyFile` carries
 * such a file over once, into a store that has no consumers yet (docs/security.md, "Where keys live").
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { ApiConsumerRecord, Store } from '../store/store';

/** `<resource>:<read|write>`; `*` stands for every resource, e.g. `*:read`. */
export const SCOPE_RE = /^(\*|[a-z][a-z0-9-]{0,63}):(read|write)$/;

export interface ConsumerRateLimit {
  perSecond: number;
  burst: number;
}

/** A key as the admin API and the pre-store consumer file show it (times as ISO 8601 text). */
export interface ApiKeyRecord {
  /** Non-secret key id, the lookup prefix (`psf_<id>_...`). */
  id: string;
  /** Who the key belongs to, e.g. `customer-portal`. */
  name: string;
  scopes: string[];
  /** bcrypt hash of the whole key. */
  hash: string;
  createdAt: string;
  createdBy?: string;
  revokedAt?: string;
  revokedBy?: string;
  rateLimit?: ConsumerRateLimit;
}

/** What the admin API and the gate show of a key: everything but the hash. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>;

/** The authenticated caller, as the gate hands it on in `msg.consumer`. */
export interface Consumer {
  /** `api-key:<id>` or `jwt:<sub>`. */
  id: string;
  kind: 'api-key' | 'jwt' | 'anonymous';
  name: string;
  scopes: string[];
  rateLimit?: ConsumerRateLimit;
}

/** The shape of the pre-store consumer file (`api-consumers.json`). */
interface FileShape {
  version: 1;
  keys: ApiKeyRecord[];
}

const KEY_RE = /^psf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const KEY_ID_RE = /^[0-9a-f]{12}$/;
/** Beyond this many cached rows the cache starts over: random key ids must not grow it without bound. */
const MAX_CACHED_ROWS = 10_000;

/** The part of the Store the registry needs. */
export type ConsumerStore = Pick<Store, 'consumerAdd' | 'consumerGet' | 'consumerList' | 'consumerRevoke'>;

export interface ConsumerRegistryOptions {
  /** bcrypt cost of new keys (default 10; tests use 4). */
  bcryptRounds?: number;
  /** How long a consumer row read from the store is used before it is read again (default 2000 ms). */
  cacheTtlMs?: number;
  now?: () => number;
}

export interface LegacyImport {
  file: string;
  /** Keys copied into the store. */
  imported: number;
  /** Keys of the file left out because the store already had consumers (and not these ids). */
  skipped: number;
}

export class ConsumerRegistry {
  private readonly bcryptRounds: number;
  private readonly cacheTtlMs: number;
  private readonly now: () => number;
  /** Rows (or their absence) as last read from the store, and when. */
  private readonly rows = new Map<string, { record: ApiConsumerRecord | undefined; readAt: number }>();
  /** key id -> SHA-256 of the key that passed bcrypt. */
  private readonly verified = new Map<string, string>();
  /** Legacy imports in progress or done: every operation waits for them, so an imported key works from the start. */
  private pending: Promise<unknown> = Promise.resolve();
  private readonly imports = new Map<string, Promise<LegacyImport>>();

  constructor(readonly store: ConsumerStore, options: ConsumerRegistryOptions = {}) {
    this.bcryptRounds = options.bcryptRounds ?? 10;
    this.cacheTtlMs = options.cacheTtlMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Copies the keys of a pre-store consumer file into the store, once per file and registry, when the store has
   * no consumers yet (hashes only, revocations kept). The file itself is left in place (a downgrade still finds it).
   * Rows are added insert-if-absent, so two instances importing the same file at once add each key once.
   */
  importLegacyFile(file: string): Promise<LegacyImport> {
    const abs = path.resolve(file);
    let done = this.imports.get(abs);
    if (!done) {
      done = this.pending.then(() => this.importNow(abs));
      this.imports.set(abs, done);
      // later operations wait for the import but not for its failure (the caller of importLegacyFile sees that)
      this.pending = done.catch(() => undefined);
    }
    return done;
  }

  private async importNow(file: string): Promise<LegacyImport> {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, imported: 0, skipped: 0 };
      throw err;
    }
    let parsed: FileShape;
    try {
      parsed = JSON.parse(text) as FileShape;
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${(err as Error).message}); its API keys were not imported into the store`, { cause: err });
    }
    if (!parsed || parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error(`${file}: not a PS Fabric consumer file (expected {"version":1,"keys":[...]}); its API keys were not imported into the store`);
    const records = parsed.keys.map((k, i) => fromFileRecord(k, `${file}: keys[${i}]`));
    const existing = await this.store.consumerList();
    if (existing.length) {
      const known = new Set(existing.map((c) => c.id));
      return { file, imported: 0, skipped: records.filter((r) => !known.has(r.id)).length };
    }
    let imported = 0;
    for (const record of records) if (await this.store.consumerAdd(record)) imported++;
    return { file, imported, skipped: 0 };
  }

  /** Issues a key. The returned `key` is the only time the secret exists outside the caller's hands. */
  async issue(input: { name: string; scopes: string[]; rateLimit?: ConsumerRateLimit; createdBy?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    const name = String(input.name ?? '').trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/.test(name)) throw new RangeError('name must be 1-100 letters, digits, spaces and . _ -');
    const scopes = [...new Set(input.scopes ?? [])];
    if (!scopes.length) throw new RangeError('at least one scope is required, e.g. "projects:read"');
    const bad = scopes.filter((s) => typeof s !== 'string' || !SCOPE_RE.test(s));
    if (bad.length) throw new RangeError(`invalid scope(s): ${bad.map((s) => JSON.stringify(s)).join(', ')}; expected <resource>:<read|write>`);
    if (input.rateLimit && !(input.rateLimit.perSecond > 0 && input.rateLimit.burst >= 1)) throw new RangeError('rateLimit needs perSecond > 0 and burst >= 1');
    await this.pending;
    for (;;) {
      const id = crypto.randomBytes(6).toString('hex');
      const key = `psf_${id}_${crypto.randomBytes(32).toString('base64url')}`;
      const record: ApiConsumerRecord = {
        id,
        name,
        scopes,
        hash: await bcrypt.hash(key, this.bcryptRounds),
        createdAt: this.now(),
        ...(input.createdBy ? { createdBy: input.createdBy } : {}),
        ...(input.rateLimit ? { rateLimit: { perSecond: input.rateLimit.perSecond, burst: input.rateLimit.burst } } : {}),
      };
      // insert-if-absent: an id another instance took meanwhile is simply drawn again
      if (!(await this.store.consumerAdd(record))) continue;
      this.rows.set(id, { record, readAt: this.now() });
      return { key, info: info(record) };
    }
  }

  /** Revokes a key (kept in the store, marked revoked, for the audit). False when unknown or already revoked. */
  async revoke(id: string, by?: string): Promise<boolean> {
    if (!KEY_ID_RE.test(id)) return false;
    await this.pending;
    const done = await this.store.consumerRevoke(id, this.now(), by);
    this.verified.delete(id);
    this.rows.delete(id);
    return done;
  }

  async list(): Promise<ApiKeyInfo[]> {
    await this.pending;
    return (await this.store.consumerList()).map(info);
  }

  async get(id: string): Promise<ApiKeyInfo | undefined> {
    if (!KEY_ID_RE.test(id)) return undefined;
    await this.pending;
    const rec = await this.store.consumerGet(id);
    return rec ? info(rec) : undefined;
  }

  /** The consumer a presented key belongs to, or undefined (unknown, malformed, revoked, wrong secret). */
  async verify(presented: string): Promise<Consumer | undefined> {
    const m = KEY_RE.exec(typeof presented === 'string' ? presented.trim() : '');
    if (!m) return undefined;
    const rec = await this.row(m[1]);
    if (!rec || rec.revokedAt !== undefined) {
      this.verified.delete(m[1]);
      return undefined;
    }
    const digest = crypto.createHash('sha256').update(presented.trim()).digest('hex');
    const known = this.verified.get(rec.id);
    let ok = known !== undefined && crypto.timingSafeEqual(Buffer.from(known, 'hex'), Buffer.from(digest, 'hex'));
    if (!ok) {
      ok = await bcrypt.compare(presented.trim(), rec.hash);
      if (ok) this.verified.set(rec.id, digest);
    }
    if (!ok) return undefined;
    return { id: `api-key:${rec.id}`, kind: 'api-key', name: rec.name, scopes: [...rec.scopes], ...(rec.rateLimit ? { rateLimit: { ...rec.rateLimit } } : {}) };
  }

  /** The consumer row, from the cache while it is younger than cacheTtlMs, else from the store. */
  private async row(id: string): Promise<ApiConsumerRecord | undefined> {
    const cached = this.rows.get(id);
    if (cached && this.now() - cached.readAt < this.cacheTtlMs) return cached.record;
    await this.pending;
    const record = await this.store.consumerGet(id);
    if (this.rows.size >= MAX_CACHED_ROWS) this.rows.clear();
    this.rows.set(id, { record, readAt: this.now() });
    return record;
  }
}

function info(rec: ApiConsumerRecord): ApiKeyInfo {
  return {
    id: rec.id,
    name: rec.name,
    scopes: [...rec.scopes],
    createdAt: new Date(rec.createdAt).toISOString(),
    ...(rec.createdBy ? { createdBy: rec.createdBy } : {}),
    ...(rec.revokedAt !== undefined ? { revokedAt: new Date(rec.revokedAt).toISOString() } : {}),
    ...(rec.revokedBy ? { revokedBy: rec.revokedBy } : {}),
    ...(rec.rateLimit ? { rateLimit: { ...rec.rateLimit } } : {}),
  };
}

/** A key of the pre-store file as a store row; `where` names it in the error when a field is unusable. */
function fromFileRecord(k: ApiKeyRecord, where: string): ApiConsumerRecord {
  const time = (v: unknown, field: string): number => {
    const t = typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(t)) throw new Error(`${where}.${field}: expected an ISO 8601 time, got ${JSON.stringify(v)}`);
    return t;
  };
  if (!k || typeof k.id !== 'string' || !KEY_ID_RE.test(k.id)) throw new Error(`${where}.id: expected 12 hex characters`);
  if (typeof k.name !== 'string' || !k.name) throw new Error(`${where}.name: expected a non-empty string`);
  if (!Array.isArray(k.scopes) || !k.scopes.every((sc) => typeof sc === 'string' && SCOPE_RE.test(sc))) throw new Error(`${where}.scopes: expected <resource>:<read|write> strings`);
  if (typeof k.hash !== 'string' || !k.hash.startsWith('$2')) throw new Error(`${where}.hash: expected a bcrypt hash`);
  return {
    id: k.id,
    name: k.name,
    scopes: [...k.scopes],
    hash: k.hash,
    createdAt: time(k.createdAt, 'createdAt'),
    ...(k.createdBy ? { createdBy: String(k.createdBy) } : {}),
    ...(k.revokedAt ? { revokedAt: time(k.revokedAt, 'revokedAt') } : {}),
    ...(k.revokedBy ? { revokedBy: String(k.revokedBy) } : {}),
    ...(k.rateLimit ? { rateLimit: { perSecond: Number(k.rateLimit.perSecond), burst: Number(k.rateLimit.burst) } } : {}),
  };
}

const registries = new WeakMap<ConsumerStore, ConsumerRegistry>();

/** The process-wide registry of a store (shared by every api-gate node and the admin API on it). */
export function consumerRegistry(store: ConsumerStore): ConsumerRegistry {
  let r = registries.get(store);
  if (!r) {
    r = new ConsumerRegistry(store);
    registries.set(store, r);
  }
  return r;
}

/** The pre-store consumer file: `<userDir>/ps-fabric/api-consumers.json`, or FABRIC_API_CONSUMERS_FILE when set. */
export function defaultConsumersFile(userDir: string | undefined): string {
  if (process.env.FABRIC_API_CONSUMERS_FILE) return process.env.FABRIC_API_CONSUMERS_FILE;
  return path.join(userDir || process.cwd(), 'ps-fabric', 'api-consumers.json');
}

/** Does `granted` include `resource:verb`? `*:read` covers every resource's reads. */
export function hasScope(granted: readonly string[], resource: string, verb: 'read' | 'write'): boolean {
  return granted.includes(`${resource}:${verb}`) || granted.includes(`*:${verb}`);
}
