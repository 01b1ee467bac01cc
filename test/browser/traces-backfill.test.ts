/**
 * Issue 19's operator edges in the real editor and dashboard (playwright-core driving Debian's chromium), against a
 * runtime started like `npm start` in a child process (test/support/browser.ts) with the sandboxes on and the standard
 * `OTEL_*` variables pointing at an in-process OTLP/HTTP collector:
 *  - the exception console's detail shows the trace id of the run that raised the exception (a real failing
 *    quote-to-project run: Initech closed won without a tax registration), and that trace is the deal's, in the
 *    collector;
 *  - the Backfill button of the salesforce-trigger dialog and of the Kantata poller's dialog starts a backfill of the
 *    template's trigger; its progress reaches the node's status in the editor and the run's row on the dashboard's
 *    exception console, the same text as the admin endpoint's `GET /ps-fabric/triggers`.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseTraceparent } from '../../lib/telemetry';
import { freePort } from '../support/ports';
import { launchBrowser, startRuntimeProcess, type Browser, type RuntimeProcess } from '../support/browser';
import { startCollector, type OtlpCollector } from '../support/otlp-collector';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const TRIGGER = 'q2p-sf-trigger';
const INITECH = '006Hs00000InitechQA';

describe('traces and backfills in the editor and on the dashboard (runtime with OTEL_* on)', function () {
  this.timeout(180000);
  let tmp: ReturnType<typeof tempDir>;
  let collector: OtlpCollector;
  let runtime: RuntimeProcess | undefined;
  let sandboxUrl: string;
  let browser: Browser | undefined;
  let page: Page;
  // (strings: this runs in the browser, and the project's TypeScript has no DOM types)
  const inPage = <T>(js: string) => page.evaluate(js) as Promise<T>;

  before(async () => {
    tmp = tempDir('psfabric-browser-traces-');
    collector = await startCollector();
    const sandboxPort = await freePort();
    sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    runtime = await startRuntimeProcess(tmp.dir, {
      FABRIC_SANDBOXES: 'on',
      FABRIC_SANDBOX_PORT: String(sandboxPort),
      FABRIC_LEGACY_ERP: 'off',
      FABRIC_Q2P_POLL_SECONDS: '1',
      FABRIC_T2C_POLL_SECONDS: '3600',
      FABRIC_CO_RETRY_SECONDS: '3600',
      FABRIC_REPORTING_INTERVAL: '3600',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'ps-fabric-browser',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    assert.match(runtime.output(), new RegExp(`traces: OpenTelemetry to ${collector.url}/v1/traces`), 'the start banner names the collector');
    browser = await launchBrowser({ width: 1440, height: 900 }, 'psfabric-chromium-');
    page = browser.page;
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    await collector?.close();
    tmp?.cleanup();
  });

  it("an exception's console detail shows the trace id of the run that raised it", async () => {
    const closed = await fetch(`${sandboxUrl}/salesforce/_sandbox/close-won/${INITECH}`, { method: 'POST' });
    assert.equal(closed.status, 200, await closed.text());
    await page.goto(runtime!.url + '/dashboard/exceptions', { waitUntil: 'domcontentloaded' });
    const row = page.locator('tr[data-exception-id]', { hasText: `Opportunity/${INITECH}` });
    await row.waitFor({ timeout: 90000 });
    await row.click();
    const traceCell = page.locator('[data-role="detail"] [data-role="trace-id"]');
    await traceCell.waitFor({ timeout: 15000 });
    const traceId = await waitFor(async () => {
      const text = ((await traceCell.textContent()) ?? '').trim();
      return /^[0-9a-f]{32}$/.test(text) ? text : undefined;
    }, 'a trace id in the exception detail', 15000, 100);
    // the trace of this deal's run, as the tracing backend has it: the opportunity span with the deal's business keys
    await waitFor(() => collector.spans.some((s) => s.traceId === traceId && s.attributes['psfabric.opportunity_id'] === INITECH && s.service === 'ps-fabric-browser'), `the opportunity span of trace ${traceId} in the collector`, 30000, 100);
    // and the vendors saw that trace in the traceparent of the run's Salesforce reads
    const reqs = (await (await fetch(`${sandboxUrl}/salesforce/_sandbox/requests`)).json()) as Array<{ headers?: Record<string, string> }>;
    assert.ok(reqs.some((r) => parseTraceparent(r.headers?.traceparent)?.traceId === traceId), `Salesforce received traceparent 00-${traceId}-...`);
  });

  /** A `datetime-local` value (the browser's local time, on this machine). */
  const localInput = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);

  /**
   * Opens a trigger's dialog in the editor, starts a backfill of [from, to) with its Backfill button and waits for the
   * run to end (GET /ps-fabric/triggers); answers the run and every status text the editor received for the node.
   */
  async function backfillFromDialog(nodeId: string, prefix: string, from: number, to: number): Promise<{ run: any; statuses: Array<string | null> }> {
    await page.goto(runtime!.url + '/', { waitUntil: 'domcontentloaded' });
    await page.locator('#red-ui-workspace-chart svg .red-ui-flow-node').first().waitFor({ timeout: 60000 });
    // every status the editor receives for the node, as its canvas shows them one after another
    await inPage(`(() => {
      window.__psfStatuses = [];
      RED.comms.subscribe('status/${nodeId}', (topic, s) => window.__psfStatuses.push(s && s.text));
      RED.workspaces.show(RED.nodes.node('${nodeId}').z);
      RED.editor.edit(RED.nodes.node('${nodeId}'));
    })()`);
    const go = page.locator(`#${prefix}-backfill-go`);
    await go.waitFor({ state: 'visible', timeout: 15000 });
    await page.locator(`#${prefix}-backfill-from`).fill(localInput(from));
    await page.locator(`#${prefix}-backfill-to`).fill(localInput(to));
    await go.click();
    await page.locator('.red-ui-notification', { hasText: /Backfill started: backfill \d{4}-\d\d-\d\d/ }).waitFor({ timeout: 15000 });
    const run = await waitFor(async () => {
      const res = await fetch(`${runtime!.url}/ps-fabric/triggers`);
      const r = ((await res.json()) as { runs: any[] }).runs.find((x) => x.trigger === nodeId && x.kind === 'backfill');
      return r && (r.state === 'done' || r.state === 'failed') ? r : undefined;
    }, `the backfill of ${nodeId} to end (GET /ps-fabric/triggers)`, 120000, 200);
    assert.equal(run.state, 'done', run.error);
    assert.match(run.text, /^backfill \d{4}-\d\d-\d\d \d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d done, \d+ emitted$/);
    const statuses = await waitFor(async () => {
      const seen = await inPage<Array<string | null>>('window.__psfStatuses');
      return seen.includes(run.text) ? seen : undefined;
    }, `the node status "${run.text}" in the editor`, 15000, 100);
    await page.keyboard.press('Escape');
    return { run, statuses };
  }

  /** The run's row on the dashboard's exception console, with the trigger's name. */
  async function rowOnDashboard(run: { name: string; text: string }): Promise<void> {
    await page.goto(runtime!.url + '/dashboard/exceptions', { waitUntil: 'domcontentloaded' });
    const row = page.locator('[data-role="trigger-run"]', { hasText: run.text });
    await row.waitFor({ timeout: 30000 });
    assert.equal(((await row.textContent()) ?? '').trim(), `${run.name}: ${run.text}`);
  }

  it("the Salesforce trigger dialog's Backfill button starts a backfill; its progress is in the node status and on the dashboard", async () => {
    // the seeded deals closed between 2026-09-30 and 2026-10-02, before the template's first poll: never emitted so far
    const { run, statuses } = await backfillFromDialog(TRIGGER, 'salesforce-trigger', Date.parse('2026-09-30T00:00:00'), Date.parse('2026-10-02T00:00:00'));
    assert.ok(run.emitted > 0, `the backfill emitted the seeded closed deals: ${JSON.stringify(run)}`);
    assert.ok(statuses.some((st) => typeof st === 'string' && /^backfill .*: \d+\/\d+, \d+ emitted$/.test(st)), `progress in the node status: ${JSON.stringify(statuses)}`);
    await rowOnDashboard(run);
  });

  it("the Kantata poller dialog's Backfill button: the run ends in the node status and on the dashboard", async () => {
    // the start-up sweep already sent every approved uninvoiced entry (time-to-cash may have invoiced some since): what
    // the backfill reads again, the inbox keeps back
    const now = Date.now();
    const { run } = await backfillFromDialog('t2c-kantata-poll', 'kantata', now - 30 * 86400000, now);
    assert.equal(run.emitted, 0, `nothing sent twice: ${JSON.stringify(run)}`);
    await rowOnDashboard(run);
  });
});
