/**
 * Nothing stuck unseen (issue 14, rows 4 and 5): the deployed templates exactly as `npm start` deploys them (the
 * runtime in a child process, the sandboxes, the embedded broker) receive bad messages on EVERY topic a template consumes
 * (empty, whitespace, invalid JSON, schema-invalid), 30 distinct bad closed-won deals, 30 distinct bad amendments, bad
 * reconcile requests, bad project/requested and request/updated events, next to genuine experience-API project requests
 * (whose `fabric/v1/request/updated` reports the experience-api tab consumes).
 * Each bad message ends as exactly one exception row with a reason, distinct records in distinct rows (the record key is
 * the message's own identity, else its message id); no inbox entry stays `received`; the genuine request/updated
 * reports are handed over and recorded; the runtime keeps running.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { inboxMessageId } from '../../lib/broker/message-id';
import { ACCOUNTS, OPPORTUNITIES } from '../../sandbox/seed/firm';
import { start, kill9, terminate, type Child } from './support/child';
import { record } from './support/report';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const PKG_ROOT = path.resolve(__dirname, '..', '..', '..');
const START = path.join(PKG_ROOT, 'dist', 'runtime', 'start.js');
const FLOWS = path.join(PKG_ROOT, 'flows');

interface Bad {
  topic: string;
  text: string;
  kind: string;
  /** The exception row's record key: the record's identity, or the message id. */
  key: string;
}

/** Every topic a template consumes (fabric-mqtt-in nodes of flows/*.json), so a new consumer cannot be left out. */
function consumedTopics(): Array<{ topic: string; format: string; node: string }> {
  const out: Array<{ topic: string; format: string; node: string }> = [];
  for (const f of fs.readdirSync(FLOWS).filter((x) => x.endsWith('.json') && !x.startsWith('_'))) {
    for (const n of JSON.parse(fs.readFileSync(path.join(FLOWS, f), 'utf8')) as Array<Record<string, any>>) {
      if (n.type === 'fabric-mqtt-in') out.push({ topic: n.topic, format: n.format === 'text' ? 'text' : 'json', node: n.id });
    }
  }
  return out;
}

const SOURCE = '/test/unseen';
const ce = (id: string, type: string, data: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ specversion: '1.0', id, source: SOURCE, type, time: '2026-11-30T10:00:00Z', datacontenttype: 'application/json', data, ...extra });
/** The inbox id fabric-mqtt-in gives a message (CloudEvent id, else a hash of topic + bytes). */
function messageKey(topic: string, text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return `Message/${inboxMessageId(topic, Buffer.from(text), parsed)}`;
}

/** A seeded deal as a CRM producer publishes it on fabric/v1/opportunity/closed-won. */
function dealData(oppId: string): Record<string, unknown> {
  const o = OPPORTUNITIES.find((x) => x.sfId === oppId)!;
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  return {
    opportunity: { Id: o.sfId, Name: o.name, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel, Delivery_Manager_Id__c: o.deliveryManagerId,
      OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) } },
    account: { Id: a.sfId, Name: a.name, External_Id__c: a.externalId, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: a.taxRegistration ?? null },
  };
}

