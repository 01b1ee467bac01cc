/**
 * Scenario 3: quote-to-project latency, against the deployed templates (runtime child with BENCH_TEMPLATES=1: every
 * flows/*.json as `npm start` deploys it, sandboxes in the runtime process).
 *
 * Deals are published as closed-won events on `fabric/v1/opportunity/closed-won` (the template's second trigger,
 * docs/templates.md), `{ opportunity, account }` as event data, one new account per deal (unique external id, and a
 * name whose first 5 letters are unique so the Jira keys do not collide, see docs/benchmarks.md). The Salesforce
 * poller is not used: its poll interval would be part of every lead time.
 *
 * Phase A (overhead): `sequential` deals one at a time (no queueing: the per-deal cost), then N deals at once (burst).
 * The connections' rate limits (NetSuite 5/s, BC 5/s, Kantata 10/s, Jira 5/s in the template) are lifted to 1000/s
 * through the admin API, as a user would in the editor, so the phase measures the middleware and not the configured
 * quotas (at Jira's 5/s and 2 Jira writes per deal, 1,000 deals take 400 s). Concurrency stays as deployed.
 * Lead time = project.created received by the harness - closed-won publish. Sandbox time = sum of `durationMs` of the
 * deal's requests in the sandboxes' request logs (NetSuite, BC, Kantata, Jira; matched by the deal's external ids:
 * opportunity id, account external id, project id PRJ-<opportunity>, Jira key). Overhead = lead time - sandbox time.
 *
 * Phase B (quota): a fresh runtime, NWA-US deals only (NetSuite), NetSuite sandbox fault rateLimitPerSecond 10 and the
 * NetSuite connection at ratePerSecond 10 (others lifted). Total time vs the quota-bound minimum (NetSuite requests
 * answered without a 429 / 10 per s), and 429s / NetSuite requests.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { jiraKeyFor } from '../../lib/processes/quote-to-project';
import { ACCOUNTS, OPPORTUNITIES } from '../../sandbox/seed/firm';
import type { Row, ScenarioResult } from '../lib/report';
import { fabricRuntimeArgv, round, rssSampler, sleep, startChild, summarize, tmpDir, type Child } from '../lib/util';

const log = (m: string) => console.error(`[bench] ${m}`);
const VENDORS = ['netsuite', 'bc', 'kantata', 'jira'];
const TEMPLATES = ['006Hs00000GlobexEHR', '006Hs00000ThamesCRM', '006Hs00000BavariaCL']; // NWA-US, NWA-UK, NWA-DE

interface Deal { seq: number; oppId: string; accountExt: string; jiraKey: string; entity: string; data: Record<string, unknown> }

/** 5 letters from the sequence number (base 26), so account names differ in the letters the Jira key takes. */
const letters = (n: number) => Array.from({ length: 5 }, (_, k) => String.fromCharCode(65 + (Math.floor(n / 26 ** (4 - k)) % 26))).join('');

function deal(seq: number, template: string): Deal {
  const o = OPPORTUNITIES.find((x) => x.sfId === template)!;
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  const s = String(seq).padStart(6, '0');
  const oppId = `006Bench${s}`;
  const accountExt = `ACC-B${s}`;
  const name = `${letters(seq)} ${a.name} ${s}`;
  return {
    seq, oppId, accountExt, jiraKey: jiraKeyFor(name, oppId), entity: a.billingEntity,
    data: {
      opportunity: { Id: oppId, Name: `${o.name} ${s}`, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel, Delivery_Manager_Id__c: o.deliveryManagerId,
        OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) } },
      account: { Id: `001Bench${s}`, Name: name, External_Id__c: accountExt, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: a.taxRegistration ?? null },
    },
  };
}

interface Req { vendor: string; seq: number; at: number; durationMs?: number; status?: number; fault?: string; method: string; path: string; body: unknown }

/** Reads the sandboxes' request logs incrementally (they keep the last 5,000 entries). */
function requestLogReader(sandboxUrl: string) {
  const since: Record<string, number> = Object.fromEntries(VENDORS.map((v) => [v, 0]));
  const all: Req[] = [];
  const poll = async () => {
    for (const v of VENDORS) {
      const res = await fetch(`${sandboxUrl}/${v}/_sandbox/requests?since=${since[v]}`);
      const list = (await res.json()) as Req[];
      for (const r of list) {
        since[v] = Math.max(since[v], r.seq);
        // an entry is complete once its response finished (durationMs set); re-read the rest next time
        if (r.durationMs === undefined && r.status === undefined) {
          since[v] = Math.min(since[v], r.seq - 1);
          break;
        }
        all.push({ ...r, vendor: v });
      }
    }
    return all;
  };
  return { poll, all };
}

