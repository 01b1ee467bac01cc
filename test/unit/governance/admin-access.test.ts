import assert from 'node:assert/strict';
import { accessConfigFromEnv, checkRequest, checkUpgrade, dashboardPermissionFor, hasPermission, readCookie, sessionKey, sessionUserName, signSession, userSessionKey, verifySession } from '../../../lib/governance/admin-access';
import { LoginThrottle } from '../../../lib/governance/login-throttle';
import { sourceProblem } from '../../../lib/governance/bus-sources';
import { assertSafeExposure } from '../../../lib/governance/admin-auth';
import { governedAnonymousRights, isGovernedTopic, mayPublish, maySubscribe } from '../../../lib/broker/acl';

describe('admin access rules (lib/governance/admin-access)', () => {
  const cfg = accessConfigFromEnv({ FABRIC_HOST: '0.0.0.0', FABRIC_ALLOWED_HOSTS: 'fabric.firm.example, 10.0.0.5' });
  const req = (method: string, url: string, headers: Record<string, string> = {}) => checkRequest(cfg, { method, url, headers: { host: '127.0.0.1:1880', ...headers } });

  it('accepts the loopback names, the configured names and no other Host', () => {
    assert.equal(req('GET', '/flows'), undefined);
    assert.equal(req('GET', '/flows', { host: 'localhost:1880' }), undefined);
    assert.equal(req('GET', '/flows', { host: 'fabric.firm.example' }), undefined);
    assert.equal(req('GET', '/flows', { host: '[::1]:1880' }), undefined);
    assert.equal(req('GET', '/flows', { host: 'evil.example:1880' })?.status, 421);
    assert.equal(req('GET', '/flows', { host: '0.0.0.0:1880' })?.status, 421);
    // the experience APIs and the probes answer under any name
    assert.equal(req('GET', '/api/v1/projects', { host: 'evil.example' }), undefined);
    assert.equal(req('GET', '/healthz', { host: '10.1.2.3:1880' }), undefined);
    assert.throws(() => accessConfigFromEnv({ FABRIC_ALLOWED_HOSTS: '*.example.com' }), /FABRIC_ALLOWED_HOSTS/);
    assert.throws(() => accessConfigFromEnv({ FABRIC_PUBLIC_PATHS: '/' }), /FABRIC_PUBLIC_PATHS/);
  });

  it('refuses other origins, and state-changing requests without a non-simple header', () => {
    assert.equal(req('GET', '/settings', { origin: 'http://evil.example' })?.status, 403);
    assert.equal(req('GET', '/settings', { origin: 'null' })?.status, 403);
    assert.equal(req('GET', '/settings', { origin: 'http://127.0.0.1:1880' }), undefined);
    assert.equal(req('POST', '/flows')?.status, 403);
    assert.equal(req('POST', '/flows', { 'node-red-api-version': 'v2' }), undefined);
    assert.equal(req('DELETE', '/ps-fabric/api-keys/x', { authorization: 'Bearer t' }), undefined);
    assert.equal(req('POST', '/ps-fabric/exceptions/replay', { 'x-ps-fabric-request': '1', 'content-type': 'text/plain', 'content-length': '2' })?.status, 415);
    assert.equal(req('POST', '/ps-fabric/exceptions/replay', { 'x-ps-fabric-request': '1', 'content-type': 'application/json; charset=utf-8', 'content-length': '2' }), undefined);
    assert.equal(req('POST', '/dashboard/socket.io/?EIO=4&transport=polling&sid=x', { 'content-type': 'text/plain' }), undefined);
    assert.equal(req('POST', '/api/v1/projects', { 'content-type': 'text/plain' }), undefined);
  });

  it('answers bad percent-encodings with a 400 on every path', () => {
    for (const p of ['/api/v1/projects/%C0%AE%C0%AE', '/api/v1/projects/%ff%fe', '/api/v1/projects/%', '/flows/%E0%A4%A']) assert.deepEqual(req('GET', p), { status: 400, error: 'malformed percent-encoding in the URL path' });
    assert.equal(req('GET', '/api/v1/projects/%2e%2e'), undefined); // decodable: the api-gate's own path rules answer it
  });

  it('lets WebSockets without Origin reach only /mqtt under another name; browsers only from their own origin', () => {
    const up = (url: string, headers: Record<string, string>) => checkUpgrade(cfg, { url, headers });
    assert.equal(up('/mqtt', { host: 'broker.elsewhere' }), undefined);
    assert.equal(up('/mqtt', { host: '127.0.0.1:1880', origin: 'http://evil.example' })?.status, 403);
    assert.equal(up('/comms', { host: 'evil.example', origin: 'http://evil.example' })?.status, 421);
    assert.equal(up('/comms', { host: '127.0.0.1:1880', origin: 'http://127.0.0.1:1880' }), undefined);
  });

  it('applies Node-RED permission semantics to dashboard commands', () => {
    assert.equal(dashboardPermissionFor('discard', true), 'ps-fabric.write');
    assert.equal(dashboardPermissionFor('made-up', true), 'ps-fabric.write');
    assert.equal(dashboardPermissionFor('detail', true), 'ps-fabric.read');
    assert.equal(dashboardPermissionFor('discard', false), 'ps-fabric.read');
    assert.ok(hasPermission('*', 'ps-fabric.write'));
    assert.ok(hasPermission('read', 'ps-fabric.read'));
    assert.ok(!hasPermission('read', 'ps-fabric.write'));
    assert.ok(hasPermission(['flows.read', 'ps-fabric.write'], 'ps-fabric.write'));
    assert.ok(!hasPermission(undefined, 'ps-fabric.read'));
  });

  it('signs sessions that cannot be forged, altered or used after expiry', () => {
    const key = sessionKey('secret');
    const token = signSession({ username: 'ops', permissions: '*' }, 2000, key);
    assert.deepEqual(verifySession(token, key, 1000), { username: 'ops', permissions: '*' });
    assert.equal(verifySession(token, key, 2000), undefined);
    assert.equal(verifySession(token, sessionKey('other'), 1000), undefined);
    const [body, mac] = token.split('.');
    const altered = Buffer.from(Buffer.from(body, 'base64url').toString().replace('"*"', '"read"')).toString('base64url');
    assert.equal(verifySession(`${altered}.${mac}`, key, 1000), undefined);
    assert.equal(readCookie(`a=1; psf_dashboard=${token}; b=2`, 'psf_dashboard'), token);
    // bound to the password hash: a new password ends the user's sessions
    const k1 = userSessionKey(key, 'ops', '$2b$04$aaaa');
    const t1 = signSession({ username: 'ops', permissions: '*' }, 2000, k1);
    assert.equal(sessionUserName(t1), 'ops');
    assert.ok(verifySession(t1, userSessionKey(key, 'ops', '$2b$04$aaaa'), 1000));
    assert.equal(verifySession(t1, userSessionKey(key, 'ops', '$2b$04$bbbb'), 1000), undefined);
  });

  it('refuses a non-loopback host without login, naming the dashboard too', () => {
    assert.throws(() => assertSafeExposure('0.0.0.0', undefined), /editor, admin API and dashboard/);
    assert.doesNotThrow(() => assertSafeExposure('127.0.0.1', undefined));
  });
});

