/**
 * Issue 19's operator edges in the real editor and dashboard (playwright-core driving Debian's chromium), against a
 * runtime started like `npm start` in a child process (test/support/browser.ts) with the sandboxes on and the standard
 * `OTEL_*` variables pointing at an in-process OTLP/HTTP collector:
 *  - the exception console's detail shows the trace id of the run that raised the exception (a real failing
 *    quote-to-project run: Initech closed won without a tax registration), and that trace is the deal's, in the
 *    collector;
 *  - the Backfill button of the salesforce-trigger dialog starts a backfill of the template's trigger; its progress
 *    reaches the node's status in the editor and the run's row on the dashboard's exception console, the same text
 *    as the admin endpoint's `GET /ps-fabric/triggers`.
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

  it("the dialog's Backfill button starts a backfill; its progress is in the node status and on the dashboard", async () => {
    await page.goto(runtime!.url + '/', { waitUntil: 'domcontentloaded' });
    await page.locator('#red-ui-workspace-chart svg .red-ui-flow-node').first().waitFor({ timeout: 60000 });
    // every status the editor receives for the trigger, as its canvas shows them one after another
    await inPage(`(() => {
      window.__psfStatuses = [];
      RED.comms.subscribe('status/${TRIGGER}', (topic, s) => window.__psfStatuses.push(s && s.text));
      RED.workspaces.show(RED.nodes.node('${TRIGGER}').z);
      RED.editor.edit(RED.nodes.node('${TRIGGER}'));
    })()`);
    const go = page.locator('#salesforce-trigger-backfill-go');
    await go.waitFor({ state: 'visible', timeout: 15000 });
    // the seeded deals closed between 2026-09-30 and 2026-10-02, before the template's first poll: never emitted so far
    await page.locator('#salesforce-trigger-backfill-from').fill('2026-09-30T00:00');
    await page.locator('#salesforce-trigger-backfill-to').fill('2026-10-02T00:00');
    await go.click();
    await page.locator('.red-ui-notification', { hasText: /Backfill started: backfill 2026-09-\d\d/ }).waitFor({ timeout: 15000 });

    const run = await waitFor(async () => {
      const res = await fetch(`${runtime!.url}/ps-fabric/triggers`);
      const r = ((await res.json()) as { runs: any[] }).runs.find((x) => x.trigger === TRIGGER && x.kind === 'backfill');
      return r && r.state !== 'running' ? r : undefined;
    }, 'the backfill to end (GET /ps-fabric/triggers)', 120000, 200);
    assert.equal(run.state, 'done', run.error);
    assert.ok(run.emitted > 0, `the backfill emitted the seeded closed deals: ${JSON.stringify(run)}`);
    assert.match(run.text, /^backfill 2026-09-\d\d \d\d:\d\d → 2026-10-0\d \d\d:\d\d done, \d+ emitted$/);
    const statuses = await waitFor(async () => {
      const seen = await inPage<Array<string | null>>('window.__psfStatuses');
      return seen.includes(run.text) ? seen : undefined;
    }, `the node status "${run.text}" in the editor`, 15000, 100);
    assert.ok(statuses.some((s) => typeof s === 'string' && /^backfill .*: \d+\/\d+, \d+ emitted$/.test(s)), `progress in the node status: ${JSON.stringify(statuses)}`);
    await page.keyboard.press('Escape');

    await page.goto(runtime!.url + '/dashboard/exceptions', { waitUntil: 'domcontentloaded' });
    const rowOnDashboard = page.locator('[data-role="trigger-run"]', { hasText: run.text });
    await rowOnDashboard.waitFor({ timeout: 30000 });
    assert.match(((await rowOnDashboard.textContent()) ?? '').trim(), new RegExp(`^${run.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: backfill`));
  });
});
