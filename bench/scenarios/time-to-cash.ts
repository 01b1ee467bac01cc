/**
 * Scenario 1 (time-to-cash throughput) and 2 (scaling curve).
 *
 * N approved time entries in the legacy flat format (`TE;...` lines, lib/connectors/legacy-erp/codec.ts, exactly
 * what the legacy ERP simulator publishes) are published at QoS 1 on legacy/fr01/time/out by a windowed publisher
 * in this process (the simulator's own publishBatch waits for each PUBACK before the next publish, which would
 * make the publisher the bottleneck). Each subject runs in its own runtime child process (one Node-RED per
 * process, embedded broker with level persistence); the legacy ERP simulator runs in another child and books the
 * invoices. Done = every entry is on a booked invoice line (or the subject stalled for `stallMs`).
 *
 * Subjects: broker-ceiling, node-red-ceiling, hand-built-peer (bench/baselines) and PS Fabric (the template when
 * present, else bench/lib/fabric-flow.ts, labelled "fallback").
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeTimeEntry, TOPICS } from '../../lib/connectors/legacy-erp/codec';
import { CONSULTANTS } from '../../sandbox/seed/firm';
import { brokerCeilingSubscriber } from '../baselines/broker-ceiling';
import { handBuiltPeerFlow } from '../baselines/hand-built-peer';
import { nodeRedCeilingFlow } from '../baselines/node-red-ceiling';
import { FABRIC_FALLBACK_HOPS, fabricFallbackFlow } from '../lib/fabric-flow';
import { connect, publishQos1, record, tally, type Tally } from '../lib/mqtt-load';
import type { Row, ScenarioResult } from '../lib/report';
import { fabricRuntimeArgv, round, rssSampler, sleep, startChild, summarize, tmpDir, type Child } from '../lib/util';
import net from 'node:net';

export type SubjectKind = 'broker-ceiling' | 'node-red-ceiling' | 'hand-built-peer' | 'ps-fabric';

export interface SubjectRun {
  kind: SubjectKind;
  label: string;
  count: number;
  entriesPerSec: number;
  seconds: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  lost: number;
  duplicated: number;
  redeliveredInvoices?: number;
  rejected?: number;
  peakRssMb: number;
  endRssMb: number;
  publishSeconds: number;
  /** First few entry numbers that never arrived (diagnosis). */
  missing: number[];
  /** PS Fabric with retention on (`--retention`): rows left in the store's log tables after the run. */
  storeRows?: Record<string, number>;
}

/**
 * `--retention`: the runtime purges its logs while the bench runs, as a production store does every day - handed-over
 * inbox entries, delivered outbox items, audit entries and finished process runs older than RETENTION_AGE_S, every
 * RETENTION_EVERY_S (lib/retention; the same code path as the days-long production periods).
 */
const RETENTION_AGE_S = 60;
const RETENTION_EVERY_S = 10;
export function retentionEnv(): Record<string, string> {
  const days = String(RETENTION_AGE_S / 86_400);
  return {
    FABRIC_RETENTION: 'on',
    FABRIC_RETENTION_INBOX_DAYS: days,
    FABRIC_RETENTION_OUTBOX_DAYS: days,
    FABRIC_RETENTION_AUDIT_DAYS: days,
    FABRIC_RETENTION_PROCESS_DAYS: days,
    FABRIC_RETENTION_INTERVAL_S: String(RETENTION_EVERY_S),
  };
}
export const RETENTION_LABEL = `retention on: logs older than ${RETENTION_AGE_S} s purged every ${RETENTION_EVERY_S} s`;

