/**
 * Security tried from outside (issue 15): a real runtime (dist/runtime/start.js in a child process) with the editor
 * login on (an operator and a viewer), the templates, the dashboard and the sandboxes, attacked the way a client on
 * the firm's network or a script on a web page would:
 *  1. an anonymous socket.io client on /dashboard/socket.io, a viewer forging an operator's identity
 *  2. a rebinding Host, cross-origin preflights and posts, form / text/plain posts to admin routes
 *  4. bad percent-encodings on the experience APIs and admin routes
 *  3. forgeries on the bus from a local MQTT client without credentials, and from a named client with a forged source
 *  5. login storms on the editor's token endpoint and the dashboard login
 *  6. one consumer spending the vendors' read quota (a small read budget configured for the test)
 * Every attempt must be refused with no effect (the exception stays open, no key is issued, nothing replayed).
 * The cross-origin page in a real browser is in test/browser (loopback default, no login).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { PollingSocket } from './socketio-client';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OPS_PASSWORD = `ops-${crypto.randomBytes(9).toString('hex')}`;
const VIEWER_PASSWORD = `view-${crypto.randomBytes(9).toString('hex')}`;
const INITECH = '006Hs00000InitechQA';

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** A raw HTTP request (node:http: fetch does not let a caller set Host). */
function raw(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ method, host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** What a WebSocket upgrade request is answered with (status line), without completing any handshake. */
function upgrade(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': crypto.randomBytes(16).toString('base64'), ...headers } });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('security from outside: dashboard, browsers, encodings, login storms (issue 15)', function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let child: ChildProcess;
  let output = '';
  let url = '';
  let mqttUrl = '';
  const BRIDGE_PASSWORD = `bridge-${crypto.randomBytes(9).toString('hex')}`;
  let sandboxUrl = '';
  let opsToken = '';
  let exceptionId = 0;
  let apiKey = '';
  const sockets: PollingSocket[] = [];
  const J = { 'content-type': 'application/json', 'x-ps-fabric-request': '1' };

  const auth = () => ({ authorization: `Bearer ${opsToken}` });
  const db = () => new Database(path.join(tmp.dir, 'ps-fabric.sqlite'), { readonly: true, fileMustExist: true });
  function audit(action: string): Array<{ actor: string; details: string | null }> {
    const d = db();
    try {
      return d.prepare('SELECT actor, details FROM audit WHERE action = ? ORDER BY id').all(action) as Array<{ actor: string; details: string | null }>;
    } finally {
      d.close();
    }
  }
  const apiKeyCount = () => {
    const d = db();
    try {
      return (d.prepare('SELECT count(*) AS n FROM api_consumers').get() as { n: number }).n;
    } finally {
      d.close();
    }
  };
  async function exception(): Promise<any> {
    const r = await raw('GET', `${url}/ps-fabric/exceptions/${exceptionId}`, auth());
    assert.equal(r.status, 200, r.text);
    return r.json;
  }
  async function tokenFor(username: string, password: string, scope = '*'): Promise<Res> {
    return raw('POST', `${url}/auth/token`, J, JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password }));
  }
  async function dashboardCookie(username: string, password: string): Promise<string> {
    const r = await raw('POST', `${url}/ps-fabric/session`, J, JSON.stringify({ username, password }));
    assert.equal(r.status, 200, `dashboard login of ${username}: ${r.text}`);
    const cookie = String(r.headers['set-cookie']?.[0] ?? '');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    return cookie.split(';')[0];
  }
  async function socket(headers: Record<string, string> = {}): Promise<PollingSocket> {
    const s = new PollingSocket(url, headers);
    sockets.push(s);
    return s.open();
  }
  const consoleRows = (events: Array<[string, ...unknown[]]>) =>
    events.filter(([e]) => e === 'msg-input:psf-console').map(([, m]) => (m as { payload?: { rows?: Array<{ id: number }> } }).payload?.rows ?? []);

  before(async () => {
    tmp = tempDir('psf-outside-');
    const [port, mqttPort, sbPort] = [await freePort(), await freePort(), await freePort()];
    sandboxUrl = `http://127.0.0.1:${sbPort}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      FABRIC_USER_DIR: tmp.dir,
      FABRIC_HOST: '127.0.0.1',
      FABRIC_PORT: String(port),
      FABRIC_MQTT_PORT: String(mqttPort),
      FABRIC_SANDBOX_PORT: String(sbPort),
      FABRIC_LEGACY_ERP_PORT: '0',
      FABRIC_MQTT_PERSISTENCE: 'memory',
      FABRIC_ADMIN_USER: 'ops',
      FABRIC_ADMIN_PASSWORD_HASH: bcrypt.hashSync(OPS_PASSWORD, 4),
      FABRIC_ADMIN_VIEWER_USER: 'viewer',
      FABRIC_ADMIN_VIEWER_PASSWORD_HASH: bcrypt.hashSync(VIEWER_PASSWORD, 4),
      FABRIC_CREDENTIAL_SECRET: crypto.randomBytes(32).toString('hex'),
      FABRIC_LOG_LEVEL: 'info',
      FABRIC_Q2P_POLL_SECONDS: '1',
      FABRIC_REPORTING_INTERVAL: '3600',
      // a small read budget that does not refill during the test, and a cache that outlives it
      FABRIC_API_READ_BUDGET_BURST: '30',
      FABRIC_API_READ_BUDGET_PER_SECOND: '0.01',
      FABRIC_API_READ_CACHE_MS: '600000',
      // a named client allowed to publish requests (a bridge from another site): its messages still need the right source
      FABRIC_MQTT_USERS: JSON.stringify({ users: [{ username: 'bridge', passwordHash: bcrypt.hashSync(BRIDGE_PASSWORD, 4), publish: ['fabric/v1/+/requested'], subscribe: [] }] }),
    };
    child = fork(path.join(ROOT, 'dist', 'runtime', 'start.js'), [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    child.stdout!.on('data', (b) => (output += b.toString()));
    child.stderr!.on('data', (b) => (output += b.toString()));
    ({ url, mqttUrl } = await new Promise<{ url: string; mqttUrl: string }>((resolve, reject) => {
      child.once('message', (m: any) => resolve(m));
      child.once('exit', (code) => reject(new Error(`runtime exited ${code}: ${output.slice(-2000)}`)));
    }));
    await waitFor(async () => (await raw('GET', `${url}/healthz`)).json?.flows?.state === 'started', 'flows started', 60000, 200);
    const t = await tokenFor('ops', OPS_PASSWORD);
    assert.equal(t.status, 200, t.text);
    opsToken = t.json.access_token;
    const key = await raw('POST', `${url}/ps-fabric/api-keys`, { ...J, ...auth() }, JSON.stringify({ name: 'reader', scopes: ['*:read'] }));
    assert.equal(key.status, 201, key.text);
    apiKey = key.json.key;
    // a real failing run: Initech has no tax registration, so quote-to-project opens a sales-ops exception
    const won = await fetch(`${sandboxUrl}/salesforce/_sandbox/close-won/${INITECH}`, { method: 'POST' });
    assert.ok(won.ok, `close-won: ${won.status}`);
    exceptionId = await waitFor(async () => {
      const r = await raw('GET', `${url}/ps-fabric/exceptions?status=open&recordKey=${encodeURIComponent(`Opportunity/${INITECH}`)}`, auth());
      return (r.json?.items as Array<{ id: number }> | undefined)?.[0]?.id;
    }, 'the Initech exception', 60000, 250);
  });

  after(async () => {
    for (const s of sockets) await s.close();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    tmp?.cleanup();
  });

  describe('1. the dashboard is behind the editor login', () => {
    it('sends a browser without a session to the login page, and answers its API calls 401', async () => {
      const page = await raw('GET', `${url}/dashboard/exceptions`, { accept: 'text/html' });
      assert.equal(page.status, 302);
      assert.match(String(page.headers.location), /^\/ps-fabric\/login\?next=%2Fdashboard%2Fexceptions$/);
      const setup = await raw('GET', `${url}/dashboard/_setup`);
      assert.equal(setup.status, 401);
      assert.match(setup.json?.error ?? '', /sign in/);
      const login = await raw('GET', `${url}/ps-fabric/login`);
      assert.equal(login.status, 200);
      assert.match(login.text, /PS Fabric dashboard/);
    });

    it('gives an anonymous socket.io client nothing, and lets it do nothing', async () => {
      const anon = await socket();
      assert.equal(anon.connected, false);
      assert.match(anon.connectError ?? '', /sign in first/);
      // what the attacker tried: the record, a discard and a replay through the console widget
      await anon.emit('widget-send', 'psf-console', { topic: 'detail', payload: exceptionId });
      await anon.emit('widget-send', 'psf-console', { topic: 'discard', payload: { id: exceptionId, reason: 'anonymous' } });
      await anon.emit('widget-send', 'psf-console', { topic: 'replay', payload: { id: exceptionId } });
      await anon.poll();
      assert.deepEqual(anon.events, [], 'no ui-config, no rows, no record');
      assert.ok(audit('dashboard.connect.refused').length >= 1, 'the refused connection is audited');
      assert.equal((await exception()).status, 'open');
    });

    it('lets a viewer read the console but not discard or replay, even claiming to be the operator', async () => {
      const cookie = await dashboardCookie('viewer', VIEWER_PASSWORD);
      const viewer = await socket({ cookie });
      assert.equal(viewer.connected, true, viewer.connectError);
      assert.ok(await viewer.pollUntil((ev) => consoleRows(ev).some((rows) => rows.some((r) => r.id === exceptionId))), 'the viewer sees the exception row');
      const forged = { actor: 'user:ops', _client: { user: { username: 'ops', permissions: '*' } } };
      await viewer.emit('widget-send', 'psf-console', { topic: 'discard', payload: { id: exceptionId, reason: 'viewer' }, ...forged });
      await viewer.emit('widget-send', 'psf-console', { topic: 'edit-replay', payload: { id: exceptionId, payload: '{"hours":9999}' }, ...forged });
      await viewer.emit('widget-send', 'psf-console', { topic: 'bulk-replay', payload: {}, ...forged });
      const refused = await waitFor(() => {
        const rows = audit('dashboard.command.refused');
        return rows.length >= 3 ? rows : undefined;
      }, 'the three refusals audited', 10000, 50);
      assert.ok(refused.every((r) => r.actor === 'dashboard:viewer'), `refusals name the viewer: ${JSON.stringify(refused)}`);
      assert.deepEqual(refused.map((r) => JSON.parse(r.details ?? '{}').topic), ['discard', 'edit-replay', 'bulk-replay']);
      // the viewer's console is told why nothing happened
      assert.ok(await viewer.pollUntil((ev) => ev.some(([e, m]) => e === 'msg-input:psf-console' && (m as { topic?: string }).topic === 'refused' && /discard needs an operator: viewer/.test(String((m as { payload?: unknown }).payload)))), 'the refusal is shown to the viewer');
      const ex = await exception();
      assert.equal(ex.status, 'open', 'the viewer changed nothing');
      assert.equal(audit('exception.bulk-replay.started').length, 0);
    });

    it('lets the operator discard from the console, recorded with their name', async () => {
      const cookie = await dashboardCookie('ops', OPS_PASSWORD);
      const ops = await socket({ cookie });
      assert.equal(ops.connected, true, ops.connectError);
      await ops.emit('widget-send', 'psf-console', { topic: 'discard', payload: { id: exceptionId, reason: 'test data from the security suite' }, actor: 'someone-else' });
      const ex = await waitFor(async () => {
        const e = await exception();
        return e.status === 'discarded' ? e : undefined;
      }, 'discarded by the operator', 15000, 100);
      assert.equal(ex.resolution?.by, 'dashboard:ops');
    });
  });

  describe('2. no cross-site or rebinding access to admin routes', () => {
    it('answers a rebound Host name with nothing, even with a valid token', async () => {
      for (const p of ['/flows', '/settings', '/ps-fabric/exceptions', '/ps-fabric/api-keys', '/dashboard', '/ps-fabric/login', '/', '/red/red.min.js']) {
        const r = await raw('GET', `${url}${p}`, { host: 'evil.example', ...auth() });
        assert.equal(r.status, 421, `GET ${p} with Host evil.example answered ${r.status}`);
        assert.deepEqual(Object.keys(r.json ?? {}), ['error']);
      }
      const post = await raw('POST', `${url}/ps-fabric/api-keys`, { host: 'evil.example:1880', ...J, ...auth() }, JSON.stringify({ name: 'rebound', scopes: ['*:write'] }));
      assert.equal(post.status, 421);
      const sio = await raw('GET', `${url}/dashboard/socket.io/?EIO=4&transport=polling`, { host: 'evil.example' });
      assert.equal(sio.status, 421);
      assert.equal(await upgrade(`${url}/comms`, { host: 'evil.example', origin: 'http://evil.example' }), 421);
    });

    it('grants no CORS: a preflight from another origin is refused and no answer carries Access-Control-Allow-Origin', async () => {
      const pre = await raw('OPTIONS', `${url}/ps-fabric/api-keys`, { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' });
      assert.equal(pre.status, 403);
      assert.equal(pre.headers['access-control-allow-origin'], undefined);
      for (const p of ['/settings', '/flows', '/ps-fabric/exceptions']) {
        const r = await raw('GET', `${url}${p}`, auth());
        assert.equal(r.status, 200, p);
        assert.equal(r.headers['access-control-allow-origin'], undefined, `${p} carries ACAO`);
      }
      assert.notEqual(await upgrade(`${url}/comms`, { host: new URL(url).host, origin: 'http://evil.example' }), 101);
    });

    it('refuses a cross-origin JSON post, a form post and a text/plain post to admin routes, with no effect', async () => {
      const keysBefore = apiKeyCount();
      const cross = await raw('POST', `${url}/ps-fabric/api-keys`, { origin: 'http://evil.example', ...J, ...auth() }, JSON.stringify({ name: 'cross', scopes: ['*:write'] }));
      assert.equal(cross.status, 403);
      const form = await raw('POST', `${url}/ps-fabric/api-keys`, { 'content-type': 'application/x-www-form-urlencoded' }, 'name=form&scopes=*:write');
      assert.equal(form.status, 403);
      assert.match(form.json?.error ?? '', /X-PS-Fabric-Request/);
      const text = await raw('POST', `${url}/ps-fabric/exceptions/replay`, { 'content-type': 'text/plain' }, '{}');
      assert.equal(text.status, 403);
      const textWithToken = await raw('POST', `${url}/ps-fabric/exceptions/replay`, { 'content-type': 'text/plain', ...auth() }, '{}');
      assert.equal(textWithToken.status, 415);
      const flows = await raw('POST', `${url}/flows`, { 'content-type': 'text/plain' }, '[]');
      assert.equal(flows.status, 403);
      assert.equal(apiKeyCount(), keysBefore, 'no key issued');
      assert.equal(audit('exception.bulk-replay.started').length, 0, 'nothing replayed');
    });

    it('still serves the same-origin editor calls (Node-RED-API-Version) and the experience APIs under any name', async () => {
      const r = await raw('POST', `${url}/ps-fabric/ownership/validate`, { 'content-type': 'application/json', 'node-red-api-version': 'v2', ...auth() }, JSON.stringify({ matrix: '{}' }));
      assert.notEqual(r.status, 403, r.text);
      const api = await raw('GET', `${url}/api/v1/openapi.json`, { host: 'fabric.firm.example' });
      assert.equal(api.status, 200);
    });
  });

  describe('3. the bus is governed', () => {
    const connect = async (opts: mqtt.IClientOptions = {}) => {
      const c = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      return c;
    };
    const granted = (c: mqtt.MqttClient, filter: string) => c.subscribeAsync(filter, { qos: 1 }).then((g) => g[0].qos, (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? 128);
    const timeEntries = async () => (await (await fetch(`${sandboxUrl}/kantata/_sandbox/records/time_entries`)).json()) as Array<Record<string, unknown>>;
    const forgedRequest = (source: string, id: string) => JSON.stringify({
      specversion: '1.0', id: crypto.randomUUID(), correlationid: crypto.randomUUID(), source, type: 'com.psfabric.timeentry.requested.v1',
      time: new Date().toISOString(), datacontenttype: 'application/json',
      data: { id, version: 1, personId: 'P-1', projectId: 'PRJ-1', date: '2026-01-05', hours: 9999, billable: true, rate: 100, currency: 'USD' },
    });

    it('lets a local client without credentials read the public events, and nothing else', async () => {
      const anon = await connect();
      try {
        assert.equal(await granted(anon, 'fabric/v1/project/created'), 1);
        for (const f of ['#', 'fabric/v1/#', 'fabric/v1/+/requested', 'fabric/v1/request/updated', 'legacy/#']) assert.equal(await granted(anon, f), 128, `anonymous subscription to ${f}`);
      } finally {
        anon.end(true);
      }
    });

    it('refuses forged requests and status from a client without credentials, with no effect', async () => {
      const before = (await timeEntries()).length;
      const trackingId = crypto.randomUUID();
      for (const [topic, payload] of [
        ['fabric/v1/timeentry/requested', forgedRequest('/ps-fabric/experience-api', 'TE-FORGED-ANON')],
        ['fabric/v1/request/updated', JSON.stringify({ specversion: '1.0', id: `${trackingId}:completed:1`, source: '/ps-fabric/process-layer', type: 'com.psfabric.request.updated.v1', correlationid: trackingId, data: { trackingId, status: 'completed', detail: 'forged', references: { invoice: 'INV-FORGED-0001' } } })],
        ['fabric/v1/opportunity/closed-won', JSON.stringify({ id: 'forged' })],
        ['legacy/fr01/time/out', 'forged'],
      ] as const) {
        const anon = await connect();
        let closed = false;
        anon.once('close', () => (closed = true));
        anon.publish(topic, payload, { qos: 1 });
        await waitFor(() => closed, `the broker to disconnect the client that published ${topic}`, 10000, 20); // MQTT 3.1.1 has no negative PUBACK
        anon.end(true);
        await waitFor(() => output.includes(`may not publish to "${topic}"`), `the broker to refuse ${topic}`, 10000, 50);
      }
      assert.equal(audit('request.updated').filter((r) => (r.details ?? '').includes(trackingId)).length, 0);
      const d = db();
      try {
        assert.equal((d.prepare('SELECT count(*) AS n FROM audit WHERE correlation_id = ?').get(trackingId) as { n: number }).n, 0, 'the forged status was not recorded');
      } finally {
        d.close();
      }
      assert.equal((await timeEntries()).length, before, 'no time entry created in Kantata');
    });

    it('has a named client publish a request only with the experience API as its source', async () => {
      const before = (await timeEntries()).length;
      const bridge = await connect({ username: 'bridge', password: BRIDGE_PASSWORD });
      try {
        await bridge.publishAsync('fabric/v1/timeentry/requested', forgedRequest('/somewhere-else', 'TE-FORGED-SOURCE'), { qos: 1 });
        // refused before anything is done; the template's Catch node puts the refusal in the exception queue
        await waitFor(() => {
          const d = db();
          try {
            const rows = JSON.stringify(d.prepare('SELECT * FROM exceptions').all());
            return rows.includes('/somewhere-else') && rows.includes('only /ps-fabric/experience-api may originate it');
          } finally {
            d.close();
          }
        }, 'the refusal in the exception queue', 15000, 100);
      } finally {
        bridge.end(true);
      }
      assert.equal((await timeEntries()).length, before, 'no time entry created in Kantata');
      assert.ok(!JSON.stringify(await timeEntries()).includes('TE-FORGED'));
    });

    it('keeps the legacy ERP simulator working as a named client', async () => {
      assert.doesNotMatch(output, /refused client "legacy|client "legacy[^"]*" may not/);
      assert.match(output, /legacy ERP \(FR01\) simulator on the broker/);
    });
  });

  describe('4. errors are JSON everywhere', () => {
    it('answers bad percent-encodings with a JSON 400 and no stack, and logs no stack', async () => {
      const bad = ['%C0%AE%C0%AE', '%ff%fe', '%', '%E0%A4%A'];
      const paths: string[] = [];
      for (const resource of ['projects', 'customers', 'invoices', 'time-entries']) for (const b of bad) paths.push(`/api/v1/${resource}/${b}`);
      for (const b of bad) paths.push(`/flows/${b}`, `/ps-fabric/exceptions/${b}`, `/dashboard/${b}`, `/${b}`);
      for (const p of paths) {
        const r = await raw('GET', `${url}${p}`, { 'x-api-key': apiKey });
        assert.equal(r.status, 400, `${p} answered ${r.status}`);
        assert.match(String(r.headers['content-type']), /application\/json/, p);
        assert.equal(r.json?.error, 'malformed percent-encoding in the URL path', p);
        assert.doesNotMatch(r.text, /\bat \S+ \(|URIError|node_modules/, p);
      }
      assert.doesNotMatch(output, /URIError|decode_param/);
    });
  });

  describe('6. reads have quotas', () => {
    const issue = async (name: string) => {
      const r = await raw('POST', `${url}/ps-fabric/api-keys`, { ...J, ...auth() }, JSON.stringify({ name, scopes: ['*:read'], rateLimit: { perSecond: 1000, burst: 1000 } }));
      assert.equal(r.status, 201, r.text);
      return r.json.key as string;
    };
    it('serves repeated reads from the cache and answers 429 with Retry-After once a consumer spent its budget', async () => {
      const greedy = await issue('greedy');
      const other = await issue('other');
      const first = await raw('GET', `${url}/api/v1/projects?limit=5`, { 'x-api-key': greedy });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers['x-cache'], 'miss');
      const again = await raw('GET', `${url}/api/v1/projects?limit=5`, { 'x-api-key': greedy });
      assert.equal(again.status, 200);
      assert.equal(again.headers['x-cache'], 'hit');
      assert.deepEqual(again.json, first.json);
      let refused: Res | undefined;
      for (let limit = 6; limit < 60 && !refused; limit++) {
        const r = await raw('GET', `${url}/api/v1/projects?limit=${limit}`, { 'x-api-key': greedy });
        if (r.status === 429) refused = r;
        else assert.equal(r.status, 200, r.text);
      }
      assert.ok(refused, 'the greedy consumer was stopped');
      assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/);
      assert.match(refused.json?.error ?? '', /read quota/);
      // what is cached costs nothing, and another consumer has its own budget
      assert.equal((await raw('GET', `${url}/api/v1/projects?limit=5`, { 'x-api-key': greedy })).status, 200);
      assert.equal((await raw('GET', `${url}/api/v1/customers?limit=3`, { 'x-api-key': other })).status, 200);
    });
  });

  describe('5. login storms are throttled', () => {
    it('backs off wrong editor logins per user, then refuses even the right password until the wait is over', async () => {
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 8; i++) {
        const r = await tokenFor('ops', `wrong-${i}`);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = String(r.headers['retry-after']);
      }
      assert.ok(statuses.slice(0, 5).every((s) => s === 401 || s === 403), `first tries refused as wrong: ${statuses}`);
      assert.ok(statuses.slice(5).every((s) => s === 429), `then throttled: ${statuses}`);
      assert.match(String(retryAfter), /^[1-9]\d*$/);
      assert.equal((await tokenFor('ops', OPS_PASSWORD)).status, 429, 'the right password waits too');
      // another user from the same address is not locked out by the storm on "ops"
      assert.equal((await tokenFor('viewer', VIEWER_PASSWORD, 'read')).status, 200);
      assert.ok(audit('admin.login.refused').length >= 5);
      assert.ok(audit('admin.login.throttled').length >= 3);
    });

    it('throttles the dashboard login with the same counts', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await raw('POST', `${url}/ps-fabric/session`, J, JSON.stringify({ username: 'viewer', password: `wrong-${i}` }))).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
      assert.equal((await raw('POST', `${url}/ps-fabric/session`, J, JSON.stringify({ username: 'viewer', password: VIEWER_PASSWORD }))).status, 429);
    });
  });
});
