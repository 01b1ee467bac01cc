import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ApiGate, type ApiAuditEvent, type GateRequest, type GateResult } from '../../../lib/governance/api-gate';
import { ConsumerRegistry } from '../../../lib/governance/consumers';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { canonicalValidator } from '../../../lib/governance/validation';
import { tempDir } from '../../support/tmp';

const fixtures = path.join(__dirname, '../../fixtures/canonical');
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, `${name}.json`), 'utf8'))[0];

describe('governance: ApiGate', () => {
  let t: ReturnType<typeof tempDir>;
  let reg: ConsumerRegistry;
  let store: SqliteStore;
  let key: string;
  let readOnly: string;
  let now = 1_800_000_000_000;
  let audit: ApiAuditEvent[];
  let gate: ApiGate;

  before(async () => {
    t = tempDir();
    store = new SqliteStore({ path: path.join(t.dir, 'store.sqlite') });
    reg = new ConsumerRegistry(store, { bcryptRounds: 4 });
    key = (await reg.issue({ name: 'portal', scopes: ['projects:read', 'projects:write', 'timeentries:write', 'requests:read'] })).key;
    readOnly = (await reg.issue({ name: 'bi', scopes: ['*:read'], rateLimit: { perSecond: 1, burst: 2 } })).key;
  });
  after(async () => {
    await store.close();
    t.cleanup();
  });
  beforeEach(() => {
    audit = [];
    gate = new ApiGate({ consumers: reg, validator: canonicalValidator(), audit: (e) => void audit.push(e), maxBodyBytes: 64 * 1024, now: () => now });
  });

  const req = (method: string, url: string, extra: Partial<GateRequest> = {}): GateRequest => ({
    method,
    url,
    headers: { 'x-api-key': key, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...(extra.headers ?? {}) },
    ...(extra.body !== undefined ? { body: extra.body } : {}),
    ...(extra.params ? { params: extra.params } : {}),
  });
  const refused = (r: GateResult, status: number) => {
    assert.equal(r.ok, false, JSON.stringify(r));
    if (!r.ok) assert.equal(r.status, status, JSON.stringify(r.body));
    return r as Extract<GateResult, { ok: false }>;
  };

  it('passes an authenticated, scoped, valid write with a tracking id and security headers', async () => {
    const r = await gate.check(req('POST', '/api/v1/projects', { body: fixture('project') }));
    assert.equal(r.ok, true, JSON.stringify(r));
    if (!r.ok) return;
    assert.equal(r.consumer.name, 'portal');
    assert.equal(r.route.entity, 'project');
    assert.match(r.route.trackingId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(r.headers['X-Content-Type-Options'], 'nosniff');
    assert.equal(r.headers['Cache-Control'], 'no-store');
    assert.match(r.headers['Content-Security-Policy'], /frame-ancestors 'none'/);
    assert.equal(r.headers['API-Version'], 'v1');
    assert.equal(audit[0].outcome, 'accepted');
    assert.equal(audit[0].consumer, r.consumer.id);
  });

  it('refuses without credentials (401 + WWW-Authenticate) and with a bad key', async () => {
    const r = refused(await gate.check({ method: 'GET', url: '/api/v1/projects', headers: {} }), 401);
    assert.match(r.headers['WWW-Authenticate'], /Bearer/);
    refused(await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': 'psf_0123456789ab_' + 'a'.repeat(43) } })), 401);
    refused(await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': undefined, authorization: 'Bearer a.b.c' } })), 401);
    assert.equal(audit.every((a) => a.outcome === 'refused' && a.status === 401), true);
  });

  it('refuses writes to read-only resources with 405 (Allow: GET) and the reason, whatever the credentials', async () => {
    for (const r of ['customers', 'contracts', 'resources', 'invoices', 'revenue-events']) {
      const withKey = refused(await gate.check(req('POST', `/api/v1/${r}`, { body: { id: 'X-1' } })), 405);
      assert.equal(withKey.headers.Allow, 'GET');
      assert.match(withKey.body.error, /read-only here/);
      refused(await gate.check({ method: 'POST', url: `/api/v1/${r}`, headers: { 'content-type': 'application/json' }, body: { id: 'X-1' } }), 405);
    }
    assert.equal((await gate.check(req('POST', '/api/v1/projects', { body: fixture('project') }))).ok, true);
  });

  it('refuses a missing scope with 403', async () => {
    const r = refused(await gate.check(req('GET', '/api/v1/invoices')), 403);
    assert.match(r.body.error, /missing scope invoices:read/);
    refused(await gate.check(req('POST', '/api/v1/projects', { headers: { 'x-api-key': readOnly }, body: fixture('project') })), 403);
  });

  it('rate-limits per consumer with 429 and Retry-After, and refills with time', async () => {
    assert.equal((await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': readOnly } }))).ok, true);
    assert.equal((await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': readOnly } }))).ok, true);
    const r = refused(await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': readOnly } })), 429);
    assert.equal(r.headers['Retry-After'], '1');
    // another consumer is not affected
    assert.equal((await gate.check(req('GET', '/api/v1/projects'))).ok, true);
    now += 1000;
    assert.equal((await gate.check(req('GET', '/api/v1/projects', { headers: { 'x-api-key': readOnly } }))).ok, true);
  });

  it('refuses oversized bodies with 413 (declared or measured)', async () => {
    refused(await gate.check(req('POST', '/api/v1/projects', { headers: { 'content-length': String(10 * 1024 * 1024) }, body: fixture('project') })), 413);
    refused(await gate.check(req('POST', '/api/v1/projects', { body: { ...fixture('project'), name: 'x'.repeat(70 * 1024) } })), 413);
  });

  it('refuses invalid bodies with 400 and field paths', async () => {
    const bad = { ...fixture('project'), currency: 'XXX', status: 'sleeping' };
    delete bad.code;
    const r = refused(await gate.check(req('POST', '/api/v1/projects', { body: bad })), 400);
    assert.equal(r.body.error, 'validation failed');
    const paths = (r.body.errors ?? []).map((e) => e.path);
    assert.ok(paths.includes('/code'), paths.join());
    assert.ok(paths.includes('/currency'));
    assert.ok(paths.includes('/status'));
    refused(await gate.check(req('POST', '/api/v1/projects', { body: [1, 2] })), 400);
    refused(await gate.check(req('POST', '/api/v1/projects', { headers: { 'content-type': 'text/plain' }, body: 'x' })), 415);
  });

  it('validates v2 time entries against the v2 schema and marks v1 deprecated', async () => {
    const v1 = fixture('time-entry');
    const r2 = refused(await gate.check(req('POST', '/api/v2/time-entries', { body: v1 })), 400);
    assert.deepEqual(r2.body.errors?.map((e) => e.path), ['/workLocation']);
    const ok2 = await gate.check(req('POST', '/api/v2/time-entries', { body: { ...v1, workLocation: 'client-site' } }));
    assert.equal(ok2.ok, true);
    assert.equal(ok2.headers.Deprecation, undefined);
    const ok1 = await gate.check(req('POST', '/api/v1/time-entries', { body: v1 }));
    assert.equal(ok1.ok, true, JSON.stringify(ok1));
    assert.match(ok1.headers.Deprecation, /^@\d+$/);
    assert.match(ok1.headers.Sunset, /GMT$/);
    assert.match(ok1.headers.Link, /rel="successor-version"/);
    refused(await gate.check(req('GET', '/api/v2/projects')), 404);
  });

  it('refuses prototype-pollution keys anywhere in the body', async () => {
    const body = JSON.parse(`{"a":1,"nested":{"__proto__":{"admin":true}},"constructor":{"prototype":{"x":1}}}`);
    const r = refused(await gate.check(req('POST', '/api/v1/projects', { body })), 400);
    const paths = (r.body.errors ?? []).map((e) => e.path);
    assert.ok(paths.includes('/nested/__proto__'), paths.join());
    assert.ok(paths.includes('/constructor'));
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    refused(await gate.check(req('POST', '/api/v1/projects', { body: deep })), 400);
  });

  it('refuses path tricks: dot segments, encoded slashes, bad ids', async () => {
    for (const url of ['/api/v1/projects/..', '/api/v1/projects/%2e%2e', '/api/v1/projects/a%2Fb', '/api/v1/projects/a%5cb', '/api/v1/../v1/projects', '/api/v1/projects/a%252fb', '/api/v1/projects/a%00']) {
      refused(await gate.check(req('GET', url)), 400);
    }
    refused(await gate.check(req('GET', '/api/v1/projects/x', { params: { id: '__proto__' } })), 400);
    refused(await gate.check(req('GET', '/api/v1/projects/x', { params: { id: 'a/b' } })), 400);
    assert.equal((await gate.check(req('GET', '/api/v1/projects/PRJ-1001-WMS'))).ok, true);
  });

  it('routes: unknown resource 404, wrong method 405, openapi public, request status needs requests:read', async () => {
    refused(await gate.check(req('GET', '/api/v1/widgets')), 404);
    refused(await gate.check(req('GET', '/api/v9/projects')), 404);
    refused(await gate.check(req('DELETE', '/api/v1/projects/P-1')), 405);
    const o = await gate.check({ method: 'GET', url: '/api/v1/openapi.json', headers: {} });
    assert.equal(o.ok, true);
    const s = await gate.check(req('GET', '/api/v1/requests/0b6d2f9e-1111-4222-8333-944445555666'));
    assert.equal(s.ok && s.route.kind, 'request-status');
    assert.equal((await gate.check(req('GET', '/api/v1/requests/abc', { headers: { 'x-api-key': readOnly } }))).ok, true, '*:read covers requests:read');
  });
});
