/**
 * api-gate in a real Node-RED runtime (node-red-node-test-helper): core http in -> api-gate -> responder -> http response,
 * requests over real HTTP, every response checked against the generated OpenAPI document's schemas.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import addFormats from 'ajv-formats';
import { buildOpenApi } from '../../../lib/governance/openapi';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const httpIn = require('@node-red/nodes/core/network/21-httpin.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const apiGate = require('../../../nodes/api-gate/api-gate.js');

helper.init(require.resolve('node-red'));

const fixtures = path.join(__dirname, '../../fixtures/canonical');
const project = JSON.parse(fs.readFileSync(path.join(fixtures, 'project.json'), 'utf8'))[0];

 
let RED: any;
const collected: any[] = [];
function captureAndResponder(red: any) {
  RED = red;
  red.nodes.registerType('test-collector', function (this: any, config: any) {
    red.nodes.createNode(this, config);
    this.on('input', (msg: any, _send: any, done: any) => {
      collected.push(msg);
      done();
    });
  });
  red.nodes.registerType('test-responder', function (this: any, config: any) {
    red.nodes.createNode(this, config);
    this.on('input', (msg: any, send: any, done: any) => {
      const api = msg.api;
      if (api.kind === 'openapi') msg.payload = buildOpenApi();
      else if (api.kind === 'item') msg.payload = { ...project, id: api.id };
      else if (api.kind === 'collection' && api.verb === 'read') msg.payload = { items: [project] };
      else if (api.kind === 'collection') {
        msg.statusCode = 202;
        msg.headers = { Location: `/api/v1/requests/${msg.trackingId}` };
        msg.payload = { trackingId: msg.trackingId, status: 'accepted', statusUrl: `/api/v1/requests/${msg.trackingId}` };
      }
      send(msg);
      done();
    });
  });
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}
function request(port: number, method: string, rawPath: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('api-gate node in Node-RED', function () {
  this.timeout(20000);
  const doc = buildOpenApi();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: 'urn:psf:openapi' } as object);
  const esc = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));
  /** Validates a live response against the document: the operation's response schema for its status. */
  function conforms(templatePath: string, method: string, res: Res) {
    const op = (doc.paths as any)[templatePath]?.[method.toLowerCase()];
    assert.ok(op, `no operation ${method} ${templatePath}`);
    const spec = op.responses[String(res.status)];
    assert.ok(spec, `status ${res.status} not documented for ${method} ${templatePath}: ${JSON.stringify(res.body)}`);
    if (!spec.content?.['application/json']?.schema) return;
    assert.match(String(res.headers['content-type']), /application\/json/);
    const ref = `urn:psf:openapi#/paths/${esc(templatePath)}/${method.toLowerCase()}/responses/${res.status}/content/${esc('application/json')}/schema`;
    const fn = ajv.getSchema(ref);
    assert.ok(fn, `cannot resolve ${ref}`);
    assert.ok(fn(res.body), `${method} ${templatePath} ${res.status}: ${JSON.stringify(fn.errors)} ${JSON.stringify(res.body).slice(0, 300)}`);
  }

  let t: ReturnType<typeof tempDir>;
  let server: http.Server;
  let admin: http.Server;
  let port: number;
  let adminPort: number;
  let key: string;
  let readKey: string;
  let legacyKey: string;

  before(async () => {
    t = tempDir();
    helper.settings({ userDir: t.dir });
    // a key issued by an earlier version, in its key file: imported into the store when the gate starts
    const legacyId = crypto.randomBytes(6).toString('hex');
    legacyKey = `psf_${legacyId}_${crypto.randomBytes(32).toString('base64url')}`;
    fs.mkdirSync(path.join(t.dir, 'ps-fabric'));
    fs.writeFileSync(path.join(t.dir, 'ps-fabric', 'api-consumers.json'), JSON.stringify({ version: 1, keys: [{ id: legacyId, name: 'legacy', scopes: ['projects:read'], hash: await bcrypt.hash(legacyKey, 4), createdAt: '2026-10-01T08:00:00.000Z' }] }));
    const routes = [
      ['get', '/api/v1/openapi.json'],
      ['get', '/api/v1/projects'],
      ['post', '/api/v1/projects'],
      ['get', '/api/v1/projects/:id'],
      ['get', '/api/v1/invoices'],
    ];
    const flow: any[] = [
      { id: 'gate', type: 'api-gate', z: 'f', ratePerSecond: 50, rateBurst: 50, maxBodyBytes: 4096, validate: true, publicOpenApi: true, serveOpenApi: true, basePath: '/api', wires: [['resp'], ['refused']] },
      { id: 'resp', type: 'test-responder', z: 'f', wires: [['out']] },
      { id: 'out', type: 'http response', z: 'f', wires: [] },
      { id: 'refused', type: 'test-collector', z: 'f', wires: [] },
      ...routes.map(([method, url], i) => ({ id: `in${i}`, type: 'http in', z: 'f', method, url, wires: [['gate']] })),
    ];
    await helper.load([httpIn, apiGate, captureAndResponder], flow);
    server = http.createServer(RED.httpNode);
    admin = http.createServer(RED.httpAdmin);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    adminPort = (admin.address() as AddressInfo).port;
    // issue keys through the admin API
    const issued = await request(adminPort, 'POST', '/ps-fabric/api-keys', { 'content-type': 'application/json' }, JSON.stringify({ name: 'portal', scopes: ['projects:read', 'projects:write'] }));
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    key = issued.body.key;
    const issued2 = await request(adminPort, 'POST', '/ps-fabric/api-keys', { 'content-type': 'application/json' }, JSON.stringify({ name: 'bi', scopes: ['invoices:read'], rateLimit: { perSecond: 1, burst: 2 } }));
    readKey = issued2.body.key;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => admin.close(() => r()));
    await helper.unload();
    t.cleanup();
  });

  it('the admin API lists keys without secrets and the store holds only hashes', async () => {
    const list = await request(adminPort, 'GET', '/ps-fabric/api-keys');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.keys.map((k: any) => k.name).sort(), ['bi', 'legacy', 'portal']);
    assert.ok(list.body.keys.every((k: any) => !('hash' in k) && !('key' in k)));
    // the runtime's store (no fabric settings here: <userDir>/ps-fabric.sqlite)
    const db = new Database(path.join(t.dir, 'ps-fabric.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM api_consumers').all() as Array<{ hash: string }>;
      assert.equal(rows.length, 3);
      assert.ok(rows.every((r) => /^\$2[ab]\$/.test(r.hash)));
      const text = JSON.stringify(rows);
      assert.ok(!text.includes(key) && !text.includes(readKey));
    } finally {
      db.close();
    }
    const bad = await request(adminPort, 'POST', '/ps-fabric/api-keys', { 'content-type': 'application/json' }, JSON.stringify({ name: 'x', scopes: ['root'] }));
    assert.equal(bad.status, 400);
  });

  it('a key from the key file of an earlier version still works (imported into the store at start)', async () => {
    const r = await request(port, 'GET', '/api/v1/projects', { 'x-api-key': legacyKey });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('serves openapi.json publicly, with security headers and no X-Powered-By', async () => {
    const r = await request(port, 'GET', '/api/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-powered-by'], undefined);
    conforms('/api/v1/openapi.json', 'GET', r);
  });

  it('answers reads and writes per the OpenAPI document', async () => {
    const list = await request(port, 'GET', '/api/v1/projects', { 'x-api-key': key });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    conforms('/api/v1/projects', 'GET', list);
    const item = await request(port, 'GET', '/api/v1/projects/PRJ-1001-WMS', { 'x-api-key': key });
    assert.equal(item.status, 200);
    assert.equal(item.headers['api-version'], 'v1');
    conforms('/api/v1/projects/{id}', 'GET', item);
    const created = await request(port, 'POST', '/api/v1/projects', { 'x-api-key': key, 'content-type': 'application/json' }, JSON.stringify(project));
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.headers.location, created.body.statusUrl);
    conforms('/api/v1/projects', 'POST', created);
  });

  it('refuses with documented statuses and bodies: 401, 403, 400 (field paths), 413, 415, path tricks; refusals go to output 2', async () => {
    collected.length = 0;
    const seen = collected;

    const noAuth = await request(port, 'GET', '/api/v1/projects');
    assert.equal(noAuth.status, 401);
    assert.match(String(noAuth.headers['www-authenticate']), /Bearer/);
    conforms('/api/v1/projects', 'GET', noAuth);

    const scope = await request(port, 'GET', '/api/v1/invoices', { 'x-api-key': key });
    assert.equal(scope.status, 403);
    conforms('/api/v1/invoices', 'GET', scope);

    const bad = { ...project, status: 'sleeping' };
    delete bad.name;
    const invalid = await request(port, 'POST', '/api/v1/projects', { 'x-api-key': key, 'content-type': 'application/json' }, JSON.stringify(bad));
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.errors.map((e: any) => e.path).sort(), ['/name', '/status']);
    conforms('/api/v1/projects', 'POST', invalid);

    const big = await request(port, 'POST', '/api/v1/projects', { 'x-api-key': key, 'content-type': 'application/json' }, JSON.stringify({ ...project, notes: 'x'.repeat(8000) }));
    assert.equal(big.status, 413);
    conforms('/api/v1/projects', 'POST', big);

    const text = await request(port, 'POST', '/api/v1/projects', { 'x-api-key': key, 'content-type': 'text/plain' }, 'hello');
    assert.equal(text.status, 415);

    const proto = await request(port, 'POST', '/api/v1/projects', { 'x-api-key': key, 'content-type': 'application/json' }, '{"__proto__":{"polluted":true},"id":"x"}');
    assert.equal(proto.status, 400);
    assert.equal(({} as any).polluted, undefined);

    for (const p of ['/api/v1/projects/..', '/api/v1/projects/a%2Fb', '/api/v1/projects/%2e%2e']) {
      const r = await request(port, 'GET', p, { 'x-api-key': key });
      assert.equal(r.status, 400, p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    await waitFor(() => seen.length >= 9, "9 refusals on output 2 (sent after the response)");
    assert.ok(seen.every((m) => m.res === undefined && typeof m.statusCode === 'number'));
  });

  it('rate-limits per consumer with 429 + Retry-After; revoked keys are refused', async () => {
    let last: Res | undefined;
    for (let i = 0; i < 10; i++) {
      last = await request(port, 'GET', '/api/v1/invoices', { 'x-api-key': readKey });
      if (last.status === 429) break;
    }
    assert.equal(last?.status, 429);
    assert.match(String(last?.headers['retry-after']), /^\d+$/);
    conforms('/api/v1/invoices', 'GET', last as Res);

    const id = /^psf_([0-9a-f]{12})_/.exec(key)?.[1];
    const del = await request(adminPort, 'DELETE', `/ps-fabric/api-keys/${id}`);
    assert.equal(del.status, 204);
    const after = await request(port, 'GET', '/api/v1/projects', { 'x-api-key': key });
    assert.equal(after.status, 401);
  });
});