describe('login throttle (lib/governance/login-throttle)', () => {
  it('blocks a user after 5 failures with a doubling wait, and a success clears the user', () => {
    let now = 0;
    const t = new LoginThrottle({ baseMs: 1000 }, () => now);
    for (let i = 0; i < 4; i++) t.failed('ops', '10.0.0.1');
    assert.deepEqual(t.check('ops', '10.0.0.1'), { ok: true });
    t.failed('ops', '10.0.0.1');
    assert.deepEqual(t.check('ops', '10.0.0.1'), { ok: false, retryAfterMs: 1000 });
    assert.deepEqual(t.check('viewer', '10.0.0.2'), { ok: true });
    now = 1000;
    t.failed('ops', '10.0.0.1');
    assert.deepEqual(t.check('OPS', '10.0.0.9'), { ok: false, retryAfterMs: 2000 });
    now = 3000;
    t.succeeded('ops');
    assert.deepEqual(t.check('ops', '10.0.0.9'), { ok: true });
  });

  it('blocks an address that tries many users', () => {
    const t = new LoginThrottle({ addressFreeFailures: 3 }, () => 0);
    for (const u of ['a', 'b', 'c']) t.failed(u, '10.0.0.7');
    assert.equal(t.check('d', '10.0.0.7').ok, false);
    assert.equal(t.check('d', '10.0.0.8').ok, true);
  });
});

describe('the governed bus (lib/broker/acl, lib/governance/bus-sources)', () => {
  it('gives clients without credentials the public events to read and nothing to publish', () => {
    const anon = governedAnonymousRights();
    assert.ok(maySubscribe(anon, 'fabric/v1/invoice/posted', '', 'c'));
    for (const f of ['#', 'fabric/v1/#', 'fabric/v1/+/requested', 'fabric/v1/request/updated']) assert.ok(!maySubscribe(anon, f, '', 'c'), f);
    for (const topic of ['fabric/v1/timeentry/requested', 'fabric/v1/project/created', 'anything']) assert.ok(!mayPublish(anon, topic, '', 'c'), topic);
    assert.ok(isGovernedTopic('fabric/v1/timeentry/requested'));
    assert.ok(isGovernedTopic('fabric/v1/request/updated'));
    assert.ok(isGovernedTopic('legacy/fr01/time/out'));
    assert.ok(!isGovernedTopic('fabric/v1/project/created'));
  });

  it('acts on requests and status only from their authorised sources', () => {
    assert.equal(sourceProblem({ source: '/ps-fabric/experience-api' }, 'requested'), undefined);
    assert.match(sourceProblem({ source: '/elsewhere' }, 'requested') ?? '', /"\/elsewhere" refused: only \/ps-fabric\/experience-api/);
    assert.match(sourceProblem({}, 'request.updated') ?? '', /no source refused/);
    assert.equal(sourceProblem({ source: '/ps-fabric/process-layer' }, 'request.updated'), undefined);
  });
});