async function deploy(url: string, change: (n: Record<string, any>) => void): Promise<void> {
  const headers = { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
  const cur = (await (await fetch(`${url}/flows`, { headers })).json()) as { rev: string; flows: Array<Record<string, any>> };
  for (const n of cur.flows) change(n);
  const res = await fetch(`${url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': 'nodes' }, body: JSON.stringify(cur) });
  if (!res.ok) throw new Error(`deploy: ${res.status} ${await res.text()}`);
}

interface Started { runtime: Child; url: string; sandboxUrl: string; mqttUrl: string; bus: MqttClient; created: Map<string, number[]>; cleanup(): Promise<void>; rss: ReturnType<typeof rssSampler> }

async function start(rates: Record<string, number>): Promise<Started> {
  const tmp = tmpDir('psf-bench-q2p-');
  const runtime = await startChild('runtime', { BENCH_TEMPLATES: '1', BENCH_FLOW_FILE: '', BENCH_USER_DIR: `${tmp.dir}/user`, BENCH_MQTT_PORT: '0', FABRIC_Q2P_POLL_SECONDS: '3600', FABRIC_T2C_POLL_SECONDS: '3600' }, [], fabricRuntimeArgv());
  const rss = rssSampler(runtime.proc.pid!);
  const { url, sandboxUrl, mqttUrl } = runtime.ready as { url: string; sandboxUrl: string; mqttUrl: string };
  const deadline = Date.now() + 60_000;
  while (!(await runtime.request<{ ok: boolean }>({ type: 'subscribed', filter: 'fabric/v1/opportunity/closed-won' })).ok) {
    if (Date.now() > deadline) throw new Error('quote-to-project: the template did not subscribe to fabric/v1/opportunity/closed-won within 60 s');
    await sleep(100);
  }
  await deploy(url, (n) => {
    if (rates[n.id] !== undefined) n.ratePerSecond = rates[n.id];
  });
  await sleep(1500); // restarted config nodes and the nodes that use them
  const bus = await mqtt.connectAsync(mqttUrl, { clientId: `bench-q2p-${Date.now()}`, clean: true, reconnectPeriod: 0 });
  const created = new Map<string, number[]>();
  bus.on('message', (_t, payload) => {
    const at = Date.now();
    try {
      const id = JSON.parse(payload.toString())?.data?.opportunityId as string;
      if (!created.has(id)) created.set(id, []);
      created.get(id)!.push(at);
    } catch {
      /* not ours */
    }
  });
  await bus.subscribeAsync('fabric/v1/project/created', { qos: 1 });
  return {
    runtime, url, sandboxUrl, mqttUrl, bus, created, rss,
    async cleanup() {
      rss.stop();
      await bus.endAsync().catch(() => undefined);
      await runtime.stop();
      if (!process.env.BENCH_KEEP) tmp.cleanup();
    },
  };
}

function publish(bus: MqttClient, d: Deal): Promise<unknown> {
  return bus.publishAsync('fabric/v1/opportunity/closed-won', JSON.stringify({ specversion: '1.0', id: `bench-cw-${d.oppId}`, source: '/bench', type: 'com.psfabric.opportunity.closed-won.v1', time: new Date().toISOString(), correlationid: `bench-${d.oppId}`, data: d.data }), { qos: 1 });
}

async function waitAll(s: Started, deals: Deal[], stallMs: number): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const done = deals.filter((d) => s.created.has(d.oppId)).length;
    if (done >= deals.length) return;
    if (done !== last) {
      last = done;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) {
      log(`quote-to-project: stalled at ${done}/${deals.length}`);
      return;
    }
    await sleep(50);
  }
}

/** Per deal: lead time, sandbox time, overhead; plus uncorrelated requests. */
function attribute(deals: Deal[], sentAt: Map<string, number>, created: Map<string, number[]>, reqs: Req[]) {
  const bySeq = new Map<number, Deal>(deals.map((d) => [d.seq, d]));
  const byKey = new Map<string, Deal>(deals.map((d) => [d.jiraKey, d]));
  const sandboxMs = new Map<string, number>();
  const calls = new Map<string, number>();
  let uncorrelated = 0;
  for (const r of reqs) {
    const text = `${r.path} ${JSON.stringify(r.body ?? '')}`;
    const m = /(?:006Bench|ACC-B)(\d{6})/.exec(text);
    let d = m ? bySeq.get(Number(m[1])) : undefined;
    if (!d) for (const k of text.match(/[A-Z]{5}[A-Z0-9]{3}/g) ?? []) if ((d = byKey.get(k))) break;
    if (!d) {
      uncorrelated++;
      continue;
    }
    const t0 = sentAt.get(d.oppId);
    const t1 = created.get(d.oppId)?.[0];
    if (t0 === undefined || t1 === undefined || r.at < t0 - 5 || r.at > t1) continue; // e.g. the Teams card, after project.created
    sandboxMs.set(d.oppId, (sandboxMs.get(d.oppId) ?? 0) + (r.durationMs ?? 0));
    calls.set(d.oppId, (calls.get(d.oppId) ?? 0) + 1);
  }
  const lead: number[] = [];
  const inside: number[] = [];
  const overhead: number[] = [];
  const nCalls: number[] = [];
  for (const d of deals) {
    const t0 = sentAt.get(d.oppId);
    const t1 = created.get(d.oppId)?.[0];
    if (t0 === undefined || t1 === undefined) continue;
    const sb = sandboxMs.get(d.oppId) ?? 0;
    lead.push(t1 - t0);
    inside.push(sb);
    overhead.push(t1 - t0 - sb);
    nCalls.push(calls.get(d.oppId) ?? 0);
  }
  const r2 = (s: ReturnType<typeof summarize>) => ({ p50: round(s.p50, 1), p95: round(s.p95, 1), p99: round(s.p99, 1), max: round(s.max, 1), mean: round(s.mean, 1) });
  return { lead: r2(summarize(lead)), sandbox: r2(summarize(inside)), overhead: r2(summarize(overhead)), callsPerDeal: r2(summarize(nCalls)), uncorrelated, completed: lead.length };
}

function correctness(deals: Deal[], created: Map<string, number[]>) {
  const lost = deals.filter((d) => !created.has(d.oppId)).length;
  const duplicated = deals.filter((d) => (created.get(d.oppId)?.length ?? 0) > 1).length;
  return { lost, duplicated };
}

const LIFTED = { 'psf-netsuite': 1000, 'psf-bc-uk': 1000, 'psf-bc-de': 1000, 'psf-kantata': 1000, 'psf-jira': 1000 };

async function overheadPhase(n: number, sequential: number) {
  const s = await start(LIFTED);
  try {
    const reader = requestLogReader(s.sandboxUrl);
    const sentAt = new Map<string, number>();
    // sequential: one deal at a time (deal 0 also warms tokens and connections; it is not counted)
    const seqDeals = Array.from({ length: sequential + 1 }, (_, i) => deal(900_000 + i, TEMPLATES[i % 3]));
    for (const d of seqDeals) {
      sentAt.set(d.oppId, Date.now());
      await publish(s.bus, d);
      await waitAll(s, [d], 20_000);
      await reader.poll();
    }
    const seqStats = attribute(seqDeals.slice(1), sentAt, s.created, await reader.poll());
    log(`quote-to-project sequential ${sequential}: ${JSON.stringify(seqStats)}`);
    // burst: n deals at once
    const deals = Array.from({ length: n }, (_, i) => deal(i, TEMPLATES[i % 3]));
    const started = Date.now();
    const polling = setInterval(() => void reader.poll().catch(() => undefined), 500);
    await Promise.all(deals.map((d) => {
      sentAt.set(d.oppId, Date.now());
      return publish(s.bus, d);
    }));
    await waitAll(s, deals, 30_000);
    clearInterval(polling);
    await sleep(300);
    const reqs = await reader.poll();
    const lastAt = Math.max(...deals.map((d) => s.created.get(d.oppId)?.[0] ?? 0));
    const burst = attribute(deals, sentAt, s.created, reqs);
    const ok = correctness(deals, s.created);
    const mem = s.rss.stop();
    const res = { n, seconds: round((lastAt - started) / 1000, 2), dealsPerSec: round(burst.completed / ((lastAt - started) / 1000), 1), burst, sequential: seqStats, ...ok, peakRssMb: mem.peakMb };
    log(`quote-to-project burst ${n}: ${JSON.stringify(res)}`);
    return res;
  } finally {
    await s.cleanup();
  }
}

async function quotaPhase(n: number) {
  const s = await start({ ...LIFTED, 'psf-netsuite': 10 });
  try {
    await fetch(`${s.sandboxUrl}/netsuite/_sandbox/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimitPerSecond: 10 }) });
    const reader = requestLogReader(s.sandboxUrl);
    await reader.poll();
    const before = reader.all.length;
    const deals = Array.from({ length: n }, (_, i) => deal(500_000 + i, TEMPLATES[0]));
    const sentAt = new Map<string, number>();
    const started = Date.now();
    const polling = setInterval(() => void reader.poll().catch(() => undefined), 500);
    await Promise.all(deals.map((d) => {
      sentAt.set(d.oppId, Date.now());
      return publish(s.bus, d);
    }));
    await waitAll(s, deals, 60_000);
    clearInterval(polling);
    await sleep(300);
    const reqs = (await reader.poll()).slice(before);
    const lastAt = Math.max(...deals.map((d) => s.created.get(d.oppId)?.[0] ?? 0));
    const ns = reqs.filter((r) => r.vendor === 'netsuite' && r.at >= started && r.at <= lastAt);
    const r429 = ns.filter((r) => r.status === 429).length;
    const served = ns.length - r429;
    const seconds = (lastAt - started) / 1000;
    const minimum = served / 10;
    const ok = correctness(deals, s.created);
    // where the NetSuite requests and the 429s went (method + path without ids), and what happened to unfinished deals
    const kinds: Record<string, [number, number]> = {};
    for (const r of ns) {
      const k = `${r.method} ${r.path.split('?')[0].replace(/\/(eid:)?[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*/g, '/:id')}`;
      kinds[k] ??= [0, 0];
      kinds[k][0]++;
      if (r.status === 429) kinds[k][1]++;
    }
    const exceptions = ok.lost ? await (await fetch(`${s.url}/ps-fabric/exceptions?process=quote-to-project`)).json().catch(() => undefined) : undefined;
    const res = { kinds, exceptions, n, seconds: round(seconds, 2), netsuiteRequests: ns.length, served, r429, minimumSeconds: round(minimum, 2), ratio: round(seconds / minimum, 3), share429: ns.length ? r429 / ns.length : 0, perDeal: round(served / n, 2), ...ok };
    log(`quote-to-project quota ${n}: ${JSON.stringify(res)}`);
    return res;
  } finally {
    await s.cleanup();
  }
}

