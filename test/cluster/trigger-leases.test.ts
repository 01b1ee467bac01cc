/**
 * One active reader per trigger across instances (issue 19, item 1: Salesforce's daily API allowance and Kantata's
 * rate limit are per account). Two PS Fabric runtime instances (child processes of dist/runtime/start.js) on one
 * PostgreSQL schema run the same flow: a Salesforce trigger polling with SOQL, a Salesforce trigger on Change Data
 * Capture, and the Kantata approved-time poller, each feeding the test-only `reliability-deliver` node (the real outbox)
 * that writes one effect per message it is given to the reliability target: the key is the message's own id, so a
 * record emitted twice shows as two effects for one record.
 *
 * The sandboxes (in this process) say who read them: every request's `caller` (a hash of its credential; the
 * instances log in to Salesforce each with its own token and use different Kantata tokens), and the number of CDC
 * subscribers. Checked:
 * - while both run, every Salesforce query, every CDC subscription and every Kantata read comes from the instance that
 *   holds the triggers' leases; the other stands by;
 * - the holder SIGKILLed: the other takes over all three triggers (leases freed by the presence sweep, well within
 *   FABRIC_TRIGGER_LEASE_MS), including the changes made while no instance read; the killed instance restarted under
 *   its id stands by; the new holder stopped (SIGTERM) releases its leases, and the standby takes them at its next attempt;
 * - every record emitted exactly once downstream over the whole run (one effect per record at the target).
 * Under CPU pressure (an instance starting beside the holder) the holder's CDC long polls can fail and the events in
 * their replies be lost; the subscriber then resubscribes from its committed replay id (docs/connectors/salesforce.md,
 * "A stalled subscription"), which is what lets the CDC trigger's changes arrive here on a loaded machine.
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
import { kantataSandbox, KANTATA_STATIC_TOKEN } from '../../sandbox/kantata';
import type { Sandbox } from '../../sandbox/core/sandbox';
import { encryptCredentials } from '../../runtime/templates';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { kill9, terminate, type Child } from '../reliability/support/child';
import { clusterInstances, removeCluster, clusterUnreachable } from './instances';
import { startTarget, type RunningTarget } from '../reliability/support/target';

const PG_URL = process.env.FABRIC_TEST_PG_CLUSTER_URL || process.env.FABRIC_TEST_PG_URL;
const SECRET = 'trigger-lease-test-secret';
const LEASE_MS = 20_000;
const HEARTBEAT_MS = 2000;
const CDC_CHANNEL = '/data/OpportunityChangeEvent';
const LEASES = ['salesforce-trigger:sfpoll', 'salesforce-trigger:sfcdc', 'kantata-poller:kpoll'];
/** Opportunities the run closes, in order (the sandbox seed has them open). */
const TO_CLOSE = ['006Hs00000GlobexEHR', '006Hs00000InitechQA', '006Hs00000ThamesCRM', '006Hs00000BavariaCL', '006Hs00000LumiereOM'];

/** Tags the message with its trigger and gives the effect a key of its own per message (not per record). */
const TAG = "msg.payload = { idempotencykey: node.name + '|' + msg._msgid, type: node.name, data: { id: node.name + '|' + msg.idempotencyKey } };\nreturn msg;";

