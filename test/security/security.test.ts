/**
 * Security suite (issue 7 item 4): a real runtime (dist/runtime/start.js in a child process, stdout/stderr captured)
 * with adminAuth ON, the templates (incl. the experience APIs) deployed, the sandboxes, FABRIC_MQTT_AUTH=required.
 * Every refusal is checked for "no effect": no outbox item, no requested event on the bus, no exception, no new
 * Kantata workspace in the sandbox.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import bcrypt from 'bcryptjs';
import jwt from 'jsonwebtoken';
import mqtt from 'mqtt';
import Database from 'better-sqlite3';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const model = require(path.resolve(__dirname, '..', '..', 'lib', 'model')) as { validate(entity: string, data: unknown, opts?: { version?: number }): { ok: boolean; errors?: unknown[] } };

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ADMIN_PASSWORD = `adm-${crypto.randomBytes(9).toString('hex')}`;
const VIEWER_PASSWORD = `view-${crypto.randomBytes(9).toString('hex')}`;
const MQTT_PASSWORD = `mq-${crypto.randomBytes(9).toString('hex')}`;
const CREDENTIAL_SECRET = crypto.randomBytes(32).toString('hex');
const SANDBOX_SECRETS = ['psfabric-sandbox-secret', 'psf-demo-bc-secret', 'jira-sandbox-api-token'];

const RESOURCES = ['customers', 'projects', 'contracts', 'resources', 'time-entries', 'invoices', 'revenue-events'];
/** The resources that take writes; the others answer POST with 405 (their system of record creates them). */
const WRITABLE = ['projects', 'time-entries'];

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function http(method: string, url: string, opts: { headers?: Record<string, string>; body?: string | object } = {}): Promise<Res> {
  // X-PS-Fabric-Request: the header every state-changing admin call needs (docs/security.md); API calls ignore it
  const headers: Record<string, string> = { 'x-ps-fabric-request': '1', ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await fetch(url, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

describe('security suite: a real runtime with login, API keys, JWT and broker auth', function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let child: ChildProcess;
  let output = '';
  let url = '';
  let mqttUrl = '';
  let sandboxUrl = '';
  let adminToken = '';
  let viewerToken = '';
  const keys: Record<string, { id: string; key: string }> = {};
  const jwtKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issuer = 'https://idp.security-suite.test';
  let requested: string[] = [];
  let watcher: mqtt.MqttClient;
  let workspacesBefore = 0;

  let runtimeEnv: NodeJS.ProcessEnv = {};
  /** Starts dist/runtime/start.js on tmp.dir (again after a stop: same user dir, store and key file). */
  async function boot(): Promise<void> {
    child = fork(path.join(ROOT, 'dist', 'runtime', 'start.js'), [], { cwd: ROOT, env: runtimeEnv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    child.stdout!.on('data', (b) => (output += b.toString()));
    child.stderr!.on('data', (b) => (output += b.toString()));
    const ready = await new Promise<{ url: string; mqttUrl: string }>((resolve, reject) => {
      child.once('message', (m: any) => resolve(m));
      child.once('exit', (code) => reject(new Error(`runtime exited ${code}: ${output.slice(-2000)}`)));
    });
    url = ready.url;
    mqttUrl = ready.mqttUrl;
    sandboxUrl = `http://127.0.0.1:${runtimeEnv.FABRIC_SANDBOX_PORT}`;
    await waitFor(async () => (await http('GET', `${url}/healthz`)).json?.flows?.state === 'started', 'flows started', 30000, 200);
  }
  async function stop(): Promise<void> {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }

  const adminH = () => ({ authorization: `Bearer ${adminToken}` });
  const signJwt = (claims: object, key = jwtKey.privateKey, expiresIn: number = 300) =>
    jwt.sign({ scope: 'projects:read requests:read', ...claims }, key.export({ type: 'pkcs8', format: 'pem' }) as string, { algorithm: 'RS256', issuer, audience: 'ps-fabric-api', subject: 'portal', expiresIn });

  async function token(username: string, password: string, scope = '*'): Promise<string> {
    const r = await http('POST', `${url}/auth/token`, { body: { client_id: 'node-red-admin', grant_type: 'password', scope, username, password } });
    assert.equal(r.status, 200, `login of ${username}: ${r.text}`);
    return r.json.access_token;
  }

  function db(): Database.Database {
    return new Database(path.join(tmp.dir, 'ps-fabric.sqlite'), { readonly: true, fileMustExist: true });
  }
  function counts(): { outbox: number; exceptions: number } {
    const d = db();
    try {
      return { outbox: (d.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n, exceptions: (d.prepare('SELECT count(*) AS n FROM exceptions').get() as { n: number }).n };
    } finally {
      d.close();
    }
  }
  function openWrites(): number {
    const d = db();
    try {
      return (d.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'inflight')").get() as { n: number }).n;
    } finally {
      d.close();
    }
  }
  /** When time-to-cash's PSA poll last completed (its records handed on to the flow), from its watermark. */
  function lastPsaPoll(): string {
    const d = db();
    try {
      return (d.prepare("SELECT value FROM watermarks WHERE name LIKE '%:t2c-kantata-poll:approved:polledAt'").get() as { value: string } | undefined)?.value ?? '';
    } finally {
      d.close();
    }
  }
  /**
   * The templates' own work has settled (time-to-cash invoices the sandbox's approved time at start, and bills what a
   * test approves): no outbox write open, and two of its PSA polls completed since without the store changing. Reads
   * the store file only, so the test consumers' API read budget is not spent.
   */
  async function settled(what: string): Promise<void> {
    let quiet: { state: string; polls: Set<string> } | undefined;
    await waitFor(() => {
      const open = openWrites();
      const state = JSON.stringify(counts());
      if (open > 0 || quiet?.state !== state) {
        quiet = open > 0 ? undefined : { state, polls: new Set([lastPsaPoll()]) };
        return false;
      }
      quiet.polls.add(lastPsaPoll());
      return quiet.polls.size >= 3; // the poll seen when it went quiet, and two completed since
    }, what, 90000, 100);
  }
  /** The id of the newest audit entry: the API decisions after it are the ones a test made. */
  function lastAuditId(): number {
    const d = db();
    try {
      return (d.prepare('SELECT coalesce(max(id), 0) AS n FROM audit').get() as { n: number }).n;
    } finally {
      d.close();
    }
  }
  async function workspaceCount(): Promise<number> {
    // count through the API with the template's demo application token
    const r = await http('GET', `${sandboxUrl}/kantata/api/v1/workspaces?per_page=1`, { headers: { authorization: `Bearer ${kantata.accessToken}` } });
    return Number(r.json?.count ?? -1);
  }
   
  const kantata = (() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled sandbox, as the runtime loads it
    const k = require(path.join(ROOT, 'dist', 'sandbox', 'kantata')) as Record<string, unknown>;
    return { accessToken: String(k.KANTATA_STATIC_TOKEN ?? '') };
  })();

  before(async () => {
    tmp = tempDir('psf-security-');
    const [port, mqttPort, sbPort] = [await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      FABRIC_USER_DIR: tmp.dir,
      FABRIC_HOST: '127.0.0.1',
      FABRIC_PORT: String(port),
      FABRIC_MQTT_PORT: String(mqttPort),
      FABRIC_SANDBOX_PORT: String(sbPort),
      FABRIC_MQTT_PERSISTENCE: 'memory',
      FABRIC_MQTT_AUTH: 'required',
      FABRIC_MQTT_USERS: JSON.stringify({
        users: [
          { username: 'watcher', passwordHash: bcrypt.hashSync(MQTT_PASSWORD, 4), publish: [], subscribe: ['fabric/v1/#'] },
          { username: 'legacy', passwordHash: bcrypt.hashSync(MQTT_PASSWORD, 4), publish: ['legacy/%u/out/#'], subscribe: ['legacy/%u/in/#'] },
        ],
      }),
      FABRIC_ADMIN_USER: 'ops',
      FABRIC_ADMIN_PASSWORD_HASH: bcrypt.hashSync(ADMIN_PASSWORD, 4),
      FABRIC_ADMIN_VIEWER_USER: 'auditor',
      FABRIC_ADMIN_VIEWER_PASSWORD_HASH: bcrypt.hashSync(VIEWER_PASSWORD, 4),
      FABRIC_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
      FABRIC_API_JWT_ISSUER: issuer,
      FABRIC_API_JWT_AUDIENCE: 'ps-fabric-api',
      FABRIC_API_JWT_PUBLIC_KEY: jwtKey.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      FABRIC_LOG_LEVEL: 'info',
      // time-to-cash's PSA poll: a portal time entry approved in the PSA is billed within seconds
      FABRIC_T2C_POLL_SECONDS: '2',
    };
    runtimeEnv = env;
    await boot();
    adminToken = await token('ops', ADMIN_PASSWORD);
    viewerToken = await token('auditor', VIEWER_PASSWORD, 'read');
    const issue = async (name: string, scopes: string[]) => {
      const r = await http('POST', `${url}/ps-fabric/api-keys`, { headers: adminH(), body: { name, scopes, rateLimit: { perSecond: 1000, burst: 1000 } } });
      assert.equal(r.status, 201, r.text);
      keys[name] = { id: r.json.id, key: r.json.key };
    };
    await issue('portal', ['projects:read', 'projects:write', 'customers:read', 'requests:read']);
    await issue('narrow', ['invoices:read']);
    await issue('requests-only', ['requests:read']);
    await issue('revoked', ['*:read', '*:write']);
    await issue('reader', ['*:read', 'projects:write', 'requests:read']);
    await issue('timesheets', ['timeentries:write', 'timeentries:read', 'requests:read']);
    const del = await http('DELETE', `${url}/ps-fabric/api-keys/${keys.revoked.id}`, { headers: adminH() });
    assert.equal(del.status, 204);
    watcher = mqtt.connect(mqttUrl, { username: 'watcher', password: MQTT_PASSWORD, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      watcher.once('connect', () => resolve());
      watcher.once('error', reject);
    });
    await watcher.subscribeAsync('fabric/v1/+/requested', { qos: 1 });
    watcher.on('message', (topic) => requested.push(topic));
    workspacesBefore = await workspaceCount();
    // the process templates run in this runtime too: let their own work settle so the "no effect" checks see only
    // what the API requests did
    await settled('the templates\' start-up work settled');
  });

  after(async () => {
    watcher?.end(true);
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    tmp?.cleanup();
  });

  /** What assertNoEffect compares with: the store's counts and the newest audit entry before the requests. */
  function snapshot(): { counts: ReturnType<typeof counts>; audit: number } {
    return { counts: counts(), audit: lastAuditId() };
  }
  /**
   * Nothing was written anywhere by the requests since `before`. Only a write the api-gate accepts is handed over, and
   * the gate audits each decision before it answers, in order: once a last (refused) request's decision is in the audit
   * trail, every earlier one is, and none of them may be an accepted write.
   */
  async function assertNoEffect(before: ReturnType<typeof snapshot>, what: string): Promise<void> {
    const marker = `no-effect-${crypto.randomUUID()}`;
    assert.equal((await http('GET', `${url}/api/v1/projects/${marker}`)).status, 401);
    const decisions = (): Array<{ action: string; details: string }> => {
      const d = db();
      try {
        return d.prepare("SELECT action, details FROM audit WHERE id > ? AND action LIKE 'api.request.%'").all(before.audit) as Array<{ action: string; details: string }>;
      } finally {
        d.close();
      }
    };
    await waitFor(() => decisions().some((e) => e.action === 'api.request.refused' && String(e.details).includes(marker)), `${what}: the api-gate's decisions audited`, 10000);
    const writes = decisions().filter((e) => e.action === 'api.request.accepted' && !/"method":"(GET|HEAD)"/.test(String(e.details)));
    assert.deepEqual(writes, [], `${what}: a write was accepted`);
    assert.deepEqual(counts(), before.counts, `${what}: store changed`);
    assert.deepEqual(requested, [], `${what}: a requested event was published`);
    assert.equal(await workspaceCount(), workspacesBefore, `${what}: a Kantata workspace was created`);
  }

  describe('admin API (editor login)', () => {
    const endpoints: Array<[string, string]> = [
      ['GET', '/flows'],
      ['GET', '/nodes'],
      ['GET', '/settings'],
      ['GET', '/ps-fabric/api-keys'],
      ['GET', '/ps-fabric/api-scopes'],
      ['GET', '/ps-fabric/exceptions'],
      ['GET', '/ps-fabric/ownership/default'],
      ['GET', '/ps-fabric/connections/check'],
      ['GET', '/ps-fabric/xref?entity=account&id=ACC-1001'],
      ['GET', '/ps-fabric/xref/reconcile?entity=project'],
      ['POST', '/flows'],
      ['POST', '/ps-fabric/connections/check'],
      ['POST', '/ps-fabric/api-keys'],
      ['DELETE', '/ps-fabric/api-keys/000000000000'],
      ['GET', '/ps-fabric/triggers'],
      ['POST', '/ps-fabric/triggers/q2p-sf-trigger/backfill'],
    ];
    it('refuses every admin endpoint without a login (401)', async () => {
      for (const [m, p] of endpoints) {
        const r = await http(m, `${url}${p}`, m === 'GET' || m === 'DELETE' ? {} : { body: {} });
        assert.equal(r.status, 401, `${m} ${p} answered ${r.status}`);
      }
      const bogus = await http('GET', `${url}/flows`, { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(bogus.status, 401);
    });
    it('lets a read-only operator read flows but not change them, nor manage API keys', async () => {
      const h = { authorization: `Bearer ${viewerToken}` };
      assert.equal((await http('GET', `${url}/flows`, { headers: h })).status, 200);
      // the setup check's last results are readable; running one (vendor quota) is not
      assert.equal((await http('GET', `${url}/ps-fabric/connections/check`, { headers: h })).status, 200);
      for (const [m, p] of [['POST', '/flows'], ['GET', '/ps-fabric/api-keys'], ['POST', '/ps-fabric/api-keys'], ['DELETE', `/ps-fabric/api-keys/${keys.portal.id}`], ['POST', '/ps-fabric/connections/check']] as const) {
        const r = await http(m, `${url}${p}`, { headers: h, ...(m === 'POST' ? { body: { name: 'x', scopes: ['*:write'] } } : {}) });
        assert.ok(r.status === 401 || r.status === 403, `${m} ${p} answered ${r.status} to a read-only user`);
      }
      // the trigger runs are readable; starting a backfill (vendor reads, records emitted) is not
      assert.equal((await http('GET', `${url}/ps-fabric/triggers`, { headers: h })).status, 200);
      const backfill = await http('POST', `${url}/ps-fabric/triggers/q2p-sf-trigger/backfill`, { headers: h, body: { from: '2026-09-30T00:00:00Z', to: '2026-10-02T00:00:00Z' } });
      assert.ok(backfill.status === 401 || backfill.status === 403, `POST backfill answered ${backfill.status} to a read-only user`);
      const runs = (await http('GET', `${url}/ps-fabric/triggers`, { headers: h })).json as { runs: Array<{ trigger: string; kind: string }> };
      assert.ok(!runs.runs.some((r) => r.kind === 'backfill'), `no backfill started: ${JSON.stringify(runs)}`);
      // the portal key still works: the viewer's DELETE had no effect
      assert.equal((await http('GET', `${url}/api/v1/projects`, { headers: { 'x-api-key': keys.portal.key } })).status, 200);
    });
    it('sends security headers on the admin API and never X-Powered-By', async () => {
      const r = await http('GET', `${url}/flows`, { headers: adminH() });
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.equal(r.headers.get('x-powered-by'), null);
    });
  });

  describe('experience APIs', () => {
    const endpoints: Array<[string, string]> = [];
    for (const r of RESOURCES) endpoints.push(['GET', `/api/v1/${r}`], ...(WRITABLE.includes(r) ? [['POST', `/api/v1/${r}`] as [string, string]] : []), ['GET', `/api/v1/${r}/X-1`]);
    endpoints.push(['GET', '/api/v2/time-entries'], ['POST', '/api/v2/time-entries'], ['GET', '/api/v2/time-entries/X-1'], ['GET', '/api/v1/requests/0b6a4c1e-0000-4000-8000-000000000000']);

    it('serves the OpenAPI document publicly, with security headers', async () => {
      const r = await http('GET', `${url}/api/v1/openapi.json`);
      assert.equal(r.status, 200);
      assert.equal(r.json.openapi.startsWith('3.1'), true);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('x-frame-options'), 'DENY');
      assert.equal(r.headers.get('x-powered-by'), null);
    });

    it('refuses every endpoint with no key, a revoked key, a wrong-scope key, an expired or wrongly signed JWT', async () => {
      const before = snapshot();
      const expired = signJwt({ iat: Math.floor(Date.now() / 1000) - 3600 }, jwtKey.privateKey, -600);
      const forged = signJwt({}, otherKey.privateKey);
      const wrongIssuer = jwt.sign({ scope: '*:read *:write' }, jwtKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { algorithm: 'RS256', issuer: 'https://evil.test', audience: 'ps-fabric-api', subject: 'x', expiresIn: 300 });
      const body = { id: 'X-1' };
      for (const [m, p] of endpoints) {
        const opts = (headers: Record<string, string>) => ({ headers, ...(m === 'POST' ? { body } : {}) });
        const wrongScopeKey = p.includes('/requests/') ? keys.narrow.key : keys['requests-only'].key;
        const cases: Array<[string, Record<string, string>, number]> = [
          ['no key', {}, 401],
          ['revoked key', { 'x-api-key': keys.revoked.key }, 401],
          ['malformed key', { 'x-api-key': 'psf_000000000000_nope' }, 401],
          ['wrong scope', { 'x-api-key': wrongScopeKey }, 403],
          ['expired JWT', { authorization: `Bearer ${expired}` }, 401],
          ['forged JWT', { authorization: `Bearer ${forged}` }, 401],
          ['wrong issuer JWT', { authorization: `Bearer ${wrongIssuer}` }, 401],
        ];
        for (const [what, h, want] of cases) {
          const r = await http(m, `${url}${p}`, opts(h));
          assert.equal(r.status, want, `${m} ${p} with ${what}: ${r.status} ${r.text}`);
          assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
        }
      }
      await assertNoEffect(before, 'refused credentials');
      // the refusals are in the audit trail with the consumer and reason
      const d = db();
      try {
        const n = (d.prepare("SELECT count(*) AS n FROM audit WHERE action = 'api.request.refused'").get() as { n: number }).n;
        assert.ok(n >= endpoints.length * 7, `audit has ${n} refusals`);
      } finally {
        d.close();
      }
    });

    it('refuses oversized, malformed, prototype-polluting and path-trick requests with no effect', async () => {
      const before = snapshot();
      const h = { 'x-api-key': keys.portal.key };
      const big = await http('POST', `${url}/api/v1/projects`, { headers: h, body: { id: 'P-1', pad: 'x'.repeat(2 * 1024 * 1024) } });
      assert.equal(big.status, 413, big.text);
      const medium = await http('POST', `${url}/api/v1/projects`, { headers: h, body: { id: 'P-1', pad: 'x'.repeat(300 * 1024) } });
      assert.equal(medium.status, 413, medium.text);
      const malformed = await http('POST', `${url}/api/v1/projects`, { headers: h, body: '{"id": "P-1", ' });
      assert.equal(malformed.status, 400, malformed.text);
      assert.ok(malformed.json, `malformed JSON answer: ${malformed.headers.get('content-type')} ${malformed.text.slice(0, 300)}`);
      assert.match(malformed.json.error, /malformed JSON/);
      for (const evil of ['{"__proto__": {"admin": true}, "id": "P-1"}', '{"id": "P-1", "constructor": {"prototype": {"x": 1}}}', '{"id":"P-1","budget":{"__proto__":{"polluted":1}}}']) {
        const r = await http('POST', `${url}/api/v1/projects`, { headers: h, body: evil });
        assert.equal(r.status, 400, `${evil}: ${r.status} ${r.text}`);
      }
      assert.equal(({} as Record<string, unknown>).admin, undefined);
      const notJson = await http('POST', `${url}/api/v1/projects`, { headers: { ...h, 'content-type': 'text/plain' }, body: 'id=1' });
      assert.equal(notJson.status, 415);
      for (const p of ['/api/v1/projects/..%2f..%2fflows', '/api/v1/projects/%2e%2e', '/api/v1/projects/a%2Fb', '/api/v1/projects/%252e%252e', '/api/v1/projects/a%5cb', '/api/v1/requests/..%2F..%2Fsettings', '/api/v1/projects/__proto__', '/api/v1/projects/constructor']) {
        const r = await http('GET', `${url}${p}`, { headers: h });
        assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status} ${r.text}`);
        assert.ok(!/"flows"|adminAuth|credentialSecret/.test(r.text), `${p} leaked something: ${r.text.slice(0, 200)}`);
      }
      await assertNoEffect(before, 'hostile requests');
    });

    it('refuses writes to read-only resources (customers, contracts, resources, invoices, revenue events) with 405, with or without a key, with no effect', async () => {
      const before = snapshot();
      for (const r of RESOURCES.filter((x) => !WRITABLE.includes(x))) {
        const credentials: Array<Record<string, string>> = [{}, { 'x-api-key': keys.revoked.key }, { 'x-api-key': keys.reader.key }];
        for (const h of credentials) {
          const res = await http('POST', `${url}/api/v1/${r}`, { headers: h, body: { id: 'X-1' } });
          assert.equal(res.status, 405, `POST ${r}: ${res.status} ${res.text}`);
          assert.equal(res.headers.get('allow'), 'GET');
          assert.match(res.json.error, /read-only here/);
          assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        }
      }
      const doc = await http('GET', `${url}/api/v1/openapi.json`);
      for (const r of RESOURCES) assert.equal(doc.json.paths[`/api/v1/${r}`].post !== undefined, WRITABLE.includes(r), `openapi.json: POST ${r}`);
      await assertNoEffect(before, 'writes to read-only resources');
    });

    it('accepts a valid write: 202 + tracking id, status pollable by its consumer only, the project created in the PSA (completed); reads come from the systems of record', async () => {
      const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'canonical', 'project.json'), 'utf8'))[0];
      const r = await http('POST', `${url}/api/v1/projects`, { headers: { 'x-api-key': keys.portal.key }, body: project });
      assert.equal(r.status, 202, r.text);
      assert.match(r.json.trackingId, /^[0-9a-f-]{36}$/);
      await waitFor(() => requested.includes('fabric/v1/project/requested'), 'the requested event', 10000);
      requested = [];
      const other = await http('GET', `${url}${r.json.statusUrl}`, { headers: { 'x-api-key': keys['requests-only'].key } });
      assert.equal(other.status, 404, 'another consumer cannot see the request');
      const done = await waitFor(async () => {
        const s = await http('GET', `${url}${r.json.statusUrl}`, { headers: { 'x-api-key': keys.portal.key } });
        assert.equal(s.status, 200, s.text);
        return s.json.status === 'completed' || s.json.status === 'failed' ? s.json : undefined;
      }, 'the project request completed', 30000, 200);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      const wsId = String(done.references.psa).replace('KAN-WS-', '');
      const inPsa = (await http('GET', `${sandboxUrl}/kantata/_sandbox/records/workspaces`)).json.filter((w: any) => (w.external_references ?? []).some((x: any) => x.service_model_ref === project.id));
      assert.deepEqual(inPsa.map((w: any) => w.id), [wsId], 'one Kantata workspace for the project');
      const viaJwt = await http('GET', `${url}/api/v1/projects`, { headers: { authorization: `Bearer ${signJwt({})}` } });
      assert.equal(viaJwt.status, 200, `a valid JWT: ${viaJwt.text}`);
      const projects = await http('GET', `${url}/api/v1/projects`, { headers: { 'x-api-key': keys.portal.key } });
      assert.equal(projects.status, 200, projects.text);
      assert.equal(projects.json.source, 'kantata');
      assert.ok(projects.json.items.length > 0 && projects.json.items.every((p: { id: string }) => /^KAN-WS-\d+$/.test(p.id)));
      const one = await http('GET', `${url}/api/v1/projects/${done.references.psa}`, { headers: { 'x-api-key': keys.portal.key } });
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.name, project.name);
      const customers = await http('GET', `${url}/api/v1/customers`, { headers: { 'x-api-key': keys.portal.key } });
      assert.equal(customers.status, 200, customers.text);
      assert.equal(customers.json.source, 'salesforce');
      assert.ok(customers.json.items.length > 0);
    });

    it('a portal time entry (v2) is recorded in the PSA, billed after approval there, and its status completes with the ERP invoice', async function () {
      this.timeout(120000);
      const h = { 'x-api-key': keys.timesheets.key };
      const id = `TE-SEC-${crypto.randomBytes(3).toString('hex')}`;
      const body = {
        id, version: 1, person: { id: 'CON-003', name: 'Grace Kim', email: 'grace.kim@northwind-advisory.example' }, projectId: 'KAN-WS-400001', date: '2026-11-24',
        hours: 4, role: 'Senior Consultant', billable: true, rate: { amount: 175, currency: 'USD', unit: 'hour' }, status: 'submitted', workLocation: 'client-site',
      };
      const r = await http('POST', `${url}/api/v2/time-entries`, { headers: h, body });
      assert.equal(r.status, 202, r.text);
      await waitFor(() => requested.includes('fabric/v1/timeentry/requested'), 'the requested event', 10000);
      requested = [];
      const status = async () => (await http('GET', `${url}${r.json.statusUrl}`, { headers: h })).json;
      const processing = await waitFor(async () => ((await status()).status === 'processing' ? status() : undefined), 'recorded in the PSA', 30000, 200);
      const psaId = String(processing.references.psa).replace('KAN-TE-', '');
      await http('POST', `${sandboxUrl}/kantata/_sandbox/approve`, { body: { ids: [psaId] } });
      const done = await waitFor(async () => {
        const s = await status();
        return s.status === 'completed' || s.status === 'failed' ? s : undefined;
      }, 'the time entry billed', 60000, 300);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      const lines = (await http('GET', `${sandboxUrl}/netsuite/_sandbox/records/invoice`)).json.filter((inv: any) => (inv.item?.items ?? []).some((l: any) => String(l.custcol_psf_source_refs ?? '').split(/[,\s]+/).includes(`KAN-TE-${psaId}`)));
      assert.deepEqual(lines.map((inv: any) => inv.externalId), [done.references.invoice], 'on exactly one NetSuite invoice');
    });
  });

  describe('reads from the systems of record (all seven resources, mapped and schema-valid)', () => {
    const h = () => ({ 'x-api-key': keys.reader.key });
    const get = (p: string) => http('GET', `${url}${p}`, { headers: h() });
    const sandbox = async (vendor: string, collection: string): Promise<any[]> => (await http('GET', `${sandboxUrl}/${vendor}/_sandbox/records/${collection}`)).json;
    function assertValid(entity: string, items: any[], version = 1): void {
      for (const it of items) {
        const r = model.validate(entity, it, { version });
        assert.ok(r.ok, `${entity} ${it.id} does not validate: ${JSON.stringify(r.errors)}`);
      }
    }
    /** Every page of a list, following nextCursor with a small limit (paging is the same for every resource). */
    async function all(p: string, limit = 3): Promise<any[]> {
      const out: any[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 200; i++) {
        const sep = p.includes('?') ? '&' : '?';
        const r = await get(`${p}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(r.status, 200, `${p}: ${r.text}`);
        assert.equal(r.json.incomplete, undefined, `${p}: records that could not be mapped: ${JSON.stringify(r.json.incomplete)}`);
        assert.ok(r.json.items.length <= limit);
        out.push(...r.json.items);
        cursor = r.json.nextCursor;
        if (!cursor) return out;
      }
      throw new Error('too many pages');
    }

    it('customers: Salesforce Account; projects: Kantata workspaces (list + item, mapped and schema-valid)', async () => {
      const accounts = await sandbox('salesforce', 'Account');
      const customers = await all('/api/v1/customers');
      assertValid('account', customers);
      assert.deepEqual(customers.map((c) => c.id).sort(), accounts.map((a) => a.External_Id__c || `SF-${a.Id}`).sort());
      for (const c of customers) {
        const a = accounts.find((x) => x.Id === c.externalIds.salesforce);
        assert.ok(a, `account ${c.id} is in the sandbox`);
        assert.equal(c.legalName, a.Name);
        assert.equal(c.billingEntity, a.Billing_Entity__c);
        assert.equal(c.currency, a.CurrencyIsoCode);
        assert.equal(c.addresses?.[0]?.city, a.BillingCity ?? undefined);
        assert.equal(!!c.taxRegistrations, !!a.Tax_Registration__c);
      }
      const acme = customers.find((c) => c.id === 'ACC-1001');
      assert.ok(acme, 'the Acme account');
      assert.deepEqual(acme.taxRegistrations, [{ scheme: 'EIN', number: '84-1234567', country: 'US' }]);
      const oneCustomer = await get(`/api/v1/customers/${acme.id}`);
      assert.equal(oneCustomer.status, 200, oneCustomer.text);
      assert.deepEqual(oneCustomer.json, acme);
      assert.equal((await get('/api/v1/customers/ACC-NOPE')).status, 404);
      const uk = await get('/api/v1/customers?billingEntity=NWA-UK&limit=200');
      assert.deepEqual(uk.json.items.map((c: any) => c.id).sort(), accounts.filter((a) => a.Billing_Entity__c === 'NWA-UK').map((a) => a.External_Id__c).sort());

      const workspaces = (await sandbox('kantata', 'workspaces')).filter((w) => !w.archived);
      const users = await sandbox('kantata', 'users');
      const projects = await all('/api/v1/projects', 2);
      assertValid('project', projects);
      assert.deepEqual(projects.map((p) => p.id).sort(), workspaces.map((w) => `KAN-WS-${w.id}`).sort());
      for (const p of projects) {
        const w = workspaces.find((x) => `KAN-WS-${x.id}` === p.id);
        const cf = (id: string) => (w.custom_fields ?? []).find((c: any) => String(c.custom_field_id) === id)?.value;
        assert.equal(p.name, w.title);
        assert.equal(p.currency, w.currency);
        assert.equal(p.billingEntity, cf('501'));
        assert.equal(p.accountId, cf('503'));
        assert.equal(p.startDate, w.start_date);
        if (w.primary_maven_id) assert.equal(p.deliveryManager.id, users.find((u) => u.id === w.primary_maven_id).external_id);
      }
      const oneProject = await get(`/api/v1/projects/${projects[0].id}`);
      assert.equal(oneProject.status, 200, oneProject.text);
      assert.deepEqual(oneProject.json, projects[0]);
      assert.equal((await get('/api/v1/projects/KAN-WS-999999999')).status, 404);
      assert.equal((await get('/api/v1/projects/P-NOPE')).status, 404);
      const bad = await get('/api/v1/projects?limit=500');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.errors[0].path, '/limit');
    });

    it('contracts: Salesforce Contract with milestones and amendments', async () => {
      const sf = await sandbox('salesforce', 'Contract');
      const items = await all('/api/v1/contracts');
      assertValid('contract', items);
      assert.deepEqual(items.map((c) => c.id).sort(), sf.map((c) => c.External_Id__c).sort());
      const acme = items.find((c) => c.id === 'CTR-5001');
      assert.ok(acme, 'the Acme contract');
      assert.equal(acme.status, 'amended');
      assert.equal(acme.amendments[0].id, 'CTR-5001-A1');
      const one = await get(`/api/v1/contracts/${acme.id}`);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(one.json, acme);
      assert.equal((await get('/api/v1/contracts/CTR-NOPE')).status, 404);
      const bad = await get('/api/v1/contracts?cursor=bm9wZQ');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.errors[0].path, '/cursor');
    });

    it('resources: Kantata participations of a project; time entries: Kantata time_entries with filters', async () => {
      const parts = await sandbox('kantata', 'participations');
      const ws = parts[0].workspace_id;
      const items = await all(`/api/v1/resources?projectId=KAN-WS-${ws}`, 2);
      assertValid('resourceassignment', items);
      assert.deepEqual(items.map((r) => r.id).sort(), parts.filter((p) => p.workspace_id === ws).map((p) => `KAN-PA-${ws}-${p.id}`).sort());
      const one = await get(`/api/v1/resources/${items[0].id}`);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(one.json, items[0]);
      const noProject = await get('/api/v1/resources');
      assert.equal(noProject.status, 400);
      assert.equal(noProject.json.errors[0].path, '/projectId');

      const tes = await sandbox('kantata', 'time_entries');
      const tws = tes[0].workspace_id;
      const entries = await all(`/api/v1/time-entries?projectId=KAN-WS-${tws}`, 7);
      assertValid('timeentry', entries);
      assert.deepEqual(entries.map((t) => t.id).sort(), tes.filter((t) => t.workspace_id === tws).map((t) => `KAN-TE-${t.id}`).sort());
      const sample = tes.find((t) => t.workspace_id === tws);
      const te = entries.find((t) => t.id === `KAN-TE-${sample.id}`);
      assert.equal(te.date, sample.date_performed);
      assert.equal(te.hours, Math.round((sample.time_in_minutes / 60) * 100) / 100);
      const dated = await get(`/api/v1/time-entries?projectId=KAN-WS-${tws}&from=${sample.date_performed}&to=${sample.date_performed}&limit=200`);
      assert.equal(dated.status, 200, dated.text);
      assert.deepEqual(dated.json.items.map((t: any) => t.id).sort(), tes.filter((t) => t.workspace_id === tws && t.date_performed === sample.date_performed).map((t) => `KAN-TE-${t.id}`).sort());
      const v2 = await get(`/api/v2/time-entries/${te.id}`);
      assert.equal(v2.status, 200, v2.text);
      assertValid('timeentry', [v2.json], 2);
      const one2 = await get(`/api/v1/time-entries/${te.id}`);
      assert.deepEqual(one2.json, te);
    });

    it('invoices from the ERP of each billing entity; revenue events derived from the posted ones', async function () {
      this.timeout(90000);
      // the time-to-cash template (deployed with the others) invoices the sandbox's approved time into NetSuite and BC
      const erpInvoices = async () => ({ ns: await sandbox('netsuite', 'invoice'), bc: await sandbox('bc', 'salesInvoices') });
      await waitFor(async () => {
        const e = await erpInvoices();
        return e.ns.length > 0 && e.bc.length > 0;
      }, 'invoices in NetSuite and Business Central', 60000, 500);
      // time-to-cash may still be billing: compare once it has settled (read from the store, not through the API)
      await settled('time-to-cash\'s invoicing settled');
      const e = await erpInvoices();
      assert.ok(e.ns.length > 0 && e.bc.length > 0, 'the ERPs hold invoices to compare');
      const items = await all('/api/v1/invoices', 2);
      assertValid('invoice', items);
      const want = [...e.ns.map((i) => i.externalId ?? `NS-INV-${i.id}`), ...e.bc.map((i) => i.externalDocumentNumber || `BC-INV-${i.number}`)];
      assert.deepEqual(items.map((i) => i.id).sort(), want.sort());
      for (const inv of items) {
        if (inv.externalIds.netsuite) {
          const src = e.ns.find((i) => i.id === inv.externalIds.netsuite);
          assert.equal(inv.billingEntity, 'NWA-US');
          assert.equal(inv.total.amount, src.total);
          assert.equal(inv.lines.length, src.item.items.length);
        } else {
          const src = e.bc.find((i) => i.id === inv.externalIds.businessCentral);
          assert.ok(['NWA-UK', 'NWA-DE'].includes(inv.billingEntity));
          assert.equal(inv.total.amount, src.totalAmountIncludingTax);
        }
      }
      if (items.length) {
        const one = await get(`/api/v1/invoices/${items[0].id}`);
        assert.equal(one.status, 200, one.text);
        assert.deepEqual(one.json, items[0]);
        const us = await get('/api/v1/invoices?billingEntity=NWA-US&limit=200');
        assert.deepEqual(us.json.items.map((i: any) => i.id).sort(), e.ns.map((i) => i.externalId ?? `NS-INV-${i.id}`).sort());
      }
      const revenue = await all('/api/v1/revenue-events', 2);
      assertValid('revenueevent', revenue);
      const posted = items.filter((i) => ['posted', 'sent', 'paid'].includes(i.status));
      assert.ok(posted.length > 0, 'posted invoices');
      assert.deepEqual(revenue.map((r) => r.invoiceId).sort(), posted.map((i) => i.id).sort());
      for (const r of revenue) assert.equal(r.amount.amount, posted.find((i) => i.id === r.invoiceId).subtotal.amount);
      if (revenue.length) assert.equal((await get(`/api/v1/revenue-events/${revenue[0].id}`)).json.id, revenue[0].id);
      assert.equal((await get('/api/v1/invoices?billingEntity=XX-NOPE')).status, 400);
    });
  });

  describe('MQTT broker (FABRIC_MQTT_AUTH=required)', () => {
    it('refuses anonymous clients and wrong passwords', async () => {
      for (const opts of [{}, { username: 'legacy', password: 'wrong' }]) {
        const c = mqtt.connect(mqttUrl, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
        const err = await new Promise<Error>((resolve) => {
          c.once('error', resolve);
          c.once('connect', () => resolve(new Error('connected')));
        });
        c.end(true);
        assert.notEqual(err.message, 'connected', `connected with ${JSON.stringify(opts)}`);
      }
    });
    it('refuses subscriptions and publications outside the client ACL, with no effect', async () => {
      const c = mqtt.connect(mqttUrl, { username: 'legacy', password: MQTT_PASSWORD, reconnectPeriod: 0 });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      const granted = await c.subscribeAsync('fabric/v1/#', { qos: 1 }).then((g) => g[0].qos, (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? 128);
      assert.equal(granted, 128, 'subscription outside the ACL refused');
      const ok = await c.subscribeAsync('legacy/legacy/in/#', { qos: 1 });
      assert.equal(ok[0].qos, 1);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      const logged = output.length;
      c.publish('fabric/v1/project/requested', JSON.stringify({ id: 'evil' }), { qos: 1 });
      await closed;
      c.end(true);
      // the broker's verdict (logged before it answers the publication): refused, so it forwards nothing
      await waitFor(() => output.slice(logged).includes('may not publish to "fabric/v1/project/requested"'), 'the broker refused the publication', 10000);
      assert.deepEqual(requested, [], 'the refused publication reached no subscriber');
    });
  });

  describe('secrets', () => {
    it('never appear in the flow file, the logs or the exception payloads', async () => {
      const flows = fs.readFileSync(path.join(tmp.dir, 'flows.json'), 'utf8');
      const cred = fs.readFileSync(path.join(tmp.dir, 'flows_cred.json'), 'utf8');
      const secrets = [ADMIN_PASSWORD, VIEWER_PASSWORD, MQTT_PASSWORD, CREDENTIAL_SECRET, ...SANDBOX_SECRETS, ...Object.values(keys).map((k) => k.key), kantata.accessToken].filter(Boolean);
      for (const s of secrets) {
        assert.ok(!flows.includes(s), `flows.json contains a secret (${s.slice(0, 4)}...)`);
        assert.ok(!cred.includes(s), `flows_cred.json holds a secret in clear (${s.slice(0, 4)}...)`);
        assert.ok(!output.includes(s), `the runtime log contains a secret (${s.slice(0, 4)}...)`);
      }
      const d = db();
      try {
        const rows = d.prepare('SELECT * FROM exceptions').all();
        const audit = d.prepare('SELECT * FROM audit').all();
        const dump = JSON.stringify(rows) + JSON.stringify(audit);
        for (const s of secrets) assert.ok(!dump.includes(s), `exceptions/audit contain a secret (${s.slice(0, 4)}...)`);
      } finally {
        d.close();
      }
      // API keys live in the runtime's store (api_consumers), as bcrypt hashes only
      const kd = db();
      try {
        const consumers = kd.prepare('SELECT * FROM api_consumers').all() as Array<{ hash: string }>;
        assert.ok(consumers.length >= Object.keys(keys).length, 'the issued keys are in the store');
        assert.ok(consumers.every((c) => /^\$2[ab]\$/.test(c.hash)), 'stored as bcrypt hashes');
        const dump = JSON.stringify(consumers);
        for (const k of Object.values(keys)) assert.ok(!dump.includes(k.key), 'API keys are stored hashed');
      } finally {
        kd.close();
      }
    });
  });

  describe('request status is durable', () => {
    it('a tracking id and its progress survive a runtime restart', async function () {
      this.timeout(120000);
      const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'canonical', 'project.json'), 'utf8'))[0];
      project.id = `PRJ-DURABLE-${crypto.randomBytes(3).toString('hex')}`;
      const h = { 'x-api-key': keys.reader.key };
      const r = await http('POST', `${url}/api/v1/projects`, { headers: h, body: project });
      assert.equal(r.status, 202, r.text);
      // the process layer reports progress on fabric/v1/request/updated; the status URL answers it from the store
      const before = await waitFor(async () => {
        const s = await http('GET', `${url}${r.json.statusUrl}`, { headers: h });
        return s.json?.status === 'completed' ? s : undefined;
      }, 'the project request completed', 30000, 200);
      await stop();
      await boot();
      const after = await http('GET', `${url}${r.json.statusUrl}`, { headers: h });
      assert.equal(after.status, 200, `after the restart: ${after.text}`);
      assert.equal(after.json.trackingId, r.json.trackingId);
      assert.equal(after.json.status, 'completed');
      assert.equal(after.json.entity, 'project');
      assert.equal(after.json.recordId, project.id);
      assert.equal(after.json.acceptedAt, before.json.acceptedAt);
      assert.deepEqual(after.json.references, before.json.references);
      const other = await http('GET', `${url}${r.json.statusUrl}`, { headers: { 'x-api-key': keys.portal.key } });
      assert.equal(other.status, 404, 'still only its consumer can read it');
    });
  });
});
