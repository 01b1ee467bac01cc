/**
 * Event gaps of the Salesforce trigger against the Salesforce sandbox, through the real Node-RED runtime: an
 * expired replay id, CDC gap and overflow events, a poller stopped longer than its window, and an operator
 * backfill. Each asserts the warning (exception for integration-ops + node warning), and that the missed
 * opportunities come out of the trigger exactly once (counted at its output, after the inbox hand-over).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { INSTANCE_ID_FILE } from '../../lib/cluster/instance';
import { instanceLeaseOwner } from '../../lib/store/store';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { salesforceSandbox, type SalesforceSandbox } from '../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../sandbox/salesforce/auth';
import { kantataSandbox, KANTATA_STATIC_TOKEN } from '../../sandbox/kantata';
import { markInboxProcessed } from '../../lib/inbox';
import { triggerRuns } from '../../lib/triggers/runs';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = ['fabric-store/fabric-store', 'salesforce-config/salesforce-config', 'salesforce-trigger/salesforce-trigger', 'ops-feed/ops-feed'].map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

describe('salesforce-trigger gaps and backfill (Salesforce sandbox, Node-RED runtime)', function () {
  this.timeout(60000);
  let sb: RunningSandboxes;
  let sandbox: SalesforceSandbox;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox] });
    sandbox = sb.sandboxes.salesforce as SalesforceSandbox;
  });
  after(async () => sb.close());
  beforeEach(() => {
    sandbox.reset();
    tmp = tempDir('psfabric-sf-gaps-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  const base = [
    { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
    { id: 'sfc', type: 'salesforce-config', loginUrl: '', apiVersion: '62.0', authType: 'client-credentials', store: 'store', ratePerSecond: 50, concurrency: 4, maxAttempts: 2 },
  ];
  const flow = (trigger?: Record<string, unknown>) => [
    ...base.map((n) => (n.id === 'sfc' ? { ...n, loginUrl: `${sb.url}/salesforce` } : n)),
    ...(trigger ? [{ id: 'trg', type: 'salesforce-trigger', salesforce: 'sfc', stage: 'Closed Won', once: true, wires: [['won']], ...trigger }, { id: 'won', type: 'helper' }] : []),
  ];
  const creds = { sfc: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } };
  const sandboxPost = async (path: string, body?: unknown) => {
    const res = await fetch(`${sb.url}/salesforce/_sandbox/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
    const text = await res.text();
    assert.equal(res.status, 200, `${path}: ${text}`);
    return JSON.parse(text);
  };
  /** Loads the flow and records what the trigger sends, its warnings and its status. */
  async function load(trigger: Record<string, unknown>, extra: Array<Record<string, unknown>> = []) {
    await helper.load(nodes, [...flow(trigger), ...extra], creds);
    const trg = helper.getNode('trg');
    const seen = { out: [] as any[], warnings: [] as string[], statuses: [] as any[], handovers: [] as Promise<void>[] };
    // the flow after the trigger hands each message over (as the template's first durable write does), so a restart
    // re-emits nothing that was taken
    const store = helper.getNode('store').store;
    helper.getNode('won').on('input', (m: any) => {
      seen.out.push(m);
      seen.handovers.push(markInboxProcessed(m, store));
    });
    const warn = trg.warn.bind(trg);
    trg.warn = (w: any) => {
      seen.warnings.push(String(w));
      return warn(w);
    };
    const status = trg.status.bind(trg);
    trg.status = (s: any) => {
      seen.statuses.push(s);
      return status(s);
    };
    return seen;
  }
   
  const admin = () => (helper as unknown as { request(): any }).request();
  const ids = (out: any[]) => out.map((m) => m.payload.opportunity.Id).sort();
  const gapExceptions = async (kind: string) => {
    const services = helper.getNode('store').services;
    return (await services.exceptions.list({ status: 'open' })).filter((e: any) => e.recordKey === `Trigger/trg/${kind}` && e.ownerTeam === 'integration-ops');
  };
  /** The node's status showed the gap (yellow; the test runtime shows message keys), then the resync's progress naming the gap kind, ending done (green). */
  const assertGapStatus = (statuses: any[], kind: string) => {
    const gapAt = statuses.findIndex((s) => s.fill === 'yellow' && /status\.gap/.test(s.text));
    assert.ok(gapAt >= 0, `a yellow gap status: ${JSON.stringify(statuses)}`);
    const progress = statuses.slice(gapAt).filter((s) => s.text.startsWith(`resync (${kind})`));
    assert.ok(progress.some((s) => s.fill === 'blue'), `the resync's progress in the status: ${JSON.stringify(statuses.slice(gapAt))}`);
    assert.ok(progress.some((s) => s.fill === 'green' && / done, \d+ emitted/.test(s.text)), `the resync's end in the status: ${JSON.stringify(statuses.slice(gapAt))}`);
  };
  const runDone = (kind: string) => waitFor(() => {
    const r = triggerRuns.get('trg');
    return r && r.kind === kind && (r.state === 'done' || r.state === 'failed') ? r : undefined;
  }, `the ${kind} run to end`, 30000);

  it('an expired replay id: warns, resyncs the missed closes with SOQL once, and goes on with new events', async () => {
    let seen = await load({ mode: 'cdc', replayFrom: '-1' });
    await waitFor(() => seen.statuses.some((s) => s.fill === 'green'), 'the CDC subscription');
    await sandboxPost('close-won/006Hs00000GlobexEHR');
    await waitFor(() => seen.out.length === 1, 'the live close');
    const store = helper.getNode('store').store;
    // the commit time is stored after the replay id: both are durable once it is there
    await waitFor(async () => (await store.watermarkGet('salesforce-trigger:trg:cdc:at')) !== undefined, 'the replay id and its commit time');
    await helper.unload();

    // while the trigger is down: two deals close, and their events leave the retention
    await sandboxPost('close-won/006Hs00000InitechQA');
    await sandboxPost('close-won/006Hs00000ThamesCRM');
    const expired = await sandboxPost('cdc/expire');
    assert.ok(expired.expired >= 3);

    seen = await load({ mode: 'cdc', replayFrom: '-1' });
    const run = await runDone('replay-expired');
    assert.equal(run.state, 'done', run.error);
    await waitFor(() => seen.out.length === 2, 'the two missed closes');
    assert.deepEqual(ids(seen.out), ['006Hs00000InitechQA', '006Hs00000ThamesCRM']);
    assert.ok(seen.out.every((m) => m.salesforce.source === 'resync'));
    assert.ok(seen.warnings.some((w) => /warn.replayExpired/.test(w)), seen.warnings.join('\n'));
    assert.equal((await gapExceptions('replay-expired')).length, 1);
    assertGapStatus(seen.statuses, 'replay-expired');
    // the subscription continues with new events, and nothing comes twice
    await waitFor(() => seen.statuses.some((s) => s.fill === 'green' && /connected/.test(s.text)), 'the resubscription');
    await sandboxPost('close-won/006Hs00000BavariaCL');
    await waitFor(() => seen.out.length === 3, 'the next live close');
    assert.deepEqual(ids(seen.out), ['006Hs00000BavariaCL', '006Hs00000InitechQA', '006Hs00000ThamesCRM']);
    assert.equal(await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:cdc:resync'), '');
  });

  it('a CDC subscription whose /meta/connect replies stop before it committed anything: warns, resubscribes, re-reads the lost close with SOQL once', async () => {
    // the vendor holds a connect 2 s (Salesforce: 110 s), so the client notices a reply that does not come within seconds
    const res = await fetch(`${sb.url}/salesforce/_sandbox/settings`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ streamingConnectTimeoutSeconds: 2 }) });
    assert.equal(res.status, 200, await res.text());
    const seen = await load({ mode: 'cdc', replayFrom: '-1' });
    await waitFor(() => seen.statuses.some((s) => s.fill === 'green' && /connected/.test(s.text)), 'the CDC subscription');
    // the cluster test's stall: the session stays alive at the vendor, its connect replies (and the events in them) are lost
    assert.equal((await sandboxPost('cdc/fault', { mode: 'stall' })).sessions, 1);
    await sandboxPost('close-won/006Hs00000GlobexEHR');
    const run = await runDone('stream-lost');
    assert.equal(run.state, 'done', run.error);
    await waitFor(() => seen.out.length === 1, 'the close whose event was lost with the stalled session');
    assert.deepEqual(ids(seen.out), ['006Hs00000GlobexEHR']);
    assert.equal(seen.out[0].salesforce.source, 'resync');
    assert.ok(seen.warnings.some((w) => /warn\.streamStalled/.test(w)), seen.warnings.join('\n'));
    assert.ok(seen.warnings.some((w) => /warn\.streamLost/.test(w)), seen.warnings.join('\n'));
    assert.ok(seen.statuses.some((s) => s.fill === 'yellow' && /status\.stalled/.test(s.text)), JSON.stringify(seen.statuses));
    assert.equal((await gapExceptions('stream-lost')).length, 1);
    // the new subscription receives, and nothing comes twice
    await waitFor(() => sandbox.streamingSubscribers('/data/OpportunityChangeEvent') === 1, 'one subscription (the stalled session ended by the client)');
    await sandboxPost('close-won/006Hs00000ThamesCRM');
    await waitFor(() => seen.out.length === 2, 'the next live close');
    assert.deepEqual(ids(seen.out), ['006Hs00000GlobexEHR', '006Hs00000ThamesCRM']);
    assert.equal(seen.out[1].salesforce.source, 'cdc');
  });

  it('CDC gap events: GAP_UPDATE re-reads the named record, GAP_OVERFLOW resyncs the entity; each emitted once', async () => {
    const seen = await load({ mode: 'cdc', replayFrom: '-1' });
    await waitFor(() => seen.statuses.some((s) => s.fill === 'green'), 'the CDC subscription');
    const gap = await sandboxPost('cdc/gap', { sobject: 'Opportunity', id: '006Hs00000GlobexEHR', values: { StageName: 'Closed Won' } });
    const events = (await (await fetch(`${sb.url}/salesforce/_sandbox/cdc`)).json()) as any[];
    const ev = events.find((e) => e.event.replayId === gap.replayId);
    assert.equal(ev.payload.ChangeEventHeader.changeType, 'GAP_UPDATE');
    assert.deepEqual(ev.payload.ChangeEventHeader.recordIds, ['006Hs00000GlobexEHR']);
    assert.equal(ev.payload.StageName, undefined, 'a gap event carries no fields');
    await waitFor(() => seen.out.length === 1, 'the record named by the gap event');
    assert.equal(seen.out[0].salesforce.source, 'cdc-gap');

    await sandboxPost('cdc/gap', { sobject: 'Opportunity', id: '006Hs00000InitechQA', values: { StageName: 'Closed Won' }, overflow: true });
    const run = await runDone('cdc-gap');
    assert.equal(run.state, 'done', run.error);
    await waitFor(() => seen.out.length === 2, 'the record behind the overflow event');
    assert.deepEqual(ids(seen.out), ['006Hs00000GlobexEHR', '006Hs00000InitechQA']);
    assert.ok(run.skipped >= 1, 'the resync read the already emitted record again and skipped it');
    assert.ok(seen.warnings.some((w) => /warn.gapEvent/.test(w)), seen.warnings.join('\n'));
    assertGapStatus(seen.statuses, 'cdc-gap');
    const ex = await gapExceptions('cdc-gap');
    assert.equal(ex.length, 1);
    assert.equal(ex[0].occurrences, 2);
  });

  it('a poller stopped longer than its window: warns and reads the gap window by window, once', async () => {
    await helper.load(nodes, flow(), creds);
    const before = Date.now() - 3 * 3600 * 1000;
    const store = helper.getNode('store').store;
    await store.watermarkSet('salesforce-trigger:trg:poll', JSON.stringify({ ts: before, seen: {} }), before);
    await store.watermarkSet('salesforce-trigger:trg:poll:ranAt', String(before), before);
    await helper.unload();
    await sandboxPost('close-won/006Hs00000GlobexEHR');
    await sandboxPost('close-won/006Hs00000LumiereOM');

    const seen = await load({ mode: 'poll', interval: 3600, gapWindowHours: 1 });
    const run = await runDone('poller-stalled');
    assert.equal(run.state, 'done', run.error);
    assert.ok(run.windowsTotal >= 3, `hour windows over three hours, got ${run.windowsTotal}`);
    await waitFor(async () => Number(await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:poll:ranAt')) > before, 'the poll after the resync');
    assert.deepEqual(ids(seen.out), ['006Hs00000GlobexEHR', '006Hs00000LumiereOM']);
    assert.equal(run.emitted, 2);
    assert.ok(seen.warnings.some((w) => /warn.stalled/.test(w)), seen.warnings.join('\n'));
    assert.equal((await gapExceptions('poller-stalled')).length, 1);
    assertGapStatus(seen.statuses, 'poller-stalled');
    // an ordinary poll afterwards: nothing again
    const polls = sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length;
    helper.getNode('trg').receive({});
    await waitFor(() => sandbox.requests().filter((r) => r.path.includes('SystemModstamp')).length > polls, 'another poll');
    await waitFor(() => helper.getNode('trg') && triggerRuns.get('trg')?.state === 'done', 'settled');
    assert.equal(seen.out.length, 2);
  });

  it('a resync interrupted by a stop runs again at the next start', async () => {
    await helper.load(nodes, flow(), creds);
    const owedFrom = Date.now() - 2 * 3600 * 1000;
    await helper.getNode('store').store.watermarkSet('salesforce-trigger:trg:poll:resync', JSON.stringify({ kind: 'replay-expired', from: owedFrom }), owedFrom);
    await helper.unload();
    await sandboxPost('close-won/006Hs00000ThamesCRM');
    const seen = await load({ mode: 'poll', interval: 3600 });
    const run = await runDone('replay-expired');
    assert.equal(run.state, 'done', run.error);
    assert.equal(run.from, owedFrom);
    await waitFor(async () => (await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:poll:resync')) === '', 'the owed resync cleared');
    await waitFor(async () => (await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:poll:ranAt')) !== undefined, 'the first poll after it');
    assert.deepEqual(ids(seen.out), ['006Hs00000ThamesCRM']);
  });

  it('the poll lease belongs to the instance identity: a restart takes its dead incarnation\'s lease back at once, another live instance\'s lease is respected', async () => {
    fs.writeFileSync(path.join(tmp.dir, INSTANCE_ID_FILE), 'sf-node-a\n');
    const source = 'salesforce-trigger:trg';
    const hour = 3600 * 1000;
    // another instance holds the lease and is alive: this one stands by
    await helper.load(nodes, flow(), creds);
    await helper.getNode('store').store.leaseAcquire(source, instanceLeaseOwner('sf-node-b', 'live'), Date.now(), hour);
    await helper.unload();
    let seen = await load({ mode: 'poll', interval: 3600 });
    await waitFor(() => seen.statuses.some((s) => s.fill === 'grey'), 'the trigger to stand by');
    assert.equal(await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:poll:ranAt'), undefined, 'no poll while another instance holds the lease');
    await helper.getNode('store').store.leaseRelease(source, instanceLeaseOwner('sf-node-b', 'live'));
    await helper.unload();

    // an earlier incarnation of this instance (killed, so nothing released) holds it for another hour
    await helper.load(nodes, flow(), creds);
    await helper.getNode('store').store.leaseAcquire(source, instanceLeaseOwner('sf-node-a', 'killed'), Date.now(), hour);
    await helper.unload();
    seen = await load({ mode: 'poll', interval: 3600 });
    const store = helper.getNode('store').store;
    await waitFor(async () => (await store.watermarkGet('salesforce-trigger:trg:poll:ranAt')) !== undefined, 'the first poll of the restarted instance');
    assert.ok(!seen.statuses.some((s) => s.fill === 'grey'), 'the restart did not wait for the old lease');
    const presence = helper.getNode('store').services.presence;
    assert.match(presence.owner, /^sf-node-a\//);
    assert.equal(await store.leaseAcquire(source, instanceLeaseOwner('sf-node-b', 'live'), Date.now(), hour), false, 'the lease is held');
    assert.equal(await store.leaseAcquire(source, presence.owner, Date.now(), hour), true, 'by this incarnation');
  });

  it('a resync owed when another instance held the lease runs when this one reads the trigger again, not only at its first activation', async () => {
    const before = process.env.FABRIC_TRIGGER_LEASE_MS;
    process.env.FABRIC_TRIGGER_LEASE_MS = '1500';
    try {
      const seen = await load({ mode: 'poll', interval: 3600 });
      const store = helper.getNode('store').store;
      const source = 'salesforce-trigger:trg';
      const owner = helper.getNode('store').services.presence.owner;
      await waitFor(async () => (await store.watermarkGet('salesforce-trigger:trg:poll:ranAt')) !== undefined, 'the first poll (this instance reads)');
      // another instance takes the lease (this one's renewal fails: it stands by) and records a resync it owes
      await store.leaseRelease(source, owner);
      assert.equal(await store.leaseAcquire(source, 'sf-node-b/live', Date.now(), 60000), true);
      await waitFor(() => seen.statuses.at(-1)?.fill === 'grey', 'this instance to stand by');
      const owedFrom = Date.now() - 2 * 3600 * 1000;
      await store.watermarkSet('salesforce-trigger:trg:poll:resync', JSON.stringify({ kind: 'poller-stalled', from: owedFrom }), Date.now());
      // the other instance stops: this one reads again and runs what is owed
      await store.leaseRelease(source, 'sf-node-b/live');
      const run = await runDone('poller-stalled');
      assert.equal(run.state, 'done', run.error);
      assert.equal(run.from, owedFrom);
      await waitFor(async () => (await store.watermarkGet('salesforce-trigger:trg:poll:resync')) === '', 'the owed resync cleared');
    } finally {
      if (before === undefined) delete process.env.FABRIC_TRIGGER_LEASE_MS;
      else process.env.FABRIC_TRIGGER_LEASE_MS = before;
    }
  });

  it('backfill (admin endpoint): emits the range once, refuses bad ranges clearly, a second run emits nothing', async () => {
    const seen = await load({ mode: 'poll', interval: 3600 }, [
      { id: 'ops', type: 'ops-feed', store: 'store', interval: 3600, wires: [[], [], ['console'], [], []] },
      { id: 'console', type: 'helper' },
    ]);
    const consoles: any[] = [];
    helper.getNode('console').on('input', (m: any) => consoles.push(m.payload));
    await waitFor(async () => (await helper.getNode('store').store.watermarkGet('salesforce-trigger:trg:poll:ranAt')) !== undefined, 'the first poll');
    assert.equal(seen.out.length, 0, 'the seeded closed deals are older than the first watermark');

    const bad = await admin().post('/ps-fabric/triggers/trg/backfill').set('X-PS-Fabric-Request', '1').send({ from: 'yesterday', to: '2026-10-02T00:00:00Z' }).expect(400);
    assert.match(bad.body.message, /"from" must be an ISO 8601 date-time/);
    await admin().post('/ps-fabric/triggers/nope/backfill').set('X-PS-Fabric-Request', '1').send({ from: '2026-09-30T00:00:00Z', to: '2026-10-02T00:00:00Z' }).expect(404);

    const range = { from: '2026-09-30T00:00:00Z', to: '2026-10-02T00:00:00Z' };
    const accepted = await admin().post('/ps-fabric/triggers/trg/backfill').set('X-PS-Fabric-Request', '1').send(range).expect(202);
    assert.equal(accepted.body.run.kind, 'backfill');
    assert.equal(accepted.body.run.windowsTotal, 48);
    const run = await runDone('backfill');
    assert.equal(run.state, 'done', run.error);
    assert.deepEqual(ids(seen.out), ['006Hs00000AcmeWMS01', '006Hs00000BritRailS', '006Hs00000RheinSAP1']);
    assert.ok(seen.out.every((m) => m.salesforce.source === 'backfill'));
    // its progress in the node status, window by window, then its end
    assert.ok(seen.statuses.some((s) => s.fill === 'blue' && /^backfill 2026-09-30 00:00 → 2026-10-02 00:00: \d+\/48, \d+ emitted$/.test(s.text)), `backfill progress in the status: ${JSON.stringify(seen.statuses)}`);
    assert.ok(seen.statuses.some((s) => s.fill === 'green' && s.text === run.text && / done, 3 emitted$/.test(s.text)), `the backfill's end in the status: ${JSON.stringify(seen.statuses)}`);
    const list = await admin().get('/ps-fabric/triggers').expect(200);
    assert.equal(list.body.runs.find((r: any) => r.trigger === 'trg').emitted, 3);
    // the dashboard's console feed carries the progress row
    await waitFor(() => consoles.some((c) => c.triggers?.some((r: any) => r.trigger === 'trg' && r.state === 'done' && /backfill .* done, 3 emitted/.test(r.text))), 'the backfill row on the dashboard feed');

    await admin().post('/ps-fabric/triggers/trg/backfill').set('X-PS-Fabric-Request', '1').send(range).expect(202);
    const again = await waitFor(() => {
      const r = triggerRuns.get('trg');
      return r && r.startedAt >= run.endedAt! && r !== run && r.state === 'done' ? r : undefined;
    }, 'the second backfill');
    assert.equal(again.emitted, 0);
    assert.equal(again.skipped, 3);
    assert.equal(seen.out.length, 3);
  });
});

describe('kantata pollApproved gaps (Kantata sandbox, Node-RED runtime)', function () {
  this.timeout(60000);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kNodes = ['fabric-store/fabric-store', 'kantata-config/kantata-config', 'kantata/kantata'].map((n) => require(`../../nodes/${n}`));
  let sb: RunningSandboxes;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    sb = await startSandboxes({ vendors: [kantataSandbox] });
  });
  after(async () => sb.close());
  beforeEach(() => {
    sb.sandboxes.kantata.reset();
    tmp = tempDir('psfabric-kantata-gaps-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });
  const cursorName = 'kantata:kantata:kc:poll:approved';
  const conv = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${sb.url}/kantata/_sandbox/${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    assert.equal(res.status, 200, `${path}: ${text}`);
    return JSON.parse(text);
  };
  /** Deploys the poller, waits for its start-up sweep and cursor, and records what it sends and warns. */
  async function deployOnly() {
    await helper.load(kNodes, [
      { id: 'store', type: 'fabric-store', kind: 'sqlite', path: 'fabric.sqlite' },
      { id: 'kc', type: 'kantata-config', baseUrl: `${sb.url}/kantata`, store: 'store', ratePerSecond: 50, concurrency: 2, maxAttempts: 2 },
      { id: 'poll', type: 'kantata', kantata: 'kc', operation: 'pollApproved', pollSeconds: 3600, output: 'entry', gapWindowHours: 1, wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { kc: { accessToken: KANTATA_STATIC_TOKEN } });
    const seen = { out: [] as any[], warnings: [] as string[], statuses: [] as any[] };
    helper.getNode('out').on('input', (m: any) => seen.out.push(m));
    const node = helper.getNode('poll');
    const status = node.status.bind(node);
    node.status = (st: any) => {
      seen.statuses.push(st);
      return status(st);
    };
    const warn = node.warn.bind(node);
    node.warn = (w: any) => {
      seen.warnings.push(String(w));
      return warn(w);
    };
    return { seen, store: helper.getNode('kc').store };
  }
  async function deploy() {
    const { seen, store } = await deployOnly();
    await waitFor(async () => (await store.watermarkGet(`${cursorName}:polledAt`)) !== undefined, 'the start-up sweep');
    const swept = seen.out.length;
    assert.ok(swept > 0);
    // two entries are approved after the sweep: the records a gap must not lose
    const pending = Object.values(sb.sandboxes.kantata.state.time_entries as Record<string, any>).filter((t) => !t.approved).slice(0, 2).map((t) => String(t.id));
    assert.equal(pending.length, 2);
    await conv('POST', 'approve', { ids: pending });
    return { seen, store, swept, pending };
  }
  const runDone = (kind: string) => waitFor(() => {
    const r = triggerRuns.get('poll');
    return r && r.kind === kind && (r.state === 'done' || r.state === 'failed') ? r : undefined;
  }, `the ${kind} run to end`, 30000);
  const exceptions = async (kind: string) => (await helper.getNode('store').services.exceptions.list({ status: 'open' })).filter((e: any) => e.recordKey === `Trigger/poll/${kind}`);
  const newIds = (seen: { out: any[] }, swept: number) => seen.out.slice(swept).map((m) => String(m.kantata.id)).sort();

  it('a cursor Kantata refuses (older than its change window): warns, resyncs from the cursor, once', async () => {
    const { seen, store, swept, pending } = await deploy();
    await conv('PUT', 'change-window', { seconds: 7 * 24 * 3600 });
    helper.getNode('poll').receive({});
    const run = await runDone('cursor-expired');
    assert.equal(run.state, 'done', run.error);
    assert.deepEqual(newIds(seen, swept), [...pending].sort());
    assert.ok(seen.out.slice(swept).every((m) => m.resync === 'cursor-expired'));
    assert.ok(seen.warnings.some((w) => /warn.cursorExpired/.test(w)), seen.warnings.join('\n'));
    assert.equal((await exceptions('cursor-expired')).length, 1);
    // the cursor moved to the new entries: the next poll is an ordinary delta Kantata serves, with nothing new
    const cursor = await store.watermarkGet(cursorName);
    helper.getNode('poll').receive({});
    await waitFor(async () => sb.sandboxes.kantata.requests().filter((r: any) => /updated_after/.test(r.path) && r.status === 200).length > 0, 'an ordinary poll');
    assert.equal(await store.watermarkGet(cursorName), cursor);
    assert.equal(seen.out.length, swept + 2);
  });

  const backfill = async (from: number, to: number) => {
    const accepted = await (helper as unknown as { request(): any }).request().post('/ps-fabric/triggers/poll/backfill').set('X-PS-Fabric-Request', '1').send({ from: new Date(from).toISOString(), to: new Date(to).toISOString() }).expect(202);
    assert.equal(accepted.body.run.kind, 'backfill');
    const run = await waitFor(() => {
      const r = triggerRuns.get('poll');
      return r && r.kind === 'backfill' && r.startedAt === accepted.body.run.startedAt && (r.state === 'done' || r.state === 'failed') ? r : undefined;
    }, 'the backfill run to end', 30000);
    assert.equal(run.state, 'done', run.error);
    return run;
  };

  it('backfill (admin endpoint): records already sent are kept back by the inbox, the ones never read are sent once', async () => {
    // (before the poller had an inbox, a backfill sent the range again and only the steps downstream de-duplicated)
    const { seen, swept, pending } = await deploy();
    const from = Date.parse('2026-11-20T00:00:00Z');
    const to = Date.parse('2026-11-21T00:00:00Z');
    const inRange = seen.out.slice(0, swept).filter((m) => Date.parse(m.kantata.updated_at) >= from && Date.parse(m.kantata.updated_at) < to).length;
    assert.ok(inRange > 0);
    const again = await backfill(from, to);
    assert.equal(again.emitted, 0);
    assert.equal(again.skipped, inRange);
    assert.equal(seen.out.length, swept, 'nothing sent twice');

    // the two entries approved after the sweep (not polled yet): a backfill over their time sends them, once
    const approvedAt = pending.map((id) => Date.parse(sb.sandboxes.kantata.state.time_entries[id].updated_at));
    const range = { from: Math.min(...approvedAt) - 1000, to: Math.max(...approvedAt) + 1000 };
    const first = await backfill(range.from, range.to);
    assert.equal(first.emitted, 2);
    // the node status shows the run's end (the poller's status is throttled: the latest state is what shows)
    await waitFor(() => seen.statuses.some((st) => st.fill === 'green' && st.text === first.text && /^backfill .* done, 2 emitted$/.test(st.text)), `the backfill's end in the node status: ${JSON.stringify(seen.statuses.slice(-5))}`);
    assert.deepEqual(newIds(seen, swept), [...pending].sort());
    assert.ok(seen.out.slice(swept).every((m) => m.resync === 'backfill' && m._fabricInbox?.source === 'kantata-poller:poll'));
    const second = await backfill(range.from, range.to);
    assert.equal(second.emitted, 0);
    // and the ordinary poll that follows reads them after the cursor, and keeps them back too
    const store = helper.getNode('kc').store;
    const polledAt = await store.watermarkGet(`${cursorName}:polledAt`);
    helper.getNode('poll').receive({});
    await waitFor(async () => (await store.watermarkGet(`${cursorName}:polledAt`)) !== polledAt, 'an ordinary poll');
    assert.equal(seen.out.length, swept + 2);
  });

  it('a restart sends only the records no hand-over point took, marked redelivered; the start-up sweep sends nothing again', async () => {
    const { seen, swept, pending } = await deploy();
    const store = helper.getNode('kc').store;
    // downstream took every record but the first three (e.g. a crash before their outbox writes)
    const kept = seen.out.slice(0, 3).map((m) => String(m.kantata.id)).sort();
    for (const m of seen.out.slice(3)) await markInboxProcessed(m, store);
    await helper.unload();
    const again = await deployOnly();
    // the three replayed, then the sweep: only the two entries approved after the first run's sweep are new
    await waitFor(() => again.seen.out.length === 5, 'the replayed records and the sweep');
    const redelivered = again.seen.out.filter((m) => m.redelivered === true);
    assert.deepEqual(redelivered.map((m) => String(m.kantata.id)).sort(), kept);
    assert.deepEqual(again.seen.out.filter((m) => !m.redelivered).map((m) => String(m.kantata.id)).sort(), [...pending].sort());
    const polledAt = await again.store.watermarkGet(`${cursorName}:polledAt`);
    helper.getNode('poll').receive({ sweep: true });
    await waitFor(async () => (await again.store.watermarkGet(`${cursorName}:polledAt`)) !== polledAt, 'another sweep');
    assert.equal(again.seen.out.length, 5, 'a sweep sends nothing that is in the inbox');
    assert.ok(swept > 3);
  });

  it('a sweep asked for while a poll runs is made once that poll ends, not dropped', async () => {
    await deploy();
    const timeEntries = () => sb.sandboxes.kantata.requests().filter((r: any) => /\/time_entries/.test(r.path));
    const seenBefore = timeEntries().length;
    // Kantata answers slowly: the ordinary poll is still waiting for its first page when the sweep is asked for
    await conv('PUT', 'faults', { latencyMs: 400 });
    try {
      helper.getNode('poll').receive({});
      const delta = await waitFor(() => timeEntries().slice(seenBefore).find((r: any) => /updated_after/.test(r.path)), 'the ordinary poll reaching Kantata');
      assert.equal(delta.status, undefined, 'the poll is still in flight');
      helper.getNode('poll').receive({ sweep: true });
      const sweep = await waitFor(() => timeEntries().slice(seenBefore).find((r: any) => !/updated_after/.test(r.path)), 'the sweep reaching Kantata', 20_000);
      assert.ok(sweep.seq > delta.seq && delta.status !== undefined && sweep.at >= delta.at, 'the sweep was made after the running poll, not alongside it');
    } finally {
      await conv('PUT', 'faults', { latencyMs: 0 });
    }
  });

  it('a poller stopped longer than its window: warns, resyncs from the cursor, once', async () => {
    const { seen, store, swept, pending } = await deploy();
    const stale = Date.now() - 3 * 3600 * 1000;
    await store.watermarkSet(`${cursorName}:polledAt`, String(stale), stale);
    helper.getNode('poll').receive({});
    const run = await runDone('poller-stalled');
    assert.equal(run.state, 'done', run.error);
    assert.equal(run.emitted, 2);
    assert.deepEqual(newIds(seen, swept), [...pending].sort());
    assert.ok(seen.warnings.some((w) => /warn.stalled/.test(w)), seen.warnings.join('\n'));
    assert.equal((await exceptions('poller-stalled')).length, 1);
    assert.ok(Number(await store.watermarkGet(`${cursorName}:polledAt`)) > stale);
    const polls = sb.sandboxes.kantata.requests().length;
    helper.getNode('poll').receive({});
    await waitFor(() => sb.sandboxes.kantata.requests().length >= polls + 2, 'an ordinary poll');
    assert.equal(seen.out.length, swept + 2);
  });
});
