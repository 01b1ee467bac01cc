/**
 * Backfills across instances (issue 19, item 2, on a scale-out): two PS Fabric runtime instances (child processes of
 * dist/runtime/start.js) on one PostgreSQL schema run a Salesforce trigger polling with SOQL, feeding the test-only
 * `reliability-deliver` node (the real outbox) that writes one effect per message to the reliability target (outside
 * our store): a record emitted twice shows as two effects.
 *
 * The Salesforce sandbox (in this process) says who read it (each request's `caller`, a hash of the instance's own
 * token) and answers every request 60 ms late, so a backfill of 240 one-hour windows lasts long enough to watch and
 * to kill its runner mid-run. Checked:
 * - a backfill asked for on the standby instance is answered 202 and run by the instance holding the trigger's lease
 *   (every backfill window query comes from it); a second request on either instance gets 409;
 * - its progress shows on both instances (`GET /ps-fabric/triggers`, the standby naming the instance that runs it);
 * - the runner SIGKILLed mid-run: the other instance takes the lease and carries the run on from its last finished
 *   window (not from the start), to the end; every deal of the range is emitted once downstream.
 *
 * Needs FABRIC_TEST_PG_URL (or FABRIC_TEST_PG_CLUSTER_URL); otherwise pending with the reason.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { salesforceSandbox, type SalesforceSandbox } from '../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../sandbox/salesforce/auth';
import { encryptCredentials } from '../../runtime/templates';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { kill9, type Child } from '../reliability/support/child';
import { clusterInstances, removeCluster, clusterUnreachable } from './instances';
import { startTarget, type RunningTarget } from '../reliability/support/target';

const PG_URL = process.env.FABRIC_TEST_PG_CLUSTER_URL || process.env.FABRIC_TEST_PG_URL;
const SECRET = 'trigger-runs-test-secret';
const LEASE_MS = 6000;
const HEARTBEAT_MS = 1000;
const LEASE = 'salesforce-trigger:sfpoll';
/** Ten days of one-hour windows, ending with the seed's closed deals (2026-09-30 to 2026-10-01). */
const RANGE = { from: '2026-09-22T00:00:00Z', to: '2026-10-02T00:00:00Z' };
const WINDOWS = 240;

const TAG = "msg.payload = { idempotencykey: 'sfpoll|' + msg._msgid, type: 'sfpoll', data: { id: 'sfpoll|' + msg.idempotencyKey } };\nreturn msg;";

function flow(sandboxUrl: string, targetUrl: string): unknown[] {
  const z = 'runstab';
  return [
    { id: z, type: 'tab', label: 'trigger runs' },
    { id: 'rstore', type: 'fabric-store', name: 'store', kind: 'sqlite', path: '', retentionDays: 7 },
    { id: 'rsf', type: 'salesforce-config', name: 'Salesforce', loginUrl: `${sandboxUrl}/salesforce`, instanceUrl: '', apiVersion: '62.0', authType: 'client-credentials', audience: '', store: 'rstore', ratePerSecond: 50, concurrency: 4, maxAttempts: 3 },
    { id: 'sfpoll', type: 'salesforce-trigger', z, name: 'closed won (SOQL)', salesforce: 'rsf', mode: 'poll', stage: 'Closed Won', interval: 1, where: '', replayFrom: '-1', once: true, wires: [['rtag']] },
    { id: 'rtag', type: 'function', z, name: 'tag', func: TAG, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['rdeliver']] },
    { id: 'rdeliver', type: 'reliability-deliver', z, name: 'effects', store: 'rstore', url: targetUrl, rate: 0, wires: [[]] },
  ];
}

