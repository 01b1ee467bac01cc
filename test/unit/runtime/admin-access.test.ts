import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { guardHttpServer, jsonErrorHandler } from '../../../runtime/admin-access';
import { accessConfigFromEnv } from '../../../lib/governance/admin-access';

describe('runtime/admin-access: the HTTP guard and the last error handler', () => {
  let server: http.Server;
  let base = '';
  const logged: string[] = [];

  before(async () => {
    const app = express();
    // what Node-RED's admin app does by itself
    app.use((_req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      next();
    });
    app.get('/boom', () => {
      throw new Error('secret detail of the failure');
    });
    app.get('/api/v1/thing', (_req, res) => res.setHeader('Access-Control-Allow-Origin', 'https://portal.example').json({ ok: true }));
    app.get('/flows', (_req, res) => res.json([]));
    app.use(jsonErrorHandler((line) => logged.push(line)));
    server = http.createServer(app);
    guardHttpServer(server, accessConfigFromEnv({}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers an unhandled error as JSON without the stack, and logs the stack once', async () => {
    const r = await fetch(`${base}/boom`);
    assert.equal(r.status, 500);
    assert.deepEqual(await r.json(), { error: 'internal error' });
    assert.equal(logged.length, 1);
    assert.match(logged[0], /^GET \/boom failed: Error: secret detail of the failure\n\s+at /);
  });

  it('drops CORS headers from admin answers but leaves the public paths alone', async () => {
    const admin = await fetch(`${base}/flows`);
    assert.equal(admin.status, 200);
    assert.equal(admin.headers.get('access-control-allow-origin'), null);
    const api = await fetch(`${base}/api/v1/thing`);
    assert.equal(api.headers.get('access-control-allow-origin'), 'https://portal.example');
  });

  it('refuses bad encodings and cross-origin requests before any route', async () => {
    const bad = await fetch(`${base}/flows/%ff`);
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error: 'malformed percent-encoding in the URL path' });
    const cross = await fetch(`${base}/flows`, { headers: { origin: 'http://evil.example' } });
    assert.equal(cross.status, 403);
  });
});
