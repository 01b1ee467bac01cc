/**
 * API consumers and their keys, kept in a JSON file (default `<userDir>/ps-fabric/api-consumers.json`).
 *
 * A key looks like `psf_<keyId>_<secret>`: the key id (12 hex characters) is not secret and is how a key
 * is found; the whole key is stored only as a bcrypt hash. The key is returned once, when it is issued.
 * Verified keys are remembered in memory as a SHA-256 digest so that bcrypt (tens of ms by design) runs
 * once per key and process, not once per request; the digest never reaches the disk.
 *
 * The file is written atomically (temp file, fsync, rename) with mode 0600. One registry object per file
 * per process (`consumerRegistry(file)`) is shared by the api-gate nodes and the admin API.
 * Why a file and not the store: see docs/security.md ("Where keys live").
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';

/** `<resource>:<read|write>`; `*` stands for every resource, e.g. `*:read`. */
export const SCOPE_RE = /^(\*|[a-z][a-z0-9-]{0,63}):(read|write)$/;

export interface ConsumerRateLimit {
  perSecond: number;
  burst: number;
}

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

interface FileShape {
  version: 1;
  keys: ApiKeyRecord[];
}

const KEY_RE = /^psf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export class ConsumerRegistry {
  private keys = new Map<string, ApiKeyRecord>();
  private readonly verified = new Map<string, string>();
  private loadedMtime = -1;

  constructor(readonly file: string, private readonly bcryptRounds = 10) {
    this.reload();
  }

  /** Re-reads the file if it changed on disk (another process, or an operator editing it). */
  reload(): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.keys = new Map();
      this.loadedMtime = -1;
      return;
    }
    if (stat.mtimeMs === this.loadedMtime) return;
    const parsed = JSON.parse(fs.readFileSync(this.file, 'utf8')) as FileShape;
    if (!parsed || parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error(`${this.file}: not a PS Fabric consumer file (expected {"version":1,"keys":[...]})`);
    this.keys = new Map(parsed.keys.map((k) => [k.id, k]));
    this.verified.clear();
    this.loadedMtime = stat.mtimeMs;
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
    this.reload();
    let id: string;
    do id = crypto.randomBytes(6).toString('hex');
    while (this.keys.has(id));
    const key = `psf_${id}_${crypto.randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id,
      name,
      scopes,
      hash: await bcrypt.hash(key, this.bcryptRounds),
      createdAt: new Date().toISOString(),
      ...(input.createdBy ? { createdBy: input.createdBy } : {}),
      ...(input.rateLimit ? { rateLimit: { perSecond: input.rateLimit.perSecond, burst: input.rateLimit.burst } } : {}),
    };
    this.keys.set(id, record);
    this.save();
    return { key, info: info(record) };
  }

  /** Revokes a key (kept in the file, marked revoked, for the audit). False when unknown or already revoked. */
  revoke(id: string, by?: string): boolean {
    this.reload();
    const rec = this.keys.get(id);
    if (!rec || rec.revokedAt) return false;
    rec.revokedAt = new Date().toISOString();
    if (by) rec.revokedBy = by;
    this.verified.delete(id);
    this.save();
    return true;
  }

  list(): ApiKeyInfo[] {
    this.reload();
    return [...this.keys.values()].map(info);
  }

  get(id: string): ApiKeyInfo | undefined {
    this.reload();
    const rec = this.keys.get(id);
    return rec ? info(rec) : undefined;
  }

  /** The consumer a presented key belongs to, or undefined (unknown, malformed, revoked, wrong secret). */
  async verify(presented: string): Promise<Consumer | undefined> {
    const m = KEY_RE.exec(typeof presented === 'string' ? presented.trim() : '');
    if (!m) return undefined;
    this.reload();
    const rec = this.keys.get(m[1]);
    if (!rec || rec.revokedAt) return undefined;
    const digest = crypto.createHash('sha256').update(presented.trim()).digest('hex');
    const known = this.verified.get(rec.id);
    let ok = known !== undefined && crypto.timingSafeEqual(Buffer.from(known, 'hex'), Buffer.from(digest, 'hex'));
    if (!ok) {
      ok = await bcrypt.compare(presented.trim(), rec.hash);
      if (ok) this.verified.set(rec.id, digest);
    }
    if (!ok) return undefined;
    return { id: `api-key:${rec.id}`, kind: 'api-key', name: rec.name, scopes: [...rec.scopes], ...(rec.rateLimit ? { rateLimit: rec.rateLimit } : {}) };
  }

  private save(): void {
    const data: FileShape = { version: 1, keys: [...this.keys.values()] };
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(data, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    this.loadedMtime = fs.statSync(this.file).mtimeMs;
  }
}

function info(rec: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...rest } = rec;
  void _hash;
  return { ...rest, scopes: [...rest.scopes] };
}

const registries = new Map<string, ConsumerRegistry>();

/** The process-wide registry of a file (shared by every api-gate node and the admin API). */
export function consumerRegistry(file: string): ConsumerRegistry {
  const abs = path.resolve(file);
  let r = registries.get(abs);
  if (!r) {
    r = new ConsumerRegistry(abs);
    registries.set(abs, r);
  }
  return r;
}

/** `<userDir>/ps-fabric/api-consumers.json`, or FABRIC_API_CONSUMERS_FILE when set. */
export function defaultConsumersFile(userDir: string | undefined): string {
  if (process.env.FABRIC_API_CONSUMERS_FILE) return process.env.FABRIC_API_CONSUMERS_FILE;
  return path.join(userDir || process.cwd(), 'ps-fabric', 'api-consumers.json');
}

/** Does `granted` include `resource:verb`? `*:read` covers every resource's reads. */
export function hasScope(granted: readonly string[], resource: string, verb: 'read' | 'write'): boolean {
  return granted.includes(`${resource}:${verb}`) || granted.includes(`*:${verb}`);
}