function flow(sandboxUrl: string, targetUrl: string): unknown[] {
  const z = 'leasetab';
  const tag = (id: string, name: string) => ({ id, type: 'function', z, name, func: TAG, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['ldeliver']] });
  return [
    { id: z, type: 'tab', label: 'trigger leases' },
    { id: 'lstore', type: 'fabric-store', name: 'store', kind: 'sqlite', path: '', retentionDays: 7 },
    { id: 'lsf', type: 'salesforce-config', name: 'Salesforce', loginUrl: `${sandboxUrl}/salesforce`, instanceUrl: '', apiVersion: '62.0', authType: 'client-credentials', audience: '', store: 'lstore', ratePerSecond: 50, concurrency: 4, maxAttempts: 3 },
    { id: 'lkc', type: 'kantata-config', name: 'Kantata', authType: 'token', baseUrl: `${sandboxUrl}/kantata`, tokenUrl: '', store: 'lstore', ratePerSecond: 50, concurrency: 4, maxAttempts: 3, timeoutMs: 30000 },
    { id: 'sfpoll', type: 'salesforce-trigger', z, name: 'closed won (SOQL)', salesforce: 'lsf', mode: 'poll', stage: 'Closed Won', interval: 1, where: '', replayFrom: '-1', once: true, wires: [['tsfpoll']] },
    { id: 'sfcdc', type: 'salesforce-trigger', z, name: 'closed won (CDC)', salesforce: 'lsf', mode: 'cdc', stage: 'Closed Won', interval: 30, where: '', replayFrom: '-1', once: true, wires: [['tsfcdc']] },
    { id: 'kpoll', type: 'kantata', z, name: 'approved time', kantata: 'lkc', operation: 'pollApproved', collection: 'workspaces', pollSeconds: 1, output: 'entry', maxRecords: 5000, workspaceId: '', wires: [['tkantata']] },
    tag('tsfpoll', 'sfpoll'),
    tag('tsfcdc', 'sfcdc'),
    tag('tkantata', 'kantata'),
    { id: 'ldeliver', type: 'reliability-deliver', z, name: 'effects', store: 'lstore', url: targetUrl, rate: 0, wires: [[]] },
  ];
}

