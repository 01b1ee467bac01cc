import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConsumerRegistry, hasScope } from '../../../lib/governance/consumers';
import { tempDir } from '../../support/tmp';

describe('governance: API keys', () => {
  let t: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    t = tempDir();
    file = path.join(t.dir, 'ps-fabric', 'api-consumers.json');
  });
  afterEach(() => t.cleanup());

  it('issues a key shown once, stores only a bcrypt hash, verifies and revokes it', async () => {
    const reg = new ConsumerRegistry(file, 4);
    const { key, info } = await reg.issue({ name: 'customer-portal', scopes: ['projects:read', 'timeentries:write'] });
    assert.match(key, /^psf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.ok(key.includes(info.id));
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!text.includes(key), 'raw key must not be on disk');
    assert.ok(!text.includes(key.split('_').slice(2).join('_')), 'secret part must not be on disk');
    assert.match(text, /"hash": "\$2[ab]\$04\$/);
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
    assert.equal(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')).length, 0);
    assert.ok(!('hash' in info));
    assert.ok(reg.list().every((k) => !('hash' in k)));

    const c = await reg.verify(key);
    assert.deepEqual(c && { id: c.id, kind: c.kind, name: c.name, scopes: c.scopes }, { id: `api-key:${info.id}`, kind: 'api-key', name: 'customer-portal', scopes: ['projects:read', 'timeentries:write'] });
    assert.ok(await reg.verify(key), 'second verification (cached) still passes');
    assert.equal(await reg.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')), undefined, 'wrong secret');
    assert.equal(await reg.verify('psf_000000000000_' + 'x'.repeat(43)), undefined, 'unknown id');
    assert.equal(await reg.verify('not a key'), undefined);

    // another process (a fresh registry on the same file) sees the key
    const other = new ConsumerRegistry(file, 4);
    assert.ok(await other.verify(key));

    assert.equal(reg.revoke(info.id, 'admin'), true);
    assert.equal(reg.revoke(info.id), false);
    assert.equal(await reg.verify(key), undefined, 'revoked key refused');
    assert.ok(reg.get(info.id)?.revokedAt);
    assert.ok(!fs.readFileSync(file, 'utf8').includes(key));
  });

  it('rejects bad scopes and names', async () => {
    const reg = new ConsumerRegistry(file, 4);
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
