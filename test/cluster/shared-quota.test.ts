/**
 * Vendor quotas shared across instances (issue 19, item 1), in the cluster: two PS Fabric runtime instances on one
 * PostgreSQL schema and mosquitto (shared subscriptions), one SIGKILLed mid-run. Approved time entries go to a
 * "NetSuite" target whose account allows 5 concurrent requests, closed-won opportunities to a "Business Central"
 * target with a quota per minute; each target is the reliability sandbox (idempotent by key) with the frame's
 * concurrency limit / window quota, refusing with 429 whatever exceeds them, and observing the most requests it saw in
 * flight and in any minute. The connections are configured with the account's numbers (no division by 2): the
 * instances share them through the store. Checked: the targets never saw the limits exceeded (no refusal, peaks within
 * the limits), every record applied exactly once, nothing lost after the killed instance rejoins (as in
 * scale-out.test.ts, its mosquitto session and inbox replay finish what only it can finish).
 *
 * Needs FABRIC_TEST_PG_URL (or FABRIC_TEST_PG_CLUSTER_URL) and FABRIC_TEST_MQTT_URL; otherwise pending with the reason.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import mqtt from 'mqtt';
import { Client } from 'pg';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { terminate, type Child } from '../reliability/support/child';
import { clusterInstances, removeCluster, clusterUnreachable } from './instances';
import { timeEntry } from '../reliability/support/runtime';
import { startTarget, type RunningTarget } from '../reliability/support/target';

const PG_URL = process.env.FABRIC_TEST_PG_CLUSTER_URL || process.env.FABRIC_TEST_PG_URL;
const MQTT_URL = process.env.FABRIC_TEST_MQTT_URL;
const ENTRIES = Number(process.env.QUOTA_CLUSTER_ENTRIES ?? 1500);
const OPPORTUNITIES = Number(process.env.QUOTA_CLUSTER_OPPORTUNITIES ?? 150);
const TE_TOPIC = 'fabric/v1/timeentry/approved';
const OPP_TOPIC = 'fabric/v1/opportunity/closed-won';
/** The NetSuite account's concurrency limit, and Business Central's requests per minute. */
const NS_CONCURRENCY = 5;
const BC_PER_MINUTE = 100;
/** burst + rate x 60 s <= quota - 1 (docs/delivery.md, "Shared across instances"): 1 + 60 / 0.657 s = 92; two instances at 1.6/s each would send 192. */
const BC_RATE = 1.6;

function flow(netsuiteUrl: string, bcUrl: string): unknown[] {
  const z = 'quotatab';
  return [
    { id: z, type: 'tab', label: 'quotas' },
    { id: 'qbroker', type: 'fabric-broker', name: 'bus', mode: 'embedded', url: '', clientId: '', clean: false, protocolVersion: '4', keepalive: 30, sharedGroup: '' },
    { id: 'qstore', type: 'fabric-store', name: 'store', kind: 'sqlite', path: '', retentionDays: 7 },
    { id: 'qtein', type: 'fabric-mqtt-in', z, name: 'approved time', broker: 'qbroker', store: 'qstore', topic: TE_TOPIC, qos: '1', maxBytes: 65536, wires: [['qtecan'], []] },
    { id: 'qtecan', type: 'canonical', z, name: '', entity: 'timeentry', mapping: '', event: 'approved', source: '', subject: '', correlationProperty: 'correlationid', idempotencyKey: '', maxBytes: 65536, wires: [['qnetsuite'], []] },
    { id: 'qnetsuite', type: 'reliability-deliver', z, name: 'NetSuite (5 concurrent per account)', store: 'qstore', url: netsuiteUrl, rate: 0, concurrency: NS_CONCURRENCY, wires: [[]] },
    { id: 'qoppin', type: 'fabric-mqtt-in', z, name: 'closed-won', broker: 'qbroker', store: 'qstore', topic: OPP_TOPIC, qos: '1', maxBytes: 65536, wires: [['qoppcan'], []] },
    { id: 'qoppcan', type: 'canonical', z, name: '', entity: 'opportunity', mapping: '', event: 'closed-won', source: '', subject: '', correlationProperty: 'correlationid', idempotencyKey: '', maxBytes: 65536, wires: [['qbc'], []] },
    { id: 'qbc', type: 'reliability-deliver', z, name: `Business Central (${BC_PER_MINUTE} per minute)`, store: 'qstore', url: bcUrl, rate: BC_RATE, concurrency: 4, wires: [[]] },
  ];
}