/** Rows of the log tables in a stopped runtime's SQLite store (undefined when there is none). */
function storeRowCounts(userDir: string): Record<string, number> | undefined {
  const file = path.join(userDir, 'ps-fabric.sqlite');
  if (!fs.existsSync(file)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3');
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(['inbox', 'outbox', 'audit', 'process_instances'].map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

const FR = CONSULTANTS.filter((c) => c.homeEntity === 'NWA-FR');
const TAGS: Record<SubjectKind, string> = { 'broker-ceiling': 'BC', 'node-red-ceiling': 'NR', 'hand-built-peer': 'HP', 'ps-fabric': 'PF' };

function teLine(tag: string, i: number): string {
  const c = FR[i % FR.length];
  return encodeTimeEntry({
    entryId: `${tag}-${String(i).padStart(7, '0')}`, consultantCode: c.id, projectCode: 'FR01-LUM-OM', date: `2026-11-${String(1 + (i % 28)).padStart(2, '0')}`,
    hours: 8, rate: c.billRate, currency: 'EUR', billable: true, approvedAt: '2026-11-30T18:00:00Z', description: `bench entry ${i}`,
  });
}
const seqOf = (entryId: string) => Number(entryId.split('-')[1]);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function templatePresent(): boolean {
  return fs.existsSync(path.resolve(__dirname, '..', '..', '..', 'flows', 'time-to-cash.json'));
}

/**
 * Nodes a legacy entry passes after the MQTT-in node on its way to the ERP. Template (flows/time-to-cash.json):
 * legacy-erp decode, join (batch), change (FR01 projects), link out + link in (entries), process-step (group + build),
 * link out + link in (invoices), switch (ERP), legacy-erp post (the invoice as IH/IL lines over MQTT) = 10.
 * Fallback flow: 7.
 */
function subjectHops(): number {
  if (!(templatePresent() && !process.env.BENCH_FALLBACK)) return FABRIC_FALLBACK_HOPS;
  return 10;
}
const usingTemplate = () => templatePresent() && !process.env.BENCH_FALLBACK;

export async function runSubject(kind: SubjectKind, count: number, opts: { stallMs?: number; log?: (m: string) => void; retention?: boolean } = {}): Promise<SubjectRun> {
  const tmp = tmpDir(`psf-bench-${kind}-`);
  const mqttPort = await freePort();
  const topic = TOPICS.timeOut;
  let flows: unknown[] = [];
  let label: string = kind;
  const useTemplate = templatePresent() && !process.env.BENCH_FALLBACK;
  const env: Record<string, string> = kind === 'ps-fabric' && opts.retention ? retentionEnv() : {};
  if (kind === 'node-red-ceiling') flows = nodeRedCeilingFlow({ topic, hops: subjectHops() });
  if (kind === 'hand-built-peer') flows = handBuiltPeerFlow({ mqttPort, topic });
  if (kind === 'ps-fabric' && useTemplate) {
    env.BENCH_TEMPLATES = '1';
    label = 'PS Fabric, deployed templates (flows/*.json, as deployed)';
  } else if (kind === 'ps-fabric') {
    flows = fabricFallbackFlow({ topic });
    label = 'PS Fabric pieces (fallback: no template)';
  }
  const flowFile = path.join(tmp.dir, 'bench-flow.json');
  fs.writeFileSync(flowFile, JSON.stringify(flows));
  const profDir = process.env.BENCH_CPU_PROF; // e.g. /tmp/prof: the runtime child runs with --cpu-prof
  // PS Fabric runs with the heap limit it ships with; the baselines are plain Node-RED / mqtt.js with V8's default
  const runtimeArgv = [...(kind === 'ps-fabric' ? fabricRuntimeArgv() : []), ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${kind}-${count}.cpuprofile`] : [])];
  const runtime = await startChild('runtime', { ...env, BENCH_FLOW_FILE: flowFile, BENCH_USER_DIR: path.join(tmp.dir, 'user'), BENCH_MQTT_PORT: String(mqttPort) }, [], runtimeArgv);
  const rss = rssSampler(runtime.proc.pid!);
  let result: SubjectRun | undefined;
  const url = runtime.ready.mqttUrl as string;
  let erp: Child | undefined;
  const t = tally(count);
  const tag = TAGS[kind];
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    if (kind !== 'broker-ceiling') {
      const deadline = Date.now() + 30_000;
      while (!(await runtime.request<{ ok: boolean }>({ type: 'subscribed', filter: topic })).ok) {
        if (Date.now() > deadline) throw new Error(`${kind}: the flow did not subscribe to ${topic} within 30 s`);
        await sleep(100);
      }
    }
    if (kind === 'broker-ceiling') {
      const sub = await brokerCeilingSubscriber(url, topic, t, seqOf);
      cleanup.push(() => sub.endAsync());
    }
    if (kind === 'node-red-ceiling') runtime.on('done', (msg) => msg.items.forEach(([id, at]: [string, number]) => record(t, seqOf(id), at)));
    if (kind === 'hand-built-peer' || kind === 'ps-fabric') {
      erp = await startChild('legacy-erp', { BENCH_MQTT_URL: url });
      cleanup.push(() => erp!.stop());
    }
    const pub = await connect(url, `bench-legacy-publisher-${tag}`, true);
    cleanup.push(() => pub.endAsync());
    const published = await publishQos1(pub, topic, count, (i) => teLine(tag, i), 100);
    const started = published.startedAt;
    opts.log?.(`${kind}: published ${count} in ${published.endedAt - started} ms`);

    // wait for completion (or a stall)
    const stallMs = opts.stallMs ?? 20_000;
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      let progress: number;
      if (erp) progress = (await erp.request<{ lines: number }>({ type: 'count' })).lines;
      else {
        if (kind === 'node-red-ceiling') await runtime.request({ type: 'flush' });
        progress = t.unique;
      }
      if (progress >= count) break;
      if (progress !== last) {
        last = progress;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        opts.log?.(`${kind}: stalled at ${progress}/${count}`);
        break;
      }
      await sleep(erp ? 200 : 20);
    }
    await sleep(300); // late duplicates
    let redelivered = 0;
    let rejected = 0;
    if (erp) {
      const res = await erp.request<{ lines: Record<string, [number, number, number]>; rejected: unknown[] }>({ type: 'lines' });
      rejected = res.rejected.length;
      for (const [entryId, [at, occurrences, deliveries]] of Object.entries(res.lines)) {
        record(t, seqOf(entryId), at);
        for (let k = 1; k < occurrences; k++) record(t, seqOf(entryId), at);
        if (deliveries > 1) redelivered++;
      }
    } else if (kind === 'node-red-ceiling') {
      await runtime.request({ type: 'flush' });
      await sleep(100);
    }
    const lat: number[] = [];
    const missing: number[] = [];
    let lastAt = 0;
    for (let i = 0; i < count; i++) {
      if (!t.received[i]) {
        if (missing.length < 10) missing.push(i);
        continue;
      }
      lat.push(t.receivedAt[i] - published.sentAt[i]);
      lastAt = Math.max(lastAt, t.receivedAt[i]);
    }
    const seconds = (lastAt - started) / 1000;
    const s = summarize(lat);
    const mem = rss.stop();
    return (result = {
      kind, label, count, seconds: round(seconds, 2), entriesPerSec: round(t.unique / seconds, 0),
      latencyMs: { p50: round(s.p50, 0), p95: round(s.p95, 0), p99: round(s.p99, 0), max: round(s.max, 0) },
      lost: count - t.unique, duplicated: t.duplicates + t.unexpected, redeliveredInvoices: erp ? redelivered : undefined, rejected: erp ? rejected : undefined,
      peakRssMb: mem.peakMb, endRssMb: mem.lastMb, publishSeconds: round((published.endedAt - started) / 1000, 2), missing,
    });
  } finally {
    rss.stop();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    await runtime.stop();
    if (result && opts.retention) result.storeRows = storeRowCounts(path.join(tmp.dir, 'user'));
    if (process.env.BENCH_KEEP) opts.log?.(`kept ${tmp.dir}`);
    else tmp.cleanup();
  }
}

const log = (m: string) => console.error(`[bench] ${m}`);

/** PS Fabric runs already measured in this process (scenario 2 reuses scenario 1's point of the same size). */
const fabricRuns = new Map<number, SubjectRun>();

export async function timeToCashScenario(opts: { quick: boolean; entries?: number }): Promise<ScenarioResult> {
  // full mode: the issue's 100,000 (~1 min per subject at the ~1,600-1,900/s measured on 2 cores after the
  // group-commit changes; four subjects ~4 min of the 10-minute budget)
  const count = opts.entries ?? (opts.quick ? 1_000 : 100_000);
  const runs: Record<string, SubjectRun> = {};
  for (const kind of ['broker-ceiling', 'node-red-ceiling', 'hand-built-peer', 'ps-fabric'] as SubjectKind[]) {
    runs[kind] = await runSubject(kind, count, { log, stallMs: opts.quick ? 8_000 : 20_000 });
    if (kind === 'ps-fabric') fabricRuns.set(count, runs[kind]);
    log(`${kind}: ${JSON.stringify(runs[kind])}`);
  }
  const f = runs['ps-fabric'];
  const bc = runs['broker-ceiling'];
  const nr = runs['node-red-ceiling'];
  const peer = runs['hand-built-peer'];
  const fabricOk = f.lost === 0 && f.duplicated === 0;
  const failed = Object.values(runs).some((r) => r.lost > 0 || r.duplicated > 0);
  const sc = `1 time-to-cash${usingTemplate() ? '' : ' (fallback)'}`;
  const rows: Row[] = [
    { scenario: sc, figure: `entries/s end to end (${count} entries)`, value: f.entriesPerSec, unit: '/s', baseline: `broker ceiling ${bc.entriesPerSec}/s`, ratio: f.entriesPerSec / bc.entriesPerSec, goal: '>= 0.50', met: fabricOk && f.entriesPerSec / bc.entriesPerSec >= 0.5 },
    { scenario: sc, figure: 'entries/s vs Node-RED ceiling', value: f.entriesPerSec, unit: '/s', baseline: `${subjectHops()} no-op hops ${nr.entriesPerSec}/s`, ratio: f.entriesPerSec / nr.entriesPerSec, goal: '>= 0.80', met: fabricOk && f.entriesPerSec / nr.entriesPerSec >= 0.8 },
    { scenario: sc, figure: 'entries/s vs hand-built peer', value: f.entriesPerSec, unit: '/s', baseline: `peer ${peer.entriesPerSec}/s`, ratio: f.entriesPerSec / peer.entriesPerSec, goal: '>= 2.0', met: fabricOk && f.entriesPerSec / peer.entriesPerSec >= 2 },
    { scenario: sc, figure: 'publish-to-invoiced latency p50 / p99', value: `${f.latencyMs.p50} / ${f.latencyMs.p99} ms`, baseline: `peer ${peer.latencyMs.p50} / ${peer.latencyMs.p99} ms` },
    { scenario: sc, figure: 'runtime peak RSS', value: f.peakRssMb, unit: 'MB', baseline: `peer ${peer.peakRssMb} MB`, goal: '< 512 MB', met: f.peakRssMb < 512 },
    { scenario: sc, figure: 'lost / duplicated (PS Fabric)', value: `${f.lost} / ${f.duplicated}`, goal: '0 / 0', met: fabricOk },
    { scenario: sc, figure: 'lost / duplicated (broker ceiling, NR ceiling, peer)', value: `${bc.lost}/${bc.duplicated}, ${nr.lost}/${nr.duplicated}, ${peer.lost}/${peer.duplicated}` },
  ];
  return { name: 'time-to-cash', status: failed ? 'FAILED' : 'ok', note: usingTemplate() ? 'deployed templates' : 'PS Fabric pieces, one invoice per entry', figures: { count, runs }, rows };
}

export async function scalingScenario(opts: { quick: boolean; with100k: boolean; without1m: boolean; retention?: boolean; sizes?: number[] }): Promise<ScenarioResult> {
  // The issue's points: 10k, 100k (shared with scenario 1) and 1M, all in the full run (1M is most of its 10 minutes;
  // `--without-1m` leaves it out for a shorter run). Quick mode stays small (`--with-100k` adds 100k); every size is
  // a multiple of the template's join batch (500 entries or 2 s): a smaller run (300 before) measures the join's 2 s
  // timer, not throughput.
  const sizes = opts.sizes ? [...opts.sizes] : opts.quick ? [1_000, 1_500, 3_000] : [10_000, 100_000];
  if (!opts.sizes && opts.with100k && !sizes.includes(100_000)) sizes.push(100_000);
  if (!opts.sizes && !opts.quick && !opts.without1m) sizes.push(1_000_000);
  const runs: SubjectRun[] = [];
  for (const n of sizes) {
    // with --retention every point is its own run (scenario 1's runs are without it)
    const r = (opts.retention ? undefined : fabricRuns.get(n)) ?? (await runSubject('ps-fabric', n, { log, stallMs: opts.quick ? 8_000 : 20_000, retention: opts.retention }));
    log(`scaling ${n}: ${JSON.stringify(r)}`);
    runs.push(r);
  }
  const rates = runs.map((r) => r.entriesPerSec);
  const spread = Math.min(...rates) / Math.max(...rates);
  const bad = runs.some((r) => r.lost > 0 || r.duplicated > 0);
  const sc = `2 scaling${usingTemplate() ? '' : ' (fallback)'}${opts.retention ? ` (${RETENTION_LABEL})` : ''}`;
  const left = (r: SubjectRun) => (r.storeRows ? `; rows left: inbox ${r.storeRows.inbox}, outbox ${r.storeRows.outbox}, audit ${r.storeRows.audit}, process runs ${r.storeRows.process_instances}` : '');
  const rows: Row[] = runs.map((r) => ({ scenario: sc, figure: `${r.count} entries: entries/s, p99, peak RSS, lost/dup`, value: `${r.entriesPerSec}/s, ${r.latencyMs.p99} ms, ${r.peakRssMb} MB, ${r.lost}/${r.duplicated}${left(r)}` }));
  rows.push({ scenario: sc, figure: 'throughput flat: min/max entries/s', value: round(spread, 2), goal: '>= 0.80', met: spread >= 0.8 && !bad, ratio: spread });
  rows.push({ scenario: sc, figure: 'memory bounded: peak RSS at largest', value: runs[runs.length - 1].peakRssMb, unit: 'MB', goal: '< 512 MB', met: runs.every((r) => r.peakRssMb < 512) });
  const rate = runs[runs.length - 1].entriesPerSec;
  const eta = (n: number) => (rate > 0 ? `~${Math.ceil(n / rate / 60)} min at ${rate}/s` : 'unknown');
  const missing = [100_000, 1_000_000].filter((n) => !sizes.includes(n));
  if (missing.length) rows.push({ scenario: sc, figure: `${missing.map((n) => n.toLocaleString('en-US')).join(' and ')} entries`, value: `not run in this mode (${missing.map((n) => (n === 100_000 ? `--with-100k, ${eta(n)}` : `full mode without --without-1m, ${eta(n)}`)).join('; ')})` });
  return { name: 'scaling', status: bad ? 'FAILED' : 'ok', figures: { sizes, runs }, rows };
}
export type { Tally };