function badMessages(topics: Array<{ topic: string; format: string }>): Bad[] {
  const bad: Bad[] = [];
  const add = (topic: string, kind: string, text: string, key?: string) => bad.push({ topic, kind, text, key: key ?? messageKey(topic, text) });
  for (const { topic, format } of topics) {
    add(topic, 'empty', '');
    add(topic, 'whitespace', ' ');
    add(topic, 'whitespace', '\r\n\t  \n');
    add(topic, 'invalid JSON', '{"specversion":"1.0","id":');
    if (format === 'text') add(topic, 'not a TE line', 'XX|this is not a legacy line');
    else add(topic, 'schema-invalid (a bare array)', JSON.stringify([topic, 'not an event']));
  }
  const Q2P = 'fabric/v1/opportunity/closed-won';
  for (let i = 0; i < 30; i++) {
    const id = `UNSEEN-CW-${i}`;
    if (i % 2 === 0) {
      const opp = `006UNSEEN00000CW${String(i).padStart(2, '0')}`;
      add(Q2P, 'closed-won missing mandatory data', ce(id, 'com.psfabric.opportunity.closed-won.v1', { opportunity: { Id: opp, Name: `Deal ${i}`, StageName: 'Closed Won' } }), `Opportunity/${opp}`);
    } else add(Q2P, 'closed-won without an opportunity id', ce(id, 'com.psfabric.opportunity.closed-won.v1', { opportunity: { Name: `Deal ${i}`, StageName: 'Closed Won', Amount: i } }));
  }
  const CO = 'fabric/v1/contract/amendment-approved';
  for (let i = 0; i < 30; i++) {
    const id = `UNSEEN-AM-${i}`;
    if (i % 2 === 0) {
      const am = `a0AUNSEEN${String(i).padStart(2, '0')}`;
      add(CO, 'amendment with bad fields', ce(id, 'com.psfabric.contract.amendment-approved.v1', { Id: am, Amendment_Type__c: 'Scope Change', Amount_Change__c: 'a lot', Effective_Date__c: 'soon', Status__c: 'Approved' }), `Amendment/${am}`);
    } else add(CO, 'amendment without an id', ce(id, 'com.psfabric.contract.amendment-approved.v1', { Amendment_Type__c: 'Scope Change', Amount_Change__c: i, Status__c: 'Approved' }));
  }
  const RECON = 'fabric/v1/kpi/reconcile-request';
  const reconBodies: unknown[] = ['all of them', 42, [1, 2], { customer: 'everything' }, { project: { crm: 'PRJ-1' } }, { customer: { crm: [{ name: 'no key' }] } }, { customer: { ledger: [] } }, { project: [] }];
  for (let i = 0; i < 31; i++) add(RECON, 'bad reconcile request', ce(`UNSEEN-RC-${i}`, 'com.psfabric.kpi.reconcile-request.v1', reconBodies[i % reconBodies.length]));
  const PRJ = 'fabric/v1/project/requested';
  for (let i = 0; i < 10; i++) {
    // no tracking id (id / correlationid not a UUID), or no data.id
    add(PRJ, 'project request without a tracking id', ce(`UNSEEN-PR-${i}`, 'com.psfabric.project.requested.v1', { id: `PRJ-UNSEEN-${i}`, name: 'x' }));
  }
  const UPD = 'fabric/v1/request/updated';
  for (let i = 0; i < 10; i++) {
    const tracking = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    // an unknown tracking id, or a status no request can have
    const data = i % 2 ? { trackingId: tracking, status: 'exploded', detail: 'x' } : { trackingId: tracking, status: 'completed', detail: 'never accepted' };
    add(UPD, 'request update for no accepted request', ce(`UNSEEN-RU-${i}`, 'com.psfabric.request.updated.v1', data, { subject: tracking, correlationid: tracking }), `Request/${tracking}`);
  }
  return bad;
}

const PUBLISHER = { username: 'rel-unseen', password: 'rel-unseen-test-password' };