export async function quoteToProjectScenario(opts: { quick: boolean }): Promise<ScenarioResult> {
  const n = opts.quick ? 200 : 1_000;
  const sequential = opts.quick ? 10 : 30;
  // 60 deals = ~420 NetSuite requests, ~42 s at the quota: long enough for the limiter's windows to show, and
  // short enough that the scaling curve's 1,000,000 point fits in the full run's 10 minutes (150 deals took 110 s)
  const nQuota = opts.quick ? 30 : 60;
  const a = await overheadPhase(n, sequential);
  const b = await quotaPhase(nQuota);
  const failed = a.lost + a.duplicated + b.lost + b.duplicated > 0;
  const sc = '3 quote-to-project';
  const o = a.burst.overhead;
  const q = a.sequential.overhead;
  const rows: Row[] = [
    { scenario: sc, figure: `middleware overhead per deal p50/p95/p99 (${n} deals at once)`, value: `${o.p50} / ${o.p95} / ${o.p99} ms`, baseline: `lead time p50/p95 ${a.burst.lead.p50} / ${a.burst.lead.p95} ms, in sandboxes ${a.burst.sandbox.p50} ms`, goal: 'p95 < 25 ms', met: !failed && o.p95 < 25 },
    { scenario: sc, figure: `the same, deals one at a time (${sequential}, no queueing)`, value: `${q.p50} / ${q.p95} / ${q.p99} ms`, baseline: `lead time p50 ${a.sequential.lead.p50} ms, in sandboxes ${a.sequential.sandbox.p50} ms, ${a.sequential.callsPerDeal.p50} calls` },
    { scenario: sc, figure: `burst throughput, lost / duplicated, peak RSS`, value: `${a.dealsPerSec} deals/s (${a.seconds} s), ${a.lost} / ${a.duplicated}, ${a.peakRssMb} MB`, goal: '0 / 0', met: a.lost + a.duplicated === 0 },
    { scenario: sc, figure: `ERP quota 10 req/s (${nQuota} NWA-US deals): total vs quota-bound minimum`, value: `${b.seconds} s`, baseline: `${b.served} NetSuite requests / 10 per s = ${b.minimumSeconds} s`, ratio: b.ratio, goal: '<= 1.10x', met: !failed && b.ratio <= 1.1 },
    { scenario: sc, figure: 'ERP quota: 429s / NetSuite requests; lost / duplicated', value: `${b.r429} / ${b.netsuiteRequests} (${round(b.share429 * 100, 2)} %); ${b.lost} / ${b.duplicated}`, goal: '< 1%; 0 / 0', met: b.share429 < 0.01 && b.lost + b.duplicated === 0 },
  ];
  return { name: 'quote-to-project', status: failed ? 'FAILED' : 'ok', figures: { overhead: a, quota: b }, rows };
}
