/**
 * Month-end crash (issue 14, item 5a): time-to-cash through the deployed templates, exactly as `npm start` deploys them
 * (dist/runtime/start.js with no flow file: flows/*.json and their config nodes from the environment), with the vendor
 * sandboxes and the legacy FR01 ERP in a process of their own (support/vendors-child.ts), so a runtime crash cannot
 * also erase what the vendors booked.
 *
 * RELIABILITY_MONTHEND_ENTRIES (default 12,000) approved Kantata entries spread over the NetSuite (NWA-US) and Business
 * Central (NWA UK, NWA DE) workspaces, plus RELIABILITY_MONTHEND_LEGACY (default 600) FR01 time lines the legacy ERP
 * publishes over MQTT (billed in the legacy ERP). NetSuite and Business Central answer after
 * RELIABILITY_MONTHEND_ERP_LATENCY_MS (default 200 ms), so invoice writes are in flight and queued at each kill, and
 * answer 503 for RELIABILITY_MONTHEND_OUTAGE_MS (default 12 s) from each kill, so the restarted runtime re-plans entries
 * whose invoices are written but unacknowledged (the replay that must reuse their invoice ids). The runtime is SIGKILLed three times while invoices are being
 * written, at points chosen by progress (when a seeded share of the entries is on ERP invoice lines, counted at the
 * vendors), restarted on the same user dir each time, then drained until quiescent (every entry on a line and the
 * outbox empty). Compared entry by entry at the vendors: every approved entry on exactly one ERP invoice line across
 * NetSuite, Business Central and the legacy ERP; none missing, none twice.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { record } from './support/report';
import { start, kill9, terminate, rng, seed, knob, type Child } from './support/child';
import { billedEntries } from './support/erp-lines';
import { json, mqttUser, startVendors, type VendorsChild } from './support/vendors';
import { applyTemplateEnv } from '../../runtime/templates';
import { tempDir } from '../support/tmp';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';

const START = path.resolve(__dirname, '..', '..', 'runtime', 'start.js');
/** The Kantata workspaces of the NetSuite and Business Central billing entities (sandbox/kantata seed). */
const WORKSPACES = ['400001', '400002', '400003'];
/** The legacy FR01 ERP is a named client of the broker with its own topics. */
const LEGACY_USER = mqttUser('legacy-fr01-test', ['legacy/fr01/#']);