describe('reliability: nothing stuck unseen in the deployed templates', function () {
  let tmp: { dir: string; cleanup(): void };
  let runtime: Child | undefined;
  let bus: MqttClient | undefined;

  before(() => {
    tmp = tempDir('psfabric-rel-unseen-');
  });
  after(async () => {
    await bus?.endAsync(true).catch(() => {});
    await kill9(runtime);
    tmp?.cleanup();
  });

  it('every bad message on every consumed topic is one exception row with a reason, distinct records in distinct rows; genuine request/updated handed over; nothing left `received`', async function () {
    const topics = consumedTopics();
    const userDir = path.join(tmp.dir, 'user');
    const port = await freePort();
    const mqttPort = await freePort();
    const sandboxPort = await freePort();
    let ready: { url?: string; mqttUrl?: string } = {};
    const launch = () => start(
      START,
      {
        FABRIC_USER_DIR: userDir,
        FABRIC_PORT: String(port),
        FABRIC_MQTT_PORT: String(mqttPort),
        FABRIC_SANDBOX_PORT: String(sandboxPort),
        FABRIC_STORE_PATH: 'fabric.sqlite',
        FABRIC_LEGACY_ERP: 'off',
        FABRIC_Q2P_POLL_SECONDS: '2',
        FABRIC_T2C_POLL_SECONDS: '5',
        FABRIC_CO_RETRY_SECONDS: '2',
        FABRIC_REPORTING_INTERVAL: '3600',
        FABRIC_LOG_LEVEL: process.env.RELIABILITY_VERBOSE ? 'info' : 'error',
        FABRIC_CREDENTIAL_SECRET: 'reliability-unseen-secret',
        // a named client allowed to publish on every consumed topic (anonymous clients publish nothing: docs/security.md)
        FABRIC_MQTT_USERS: JSON.stringify({ users: [{ username: PUBLISHER.username, password: PUBLISHER.password, publish: ['#'], subscribe: ['#'] }] }),
      },
      (m) => {
        if (m && m.ready) ready = m;
      },
      120000,
    );
    runtime = await launch();
    const url = ready.url ?? `http://127.0.0.1:${port}`;
    const health = async () => (await fetch(`${url}/healthz`)).status;
    await waitFor(async () => (await health()) === 200, 'the runtime to be healthy', 60000, 100);
    const db = () => new Database(path.join(userDir, 'fabric.sqlite'), { readonly: true, fileMustExist: true });
    const query = <T>(sql: string, ...args: unknown[]): T[] => {
      const d = db();
      try {
        return d.prepare(sql).all(...args) as T[];
      } finally {
        d.close();
      }
    };
    // every consumer is subscribed before anything is published (a QoS 1 message to no subscriber is dropped)
    bus = await mqtt.connectAsync(ready.mqttUrl ?? `mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0, clientId: 'rel-unseen-publisher', ...PUBLISHER });
    const probeTopics = new Set(topics.map((t) => t.topic));
    assert.deepEqual([...probeTopics].sort(), ['fabric/v1/contract/amendment-approved', 'fabric/v1/kpi/reconcile-request', 'fabric/v1/opportunity/closed-won', 'fabric/v1/project/requested', 'fabric/v1/request/updated', 'fabric/v1/timeentry/requested', 'legacy/fr01/time/out'], 'the consumed topics this test covers');

    // genuine experience-API requests: each publishes project/requested, then request/updated (consumed by the experience-api tab)
    const keyRes = await fetch(`${url}/ps-fabric/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ps-fabric-request': '1' }, body: JSON.stringify({ name: 'unseen-portal', scopes: ['projects:read', 'projects:write', 'requests:read'], rateLimit: { perSecond: 1000, burst: 1000 } }) });
    assert.equal(keyRes.status, 201, await keyRes.clone().text());
    const apiKey = ((await keyRes.json()) as { key: string }).key;
    const base = JSON.parse(fs.readFileSync(path.join(PKG_ROOT, 'test', 'fixtures', 'canonical', 'project.json'), 'utf8'))[0];
    delete base.externalIds;
    const genuine: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${url}/api/v1/projects`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ ...base, id: `PRJ-UNSEEN-OK-${i}`, version: 1, code: `UNSEEN-${i}`, name: `Unseen project ${i}` }) });
      const body = (await r.json()) as { trackingId?: string };
      assert.equal(r.status, 202, JSON.stringify(body));
      genuine.push(body.trackingId!);
    }

    const bad = badMessages(topics);
    for (const b of bad) await bus.publishAsync(b.topic, b.text, { qos: 1 });
    // a genuine closed-won deal published twice by another producer: the repeat is a duplicate, handed over as well
    for (const id of ['UNSEEN-GEN-CW-1', 'UNSEEN-GEN-CW-2']) await bus.publishAsync('fabric/v1/opportunity/closed-won', ce(id, 'com.psfabric.opportunity.closed-won.v1', dealData('006Hs00000GlobexEHR')), { qos: 1 });

    const status = async (trackingId: string) => {
      const r = await fetch(`${url}/api/v1/requests/${trackingId}`, { headers: { 'x-api-key': apiKey } });
      return ((await r.json()) as { status?: string }).status;
    };
    type Row = { id: number; process: string; step: string; record_key: string | null; message: string; occurrences: number; status: string };
    const keys = new Set(bad.map((b) => b.key));
    const rowsOf = () => query<Row>('SELECT id, process, step, record_key, message, occurrences, status FROM exceptions').filter((r) => r.record_key !== null && keys.has(r.record_key));
    const received = () => query<{ source: string; message_id: string; payload: string }>("SELECT source, message_id, payload FROM inbox WHERE status = 'received' AND (source LIKE 'mqtt:%' OR source LIKE 'salesforce-trigger:%')");
    await waitFor(async () => rowsOf().length >= keys.size && received().length === 0 && (await Promise.all(genuine.map(status))).every((s) => s === 'completed'), 'every bad message in the exception queue, every inbox entry handed over, the genuine requests completed', 120000, 250).catch(() => undefined);

    const rows = rowsOf();
    if (process.env.RELIABILITY_VERBOSE) for (const r of rows) console.log(`[unseen] ${r.process} / ${r.step} / ${r.record_key}: ${r.message.slice(0, 160)}`);
    const byKey = new Map<string, Row[]>();
    for (const r of rows) byKey.set(r.record_key!, [...(byKey.get(r.record_key!) ?? []), r]);
    const missing = bad.filter((b) => !byKey.has(b.key)).map((b) => `${b.topic} ${b.kind} (${b.key})`);
    const merged = rows.filter((r) => r.occurrences !== 1 || (byKey.get(r.record_key!) ?? []).length > 1).map((r) => `${r.record_key} x${r.occurrences} at ${r.process}/${r.step}`);
    const noReason = rows.filter((r) => !r.message || r.message.trim().length < 10).map((r) => `${r.record_key}: ${r.message}`);
    const unknownKeys = query<{ record_key: string }>("SELECT record_key FROM exceptions WHERE record_key LIKE '%unknown%' OR record_key LIKE '%undefined%'").map((r) => r.record_key);
    const stuck = received().map((r) => `${r.source} ${r.message_id} ${r.payload.slice(0, 80)}`);
    const abandoned = query<{ record_key: string }>("SELECT record_key FROM exceptions WHERE process = 'inbox'").map((r) => r.record_key);
    const genuineStatus = await Promise.all(genuine.map(status));
    // the genuine request/updated reports were consumed and handed over (processed), not merely received
    const updates = query<{ status: string; n: number }>("SELECT status, COUNT(*) AS n FROM inbox WHERE source = 'mqtt:api-readmodel-in' AND payload NOT LIKE '%UNSEEN-RU-%' GROUP BY status");
    const genuineDeals = query<{ message_id: string; status: string }>("SELECT message_id, status FROM inbox WHERE source = 'mqtt:q2p-mqtt-in' AND message_id LIKE '%UNSEEN-GEN-CW-%'");
    const healthy = await health();
    record({ scenario: '8 nothing stuck unseen', writes: bad.length, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: missing.length + stuck.length + merged.length, exceptions: rows.length, maxRate: '', notes: `${bad.length} bad messages on ${topics.length} consumed topics, ${genuine.length} genuine experience-API requests`, failed: !!(missing.length || merged.length || noReason.length || stuck.length || unknownKeys.length) });

    assert.deepEqual(missing, [], `${missing.length} of ${bad.length} bad messages have no exception row of their own`);
    assert.deepEqual(merged, [], 'distinct bad records merged into one row');
    assert.deepEqual(noReason, [], 'exceptions without a reason');
    assert.deepEqual(unknownKeys, [], 'record keys made of "unknown" / "undefined"');
    assert.deepEqual(stuck, [], 'inbox entries left `received`');
    assert.deepEqual(abandoned, [], 'inbox entries abandoned');
    assert.deepEqual(genuineStatus, genuine.map(() => 'completed'), 'the genuine requests completed');
    assert.ok(updates.some((u) => u.status === 'processed' && u.n >= genuine.length), `genuine request/updated reports handed over: ${JSON.stringify(updates)}`);
    assert.ok(!updates.some((u) => u.status === 'received'), `request/updated reports left received: ${JSON.stringify(updates)}`);
    assert.deepEqual(genuineDeals.map((d) => d.status), ['processed', 'processed'], 'the genuine deal and its repeat handed over');
    assert.equal(healthy, 200, 'the runtime kept running');
    await bus.endAsync();
    bus = undefined;
    assert.equal(await terminate(runtime), '0');

    // a restart re-emits nothing: every entry was handed over. A consumer takes new traffic only after its start-up
    // replay, so once one new bad message per topic has its exception every replay has run.
    runtime = await launch();
    await waitFor(async () => (await health()) === 200, 'the restarted runtime to be healthy', 60000, 100);
    bus = await mqtt.connectAsync(ready.mqttUrl ?? `mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0, clientId: 'rel-unseen-publisher-2', ...PUBLISHER });
    const sentinels = [...probeTopics].map((topic) => ({ topic, text: `{"after restart":${JSON.stringify(topic)}` }));
    for (const m of sentinels) await bus.publishAsync(m.topic, m.text, { qos: 1 });
    const sentinelKeys = new Set(sentinels.map((m) => messageKey(m.topic, m.text)));
    await waitFor(() => query<{ record_key: string }>('SELECT record_key FROM exceptions').filter((r) => sentinelKeys.has(r.record_key)).length === sentinels.length, 'the exceptions of the messages sent after the restart', 60000, 250);
    const after = rowsOf();
    assert.deepEqual(after.filter((r) => r.occurrences !== 1).map((r) => `${r.record_key} x${r.occurrences}`), [], 'a bad message raised again after the restart (re-emitted)');
    assert.equal(after.length, rows.length);
    assert.deepEqual(query<{ record_key: string }>("SELECT record_key FROM exceptions WHERE process = 'inbox'").map((r) => r.record_key), [], 'entries abandoned after the restart');
    assert.deepEqual(query<{ n: number }>("SELECT COUNT(*) AS n FROM inbox WHERE replays > 0 AND (source LIKE 'mqtt:%' OR source LIKE 'salesforce-trigger:%')")[0].n, 0, 'entries re-emitted after the restart');
    await bus.endAsync();
    bus = undefined;
    assert.equal(await terminate(runtime), '0');
    runtime = undefined;
  });
});