describe('scale-out: a backfill asked for on the standby runs on the lease holder, once per trigger, carried on after the holder dies', function () {
  this.timeout(600000);
  let sb: RunningSandboxes | undefined;
  let target: RunningTarget | undefined;
  const children: Child[] = [];
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let schema = '';
  let pg: Client | undefined;

  before(async function () {
    const why = await clusterUnreachable({ pgUrl: PG_URL });
    if (why) {
      console.log(`      skipped: ${why} (run .ci/cluster-setup.sh)`);
      this.skip();
    }
  });

  after(async () => {
    await pg?.end().catch(() => {});
    await removeCluster({ children, dirs, pgUrl: PG_URL, schema });
    await target?.close().catch(() => {});
    await sb?.close().catch(() => {});
  });

  it('202 on the standby, run by the holder, 409 on both, progress on both, resumed from its last window by the other when the holder is killed', async () => {
    schema = `fabric_trgruns_${crypto.randomBytes(4).toString('hex')}`;
    sb = await startSandboxes({ vendors: [salesforceSandbox] });
    const sf = sb.sandboxes.salesforce as SalesforceSandbox;
    target = await startTarget();
    const startInstance = clusterInstances({
      prefix: 'psfabric-trgruns',
      flows: flow(sb.url, target.url),
      pgUrl: PG_URL!,
      schema,
      credentialSecret: SECRET,
      children,
      dirs,
      prepare: (dir) => fs.writeFileSync(path.join(dir, 'flows_cred.json'), JSON.stringify(encryptCredentials({ rsf: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } }, SECRET))),
      env: { FABRIC_INSTANCE_HEARTBEAT_MS: String(HEARTBEAT_MS), FABRIC_TRIGGER_LEASE_MS: String(LEASE_MS) },
    });
    pg = new Client({ connectionString: PG_URL });
    await pg.connect();
    const holder = async () => ((await pg!.query(`SELECT owner FROM "${schema}".leases WHERE name = $1 AND expires_at > $2`, [LEASE, Date.now()])).rows[0]?.owner as string | undefined)?.split('/')[0];
    const soql = () => sf.requests().filter((r) => /\/services\/data\//.test(r.path)).map((r) => ({ ...r, q: decodeURIComponent(r.path.replace(/\+/g, ' ')) }));
    /** The backfill's window queries (an ordinary poll reads `SystemModstamp >=` only). */
    const windowQueries = (since: number) => soql().filter((r) => r.seq > since && /SystemModstamp < /.test(r.q));
    const lastSeq = () => sf.requests().at(-1)?.seq ?? 0;
    const backfill = (url: string) => fetch(`${url}/ps-fabric/triggers/sfpoll/backfill`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-PS-Fabric-Request': '1' }, body: JSON.stringify(RANGE) });
    const runOn = async (url: string) => {
      const res = await fetch(`${url}/ps-fabric/triggers`);
      assert.equal(res.status, 200);
      return ((await res.json()) as { runs: any[] }).runs.find((r) => r.trigger === 'sfpoll');
    };

    // a starts and reads the trigger: its caller is whoever polls while it runs alone
    const a = await startInstance('a');
    await waitFor(async () => (await holder()) === 'a', 'a to hold the trigger lease', 60000, 100);
    await waitFor(() => soql().length > 0, "a's first poll", 60000, 100);
    const callerA = soql()[0].caller;
    assert.ok(soql().every((r) => r.caller === callerA));
    const b = await startInstance('b');
    await waitFor(async () => (await runOn(b.url)) === undefined && (await holder()) === 'a', 'b up, standing by');

    // asked for on the standby: recorded, answered 202, run by a
    sf.faults.latencyMs = 60;
    const since = lastSeq();
    const accepted = await backfill(b.url);
    const body = (await accepted.json()) as { run: any };
    assert.equal(accepted.status, 202, JSON.stringify(body));
    assert.equal(body.run.kind, 'backfill');
    assert.equal(body.run.windowsTotal, WINDOWS);
    for (const url of [b.url, a.url]) {
      const again = await backfill(url);
      assert.equal(again.status, 409, `a second backfill on ${url === a.url ? 'a' : 'b'}: ${await again.text()}`);
    }
    // its progress from both instances, the standby naming the instance that runs it
    const onB = await waitFor(async () => {
      const r = await runOn(b.url);
      return r?.id === body.run.id && r.state === 'running' && r.windowsDone >= 30 ? r : undefined;
    }, 'the run past window 30, seen from b', 120000, 200);
    assert.match(onB.text, /^backfill 2026-09-22 00:00 → 2026-10-02 00:00: \d+\/240, \d+ emitted \(on a\)$/);
    const onA = await runOn(a.url);
    assert.equal(onA?.id, body.run.id);
    assert.match(onA.text, /^backfill .*: \d+\/240, \d+ emitted$/);
    const beforeKill = windowQueries(since);
    assert.deepEqual([...new Set(beforeKill.map((r) => r.caller))], [callerA], 'the backfill is read by a (the holder) alone');

    // a dies mid-run: b takes the lease and carries the run on from its last finished window
    await kill9(a);
    const doneAtKill = (await pg.query(`SELECT windows_done FROM "${schema}".trigger_runs WHERE id = $1`, [body.run.id])).rows[0].windows_done as number;
    const readByA = windowQueries(since).filter((r) => r.caller === callerA).length;
    assert.ok(doneAtKill < WINDOWS, `killed mid-run (${doneAtKill}/${WINDOWS})`);
    await waitFor(async () => (await holder()) === 'b', 'b to take the lease', 6 * LEASE_MS, 100);
    const end = await waitFor(async () => {
      const r = await runOn(b.url);
      return r?.id === body.run.id && (r.state === 'done' || r.state === 'failed') ? r : undefined;
    }, 'the run to end on b', 240000, 200);
    sf.faults.latencyMs = 0;
    assert.equal(end.state, 'done', end.text);
    assert.equal(end.windowsDone, WINDOWS);
    assert.match(end.runner, /^b\//);
    const readByB = windowQueries(since).filter((r) => r.caller !== callerA);
    assert.ok(readByB.length > 0 && readByB.every((r) => r.caller === readByB[0].caller));
    // resumed, not restarted: b reads from a's last finished window on (the window a was reading may be read twice)
    assert.ok(readByB.length <= WINDOWS - doneAtKill + 1, `b read ${readByB.length} windows after a finished ${doneAtKill} of ${WINDOWS}`);
    assert.ok(readByA + readByB.length <= WINDOWS + 2, `${readByA} + ${readByB.length} window reads for ${WINDOWS} windows`);

    // every closed deal of the range once downstream (the target counts what the outbox delivered)
    const [from, to] = [Date.parse(RANGE.from), Date.parse(RANGE.to)];
    const stamp = (o: any) => Date.parse(String(o.SystemModstamp).replace(/\+0000$/, 'Z'));
    const inRange = Object.values(sf.state.Opportunity as Record<string, any>).filter((o) => o.StageName === 'Closed Won' && stamp(o) >= from && stamp(o) < to).map((o) => `sfpoll|${o.Id}:Closed Won`);
    assert.ok(inRange.length >= 3, `the seed's closed deals in the range: ${inRange.join(', ')}`);
    await waitFor(() => inRange.every((k) => target!.target.effectsForId(k).length > 0), 'every deal of the range downstream', 120000, 100);
    const perRecord = new Map<string, number>();
    for (const e of target.target.effects.values()) perRecord.set(String(e.id), (perRecord.get(String(e.id)) ?? 0) + 1);
    assert.deepEqual([...perRecord].filter(([, n]) => n > 1), [], 'no record emitted twice');
    assert.equal(end.emitted, inRange.length, 'the run counts each deal once');
    console.log(`      backfill of ${WINDOWS} windows: a read ${readByA} (killed at ${doneAtKill} done), b read ${readByB.length}; ${inRange.length} deals downstream once`);
  });
});
