import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { adminAuthFromEnv, assertSafeExposure } from '../../../lib/governance/admin-auth';
import { convert, deprecationHeaders, timeEntryV1toV2, timeEntryV2toV1 } from '../../../lib/governance/versioning';
import { getCanonicalModel } from '../../../lib/model/validator';

describe('governance: schema versioning (TimeEntry v1 <-> v2)', () => {
  const entries = JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/canonical/time-entry.json'), 'utf8')) as Record<string, unknown>[];
  const model = getCanonicalModel();

  it('serves v1 and v2 side by side in the canonical model', () => {
    assert.deepEqual(model.versions('timeentry'), [1, 2]);
  });

  it('upgrades every v1 fixture to a valid v2 and back to the same v1', () => {
    for (const v1 of entries) {
      assert.deepEqual(model.validate('timeentry', v1, { version: 1 }), { ok: true });
      const v2 = timeEntryV1toV2(v1);
      assert.equal(v2.workLocation, 'unspecified');
      assert.deepEqual(model.validate('timeentry', v2, { version: 2 }), { ok: true });
      assert.deepEqual(timeEntryV2toV1(v2), v1);
      assert.equal(v1.workLocation, undefined, 'input not mutated');
    }
    assert.equal(timeEntryV1toV2(entries[0], 'client-site').workLocation, 'client-site');
    assert.equal(convert('TimeEntry', entries[0], 1, 2).workLocation, 'unspecified');
    assert.throws(() => convert('Invoice', {}, 1, 2), /no conversion/);
  });

  it('formats Deprecation (RFC 9745) and Sunset (RFC 8594) headers', () => {
    const h = deprecationHeaders({ version: 'v1', deprecatedAt: '2026-07-01T00:00:00Z', sunset: '2027-01-01T00:00:00Z', successor: '/api/v2/time-entries', link: '/docs' });
    assert.equal(h.Deprecation, `@${Date.parse('2026-07-01T00:00:00Z') / 1000}`);
    assert.equal(h.Sunset, 'Fri, 01 Jan 2027 00:00:00 GMT');
    assert.equal(h.Link, '</docs>; rel="deprecation", </api/v2/time-entries>; rel="successor-version"');
  });
});

describe('governance: admin auth from the environment', () => {
  const HASH = '$2b$12$' + 'a'.repeat(53);
  it('builds adminAuth from a bcrypt hash', () => {
    const a = adminAuthFromEnv({ FABRIC_ADMIN_USER: 'ops', FABRIC_ADMIN_PASSWORD_HASH: HASH });
    assert.deepEqual(a?.users, [{ username: 'ops', password: HASH, permissions: '*' }]);
    assert.equal(adminAuthFromEnv({}), undefined);
    assert.throws(() => adminAuthFromEnv({ FABRIC_ADMIN_PASSWORD_HASH: 'hunter2' }), /not a bcrypt hash/);
    assert.throws(() => adminAuthFromEnv({ FABRIC_ADMIN_USER: 'ops' }), /FABRIC_ADMIN_PASSWORD_HASH is not/);
  });
  it('refuses a non-loopback host without auth', () => {
    assert.doesNotThrow(() => assertSafeExposure('127.0.0.1', undefined));
    assert.doesNotThrow(() => assertSafeExposure('localhost', undefined));
    assert.doesNotThrow(() => assertSafeExposure('::1', undefined));
    assert.throws(() => assertSafeExposure('0.0.0.0', undefined), /refusing to start.*0\.0\.0\.0.*FABRIC_ADMIN_PASSWORD_HASH/);
    assert.throws(() => assertSafeExposure(undefined, undefined), /all network interfaces/);
    assert.throws(() => assertSafeExposure('10.0.0.5', { type: 'credentials', users: [] }), /refusing/);
    assert.doesNotThrow(() => assertSafeExposure('0.0.0.0', adminAuthFromEnv({ FABRIC_ADMIN_PASSWORD_HASH: HASH })));
  });
});
