import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { kantataSandbox, KANTATA_CLIENT_ID, KANTATA_CLIENT_SECRET, KANTATA_CUSTOM_FIELDS, KANTATA_REDIRECT_URI, KANTATA_STATIC_TOKEN } from '../../../sandbox/kantata';
import { exchangeKantataCode, KantataClient, KantataCursor, kantataTokenUrl } from '../../../lib/connectors/kantata/client';
import { toCanonicalTimeEntry, toCanonicalExpense, workspaceContext } from '../../../lib/connectors/kantata/mapping';
import { FabricError, TransientError, PermanentError } from '../../../lib/delivery/errors';
import { validate } from '../../../lib/model/validator';

const ctx = (key: string) => ({ idempotencyKey: key, attempt: 1 });

describe('Kantata connector against the Kantata sandbox', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let base: string;
  let client: KantataClient;

  before(async () => {
    sb = await startSandboxes({ vendors: [kantataSandbox] });
    base = `${sb.url}/kantata`;
  });
  after(async () => sb.close());
  beforeEach(async () => {
    await axios.post(`${base}/_sandbox/reset`);
    client = new KantataClient({ baseUrl: base, auth: { type: 'token', accessToken: KANTATA_STATIC_TOKEN } });
  });

  /** The authorization-code flow as a firm runs it once: authorize on the app host, exchange the code, keep the refresh token. */
  async function authorize(): Promise<{ accessToken: string; refreshToken?: string }> {
    const res = await axios.get(`${base}/app/oauth/authorize`, { params: { response_type: 'code', client_id: KANTATA_CLIENT_ID, redirect_uri: KANTATA_REDIRECT_URI }, maxRedirects: 0, validateStatus: () => true });
    assert.equal(res.status, 302);
    const code = new URL(res.headers.location).searchParams.get('code')!;
    return exchangeKantataCode({ tokenUrl: `${base}/app/oauth/token`, clientId: KANTATA_CLIENT_ID, clientSecret: KANTATA_CLIENT_SECRET, code, redirectUri: KANTATA_REDIRECT_URI });
  }

  it('logs in only the documented ways: application token, or authorization code + refresh token at the app host; no client_credentials', async () => {
    const first = await authorize();
    assert.ok(first.refreshToken);
    const user = new KantataClient({ baseUrl: base, auth: { type: 'authorization-code', clientId: KANTATA_CLIENT_ID, clientSecret: KANTATA_CLIENT_SECRET, refreshToken: first.refreshToken!, tokenUrl: `${base}/app/oauth/token` } });
    assert.equal((await user.page('workspaces', { per_page: 1 })).records.length, 1);
    const grants = sb.sandboxes.kantata.requests().filter((r) => r.path.endsWith('/app/oauth/token')).map((r) => new URLSearchParams(String(r.body)).get('grant_type'));
    assert.deepEqual(grants, ['authorization_code', 'refresh_token']);
    // what the connector used to do: client_credentials, at the API host
    for (const url of [`${base}/app/oauth/token`, `${base}/oauth/token`]) {
      const res = await axios.post(url, new URLSearchParams({ grant_type: 'client_credentials', client_id: KANTATA_CLIENT_ID, client_secret: KANTATA_CLIENT_SECRET }).toString(), { headers: { 'content-type': 'application/x-www-form-urlencoded' }, validateStatus: () => true });
      assert.ok(res.status === 400 || res.status === 404, `${url}: ${res.status}`);
      if (res.status === 400) assert.equal(res.data.error, 'unsupported_grant_type');
    }
    // a used code cannot be exchanged again; a code needs the registered callback URL
    const again = await axios.get(`${base}/app/oauth/authorize`, { params: { response_type: 'code', client_id: KANTATA_CLIENT_ID, redirect_uri: 'https://elsewhere.example/cb' }, maxRedirects: 0, validateStatus: () => true });
    assert.equal(again.status, 400);
    // a revoked refresh token: permanent auth failure (a person must authorize again)
    await axios.delete(`${base}/_sandbox/refresh-tokens/${first.refreshToken}`);
    const revoked = new KantataClient({ baseUrl: base, auth: { type: 'authorization-code', clientId: KANTATA_CLIENT_ID, clientSecret: KANTATA_CLIENT_SECRET, refreshToken: first.refreshToken!, tokenUrl: `${base}/app/oauth/token` } });
    await assert.rejects(revoked.page('workspaces'), (e: FabricError) => e instanceof PermanentError && e.errorClass === 'auth' && /invalid_grant/.test(e.message));
    // the token endpoint is on the app host: derived from Kantata's API URL, never the API host itself
    assert.equal(kantataTokenUrl('https://api.mavenlink.com'), 'https://app.mavenlink.com/oauth/token');
    assert.equal(kantataTokenUrl(base), undefined);
  });

  it('reads with the application token as Authorization: Bearer', async () => {
    const page = await client.page('workspaces', { per_page: 2 });
    assert.equal(page.records.length, 2);
    assert.equal(page.count, 3);
    assert.equal(page.pageCount, 2);
    const auth = sb.sandboxes.kantata.requests().find((r) => r.path.includes('/api/v1/workspaces'));
    assert.equal(auth?.headers.authorization, '[redacted]');
  });

  it('surfaces auth failures as permanent auth errors with Kantata\'s error body', async () => {
    const bad = new KantataClient({ baseUrl: base, auth: { type: 'authorization-code', clientId: KANTATA_CLIENT_ID, clientSecret: 'wrong', refreshToken: 'x', tokenUrl: `${base}/app/oauth/token` } });
    await assert.rejects(bad.page('workspaces'), (e: FabricError) => e instanceof PermanentError && e.errorClass === 'auth' && e.status === 401);
    const badToken = new KantataClient({ baseUrl: base, auth: { type: 'token', accessToken: 'nope' } });
    await assert.rejects(badToken.page('workspaces'), (e: FabricError) => {
      assert.equal(e.errorClass, 'auth');
      assert.deepEqual((e.response as any).errors[0].type, 'authentication');
      assert.match(e.message, /HTTP 401: authentication: The access token is invalid/);
      return true;
    });
  });

  it('polls approved uninvoiced time and expenses with paging and a durable cursor', async () => {
    const state = sb.sandboxes.kantata.state;
    const expected = Object.values(state.time_entries).filter((t: any) => t.approved && !t.is_invoiced).map((t: any) => t.id).sort();
    const expectedEx = Object.values(state.expenses).filter((t: any) => t.approved && !t.is_invoiced).length;
    assert.ok(expected.length > 40, 'seed has enough approved uninvoiced entries to page');
    const first = await client.pollApproved({}, { perPage: 7 });
    assert.deepEqual(first.timeEntries.map((t) => t.id).sort(), expected);
    assert.equal(first.expenses.length, expectedEx);
    assert.ok(Object.keys(first.workspaces).length >= 1);
    // The cursor round-trips through JSON (the caller persists it) and a second poll finds nothing new.
    const cursor: KantataCursor = JSON.parse(JSON.stringify(first.cursor));
    const again = await client.pollApproved(cursor, { perPage: 7 });
    assert.equal(again.timeEntries.length, 0);
    assert.equal(again.expenses.length, 0);
    // Approving more time in the PSA makes exactly those entries appear.
    const pending = Object.values(state.time_entries).filter((t: any) => !t.approved).slice(0, 5).map((t: any) => t.id);
    await axios.post(`${base}/_sandbox/approve`, { ids: pending });
    const next = await client.pollApproved(again.cursor, { perPage: 2 });
    assert.deepEqual(next.timeEntries.map((t) => t.id).sort(), [...pending].sort());
  });

  it('handles a burst sharing one updated_at second exactly once (keyset with page fallback)', async () => {
    const cursor = (await client.pollApproved({}, { perPage: 200 })).cursor;
    const gen = await axios.post(`${base}/_sandbox/generate-time`, { count: 450 });
    assert.equal(gen.data.created, 450);
    const seen = new Set<string>();
    let cur = cursor;
    let polls = 0;
    for (;;) {
      const r = await client.pollApproved(cur, { perPage: 100, maxRecords: 200, include: ['time_entries'] });
      for (const t of r.timeEntries) {
        assert.ok(!seen.has(t.id), `entry ${t.id} delivered twice`);
        seen.add(t.id);
      }
      cur = r.cursor;
      polls += 1;
      if (!r.more) break;
      assert.ok(polls < 20);
    }
    assert.equal(seen.size, 450);
  });

  it('entries invoiced while a poll pages through the boundary second do not make it skip entries it has not read', async () => {
    const state = sb.sandboxes.kantata.state;
    const stamp = (ids: string[], at: string) => ids.forEach((id) => Object.assign(state.time_entries[id], { updated_at: at }));
    const generate = async (count: number) => {
      const gen = (await axios.post(`${base}/_sandbox/generate-time`, { count })).data as { firstId: string };
      return Array.from({ length: count }, (_, i) => String(Number(gen.firstId) + i));
    };
    const start = (await client.pollApproved({}, { perPage: 200, include: ['time_entries'] })).cursor;
    // four entries of one second, read (the cursor holds them), not invoiced yet
    const read = await generate(4);
    stamp(read, '2030-01-01T10:00:00+00:00');
    const first = await client.pollApproved(start, { perPage: 200, include: ['time_entries'] });
    assert.deepEqual(first.timeEntries.map((t) => t.id), read);
    // two more of the same second and two of a later one, none read yet
    const sameSecond = await generate(2);
    stamp(sameSecond, '2030-01-01T10:00:00+00:00');
    const later = await generate(2);
    stamp(later, '2030-01-01T10:00:07+00:00');
    // the ERP run invoices two of the read entries while the next poll is on its second page
    let pages = 0;
    const hook = client.http.interceptors.response.use((res) => {
      if (String(res.config.url).includes('/time_entries') && ++pages === 2) for (const id of read.slice(0, 2)) Object.assign(state.time_entries[id], { is_invoiced: true, updated_at: '2030-01-01T10:00:09+00:00' });
      return res;
    });
    try {
      const next = await client.pollApproved(first.cursor, { perPage: 2, include: ['time_entries'] });
      assert.deepEqual(next.timeEntries.map((t) => t.id).sort(), [...sameSecond, ...later].sort(), 'every entry not read before, none twice');
      const after = await client.pollApproved(next.cursor, { perPage: 2, include: ['time_entries'] });
      assert.equal(after.timeEntries.length, 0);
    } finally {
      client.http.interceptors.response.eject(hook);
    }
  });

  it('maps entries to canonical TimeEntry / Expense that the model accepts, with the workspace context', async () => {
    const r = await client.pollApproved({}, { perPage: 50 });
    const te = toCanonicalTimeEntry(r.timeEntries[0], r.users);
    const res = validate('TimeEntry', te);
    assert.ok(res.ok, JSON.stringify(!res.ok && res.errors));
    const ex = toCanonicalExpense(r.expenses[0], r.users);
    const rex = validate('Expense', ex);
    assert.ok(rex.ok, JSON.stringify(!rex.ok && rex.errors));
    const ws = workspaceContext(r.workspaces[r.timeEntries[0].workspace_id], await client.customFieldNames());
    assert.match(ws!.billingEntity!, /^NWA-/);
    assert.match(ws!.opportunityId!, /^006/);
  });

  it('creates a project shell idempotently, changes its budget and marks entries invoiced once', async () => {
    const users = await client.all('users');
    const maya = users.find((u) => u.email_address.startsWith('maya'))!;
    const req = {
      externalRef: '006Hs00000GlobexEHR',
      workspace: { title: 'Globex - EHR Integration Phase 2', budgeted: true, price: 96000, currency: 'USD', client_name: 'Globex Health Systems', custom_fields: [{ custom_field_id: KANTATA_CUSTOM_FIELDS.billingEntity, value: 'NWA-US' }] },
      stories: [{ title: 'Interfaces', time_estimate_in_minutes: 12000 }, { title: 'Testing' }],
      participations: [{ user_id: maya.id, access_level: 'admin' }],
    };
    const a = (await client.execute('createProjectShell', req as any, ctx('opp-globex'))) as any;
    const b = (await client.execute('createProjectShell', req as any, ctx('opp-globex'))) as any;
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(a.workspace.id, b.workspace.id);
    assert.equal(a.stories.created.length, 2);
    assert.equal(b.stories.created.length, 0);
    assert.equal(Object.values(sb.sandboxes.kantata.state.workspaces).filter((w: any) => w.title.startsWith('Globex')).length, 1);
    const upd = (await client.execute('updateWorkspace', { id: a.workspace.id, workspace: { price: 120000 } }, ctx('co-1'))) as any;
    assert.equal(upd.price_in_cents, 12000000);

    const poll = await client.pollApproved({}, { include: ['time_entries'] });
    const three = poll.timeEntries.filter((t) => t.workspace_id === poll.timeEntries[0].workspace_id).slice(0, 3);
    const mark = { workspaceId: three[0].workspace_id, timeEntryIds: three.map((t) => t.id), invoiceNumber: 'INV-US-000123', invoiceDate: '2026-11-30' };
    const m1 = (await client.execute('markInvoiced', mark, ctx('inv-123'))) as any;
    assert.equal(m1.alreadyInvoiced, false);
    assert.deepEqual([...m1.marked.timeEntries].sort(), [...mark.timeEntryIds].sort());
    const m2 = (await client.execute('markInvoiced', mark, ctx('inv-123'))) as any;
    assert.equal(m2.alreadyInvoiced, true);
    assert.deepEqual(m2.invoiceIds, [m1.invoice.id]);
    const after = await client.pollApproved({}, { include: ['time_entries'] });
    assert.ok(!after.timeEntries.some((t) => mark.timeEntryIds.includes(t.id)));
  });

  it('rejects a bad write with 422 and the Kantata errors list as a validation error', async () => {
    await assert.rejects(client.execute('createWorkspace', { workspace: { budgeted: true } }, ctx('x')), (e: FabricError) => {
      assert.equal(e.errorClass, 'validation');
      assert.equal(e.status, 422);
      assert.match(e.message, /title can't be blank/);
      return true;
    });
  });

  it('classifies 404, 429 with Retry-After and 5xx from fault injection', async () => {
    await assert.rejects(client.get('workspaces', '999'), (e: FabricError) => e.errorClass === 'not-found' && e.retry === 'permanent');
    await client.accessToken(); // token endpoint is exempt from faults anyway
    await axios.put(`${base}/_sandbox/faults`, { rate429: 1, retryAfterSeconds: 3 });
    await assert.rejects(client.page('workspaces'), (e: FabricError) => e instanceof TransientError && e.status === 429 && e.retryAfterMs === 3000 && /rate_limit/.test(e.message));
    await axios.put(`${base}/_sandbox/faults`, { errorRate: 1, errorStatus: 502 });
    await assert.rejects(client.page('workspaces'), (e: FabricError) => e instanceof TransientError && e.status === 502);
    await axios.put(`${base}/_sandbox/faults`, { outageMs: 60000 });
    await assert.rejects(client.execute('markInvoiced', { workspaceId: '1', timeEntryIds: ['1'] }, ctx('y')), (e: FabricError) => e.retry === 'transient' && e.status === 503);
    await axios.put(`${base}/_sandbox/faults`, {});
  });
});
