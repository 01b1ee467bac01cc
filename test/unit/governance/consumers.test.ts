import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import { ConsumerRegistry, hasScope, type ApiKeyRecord } from '../../../lib/governance/consumers';
import { PostgresStore } from '../../../lib/store/postgres-store';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { Store } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';

describe('governance: API keys', () => {
  let t: ReturnType<typeof tempDir>;
  let file: string;
  const opened: SqliteStore[] = [];
  /** A store on the test's SQLite file; each call is a separate connection, as a second runtime instance would have. */
  const storeOnFile = (): SqliteStore => {
    const s = new SqliteStore({ path: file });
    opened.push(s);
    return s;
  };
  beforeEach(() => {
    t = tempDir();
    file = path.join(t.dir, 'store.sqlite');
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close().catch(() => {});
    t.cleanup();
  });

  it('issues a key shown once, stores only a bcrypt hash, verifies and revokes it', async () => {
    const store = storeOnFile();
    const reg = new ConsumerRegistry(store, { bcryptRounds: 4 });
    const { key, info } = await reg.issue({ name: 'customer-portal', scopes: ['projects:read', 'timeentries:write'], createdBy: 'ops' });
    assert.match(key, /^psf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.ok(key.includes(info.id));
    assert.ok(!('hash' in info));
    assert.match(info.createdAt, /^\d{4}-\d\d-\d\dT/);
    assert.ok((await reg.list()).every((k) => !('hash' in k)));

    const c = await reg.verify(key);
    assert.deepEqual(c && { id: c.id, kind: c.kind, name: c.name, scopes: c.scopes }, { id: `api-key:${info.id}`, kind: 'api-key', name: 'customer-portal', scopes: ['projects:read', 'timeentries:write'] });
    assert.ok(await reg.verify(key), 'second verification (cached) still passes');
    assert.equal(await reg.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')), undefined, 'wrong secret');
    assert.equal(await reg.verify('psf_000000000000_' + 'x'.repeat(43)), undefined, 'unknown id');
    assert.equal(await reg.verify('not a key'), undefined);

    assert.equal(await reg.revoke(info.id, 'admin'), true);
    assert.equal(await reg.revoke(info.id), false);
    assert.equal(await reg.verify(key), undefined, 'revoked key refused at once on the instance that revoked it');
    const revoked = await reg.get(info.id);
    assert.ok(revoked?.revokedAt);
    assert.equal(revoked?.revokedBy, 'admin');

    // at rest: the row holds a bcrypt hash, and neither the key nor its secret is anywhere in the file
    await store.close();
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM api_consumers').all() as Array<{ id: string; hash: string }>;
      assert.equal(rows.length, 1);
      assert.match(rows[0].hash, /^\$2[ab]\$04\$/);
    } finally {
      db.close();
    }
    const bytes = fs.readFileSync(file).toString('latin1');
    assert.ok(!bytes.includes(key), 'raw key must not be on disk');
    assert.ok(!bytes.includes(key.split('_').slice(2).join('_')), 'secret part must not be on disk');
  });

  /** What two runtime instances on one store see: an issue at once, a revoke within the cache TTL. */
  async function twoInstances(one: Store, two: Store): Promise<void> {
    let now = Date.parse('2026-11-26T02:00:00Z');
    const clock = () => now;
    const a = new ConsumerRegistry(one, { bcryptRounds: 4, cacheTtlMs: 2000, now: clock });
    const b = new ConsumerRegistry(two, { bcryptRounds: 4, cacheTtlMs: 2000, now: clock });

    const fromA = await a.issue({ name: 'portal', scopes: ['projects:read'] });
    assert.equal((await b.verify(fromA.key))?.id, `api-key:${fromA.info.id}`, 'a key issued on A works on B');
    const fromB = await b.issue({ name: 'bi', scopes: ['*:read'], rateLimit: { perSecond: 1, burst: 2 } });
    assert.deepEqual((await a.verify(fromB.key))?.rateLimit, { perSecond: 1, burst: 2 }, 'and the other way round');
    assert.deepEqual((await a.list()).map((k) => k.name).sort(), ['bi', 'portal']);

    assert.equal(await a.revoke(fromA.info.id, 'ops'), true);
    assert.equal(await a.verify(fromA.key), undefined, 'refused at once on A');
    assert.ok(await b.verify(fromA.key), 'B still trusts the row it read less than cacheTtlMs ago (documented)');
    now += 2000;
    assert.equal(await b.verify(fromA.key), undefined, 'refused on B once its cached row is older than cacheTtlMs');
    assert.equal(await b.revoke(fromA.info.id), false, 'already revoked on A');
    assert.equal((await b.get(fromA.info.id))?.revokedBy, 'ops');
    assert.ok(await b.verify(fromB.key), 'the other key is untouched');
  }

  it('two registries on one SQLite file see each other\'s issue at once and revoke within the cache TTL', async () => {
    await twoInstances(storeOnFile(), storeOnFile());
  });

  const PG_URL = process.env.FABRIC_TEST_PG_URL;
  (PG_URL ? it : it.skip)(`two registries on one PostgreSQL schema (two pools) do the same${PG_URL ? '' : ' (skipped: FABRIC_TEST_PG_URL not set)'}`, async function () {
    this.timeout(30000);
    const schema = `fabric_t_${crypto.randomBytes(5).toString('hex')}`;
    const one = new PostgresStore({ connectionString: PG_URL!, schema, poolMax: 2 });
    const two = new PostgresStore({ connectionString: PG_URL!, schema, poolMax: 2 });
    try {
      await one.ready;
      await two.ready;
      await twoInstances(one, two);
    } finally {
      await one.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await one.close();
      await two.close();
    }
  });

  describe('import of the pre-store key file', () => {
    /** A file as earlier versions wrote it, with one active and one revoked key. */
    async function legacyFile(dir: string): Promise<{ path: string; active: string; revoked: string; records: ApiKeyRecord[] }> {
      const make = async (name: string, extra: Partial<ApiKeyRecord> = {}) => {
        const id = crypto.randomBytes(6).toString('hex');
        const key = `psf_${id}_${crypto.randomBytes(32).toString('base64url')}`;
        const record: ApiKeyRecord = { id, name, scopes: ['projects:read'], hash: await bcrypt.hash(key, 4), createdAt: '2026-10-01T08:00:00.000Z', createdBy: 'admin', ...extra };
        return { key, record };
      };
      const active = await make('portal', { rateLimit: { perSecond: 5, burst: 10 } });
      const revoked = await make('old-bi', { revokedAt: '2026-10-02T08:00:00.000Z', revokedBy: 'admin' });
      const p = path.join(dir, 'ps-fabric', 'api-consumers.json');
      fs.mkdirSync(path.dirname(p), { recursive: true });
      const records = [active.record, revoked.record];
      fs.writeFileSync(p, JSON.stringify({ version: 1, keys: records }, null, 2));
      return { path: p, active: active.key, revoked: revoked.key, records };
    }

    it('imports the file once into a store without consumers: old keys keep working, revoked ones stay revoked', async () => {
      const legacy = await legacyFile(t.dir);
      const reg = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
      const result = await reg.importLegacyFile(legacy.path);
      assert.deepEqual(result, { file: legacy.path, imported: 2, skipped: 0 });
      assert.equal(await reg.importLegacyFile(legacy.path), await reg.importLegacyFile(legacy.path), 'once per file');
      assert.deepEqual((await reg.verify(legacy.active))?.rateLimit, { perSecond: 5, burst: 10 });
      assert.equal(await reg.verify(legacy.revoked), undefined);
      const listed = await reg.list();
      const { hash: _hash, ...activeInfo } = legacy.records[0];
      void _hash;
      assert.deepEqual(listed.find((k) => k.name === 'portal'), activeInfo, 'times and fields as they were in the file');
      assert.equal(listed.find((k) => k.name === 'old-bi')?.revokedAt, '2026-10-02T08:00:00.000Z');

      // another instance (or a restart) with the same file: the store already has the keys, nothing is added
      const other = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
      assert.deepEqual(await other.importLegacyFile(legacy.path), { file: legacy.path, imported: 0, skipped: 0 });
      assert.ok(await other.verify(legacy.active), 'the imported key works on the other instance');
      assert.equal((await other.list()).length, 2);
    });

    it('leaves a file out when the store already has consumers, and says how many keys it left', async () => {
      const reg = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
      await reg.issue({ name: 'new', scopes: ['projects:read'] });
      const legacy = await legacyFile(t.dir);
      const fresh = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
      assert.deepEqual(await fresh.importLegacyFile(legacy.path), { file: legacy.path, imported: 0, skipped: 2 });
      assert.equal(await fresh.verify(legacy.active), undefined);
      assert.deepEqual((await fresh.list()).map((k) => k.name), ['new']);
    });

    it('is a no-op without a file, and names the file and field of an unusable one (other operations still work)', async () => {
      const reg = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
      const missing = path.join(t.dir, 'nope.json');
      assert.deepEqual(await reg.importLegacyFile(missing), { file: missing, imported: 0, skipped: 0 });
      const broken = path.join(t.dir, 'broken.json');
      fs.writeFileSync(broken, '{"version":1,');
      await assert.rejects(reg.importLegacyFile(broken), (err: Error) => err.message.startsWith(`${broken}: not valid JSON`));
      const badField = path.join(t.dir, 'bad-field.json');
      fs.writeFileSync(badField, JSON.stringify({ version: 1, keys: [{ id: 'abcdefabcdef', name: 'x', scopes: ['projects:read'], hash: 'plain', createdAt: '2026-10-01T08:00:00Z' }] }));
      await assert.rejects(reg.importLegacyFile(badField), /bad-field\.json: keys\[0\]\.hash: expected a bcrypt hash/);
      assert.equal((await reg.list()).length, 0, 'nothing of a bad file is imported');
      assert.ok((await reg.issue({ name: 'after', scopes: ['projects:read'] })).key);
    });
  });

  it('rejects bad scopes and names', async () => {
    const reg = new ConsumerRegistry(storeOnFile(), { bcryptRounds: 4 });
    await assert.rejects(reg.issue({ name: 'x', scopes: [] }), /at least one scope/);
    await assert.rejects(reg.issue({ name: 'x', scopes: ['projects:delete'] }), /invalid scope/);
    await assert.rejects(reg.issue({ name: '../etc', scopes: ['projects:read'] }), /name must be/);
  });

  it('matches scopes per resource and verb, with * for every resource', () => {
    assert.equal(hasScope(['projects:read'], 'projects', 'read'), true);
    assert.equal(hasScope(['projects:read'], 'projects', 'write'), false);
    assert.equal(hasScope(['projects:read'], 'invoices', 'read'), false);
    assert.equal(hasScope(['*:read'], 'invoices', 'read'), true);
    assert.equal(hasScope(['*:read'], 'invoices', 'write'), false);
  });
});