function opportunity(id: string): Record<string, unknown> {
  return {
    id, version: 1, accountId: 'ACC-1001', name: `Quota deal ${id}`, stage: 'closed-won', probability: 100,
    amount: { amount: 50000, currency: 'USD' }, closeDate: '2026-09-15', billingEntity: 'NWA-US', billingType: 'time-and-materials',
    owner: { id: 'CON-001', name: 'Maya Patel', email: 'maya.patel@northwind-advisory.example' },
    lines: [{ lineNumber: 1, description: 'Delivery', role: 'Solution Architect', quantity: 100, unit: 'hour', unitPrice: { amount: 210, currency: 'USD' }, amount: { amount: 21000, currency: 'USD' } }],
  };
}

describe('scale-out: vendor quotas shared by two instances, one killed (NetSuite 5 concurrent, Business Central per minute)', function () {
  this.timeout(900000);
  const targets: RunningTarget[] = [];
  const children: Child[] = [];
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let schema = '';

  before(async function () {
    const why = await clusterUnreachable({ pgUrl: PG_URL, mqttUrl: MQTT_URL ?? null });
    if (why) {
      console.log(`      skipped: ${why} (run .ci/cluster-setup.sh)`);
      this.skip();
    }
    // The instances' broker sessions are persistent (clean: false) under fixed client ids: a run killed half-way leaves
    // its queued messages at the broker for the next run's instances. Start from empty sessions.
    for (const name of ['a', 'b']) {
      const c = await mqtt.connectAsync(MQTT_URL!, { clientId: `psfabric-qbroker-${name}`, clean: true, reconnectPeriod: 0 });
      await c.endAsync();
    }
  });

  after(async () => {
    await removeCluster({ children, dirs, pgUrl: PG_URL, schema });
    for (const t of targets) await t.close().catch(() => {});
  });

  it('the vendors never see their limits exceeded; every record applied exactly once', async () => {
    const t0 = Date.now();
    schema = `fabric_quota_${crypto.randomBytes(4).toString('hex')}`;
    const group = `quota${crypto.randomBytes(3).toString('hex')}`;
    const netsuite = await startTarget();
    const bc = await startTarget();
    targets.push(netsuite, bc);
    // each accepted request takes 40 ms inside the vendor, so concurrency is real; beyond the limits: 429
    netsuite.target.faults = { ...netsuite.target.faults, concurrencyLimit: NS_CONCURRENCY, serviceMs: 40, retryAfterSeconds: 1 };
    bc.target.faults = { ...bc.target.faults, windowLimit: BC_PER_MINUTE, windowMs: 60_000, serviceMs: 20, retryAfterSeconds: 1 };
    const flows = flow(netsuite.url, bc.url);

    const startInstance = clusterInstances({
      prefix: 'psfabric-quota',
      flows,
      pgUrl: PG_URL!,
      schema,
      credentialSecret: 'cluster-test-secret',
      children,
      dirs,
      env: {
        FABRIC_MQTT_URL: MQTT_URL!,
        FABRIC_MQTT_SHARED_GROUP: group,
        FABRIC_OUTBOX_LEASE_MS: '16000',
        FABRIC_QUOTA_LEASE_MS: '3000', // a's share of the NetSuite slots returns to b within 3 s of its death
      },
    });
    const [a, b] = await Promise.all([startInstance('a'), startInstance('b')]);
    const bootMs = Date.now() - t0;

    const pub = await mqtt.connectAsync(MQTT_URL!, { clientId: `quota-source-${group}`, clean: true });
    const teIds = Array.from({ length: ENTRIES }, (_, i) => `TE-Q${String(i).padStart(6, '0')}`);
    const oppIds = Array.from({ length: OPPORTUNITIES }, (_, i) => `OPP-Q${String(i).padStart(4, '0')}`);
    const all: Array<[string, string]> = [
      ...oppIds.map((id) => [OPP_TOPIC, JSON.stringify(opportunity(id))] as [string, string]),
      ...teIds.map((id) => [TE_TOPIC, JSON.stringify(timeEntry(id))] as [string, string]),
    ];
    const tPub = Date.now();
    for (let i = 0; i < all.length; i += 200) await Promise.all(all.slice(i, i + 200).map(([topic, body]) => pub.publishAsync(topic, body, { qos: 1 })));
    await pub.endAsync();
    const total = ENTRIES + OPPORTUNITIES;
    const done = () => netsuite.target.effects.size + bc.target.effects.size;

    // both instances deliver for a while, then a dies with NetSuite slots and BC tokens of its own
    await waitFor(() => done() >= total / 4, 'a quarter of the records at the vendors', 300000, 50);
    const atKill = done();
    a.proc.kill('SIGKILL');
    await a.exited;

    const pg = new Client({ connectionString: PG_URL });
    await pg.connect();
    await pg.query(`SET search_path TO "${schema}"`);
    const open = async () => (await pg.query("SELECT COUNT(*)::int AS n FROM outbox WHERE status IN ('pending', 'inflight')")).rows[0].n as number;
    let last = -1;
    let quietSince = Date.now();
    await waitFor(async () => {
      const n = done();
      if (n !== last) [last, quietSince] = [n, Date.now()];
      if (n >= total) return true;
      return (await open()) === 0 && Date.now() - quietSince > 3000;
    }, `b to finish what it can alone (have ${done()}/${total})`, 600000, 250);
    const survivorDone = done();
    const a2 = await startInstance('a');
    await waitFor(() => done() >= total, `all ${total} records at the vendors after a rejoined (have ${done()})`, 300000, 200);
    await waitFor(async () => (await open()) === 0, 'the shared outbox to drain', 60000, 200);
    const doneMs = Date.now() - tPub;
    const slotsLeft = (await pg.query('SELECT holder, COUNT(*)::int AS n FROM quota_slots GROUP BY holder')).rows as Array<{ holder: string; n: number }>;
    await pg.end();

    const ns = netsuite.target.limitObservations();
    const bcSeen = bc.target.limitObservations();
    const once = (t: RunningTarget, ids: string[]) => ids.filter((id) => t.target.effectsForId(id).length === 1).length;
    const nsOnce = once(netsuite, teIds);
    const bcOnce = once(bc, oppIds);
    console.log(
      [
        '      quota cluster figures:',
        `        size: ${ENTRIES} time entries -> NetSuite (account limit ${NS_CONCURRENCY} concurrent), ${OPPORTUNITIES} opportunities -> Business Central (${BC_PER_MINUTE} per minute; connection at ${BC_RATE}/s)`,
        `        kill: a SIGKILLed at ${atKill}/${total}; b alone reached ${survivorDone}; all done ${(doneMs / 1000).toFixed(1)} s after publishing began (boot ${(bootMs / 1000).toFixed(1)} s)`,
        `        NetSuite saw: max ${ns.maxInFlight} in flight, refused ${ns.rejected.concurrency}; applied once ${nsOnce}/${ENTRIES}, re-sends absorbed ${netsuite.target.duplicates()}`,
        `        Business Central saw: max ${bcSeen.maxInWindow} in a minute, refused ${bcSeen.rejected.window}; applied once ${bcOnce}/${OPPORTUNITIES}, re-sends absorbed ${bc.target.duplicates()}`,
        `        slots still taken at the end (lingering, expiring): ${slotsLeft.map((r) => `${r.holder.split(':')[0]} ${r.n}`).join(', ') || 'none'}`,
      ].join('\n'),
    );
    assert.equal(ns.rejected.concurrency, 0, 'NetSuite never refused a request for concurrency');
    assert.ok(ns.maxInFlight <= NS_CONCURRENCY, `NetSuite never saw more than ${NS_CONCURRENCY} in flight (saw ${ns.maxInFlight})`);
    assert.equal(bcSeen.rejected.window, 0, 'Business Central never refused a request for its quota');
    assert.ok(bcSeen.maxInWindow <= BC_PER_MINUTE, `Business Central never saw more than ${BC_PER_MINUTE} in a minute (saw ${bcSeen.maxInWindow})`);
    assert.equal(nsOnce, ENTRIES, 'every time entry applied exactly once');
    assert.equal(bcOnce, OPPORTUNITIES, 'every opportunity applied exactly once');
    assert.equal(netsuite.target.effects.size + bc.target.effects.size, total, 'nothing else reached the vendors');
    await Promise.all([terminate(b), terminate(a2)]);
  });
});