describe('scale-out: one active reader per trigger (Salesforce SOQL and CDC, Kantata), holder killed and stopped', function () {
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

  it('only the lease holder reads the vendors; the other takes over when it dies or stops; every change is emitted once', async () => {
    schema = `fabric_trglease_${crypto.randomBytes(4).toString('hex')}`;
    sb = await startSandboxes({ vendors: [salesforceSandbox, kantataSandbox] });
    const sf = sb.sandboxes.salesforce as SalesforceSandbox;
    const kantata = sb.sandboxes.kantata as Sandbox;
    target = await startTarget();
    const flows = flow(sb.url, target.url);
    // each instance its own Kantata token (one account, as two API keys of one application would be)
    const kantataToken: Record<string, string> = { a: KANTATA_STATIC_TOKEN, b: 'kantata-sandbox-token-b' };
    kantata.collection<Record<string, unknown>>('oauth_tokens')[kantataToken.b] = { token: kantataToken.b, expires_at: 8.64e15 };
    const callerOf = (authorization: string) => crypto.createHash('sha256').update(authorization).digest('hex').slice(0, 12);
    const kantataCaller: Record<string, string> = { a: callerOf(`Bearer ${kantataToken.a}`), b: callerOf(`Bearer ${kantataToken.b}`) };

    const startInstance = clusterInstances({
      prefix: 'psfabric-trglease',
      flows,
      pgUrl: PG_URL!,
      schema,
      credentialSecret: SECRET,
      children,
      dirs,
      prepare: (dir, name) => {
        const creds = { lsf: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }, lkc: { accessToken: kantataToken[name as 'a' | 'b'] } };
        fs.writeFileSync(path.join(dir, 'flows_cred.json'), JSON.stringify(encryptCredentials(creds, SECRET)));
      },
      env: {
        FABRIC_INSTANCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        FABRIC_TRIGGER_LEASE_MS: String(LEASE_MS),
      },
    });

    pg = new Client({ connectionString: PG_URL });
    await pg.connect();
    const holders = async (): Promise<string[]> => {
      const rows = (await pg!.query(`SELECT name, owner FROM "${schema}".leases WHERE name = ANY($1) AND expires_at > $2`, [LEASES, Date.now()])).rows as Array<{ name: string; owner: string }>;
      return LEASES.map((n) => rows.find((r) => r.name === n)?.owner.split('/')[0] ?? '-');
    };
    const heldBy = (who: string) => async () => (await holders()).every((h) => h === who);
    const subscribers = () => sf.streamingSubscribers(CDC_CHANNEL);
    const closeWon = async (id: string) => {
      const res = await fetch(`${sb!.url}/salesforce/_sandbox/close-won/${id}`, { method: 'POST' });
      assert.equal(res.status, 200, await res.text());
    };
    const unapproved = () => Object.values(kantata.state.time_entries as Record<string, any>).filter((t) => !t.approved).map((t) => String(t.id));
    const approve = async (n: number) => {
      const ids = unapproved().slice(0, n);
      const res = await fetch(`${sb!.url}/kantata/_sandbox/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) });
      assert.equal(res.status, 200, await res.text());
      return ids;
    };
    const approvedIds: string[] = [];
    const effectFor = (tag: string, key: string) => target!.target.effectsForId(`${tag}|${key}`).length > 0;
    const kantataKey = (id: string) => {
      const te = (kantata.state.time_entries as Record<string, any>)[id];
      return `kantata:TimeEntry:${id}:${te.updated_at}`;
    };
    /** Closes a deal and approves time, then waits until all three triggers emitted them. */
    const change = async (opp: string) => {
      await closeWon(opp);
      const ids = await approve(3);
      approvedIds.push(...ids);
      const missing = () => [!effectFor('sfpoll', `${opp}:Closed Won`) && 'sfpoll', !effectFor('sfcdc', `${opp}:Closed Won`) && 'sfcdc', !ids.every((id) => effectFor('kantata', kantataKey(id))) && 'kantata'].filter(Boolean);
      await waitFor(() => missing().length === 0, `${opp} and time entries ${ids.join(', ')} downstream of all three triggers`, 120000, 100).catch(async (err: Error) => {
        const q = async (sql: string) => JSON.stringify((await pg!.query(sql)).rows);
        const state = `; watermarks ${await q(`SELECT name, value FROM "${schema}".watermarks WHERE name LIKE '%sfcdc%'`)}; inbox ${await q(`SELECT message_id, status FROM "${schema}".inbox WHERE source LIKE '%sfcdc%'`)}; CDC events at the sandbox ${JSON.stringify(Object.values(sf.collection('_cdc')).map((e: any) => e.event?.event?.replayId ?? e.event?.replayId))}`;
        throw new Error(`${err.message}; missing from ${missing().join(', ')}; leases held by ${(await holders()).join(', ')}; CDC subscribers ${subscribers()}${state}`);
      });
    };
    /** Vendor reads since request `since` (sequence numbers of each sandbox log), by caller. */
    const readers = (sfSince: number, kSince: number) => {
      const sfReads = sf.requests().filter((r) => r.seq > sfSince && /\/services\/data\//.test(r.path));
      const kReads = kantata.requests().filter((r) => r.seq > kSince && /\/api\/v1\/(time_entries|expenses)/.test(r.path));
      return { salesforce: new Set(sfReads.map((r) => r.caller)), kantata: new Set(kReads.map((r) => r.caller)), sfCount: sfReads.length, kCount: kReads.length };
    };
    const lastSeq = (s: Sandbox) => s.requests().at(-1)?.seq ?? 0;

    // a starts first and takes all three triggers; then b joins
    const a = await startInstance('a');
    await waitFor(heldBy('a'), 'a to hold the three trigger leases', 60000, 100);
    await waitFor(() => subscribers() === 1, "a's CDC subscription", 60000, 100);
    const b = await startInstance('b');
    await change(TO_CLOSE[0]);
    const [sfFrom, kFrom] = [lastSeq(sf), lastSeq(kantata)];
    // b runs its flow for a while (a change per trigger, each read, emitted and delivered), then who read is counted
    await change(TO_CLOSE[1]);
    await change(TO_CLOSE[2]);
    const bothUp = readers(sfFrom, kFrom);
    assert.deepEqual(await holders(), ['a', 'a', 'a'], 'a still holds the triggers');
    // a session the holder replaced after a stall counts at the vendor until its disconnect gets through or Salesforce
    // expires it (40 s after its last reply); a streaming client held by b would never go
    await waitFor(() => subscribers() === 1, 'one CDC subscription (b holds no streaming client)', 60000, 200);
    assert.equal(bothUp.salesforce.size, 1, `Salesforce read by one instance while both run (callers ${[...bothUp.salesforce].join(', ')}, ${bothUp.sfCount} requests)`);
    assert.deepEqual([...bothUp.kantata], [kantataCaller.a], `Kantata read by a alone while both run (${bothUp.kCount} requests)`);

    // a dies: a deal closes and time is approved while no instance reads; b takes over and emits them
    const tKill = Date.now();
    await kill9(a);
    await closeWon(TO_CLOSE[3]);
    const whileDown = await approve(3);
    approvedIds.push(...whileDown);
    await waitFor(heldBy('b'), 'b to take over the three triggers', 3 * LEASE_MS, 100);
    const takeoverMs = Date.now() - tKill;
    await waitFor(
      () => effectFor('sfpoll', `${TO_CLOSE[3]}:Closed Won`) && effectFor('sfcdc', `${TO_CLOSE[3]}:Closed Won`) && whileDown.every((id) => effectFor('kantata', kantataKey(id))),
      'the changes made while no instance read, emitted by b',
      120000,
      100,
    );
    await waitFor(() => subscribers() === 1, "b's CDC subscription alone (the sandbox drops a's once its long-poll times out)", 180000, 200);

    // a comes back under its id and stands by; b is stopped: a takes over at once (b released its leases)
    await startInstance('a');
    const tStop = Date.now();
    await terminate(b);
    await waitFor(heldBy('a'), 'a (restarted) to take over from the stopped b', LEASE_MS, 100);
    const handoverMs = Date.now() - tStop;
    await change(TO_CLOSE[4]);
    await waitFor(() => subscribers() === 1, "one CDC subscription after the hand-over (b's ends with its disconnect or expires)", 60000, 200);

    // every record once downstream: each trigger's records, one effect each, nothing else
    const effects = [...target.target.effects.values()];
    const perRecord = new Map<string, number>();
    for (const e of effects) perRecord.set(String(e.id), (perRecord.get(String(e.id)) ?? 0) + 1);
    const twice = [...perRecord].filter(([, n]) => n > 1);
    // the SOQL trigger's first poll reads from a few seconds before it: a deal the seed closed may come out of it too
    const seededWon = Object.values(sf.state.Opportunity as Record<string, any>).filter((o) => o.StageName === 'Closed Won' && !TO_CLOSE.includes(o.Id)).map((o) => `sfpoll|${o.Id}:Closed Won`);
    const approvedOpen = ['time_entries', 'expenses'].flatMap((k) =>
      Object.values(kantata.state[k] as Record<string, any>).filter((r) => r.approved && !r.is_invoiced).map((r) => `kantata:${k === 'time_entries' ? 'TimeEntry' : 'Expense'}:${r.id}:${r.updated_at}`),
    );
    const expected = new Set([...TO_CLOSE.flatMap((id) => [`sfpoll|${id}:Closed Won`, `sfcdc|${id}:Closed Won`]), ...approvedOpen.map((k) => `kantata|${k}`)]);
    const allowed = new Set([...expected, ...seededWon]);
    console.log(
      [
        '      trigger lease figures:',
        `        both up: Salesforce ${bothUp.sfCount} requests from ${bothUp.salesforce.size} caller(s), Kantata ${bothUp.kCount} reads from ${bothUp.kantata.size} caller(s), CDC subscribers 1`,
        `        takeover after SIGKILL ${(takeoverMs / 1000).toFixed(1)} s (lease ${LEASE_MS / 1000} s, heartbeat ${HEARTBEAT_MS / 1000} s); hand-over after SIGTERM ${(handoverMs / 1000).toFixed(1)} s`,
        `        downstream: ${effects.length} effects for ${perRecord.size} records (expected ${expected.size}); records emitted twice: ${twice.length}`,
      ].join('\n'),
    );
    assert.deepEqual(twice, [], 'no record emitted twice');
    assert.deepEqual([...perRecord.keys()].filter((k) => !allowed.has(k)), [], 'nothing unexpected downstream');
    assert.deepEqual([...expected].filter((k) => !perRecord.has(k)), [], 'every change emitted');
    assert.ok(approvedIds.length >= 15);
  });
});
