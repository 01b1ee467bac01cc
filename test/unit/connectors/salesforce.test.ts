import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { salesforceSandbox, SalesforceSandbox } from '../../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME } from '../../../sandbox/salesforce/auth';
import { SalesforceClient, SalesforceConfig, SalesforceExecutor, pollChanges, CdcSubscriber, ChangeEvent, type ReplayGap, type StreamStall } from '../../../lib/connectors/salesforce';
import { classify, FabricError, PermanentError, TransientError } from '../../../lib/delivery/errors';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });

describe('Salesforce connector against the Salesforce sandbox', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let sandbox: SalesforceSandbox;
  let base: string;
  const clients: SalesforceClient[] = [];

  const config = (auth?: SalesforceConfig['auth']): SalesforceConfig => ({
    loginUrl: base,
    apiVersion: '62.0',
    auth: auth ?? { type: 'client-credentials', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET },
  });
  const client = (auth?: SalesforceConfig['auth']) => {
    const c = new SalesforceClient(config(auth));
    clients.push(c);
    return c;
  };
  const expectReject = async (p: Promise<unknown>): Promise<FabricError> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof FabricError, `expected a FabricError, got ${String(e)}`);
      return e;
    }
    assert.fail('expected a rejection');
  };

  before(async () => {
    sb = await startSandboxes({
      vendors: [{ ...salesforceSandbox, create: (o) => new SalesforceSandbox({ ...o, auth: { jwtPublicKey: publicKey } }) }],
    });
    sandbox = sb.sandboxes.salesforce as SalesforceSandbox;
    base = `${sb.url}/salesforce`;
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sb.close();
  });
  beforeEach(() => sandbox.reset());

  describe('auth', () => {
    it('logs in with client credentials once and reuses the token', async () => {
      const c = client();
      await Promise.all([c.get('Account', '001Hs00001AcmeUSAAA'), c.get('Account', '001Hs00001GlobexAAA'), c.limits()]);
      await c.query('SELECT Id FROM Account');
      assert.equal(c.loginCount, 1);
      assert.equal(c.instanceUrl, base);
      const tokenCalls = sandbox.requests().filter((r) => r.path.endsWith('/services/oauth2/token'));
      assert.equal(tokenCalls.length, 1);
      assert.match(String(tokenCalls[0].body), /grant_type=client_credentials/);
    });
    it('logs in with username-password', async () => {
      const c = client({ type: 'password', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET, username: DEFAULT_USERNAME, password: DEFAULT_PASSWORD });
      const acc = await c.get('Account', '001Hs00001AcmeUSAAA');
      assert.equal(acc.Name, 'Acme Logistics Corp');
    });
    it('logs in with a JWT bearer assertion verified against the configured public key', async () => {
      const c = client({ type: 'jwt', clientId: DEFAULT_CLIENT_ID, username: DEFAULT_USERNAME, privateKey });
      const acc = await c.get('Account', '001Hs00001AcmeUSAAA');
      assert.equal(acc.External_Id__c, 'ACC-1001');
    });
    it('fails permanently with the vendor error body for bad credentials', async () => {
      const bad = await expectReject(client({ type: 'client-credentials', clientId: DEFAULT_CLIENT_ID, clientSecret: 'wrong' }).query('SELECT Id FROM Account'));
      assert.ok(bad instanceof PermanentError);
      assert.equal(bad.errorClass, 'auth');
      assert.deepEqual(bad.response, { error: 'invalid_client', error_description: 'invalid client credentials' });
      const pw = await expectReject(client({ type: 'password', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET, username: DEFAULT_USERNAME, password: 'nope' }).limits());
      assert.deepEqual(pw.response, { error: 'invalid_grant', error_description: 'authentication failure' });
      const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      const jwtErr = await expectReject(client({ type: 'jwt', clientId: DEFAULT_CLIENT_ID, username: DEFAULT_USERNAME, privateKey: other.privateKey }).limits());
      assert.equal(jwtErr.errorClass, 'auth');
      assert.deepEqual(jwtErr.response, { error: 'invalid_grant', error_description: 'invalid assertion' });
    });
    it('renews the session once on 401 INVALID_SESSION_ID and carries on', async () => {
      const c = client();
      await c.get('Account', '001Hs00001AcmeUSAAA');
      sandbox.expireTokens();
      const acc = await c.get('Account', '001Hs00001GlobexAAA');
      assert.equal(acc.Name, 'Globex Health Systems');
      assert.equal(c.loginCount, 2);
      const statuses = sandbox.requests().filter((r) => r.path.includes('/sobjects/Account/001Hs00001GlobexAAA')).map((r) => r.status);
      assert.deepEqual(statuses, [401, 200]);
    });
  });

  describe('query', () => {
    it('follows nextRecordsUrl through every page and can stream pages', async () => {
      sandbox.queryBatchSize = 3;
      const c = client();
      const all = await c.query('SELECT Id, Name, Account.Name FROM Opportunity ORDER BY Name');
      assert.equal(all.totalSize, 8);
      assert.equal(all.records.length, 8);
      assert.equal(all.records[0].Name, 'Acme - Warehouse Mgmt Rollout');
      assert.equal(all.records[0].Account.Name, 'Acme Logistics Corp');
      const pages: number[] = [];
      await c.queryPages('SELECT Id FROM Opportunity', (p) => void pages.push(p.records.length));
      assert.deepEqual(pages, [3, 3, 2]);
      const more = sandbox.requests().filter((r) => /\/services\/data\/v62\.0\/query\/01g[A-Za-z0-9]+-\d+$/.test(r.path));
      assert.equal(more.length, 4);
    });
    it('supports the SOQL the templates use and reports malformed queries', async () => {
      const c = client();
      const won = await c.query("SELECT Id, StageName, (SELECT Workstream__c, Role__c, Hours__c, Rate__c FROM OpportunityLineItems) FROM Opportunity WHERE StageName = 'Closed Won' AND SystemModstamp > 2026-01-01T00:00:00Z ORDER BY CloseDate DESC LIMIT 2");
      assert.equal(won.records.length, 2);
      assert.ok(won.records.every((r) => r.StageName === 'Closed Won' && r.OpportunityLineItems.records.length > 0));
      const ids = await c.query("SELECT Id FROM Account WHERE Id IN ('001Hs00001AcmeUSAAA', '001Hs00001BritRailA')");
      assert.equal(ids.totalSize, 2);
      const err = await expectReject(c.query('SELECT Nope__c FROM Account'));
      assert.equal(err.errorClass, 'validation');
      assert.equal(err.status, 400);
      assert.match(err.message, /INVALID_FIELD/);
    });
  });

  describe('records', () => {
    it('creates, reads, updates and deletes, keeping SystemModstamp moving', async () => {
      const c = client();
      const created = await c.create('Account', { Name: 'Contoso Pharma AG', External_Id__c: 'ACC-3999', Billing_Entity__c: 'NWA-DE', CurrencyIsoCode: 'EUR' });
      assert.equal(created.success, true);
      assert.match(created.id, /^001[A-Za-z0-9]{15}$/);
      const got = await c.get('Account', created.id);
      assert.equal(got.Name, 'Contoso Pharma AG');
      assert.equal(got.attributes.type, 'Account');
      await c.update('Account', created.id, { Tax_Registration__c: 'DE999999999' });
      const after = await c.get('Account', created.id, ['Tax_Registration__c', 'SystemModstamp']);
      assert.equal(after.Tax_Registration__c, 'DE999999999');
      assert.ok(after.SystemModstamp >= got.SystemModstamp);
      await c.delete('Account', created.id);
      const gone = await expectReject(c.get('Account', created.id));
      assert.equal(gone.errorClass, 'not-found');
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.response, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }]);
    });
    it('keeps the vendor error body for a validation failure', async () => {
      const err = await expectReject(client().create('Opportunity', { Name: 'No stage' }));
      assert.equal(err.errorClass, 'validation');
      assert.deepEqual(err.response, [{ message: 'Required fields are missing: [StageName, CloseDate]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['StageName', 'CloseDate'] }]);
    });
    it('upserts by external id: 201 created, then 200 updated', async () => {
      const c = client();
      const first = await c.upsert('Account', 'External_Id__c', 'ACC-5005', { Name: 'Fabrikam Energy' });
      assert.equal(first.created, true);
      const second = await c.upsert('Account', 'External_Id__c', 'ACC-5005', { Name: 'Fabrikam Energy plc' });
      assert.equal(second.created, false);
      assert.equal(second.id, first.id);
      const statuses = sandbox.requests().filter((r) => r.method === 'PATCH' && r.path.endsWith('/sobjects/Account/External_Id__c/ACC-5005')).map((r) => r.status);
      assert.deepEqual(statuses, [201, 200]);
      assert.equal((await c.get('Account', first.id)).Name, 'Fabrikam Energy plc');
    });
    it('runs composite requests with references, and rolls back allOrNone on failure', async () => {
      const c = client();
      const ok = await c.composite({
        allOrNone: true,
        compositeRequest: [
          { method: 'POST', url: '/services/data/v62.0/sobjects/Account', referenceId: 'acc', body: { Name: 'Tailspin Toys', External_Id__c: 'ACC-6001' } },
          { method: 'POST', url: '/services/data/v62.0/sobjects/Contact', referenceId: 'con', body: { LastName: 'Ng', AccountId: '@{acc.id}' } },
          { method: 'GET', url: '/services/data/v62.0/sobjects/Contact/@{con.id}?fields=AccountId', referenceId: 'check' },
        ],
      });
      assert.deepEqual(ok.compositeResponse.map((r) => r.httpStatusCode), [201, 201, 200]);
      assert.equal((ok.compositeResponse[2].body as any).AccountId, (ok.compositeResponse[0].body as any).id);
      const executor = new SalesforceExecutor(c);
      const err = await expectReject(
        executor.execute('composite', { allOrNone: true, compositeRequest: [
          { method: 'POST', url: '/services/data/v62.0/sobjects/Account', referenceId: 'a', body: { Name: 'Rolled Back Ltd' } },
          { method: 'POST', url: '/services/data/v62.0/sobjects/Opportunity', referenceId: 'o', body: { Name: 'x', AccountId: '@{a.id}' } },
        ] }, { idempotencyKey: 'k1', attempt: 1 }),
      );
      assert.equal(err.errorClass, 'validation');
      assert.match(err.message, /subrequest o failed with HTTP 400: REQUIRED_FIELD_MISSING/);
      const rolled = await c.query("SELECT Id FROM Account WHERE Name = 'Rolled Back Ltd'");
      assert.equal(rolled.totalSize, 0);
    });
  });

  describe('delivery executor', () => {
    it('performs create/update/upsert writes and uses the idempotency key as a default external id', async () => {
      const ex = new SalesforceExecutor(client());
      const r = (await ex.execute('upsert', { sobject: 'Account', externalIdField: 'External_Id__c', record: { Name: 'Keyed Ltd' } }, { idempotencyKey: 'ACC-7777', attempt: 1 })) as any;
      assert.equal(r.created, true);
      const again = (await ex.execute('upsert', { sobject: 'Account', externalIdField: 'External_Id__c', record: { Name: 'Keyed Ltd' } }, { idempotencyKey: 'ACC-7777', attempt: 2 })) as any;
      assert.equal(again.created, false);
      const u = (await ex.execute('update', { sobject: 'Account', id: r.id, record: { Industry: 'Retail' } }, { idempotencyKey: 'u1', attempt: 1 })) as any;
      assert.equal(u.success, true);
      const unknown = await expectReject(ex.execute('explode', {}, { idempotencyKey: 'x', attempt: 1 }));
      assert.equal(unknown.errorClass, 'validation');
    });
    it('an exceeded API limit is 403 REQUEST_LIMIT_EXCEEDED as Salesforce answers it, classified transient; 503 transient too', async () => {
      // this test asserted a 429 with Retry-After before: Salesforce never answers its request limits that way
      const c = client();
      await c.limits();
      const ex = new SalesforceExecutor(c);
      sandbox.faults = { ...sandbox.faults, rate429: 1, retryAfterSeconds: 7 };
      const limited = await expectReject(ex.execute('create', { sobject: 'Account', record: { Name: 'Busy' } }, { idempotencyKey: 'b1', attempt: 1 }));
      assert.ok(limited instanceof TransientError, `${limited.name}: ${limited.message}`);
      assert.equal(limited.status, 403);
      assert.equal(limited.retryAfterMs, undefined, 'Salesforce sends no Retry-After');
      assert.deepEqual(limited.response, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
      const composite = await expectReject(ex.execute('composite', { allOrNone: false, compositeRequest: [{ method: 'GET', url: '/services/data/v62.0/sobjects/Account/001Hs00001AcmeUSAAA', referenceId: 'a' }] } as any, { idempotencyKey: 'b2', attempt: 1 }));
      assert.ok(composite instanceof TransientError, `${composite.name}: ${composite.message}`);
      sandbox.faults = { ...sandbox.faults, rate429: 0 };
      // any other 403 stays a permanent auth failure
      const denied = classify({ response: { status: 403, data: [{ message: 'Insufficient access', errorCode: 'INSUFFICIENT_ACCESS' }] } });
      assert.equal(denied.retry, 'permanent');
      assert.equal(denied.errorClass, 'auth');
      sandbox.faults = { ...sandbox.faults, rate429: 0, outageUntil: Date.now() + 60000 };
      const e503 = await expectReject(c.query('SELECT Id FROM Account'));
      assert.ok(e503 instanceof TransientError);
      assert.equal(e503.status, 503);
    });
  });

  describe('closed-won polling', () => {
    it('picks up a close-won exactly once across restarts (watermark in SQLite)', async () => {
      const tmp = tempDir('sf-poll-');
      try {
        const file = path.join(tmp.dir, 'store.sqlite');
        const opts = { where: "StageName = 'Closed Won'", fields: ['Name', 'StageName'] };
        const poll = async (store: SqliteStore, c: SalesforceClient) => {
          const res = await pollChanges(c, await store.watermarkGet('sf:won'), opts);
          await store.watermarkSet('sf:won', res.watermark, Date.now());
          return res.records.map((r) => r.Id);
        };
        let store = new SqliteStore({ path: file });
        let c = client();
        assert.deepEqual(await poll(store, c), []); // first poll starts "now": the seed's history is not news
        const res = await fetch(`${base}/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' });
        assert.equal(res.status, 200);
        assert.deepEqual(await poll(store, c), ['006Hs00000GlobexEHR']);
        assert.deepEqual(await poll(store, c), []);
        await store.close();
        // restart: a new store instance on the same file and a new client
        store = new SqliteStore({ path: file });
        c = client();
        assert.deepEqual(await poll(store, c), []);
        await fetch(`${base}/_sandbox/close-won/OPP-5005`, { method: 'POST' }); // by External_Id__c (Thames Water)
        assert.deepEqual(await poll(store, c), ['006Hs00000ThamesCRM']);
        await store.close();
      } finally {
        tmp.cleanup();
      }
    });
  });

  describe('change data capture', () => {
    it('receives the change event and resumes from the stored replay id', async () => {
      const tmp = tempDir('sf-cdc-');
      const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
      try {
        const seen: ChangeEvent[] = [];
        const make = () => new CdcSubscriber({ client: client(), store, name: 'sf:cdc', onEvent: async (e) => void seen.push(e) });
        let sub = make();
        await sub.start();
        await fetch(`${base}/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' });
        await waitFor(() => seen.length === 1, 'the first change event');
        const header = seen[0].payload.ChangeEventHeader;
        assert.equal(header.changeType, 'UPDATE');
        assert.deepEqual(header.recordIds, ['006Hs00000GlobexEHR']);
        assert.ok(header.changedFields.includes('StageName'));
        assert.equal(seen[0].payload.StageName, 'Closed Won');
        await waitFor(async () => (await store.watermarkGet('sf:cdc')) === String(seen[0].event.replayId), 'the replay id to be committed');
        await sub.stop();
        // changes while nobody listens
        await fetch(`${base}/_sandbox/close-won/006Hs00000ThamesCRM`, { method: 'POST' });
        await client().update('Opportunity', '006Hs00000LumiereOM', { Amount: 140000 });
        sub = make();
        await sub.start();
        await waitFor(() => seen.length === 3, 'the two missed events after the restart');
        assert.deepEqual(seen.slice(1).map((e) => e.payload.ChangeEventHeader.recordIds[0]), ['006Hs00000ThamesCRM', '006Hs00000LumiereOM']);
        assert.deepEqual(seen.slice(1).map((e) => e.event.replayId), [seen[0].event.replayId + 1, seen[0].event.replayId + 2]);
        // and live events still arrive after the catch-up
        await fetch(`${base}/_sandbox/close-won/006Hs00000BavariaCL`, { method: 'POST' });
        await waitFor(() => seen.length === 4, 'a live event after the catch-up');
        await sub.stop();
      } finally {
        await store.close();
        tmp.cleanup();
      }
    });
    const streaming = async (path: string, body: unknown, method = 'POST') => {
      const res = await fetch(`${base}/_sandbox/${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      assert.equal(res.status, 200, `${path}: ${text}`);
      return JSON.parse(text);
    };
    it('a subscription whose /meta/connect replies stop coming is replaced from the last committed replay id: the lost event comes once', async () => {
      const tmp = tempDir('sf-cdc-stall-');
      const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
      try {
        // the vendor holds a connect 2 s (Salesforce: 110 s, advised the same way)
        await streaming('settings', { streamingConnectTimeoutSeconds: 2 }, 'PUT');
        const seen: ChangeEvent[] = [];
        const stalls: StreamStall[] = [];
        const sub = new CdcSubscriber({ client: client(), store, name: 'sf:stall', onEvent: async (e) => void seen.push(e), onStall: (s) => void stalls.push(s) });
        await sub.start();
        await fetch(`${base}/_sandbox/close-won/006Hs00000GlobexEHR`, { method: 'POST' });
        await waitFor(async () => seen.length === 1 && (await store.watermarkGet('sf:stall')) === String(seen[0].event.replayId), 'the first event, committed');
        // the session stays alive at the vendor and looks connected, but no connect reply (and no event in one) arrives
        assert.equal((await streaming('cdc/fault', { mode: 'stall' })).sessions, 1);
        await fetch(`${base}/_sandbox/close-won/006Hs00000ThamesCRM`, { method: 'POST' });
        await waitFor(() => seen.length === 2, 'the event of the lost reply, replayed to the new subscription');
        assert.equal(seen[1].payload.ChangeEventHeader.recordIds[0], '006Hs00000ThamesCRM');
        assert.ok(stalls.length >= 1);
        assert.ok(['transport-down', 'no-heartbeat'].includes(stalls[0].reason), stalls[0].reason);
        assert.equal(stalls[0].resumeAfter, seen[0].event.replayId);
        await waitFor(() => sandbox.streamingSubscribers('/data/OpportunityChangeEvent') === 1, 'one session (the stalled one ended by the client)');
        await fetch(`${base}/_sandbox/close-won/006Hs00000BavariaCL`, { method: 'POST' });
        await waitFor(() => seen.length === 3, 'a live event on the new subscription');
        assert.deepEqual(seen.map((e) => e.event.replayId), [1, 2, 3].map((n) => seen[0].event.replayId + n - 1), 'each event once, in order');
        await sub.stop();
      } finally {
        await store.close();
        tmp.cleanup();
      }
    });
    it('a session the vendor ends (403::Unknown client) before anything was committed: resubscribed, the gap reported from when it began', async () => {
      const tmp = tempDir('sf-cdc-lost-');
      const store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
      try {
        const seen: ChangeEvent[] = [];
        const stalls: StreamStall[] = [];
        const gaps: ReplayGap[] = [];
        const sub = new CdcSubscriber({ client: client(), store, name: 'sf:lost', onEvent: async (e) => void seen.push(e), onStall: (s) => void stalls.push(s), onGap: (g) => void gaps.push(g) });
        const before = Date.now();
        await sub.start();
        assert.equal((await streaming('cdc/fault', { mode: 'expire' })).sessions, 1);
        // published while no session is subscribed: a new subscription for new events does not get it
        await fetch(`${base}/_sandbox/close-won/006Hs00000ThamesCRM`, { method: 'POST' });
        await waitFor(() => gaps.length === 1, 'the gap of the lost session');
        assert.equal(gaps[0].kind, 'stream-lost');
        assert.ok(gaps[0].lastCommitAt! >= before && gaps[0].lastCommitAt! <= Date.now(), `the gap starts when the lost subscription began (${gaps[0].lastCommitAt})`);
        assert.equal(stalls[0].reason, 'session-lost');
        assert.match(stalls[0].detail, /403::Unknown client/);
        assert.equal(stalls[0].resumeAfter, undefined);
        await fetch(`${base}/_sandbox/close-won/006Hs00000BavariaCL`, { method: 'POST' });
        await waitFor(() => seen.length === 1, 'a live event on the new subscription');
        assert.equal(seen[0].payload.ChangeEventHeader.recordIds[0], '006Hs00000BavariaCL');
        await sub.stop();
      } finally {
        await store.close();
        tmp.cleanup();
      }
    });
    it('refuses a CometD handshake without a valid token', async () => {
      const c = client();
      await c.login();
      (c.conn as any).accessToken = 'bogus';
      const failures: any[] = [];
      const { faye } = await c.streamingClient([{ incoming: (m: any, cb: (m: any) => void) => { if (m.channel === '/meta/handshake' && !m.successful) failures.push(m); cb(m); } }]);
      faye.subscribe('/data/OpportunityChangeEvent', () => undefined);
      await waitFor(() => failures.length > 0, 'a refused handshake');
      assert.equal(failures[0].error, '403::Handshake denied');
      assert.equal(failures[0].ext.sfdc.failureReason, '401::Authentication invalid');
      faye.disconnect();
    });
  });

  describe('contract: the Salesforce REST catalogue (shared/contracts/salesforce)', () => {
    const catalogue = JSON.parse(fs.readFileSync('/work/shared/contracts/salesforce/forcedotcom-postman-rest-composite-requests.json', 'utf8')) as { requests: { file: string; method: string; url: string }[] };
    const templates = catalogue.requests.map((r) => ({
      file: r.file,
      method: r.method,
      re: new RegExp('^' + r.url.replace('{{_endpoint}}', '').replace(/\?.*$/, '').replace(/[.*+^$()|[\]\\]/g, '\\$&').replace('v{{version}}', 'v\\d+\\.\\d').replace(/<[A-Z_]+>|\{\{[^}]+\}\}/g, '[^/]+').replace(/\/$/, '') + '/?(\\?.*)?$'),
    }));
    it('every REST call the client made matches a documented request', async () => {
      sandbox.queryBatchSize = 3;
      const c = client();
      await c.query('SELECT Id FROM Opportunity');
      const created = await c.create('Contact', { LastName: 'Contract' });
      await c.update('Contact', created.id, { FirstName: 'Check' });
      await c.get('Contact', created.id);
      await c.getByExternalId('Account', 'External_Id__c', 'ACC-1001');
      await c.composite({ compositeRequest: [{ method: 'GET', url: '/services/data/v62.0/sobjects/Account/001Hs00001AcmeUSAAA', referenceId: 'a' }] });
      await c.delete('Contact', created.id);
      const calls = sandbox.requests().filter((r) => r.path.includes('/services/data/'));
      for (const call of calls) {
        const p = call.path.replace(/^\/salesforce/, '');
        const isQueryMore = /\/query\/01g[A-Za-z0-9]+-\d+$/.test(p); // nextRecordsUrl: documented in the query resource, not in the catalogue
        assert.ok(isQueryMore || templates.some((t) => t.method === call.method && t.re.test(p)), `${call.method} ${p} matches no documented request`);
      }
    });
    it('the sandbox answers every documented request of the subset with the documented shapes', async () => {
      const c = client();
      await c.login();
      const token = (c.conn as any).accessToken as string;
      const call = async (method: string, url: string, body?: unknown) => {
        const res = await fetch(base + url, { method, headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : undefined };
      };
      const versions = await call('GET', '/services/data');
      assert.ok(Array.isArray(versions.body) && versions.body.some((v: any) => v.version === '62.0' && v.url === '/services/data/v62.0'));
      const resources = await call('GET', '/services/data/v62.0/');
      assert.equal(resources.body.sobjects, '/services/data/v62.0/sobjects');
      const global = await call('GET', '/services/data/v62.0/sobjects/');
      assert.ok(global.body.sobjects.some((s: any) => s.name === 'Opportunity' && s.keyPrefix === '006'));
      const basic = await call('GET', '/services/data/v62.0/sobjects/Account');
      assert.equal(basic.body.objectDescribe.name, 'Account');
      const described = await call('GET', '/services/data/v62.0/sobjects/Account/describe');
      assert.ok(described.body.fields.some((f: any) => f.name === 'External_Id__c' && f.externalId === true));
      const q = await call('GET', '/services/data/v62.0/query/?q=SELECT+name+from+Account');
      assert.equal(q.status, 200);
      assert.deepEqual(Object.keys(q.body).sort(), ['done', 'records', 'totalSize']);
      assert.deepEqual(Object.keys(q.body.records[0]).sort(), ['Name', 'attributes']);
      const qa = await call('GET', '/services/data/v62.0/queryAll/?q=SELECT+name+from+Account');
      assert.equal(qa.body.totalSize, q.body.totalSize);
      const created = await call('POST', '/services/data/v62.0/sobjects/Account', { Name: 'test' });
      assert.equal(created.status, 201);
      assert.deepEqual(Object.keys(created.body).sort(), ['errors', 'id', 'success']);
      const row = await call('GET', `/services/data/v62.0/sobjects/Account/${created.body.id}`);
      assert.equal(row.body.attributes.url, `/services/data/v62.0/sobjects/Account/${created.body.id}`);
      assert.equal((await call('PATCH', `/services/data/v62.0/sobjects/Account/${created.body.id}`, { Name: 'test 2' })).status, 204);
      assert.equal((await call('GET', '/services/data/v62.0/sobjects/Account/External_Id__c/ACC-1001')).body.Id, '001Hs00001AcmeUSAAA');
      assert.equal((await call('DELETE', `/services/data/v62.0/sobjects/Account/${created.body.id}`)).status, 204);
      const comp = await call('POST', '/services/data/v62.0/composite/', { allOrNone: false, collateSubrequests: false, compositeRequest: [{ method: 'GET', url: '/services/data/v62.0/sobjects/Account/001Hs00001AcmeUSAAA', referenceId: 'r1' }] });
      assert.deepEqual(Object.keys(comp.body.compositeResponse[0]).sort(), ['body', 'httpHeaders', 'httpStatusCode', 'referenceId']);
      const unauth = await fetch(`${base}/services/data/v62.0/limits`, { headers: { Authorization: 'Bearer nope' } });
      assert.equal(unauth.status, 401);
      assert.deepEqual(await unauth.json(), [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    });
  });
});