describe('reliability: month-end time-to-cash, runtime SIGKILLed x3 while invoicing (deployed templates, vendors in their own process)', function () {
  const ENTRIES = knob('RELIABILITY_MONTHEND_ENTRIES', 12000);
  const LEGACY = knob('RELIABILITY_MONTHEND_LEGACY', 600);
  /** Answer time of NetSuite and Business Central (a month-end ERP is slow): invoice writes stay in flight for a while. */
  const ERP_LATENCY_MS = knob('RELIABILITY_MONTHEND_ERP_LATENCY_MS', 200);
  /**
   * NetSuite and Business Central answer 503 for this long from each kill (the ERP side of a month-end incident): the
   * restarted runtime's first PSA poll then plans entries whose invoices are written but not yet acknowledged, which
   * is where a replay must reuse the invoices the entries were already assigned to. 0 = no outage.
   */
  const OUTAGE_MS = knob('RELIABILITY_MONTHEND_OUTAGE_MS', 12000);
  const KILLS = 3;
  this.timeout(600000);
  let tmp: { dir: string; cleanup(): void };
  let vendors: VendorsChild | undefined;
  let runtime: Child | undefined;

  before(async () => {
    tmp = tempDir('psfabric-rel-monthend-');
    vendors = await startVendors();
  });
  after(async () => {
    await kill9(runtime);
    if (vendors) {
      vendors.proc.send({ type: 'stop' });
      await Promise.race([vendors.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      await kill9(vendors);
    }
    tmp?.cleanup();
  });

  it(`bills ${ENTRIES} PSA + ${LEGACY} legacy entries exactly once across ${KILLS} SIGKILLs with invoices in flight`, async () => {
    const s = seed();
    const random = rng(s);
    const sb = vendors!.url;
    const userDir = path.join(tmp.dir, 'user');
    const db = path.join(userDir, 'fabric.sqlite');
    const mqttPort = await freePort();
    const t0 = Date.now();

    // the month's approved PSA time, spread over the three ERP-billed workspaces
    for (const [i, ws] of WORKSPACES.entries()) {
      const count = Math.floor(ENTRIES / WORKSPACES.length) + (i < ENTRIES % WORKSPACES.length ? 1 : 0);
      await json(`${sb}/kantata/_sandbox/generate-time`, 'POST', { count, workspaceId: ws, approved: true });
    }
    const psa = (await json(`${sb}/kantata/_sandbox/records/time_entries`)) as Array<{ id: string; workspace_id: string; approved: boolean; billable: boolean; is_invoiced: boolean }>;
    const expected = new Set(psa.filter((e) => WORKSPACES.includes(e.workspace_id) && e.approved && e.billable && !e.is_invoiced).map((e) => e.id));
    assert.ok(expected.size >= ENTRIES, `${expected.size} approved uninvoiced entries in the PSA, expected at least ${ENTRIES}`);

    const env: NodeJS.ProcessEnv = {
      FABRIC_USER_DIR: userDir,
      FABRIC_MQTT_PORT: String(mqttPort),
      FABRIC_STORE_PATH: 'fabric.sqlite',
      FABRIC_SANDBOXES: 'off',
      FABRIC_SANDBOX_URL: sb,
      FABRIC_T2C_POLL_SECONDS: '2',
      FABRIC_LOG_LEVEL: process.env.RELIABILITY_VERBOSE ? 'info' : 'error',
      FABRIC_CREDENTIAL_SECRET: 'reliability-suite-secret',
      FABRIC_MQTT_USERS: LEGACY_USER.env,
    };
    // the config nodes' URLs, as `npm start` sets them for its own sandboxes (here: the vendors' process)
    applyTemplateEnv(env, { sandboxUrl: sb });
    const startRuntime = async (): Promise<Child> => {
      const port = await freePort();
      const child = await start(START, { ...env, FABRIC_PORT: String(port) }, undefined, 120000);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 'the runtime to be healthy', 90000, 200);
      return child;
    };
    const outbox = () => {
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const rows = d.prepare("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status").all() as Array<{ status: string; n: number }>;
        const exceptions = (d.prepare("SELECT COUNT(*) AS n FROM exceptions WHERE status = 'open'").get() as { n: number }).n;
        const by = Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
        return { open: (by.pending ?? 0) + (by.inflight ?? 0), inflight: by.inflight ?? 0, exceptions };
      } finally {
        d.close();
      }
    };
    const progress = async () => (await vendors!.request<{ entries: number; lines: number }>({ type: 'progress' })).entries;

    const erpFaults = (outageMs: number) => Promise.all(['netsuite', 'bc'].map((vendor) => json(`${sb}/${vendor}/_sandbox/faults`, 'PUT', { latencyMs: ERP_LATENCY_MS, ...(outageMs ? { outageMs } : {}) })));
    await erpFaults(0);
    runtime = await startRuntime();
    const legacy = (await vendors!.request<{ httpUrl: string }>({ type: 'legacy', url: `mqtt://127.0.0.1:${mqttPort}`, ...LEGACY_USER.credentials })).httpUrl;
    const runId = `ME${(s % 1296).toString(36).toUpperCase()}`;
    await json(`${legacy}/publish`, 'POST', { count: LEGACY, runId });
    for (let i = 1; i <= LEGACY; i++) expected.add(`${runId}-${String(i).padStart(7, '0')}`.slice(0, 20));
    const total = expected.size;

    // kill points by progress: a seeded share of the entries on ERP invoice lines, with invoices still being written
    const shares = [0.15, 0.4, 0.65].map((base) => base + 0.1 * random());
    const atKill: string[] = [];
    const figures = { scenario: '10 month-end crash (templates)', writes: total, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as number | '', notes: '' };
    try {
      for (const share of shares) {
        const target = Math.floor(total * share);
        await waitFor(async () => (await progress()) >= target, `${target}/${total} entries on ERP invoice lines`, 300000, 100);
        await erpFaults(OUTAGE_MS);
        await kill9(runtime);
        figures.kills += 1;
        const o = outbox();
        atKill.push(`${Math.round(share * 100)}% (${await progress()} billed, ${o.inflight} outbox items in flight)`);
        runtime = await startRuntime();
      }

      // drain until quiescent: every entry on an ERP line and nothing left in the outbox
      await waitFor(async () => (await progress()) >= total && outbox().open === 0, `every entry on an ERP invoice line and the outbox drained (have ${await progress()}/${total})`, 300000, 250)
        .catch((err: Error) => {
          figures.notes += `not quiescent: ${err.message}; `;
        });

      // entry by entry, from the vendors' inspection endpoints
      const [ns, bcHeaders, bcLines, fr] = await Promise.all([
        json(`${sb}/netsuite/_sandbox/records/invoice`),
        json(`${sb}/bc/_sandbox/records/salesInvoices`),
        json(`${sb}/bc/_sandbox/records/salesInvoiceLines`),
        json(`${legacy}/invoices`),
      ]);
      const billed = billedEntries(ns, bcHeaders, bcLines, fr);
      const missing = [...expected].filter((id) => !billed.has(id));
      const twice = [...expected].filter((id) => (billed.get(id)?.length ?? 0) > 1);
      figures.lost = missing.length;
      figures.duplicatedEffects = twice.reduce((n, id) => n + billed.get(id)!.length - 1, 0);
      // re-sends the vendors absorbed: legacy postings delivered again (same invoice number, same document), and
      // NetSuite / Business Central invoice writes that reached the vendor for an invoice it already had
      const legacyResends = (fr as Array<{ deliveries: number }>).reduce((n, i) => n + i.deliveries - 1, 0);
      const writes = async (vendor: string, pathRe: RegExp) => ((await json(`${sb}/${vendor}/_sandbox/requests`)) as Array<{ method: string; path: string; status?: number; fault?: string }>)
        .filter((r) => (r.method === 'POST' || r.method === 'PUT') && pathRe.test(r.path) && !r.fault).length;
      const nsWrites = await writes('netsuite', /\/record\/v1\/invoice/);
      const bcWrites = await writes('bc', /salesInvoices(\?|$|\()/);
      figures.resendsAbsorbed = legacyResends + Math.max(0, nsWrites - Object.keys(ns).length) + Math.max(0, bcWrites - (bcHeaders as unknown[]).length);
      figures.exceptions = outbox().exceptions;
      const byErp = new Map<string, number>();
      for (const on of billed.values()) for (const o of on) byErp.set(o.erp.startsWith('bc:') ? 'bc' : o.erp, (byErp.get(o.erp.startsWith('bc:') ? 'bc' : o.erp) ?? 0) + 1);
      figures.notes += `seed ${s}; kills at ${atKill.join(', ')}; lines ${[...byErp].map(([k, v]) => `${k} ${v}`).join(', ')}; ${Math.round((Date.now() - t0) / 1000)} s`;
      const sample = (ids: string[]) => ids.slice(0, 5).map((id) => `${id} on ${JSON.stringify(billed.get(id) ?? [])}`).join('; ');
      assert.deepEqual(twice.length, 0, `${twice.length} entries billed more than once (${figures.duplicatedEffects} extra lines), e.g. ${sample(twice)}`);
      assert.deepEqual(missing.length, 0, `${missing.length} approved entries on no ERP invoice line, e.g. ${missing.slice(0, 5).join(', ')}`);
      assert.equal(figures.kills, KILLS);
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    }
    record(figures);
    await terminate(runtime);
    runtime = undefined;
  });
});
