import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { netsuiteSandbox, netsuiteControl, NETSUITE_SANDBOX_DEFAULTS } from '../../../sandbox/netsuite';
import { NetSuiteClient, NetSuiteConnector, NETSUITE_DEMO_TABLES, DEFAULT_NETSUITE_CUSTOM_FIELDS, type CanonicalAccount, type CanonicalInvoice, type CanonicalProject, type CanonicalTimeEntry } from '../../../lib/connectors/netsuite';
import { classify, PermanentError, TransientError } from '../../../lib/delivery/errors';
import { DeliveryEngine } from '../../../lib/delivery/engine';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';

const ACCOUNT = NETSUITE_SANDBOX_DEFAULTS.accountId;
const M2M = NETSUITE_SANDBOX_DEFAULTS.m2mClients[0];
const TBA = NETSUITE_SANDBOX_DEFAULTS.tbaCredentials[0];

describe('NetSuite connector against the NetSuite sandbox', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  let baseUrl: string;
  const keys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKey = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  const m2m = (extra: Partial<{ privateKey: string; certificateId: string }> = {}) =>
    new NetSuiteConnector({ accountId: ACCOUNT, baseUrl, auth: { type: 'oauth2-m2m', clientId: M2M.clientId, certificateId: extra.certificateId ?? M2M.certificateId, privateKey: extra.privateKey ?? privateKey }, tables: NETSUITE_DEMO_TABLES, asyncPollIntervalMs: 10 });
  const tba = (tokenSecret = TBA.tokenSecret) =>
    new NetSuiteConnector({ accountId: ACCOUNT, baseUrl, auth: { type: 'tba', consumerKey: TBA.consumerKey, consumerSecret: TBA.consumerSecret, tokenId: TBA.tokenId, tokenSecret }, tables: NETSUITE_DEMO_TABLES, asyncPollIntervalMs: 10 });
  const records = (type: string) => Object.values(sb.sandboxes.netsuite.state[type] ?? {}) as Array<Record<string, any>>;
  const ctx = (idempotencyKey: string) => ({ idempotencyKey, attempt: 1 });

  before(async () => {
    sb = await startSandboxes({ vendors: [netsuiteSandbox] });
    baseUrl = `${sb.url}/netsuite`;
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.netsuite.reset();
    const c = netsuiteControl(sb.sandboxes.netsuite);
    c.settings.m2mClients = [{ ...M2M, publicKey }];
    c.settings.concurrencyLimit = 5;
    c.settings.processingDelayMs = 0;
    c.revokeTokens();
  });

  const account: CanonicalAccount = {
    id: 'ACC-1003', version: 1, legalName: 'Initech Software LLC', billingEntity: 'NWA-US', country: 'US', currency: 'USD', status: 'active',
    taxRegistrations: [{ scheme: 'EIN', number: 'US-EIN-11-2223334', country: 'US' }],
    addresses: [{ type: 'billing', line1: '4120 Freidrich Ln', city: 'Austin', postalCode: '78744', country: 'US' }],
  };

  describe('OAuth 2.0 client credentials (JWT client assertion)', () => {
    it('gets a token with a PS256 assertion verified against the certificate, and reads records with it', async () => {
      const c = m2m();
      const rec = await c.getRecord('customer', 'eid:ACC-1001');
      assert.equal(rec.companyName, 'Acme Logistics Corp');
      assert.equal(rec.subsidiary.refName, 'Northwind Advisory Inc.');
      const tokenCalls = sb.sandboxes.netsuite.requests().filter((r) => r.path.endsWith('/auth/oauth2/v1/token'));
      assert.equal(tokenCalls.length, 1);
      await c.getRecord('customer', 'eid:ACC-1001');
      assert.equal(sb.sandboxes.netsuite.requests().filter((r) => r.path.endsWith('/auth/oauth2/v1/token')).length, 1, 'token is cached');
    });
    it('refuses an assertion signed with another key (auth, permanent) and an unknown certificate id', async () => {
      const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await assert.rejects(m2m({ privateKey: other }).getRecord('customer', 'eid:ACC-1001'), (err: unknown) => {
        const e = classify(err);
        return e instanceof PermanentError && e.errorClass === 'auth' && /invalid_grant/.test(e.message);
      });
      await assert.rejects(m2m({ certificateId: 'nope' }).getRecord('customer', 'eid:ACC-1001'), (err: unknown) => classify(err).errorClass === 'auth' && /invalid_client/.test(classify(err).message));
    });
    it('refreshes the token once when a call answers 401', async () => {
      const c = m2m();
      await c.getRecord('customer', 'eid:ACC-1001');
      netsuiteControl(sb.sandboxes.netsuite).revokeTokens();
      const rec = await c.getRecord('customer', 'eid:ACC-1001');
      assert.equal(rec.externalId, 'ACC-1001');
      assert.equal(sb.sandboxes.netsuite.requests().filter((r) => r.path.endsWith('/auth/oauth2/v1/token')).length, 2);
    });
  });

  describe('token-based authentication (OAuth 1.0a HMAC-SHA256)', () => {
    it('signs requests the sandbox verifies, including query parameters', async () => {
      const c = tba();
      const rec = await c.getRecord('customer', 'eid:ACC-1001', { expandSubResources: true });
      assert.equal(rec.companyName, 'Acme Logistics Corp');
      const rows = await c.suiteql<{ id: string; symbol: string }>("SELECT id, symbol FROM currency WHERE symbol = 'GBP'");
      assert.deepEqual(rows, [{ id: '2', symbol: 'GBP' }]);
      const header = sb.sandboxes.netsuite.requests().find((r) => r.path.includes('/record/v1/customer'));
      assert.equal(header?.headers.authorization, '[redacted]', 'the request log never keeps the signature');
    });
    it('answers 401 INVALID_LOGIN for a wrong token secret, classified as auth', async () => {
      await assert.rejects(tba('wrong').getRecord('customer', 'eid:ACC-1001'), (err: unknown) => {
        const e = classify(err);
        const body = e.response as Record<string, any>;
        return e.status === 401 && e.errorClass === 'auth' && body['o:errorDetails'][0]['o:errorCode'] === 'INVALID_LOGIN';
      });
    });
  });

  describe('writes', () => {
    it('upserts a customer by eid twice: one customer, subsidiary, currency and tax mapped', async () => {
      const c = m2m();
      const first = await c.execute('upsertCustomer', { account } as any, ctx('k1'));
      const second = await c.execute('upsertCustomer', { account: { ...account, legalName: 'Initech Software, LLC' } } as any, ctx('k2'));
      assert.deepEqual(first, second);
      const matching = records('customer').filter((r) => r.externalId === 'ACC-1003');
      assert.equal(matching.length, 1);
      assert.equal(matching[0].companyName, 'Initech Software, LLC');
      assert.deepEqual(matching[0].subsidiary, { id: '1' });
      assert.deepEqual(matching[0].currency, { id: '1' });
      assert.deepEqual(matching[0].taxItem, { id: '301' });
      assert.equal(matching[0].vatRegNumber, 'US-EIN-11-2223334');
      const puts = sb.sandboxes.netsuite.requests().filter((r) => r.method === 'PUT');
      assert.ok(puts.length === 2 && puts.every((r) => r.path.includes('/record/v1/customer/eid:ACC-1003') && r.status === 204));
    });

    it('replaying the same X-NetSuite-Idempotency-Key returns the first record and creates nothing more', async () => {
      const client = new NetSuiteClient({ accountId: ACCOUNT, baseUrl, auth: { type: 'tba', ...TBA }, asyncPollIntervalMs: 10 });
      const body = { companyName: 'Replay project', parent: { id: '1001' }, subsidiary: { id: '1' } };
      const before = records('job').length;
      const a = await client.create('job', body, 'outbox-item-42');
      const b = await client.create('job', body, 'outbox-item-42');
      assert.equal(a.id, b.id);
      assert.equal(b.replayed, true);
      assert.equal(records('job').length, before + 1);
      const posts = sb.sandboxes.netsuite.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/record/v1/job'));
      assert.equal(posts.length, 2);
      assert.equal(posts[0].headers.prefer, 'respond-async');
      assert.match(posts[0].headers['x-netsuite-idempotency-key'], /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(posts[1].status, 400, 'the repeat is refused with IDEMPOTENCY_ERROR');
      const c = await client.create('job', { ...body, companyName: 'Another project' }, 'outbox-item-43');
      assert.notEqual(c.id, a.id);
    });

    it('creates project, time bills and an invoice whose lines name the time entries they bill', async () => {
      const c = m2m();
      await c.execute('upsertCustomer', { account } as any, ctx('cust'));
      const project: CanonicalProject = { id: 'PRJ-INITECH-QA', accountId: 'ACC-1003', code: 'INITECH-QA', name: 'Initech - QA Automation', billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002', name: 'Daniel Okafor' } };
      const p1 = (await c.execute('createProject', { project } as any, ctx('proj'))) as any;
      const p2 = (await c.execute('createProject', { project } as any, ctx('proj-again'))) as any;
      assert.equal(p1.id, p2.id);
      assert.equal(p2.created, false);
      const job = sb.sandboxes.netsuite.state.job[p1.id];
      assert.deepEqual(job.parent, { id: records('customer').find((r) => r.externalId === 'ACC-1003')!.id });
      assert.deepEqual(job.projectManager, { id: '102' });

      const entries: CanonicalTimeEntry[] = ['TE-90001', 'TE-90002'].map((id, i) => ({ id, person: { id: 'CON-004' }, projectId: 'PRJ-INITECH-QA', date: `2026-12-0${i + 2}`, hours: i ? 7.5 : 8, role: 'Consultant', billable: true, status: 'approved', rate: { amount: 140, currency: 'USD', unit: 'hour' } }));
      const tb = (await c.execute('createTimeBills', { entries } as any, ctx('tb'))) as any;
      assert.equal(tb.timeBills.length, 2);
      const again = (await c.execute('createTimeBills', { entries } as any, ctx('tb'))) as any;
      assert.deepEqual(again.timeBills.map((x: any) => x.created), [false, false]);
      assert.equal(records('timebill').filter((r) => r.externalId.startsWith('TE-9')).length, 2);
      assert.equal(sb.sandboxes.netsuite.state.timebill[tb.timeBills[1].id].hours, 7.5);

      const invoice: CanonicalInvoice = {
        id: 'INV-NWA-US-2026-12-ACC-1003', accountId: 'ACC-1003', billingEntity: 'NWA-US', projectId: 'PRJ-INITECH-QA', currency: 'USD', issueDate: '2026-12-31', dueDate: '2027-01-30', status: 'draft',
        lines: [{ lineNumber: 1, description: 'Consultant time December 2026', role: 'Consultant', quantity: 15.5, unit: 'hour', unitPrice: { amount: 140, currency: 'USD' }, amount: { amount: 2170, currency: 'USD' }, sourceRefs: [{ type: 'timeentry', id: 'TE-90001', hours: 8 }, { type: 'timeentry', id: 'TE-90002', hours: 7.5 }] }],
        subtotal: { amount: 2170, currency: 'USD' }, taxTotal: { amount: 0, currency: 'USD' }, total: { amount: 2170, currency: 'USD' },
      };
      const inv = (await c.execute('createInvoice', { invoice } as any, ctx('inv'))) as any;
      assert.equal(inv.created, true);
      assert.deepEqual(inv.lines[0].sourceRefs, ['TE-90001', 'TE-90002']);
      const inv2 = (await c.execute('createInvoice', { invoice } as any, ctx('inv'))) as any;
      assert.equal(inv2.id, inv.id);
      assert.equal(records('invoice').length, 1);
      const rec = await c.getRecord('invoice', inv.id, { expandSubResources: true });
      assert.equal(rec.item.items[0][DEFAULT_NETSUITE_CUSTOM_FIELDS.sourceRefs!], 'TE-90001,TE-90002');
      assert.equal(rec.item.items[0].amount, 2170);

      await c.execute('updateProject', { projectExternalId: 'PRJ-INITECH-QA', billingSchedule: { type: 'time-and-materials', invoiceFrequency: 'monthly', cap: { amount: 50000, currency: 'USD' } } } as any, ctx('co'));
      assert.equal(JSON.parse(sb.sandboxes.netsuite.state.job[p1.id].custentity_psf_billing_schedule).cap.amount, 50000);
    });

    it('sends jobBillingType as NetSuite names it and every write with PropertyNameValidation: Error, so an unknown field fails loudly', async () => {
      const c = m2m();
      await c.execute('upsertCustomer', { account } as any, ctx('cust'));
      const base: CanonicalProject = { id: 'PRJ-FIXED', accountId: 'ACC-1003', code: 'FIXED', name: 'Initech - Fixed bid', billingEntity: 'NWA-US', currency: 'USD', billingType: 'fixed-fee', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002' } };
      for (const [billingType, expected] of [['fixed-fee', 'FBM'], ['retainer', 'FBI'], ['time-and-materials', 'TM']] as const) {
        const project = { ...base, id: `PRJ-${expected}`, code: expected, name: `Initech ${expected}`, billingType };
        const p = (await c.execute('createProject', { project } as any, ctx(`proj-${expected}`))) as any;
        assert.equal(sb.sandboxes.netsuite.state.job[p.id].jobBillingType, expected, billingType);
      }
      const writes = sb.sandboxes.netsuite.requests().filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && r.path.includes('/record/v1/'));
      assert.ok(writes.length > 0);
      for (const w of writes) assert.equal(w.headers['x-netsuite-propertynamevalidation'], 'Error', `${w.method} ${w.path}`);
      // what the connector used to send: 'FF' is not a job billing type
      await assert.rejects(c.execute('createRecord', { type: 'job', body: { externalId: 'PRJ-FF', entityId: 'FF', companyName: 'FF', parent: { id: records('customer').find((r) => r.externalId === 'ACC-1003')!.id }, subsidiary: { id: '1' }, jobBillingType: 'FF' } } as any, ctx('ff')), (err: unknown) => {
        const e = classify(err);
        return e.status === 400 && e.errorClass === 'validation' && /jobBillingType/.test(e.message);
      });
      // a custom field the account does not have: refused, naming the field, instead of silently dropped
      await assert.rejects(c.execute('updateProject', { projectExternalId: 'PRJ-FBM', fields: { custentity_psf_not_in_this_account: 'x' } } as any, ctx('unknown')), (err: unknown) => {
        const e = classify(err);
        return e.status === 400 && e.errorClass === 'validation' && /custentity_psf_not_in_this_account/.test(e.message);
      });
      // NetSuite's own default (Warning) drops it silently; the sandbox does so only when asked for Warning
      const raw = await c.client.request('PATCH', `/record/v1/job/eid:PRJ-FBM`, { data: { custentity_psf_not_in_this_account: 'x', comments: 'kept' }, headers: { 'X-NetSuite-PropertyNameValidation': 'Warning' } });
      assert.equal(raw.status, 204);
      const job = records('job').find((r) => r.externalId === 'PRJ-FBM')!;
      assert.equal(job.comments, 'kept');
      assert.equal(job.custentity_psf_not_in_this_account, undefined);
    });

    it('reports validation errors with NetSuite error details and field paths', async () => {
      const c = m2m();
      await assert.rejects(c.execute('upsertCustomer', { account: { ...account, billingEntity: 'NWA-XX' } } as any, ctx('bad')), (err: unknown) => classify(err).errorClass === 'validation' && /billingEntity/.test((err as Error).message));
      await assert.rejects(c.execute('createRecord', { type: 'timebill', body: { employee: { id: '101' } } } as any, ctx('bad2')), (err: unknown) => {
        const e = classify(err);
        const d = (e.response as any)['o:errorDetails'][0];
        return e.status === 400 && e.errorClass === 'validation' && d['o:errorCode'] === 'USER_ERROR' && /tranDate/.test(d.detail);
      });
    });
  });

  describe('governance and queries', () => {
    it('answers 429 CONCURRENCY_LIMIT_EXCEEDED above the account concurrency limit, classified transient', async () => {
      const ctl = netsuiteControl(sb.sandboxes.netsuite);
      ctl.settings.concurrencyLimit = 2;
      ctl.settings.processingDelayMs = 150;
      const c = tba();
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => c.getRecord('customer', 'eid:ACC-1001')));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => classify(r.reason));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
      assert.equal(rejected.length, 4);
      for (const e of rejected) {
        assert.ok(e instanceof TransientError);
        assert.equal(e.status, 429);
        assert.equal((e.response as any)['o:errorDetails'][0]['o:errorCode'], 'CONCURRENCY_LIMIT_EXCEEDED');
      }
    });

    it('the limit fault answers as NetSuite does: 429 with its error body and no Retry-After, classified transient', async () => {
      const c = tba();
      sb.sandboxes.netsuite.faults = { ...sb.sandboxes.netsuite.faults, rate429: 1, retryAfterSeconds: 9 };
      try {
        const e = classify(await c.getRecord('customer', 'eid:ACC-1001').then(() => assert.fail('expected a 429'), (err: unknown) => err));
        assert.ok(e instanceof TransientError);
        assert.equal(e.status, 429);
        assert.equal(e.retryAfterMs, undefined, 'NetSuite documents no Retry-After');
        assert.equal((e.response as any)['o:errorDetails'][0]['o:errorCode'], 'CONCURRENCY_LIMIT_EXCEEDED');
      } finally {
        sb.sandboxes.netsuite.faults = { ...sb.sandboxes.netsuite.faults, rate429: 0 };
      }
    });

    it('pages SuiteQL with limit/offset until hasMore is false', async () => {
      const c = tba();
      const all = await c.suiteql<{ id: string; externalid: string }>('SELECT id, externalid FROM timebill ORDER BY id', { pageSize: 4 });
      const total = records('timebill').length;
      assert.ok(total > 8, `seed has ${total} time bills`);
      assert.equal(all.length, total);
      assert.equal(new Set(all.map((r) => r.id)).size, total);
      const calls = sb.sandboxes.netsuite.requests().filter((r) => r.path.includes('/query/v1/suiteql'));
      assert.equal(calls.length, Math.ceil(total / 4));
      assert.ok(calls.every((r) => r.headers.prefer === 'transient'));
      const page = await c.client.suiteqlPage('SELECT id FROM timebill', { limit: 4, offset: 4 });
      assert.equal(page.hasMore, true);
      assert.equal(page.offset, 4);
      await assert.rejects(c.suiteql('DELETE FROM customer'), (err: unknown) => classify(err).status === 400);
    });
  });
  describe('through the delivery engine under a 10 requests/s quota (benchmarks finding 6)', () => {
    it('customer upserts and project creates at ratePerSecond 10: every NetSuite request takes a token, no 429 storm, each delivered once', async function () {
      this.timeout(60000);
      sb.sandboxes.netsuite.faults = { ...sb.sandboxes.netsuite.faults, rateLimitPerSecond: 10 };
      const tmp = tempDir('ns-quota-');
      const store = new SqliteStore({ path: `${tmp.dir}/fabric.sqlite`, synchronous: 'NORMAL' });
      const engine = new DeliveryEngine(store, {}, { leaseMs: 60_000, sweepMs: 500, log: () => undefined });
      try {
        const connector = m2m();
        const conn = engine.registerConnection('netsuite:quota', connector, { ratePerSecond: 10, concurrency: 5, maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 2000 });
        const N = 6;
        const accounts: CanonicalAccount[] = Array.from({ length: N }, (_, i) => ({ ...account, id: `ACC-Q${i}`, legalName: `Quota Customer ${i} LLC` }));
        // customers at once, plus a SuiteQL read through the handle on the same quota
        const [customers, currencies] = await Promise.all([
          Promise.all(accounts.map((a) => conn.submit({ operation: 'upsertCustomer', idempotencyKey: `cust-${a.id}`, request: { account: a } as any, recordKey: `Account/${a.id}` }))),
          conn.call(() => connector.suiteql<{ id: string }>('SELECT id, symbol FROM currency')),
        ]);
        assert.equal(customers.length, N);
        assert.ok(currencies.length > 0);
        // then a project per customer (lookup by eid, customer lookup, manager SuiteQL, async create, job polls, task, result)
        const projects = await Promise.all(
          accounts.map((a, i) => {
            const project: CanonicalProject = { id: `PRJ-Q${i}`, accountId: a.id, code: `Q${i}`, name: `Quota project ${i}`, billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002', name: 'Daniel Okafor' } };
            return conn.submit({ operation: 'createProject', idempotencyKey: `proj-${project.id}`, request: { project } as any, recordKey: `Project/${project.id}` });
          }),
        );
        assert.equal(projects.length, N);
        const api = sb.sandboxes.netsuite.requests().filter((r) => !r.path.includes('/auth/oauth2/'));
        const throttled = api.filter((r) => r.status === 429);
        assert.ok(api.length >= N * 6, `a write is several requests (${api.length} for ${2 * N} writes)`);
        assert.ok(throttled.length / api.length < 0.01, `429s ${throttled.length} of ${api.length} requests`);
        assert.equal(throttled.length, 0, 'no 429 at all when pacing per request');
        assert.equal(records('customer').filter((r) => String(r.externalId).startsWith('ACC-Q')).length, N, 'each customer once');
        assert.equal(records('job').filter((r) => String(r.externalId).startsWith('PRJ-Q')).length, N, 'each project once');
        assert.equal(sb.sandboxes.netsuite.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/record/v1/job') && r.status === 202).length, N, 'one async create per project');
        assert.equal(await store.exceptionCount({}), 0);
      } finally {
        await engine.close();
        await store.close().catch(() => undefined);
        tmp.cleanup();
      }
    });

    it('a request NetSuite throttles (429) is sent again after the Retry-After pause: one throttled lookup or job poll does not cost the write its attempt', async function () {
      this.timeout(30000);
      // the vendor allows 3 requests a second, the connection is configured far above that: a project create (lookups,
      // SuiteQL, async create, job polls, task result) meets 429s, and the write has a single attempt
      sb.sandboxes.netsuite.faults = { ...sb.sandboxes.netsuite.faults, rateLimitPerSecond: 3, retryAfterSeconds: 1 };
      const tmp = tempDir('ns-429-');
      const store = new SqliteStore({ path: `${tmp.dir}/fabric.sqlite`, synchronous: 'NORMAL' });
      const engine = new DeliveryEngine(store, {}, { leaseMs: 60_000, sweepMs: 500, log: () => undefined });
      try {
        const conn = engine.registerConnection('netsuite:throttled', m2m(), { ratePerSecond: 100, concurrency: 1, maxAttempts: 1 });
        const project: CanonicalProject = { id: 'PRJ-T429', accountId: 'ACC-1001', code: 'T429', name: 'Throttled project', billingEntity: 'NWA-US', currency: 'USD', billingType: 'time-and-materials', status: 'active', startDate: '2026-12-01', deliveryManager: { id: 'CON-002', name: 'Daniel Okafor' } };
        const result = await conn.submit({ operation: 'createProject', idempotencyKey: 'proj-PRJ-T429', request: { project } as any, recordKey: 'Project/PRJ-T429' });
        assert.equal(result.item.attempts, 1);
        const api = sb.sandboxes.netsuite.requests().filter((r) => !r.path.includes('/auth/oauth2/'));
        assert.ok(api.some((r) => r.status === 429), `the quota was hit (${api.map((r) => r.status).join(' ')})`);
        assert.equal(records('job').filter((r) => r.externalId === 'PRJ-T429').length, 1, 'the project once');
        assert.equal(await store.exceptionCount({}), 0);
      } finally {
        await engine.close();
        await store.close().catch(() => undefined);
        tmp.cleanup();
      }
    });
  });
});
