/**
 * The editor and the dashboard behind one login, in the real browser (playwright-core + Debian's chromium), against a
 * runtime started like `npm start` with FABRIC_ADMIN_PASSWORD_HASH (dist/runtime/start.js in a child process: the
 * operations test owns this process' Node-RED):
 *  - the dashboard sends a browser without a session to the login page; after signing in the exception console
 *    renders (its socket.io connection carries the session cookie)
 *  - a wrong password is refused on the page; the editor's own login (form post + Node-RED-API-Version) still works
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PASSWORD = `ops-${crypto.randomBytes(9).toString('hex')}`;

describe('one login for the editor and the dashboard, in the browser', function () {
  this.timeout(180000);
  let tmp: ReturnType<typeof tempDir>;
  let profile: ReturnType<typeof tempDir>;
  let child: ChildProcess;
  let output = '';
  let url = '';
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
    tmp = tempDir('psf-login-');
    profile = tempDir('psf-login-chromium-');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      FABRIC_USER_DIR: tmp.dir,
      FABRIC_HOST: '127.0.0.1',
      FABRIC_PORT: String(await freePort()),
      FABRIC_MQTT_PORT: String(await freePort()),
      FABRIC_SANDBOXES: 'off',
      FABRIC_MQTT_PERSISTENCE: 'memory',
      FABRIC_ADMIN_USER: 'ops',
      FABRIC_ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 4),
      FABRIC_CREDENTIAL_SECRET: crypto.randomBytes(32).toString('hex'),
      FABRIC_LOG_LEVEL: 'warn',
    };
    child = fork(path.join(ROOT, 'dist', 'runtime', 'start.js'), [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    child.stdout!.on('data', (b) => (output += b.toString()));
    child.stderr!.on('data', (b) => (output += b.toString()));
    url = await new Promise<string>((resolve, reject) => {
      child.once('message', (m: any) => resolve(m.url));
      child.once('exit', (code) => reject(new Error(`runtime exited ${code}: ${output.slice(-2000)}`)));
    });
    await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { flows: { state: string } }).flows.state === 'started', 'flows started', 60000, 200);
    context = await chromium.launchPersistentContext(profile.dir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close().catch(() => {});
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    tmp?.cleanup();
    profile?.cleanup();
  });

  it('sends the dashboard to the login page, refuses a wrong password, and shows the console after signing in', async () => {
    await page.goto(`${url}/dashboard/exceptions`, { waitUntil: 'domcontentloaded' });
    assert.match(page.url(), /\/ps-fabric\/login\?next=%2Fdashboard%2Fexceptions$/);
    await page.fill('#psf-user', 'ops');
    await page.fill('#psf-password', 'not-the-password');
    await page.click('#psf-submit');
    await page.locator('#psf-error', { hasText: 'wrong user name or password' }).waitFor({ timeout: 10000 });
    await page.fill('#psf-password', PASSWORD);
    await Promise.all([page.waitForURL(/\/dashboard\/exceptions$/, { timeout: 15000 }), page.click('#psf-submit')]);
    // the console renders rows (or its empty state) only once its socket.io connection was accepted
    await page.locator('.psf-console [data-role="empty"], .psf-console table').first().waitFor({ timeout: 30000 });
    const cookies = await context.cookies(url);
    const session = cookies.find((c) => c.name === 'psf_dashboard');
    assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(session?.sameSite, 'Strict');
  });

  it('keeps the editor login working', async () => {
    await page.goto(`${url}/`, { waitUntil: 'domcontentloaded' });
    await page.locator('#node-dialog-login-username').waitFor({ timeout: 30000 });
    await page.fill('#node-dialog-login-username', 'ops');
    await page.fill('#node-dialog-login-password', PASSWORD);
    await page.click('#node-dialog-login-submit');
    await page.waitForSelector('#red-ui-palette .red-ui-palette-node', { timeout: 60000 });
    assert.match(await page.title(), /PS Fabric/);
  });
});
