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
import bcrypt from 'bcryptjs';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, startRuntimeProcess, type Browser, type RuntimeProcess } from '../support/browser';
import { tempDir } from '../support/tmp';

const PASSWORD = `ops-${crypto.randomBytes(9).toString('hex')}`;

describe('one login for the editor and the dashboard, in the browser', function () {
  this.timeout(180000);
  let tmp: ReturnType<typeof tempDir>;
  let runtime: RuntimeProcess;
  let browser: Browser;
  let url = '';
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    tmp = tempDir('psf-login-');
    runtime = await startRuntimeProcess(tmp.dir, { FABRIC_ADMIN_USER: 'ops', FABRIC_ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 4) });
    url = runtime.url;
    browser = await launchBrowser();
    ({ context, page } = browser);
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    tmp?.cleanup();
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
