/**
 * The dialogs the build writes from each node's TypeScript declaration (nodes/<name>/config.ts), in the real editor
 * (playwright-core driving Debian's chromium, a runtime started like `npm start` with a flow of its own):
 *  - every declared type is registered with exactly the declared defaults (the emitted code parses and runs);
 *  - an operation node's dialog offers the declared operations and shows the rows of the chosen one only, through the
 *    one shared toggle (nodes/dialog/rows.html);
 *  - a validator written from a declared check marks a node with a bad value invalid.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import type { NodeSettings } from '../../nodes/settings';
import { NETSUITE } from '../../nodes/netsuite/config';
import { NETSUITE_CONFIG } from '../../nodes/netsuite-config/config';
import { FABRIC_STORE } from '../../nodes/fabric-store/config';
import { launchBrowser, type Browser } from '../support/browser';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Every declaration of every node set in package.json, as the build reads them. */
function declarations(): NodeSettings<Record<string, unknown>>[] {
  const sets = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))['node-red'].nodes);
  return sets.flatMap((set: string) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Object.values(require(path.join(ROOT, 'dist', 'nodes', set, 'config.js')) as Record<string, any>).filter((d) => d && typeof d.type === 'string' && Array.isArray(d.migrations)),
  );
}

describe('dialogs from the settings declarations, in the editor', function () {
  this.timeout(180000);
  let tmp: { dir: string; cleanup(): void };
  let browser: Browser | undefined;
  let fabric: RunningFabric;
  let page: Page;
  // (strings: this runs in the browser, and the project's TypeScript has no DOM types)
  const inPage = <T>(js: string) => page.evaluate(js) as Promise<T>;
  const shown = (selector: string) => inPage<boolean[]>(`Array.from(document.querySelectorAll(${JSON.stringify(selector)})).map((e) => e.offsetParent !== null)`);

  before(async () => {
    tmp = tempDir('psfabric-browser-dialogs-');
    fabric = await startFabric({
      userDir: tmp.dir,
      port: 0,
      mqttPort: 0,
      sandboxes: false,
      logLevel: 'warn',
      initialFlows: [
        { id: 'tab', type: 'tab', label: 'dialogs' },
        { id: 'ns', type: 'netsuite', z: 'tab', x: 200, y: 100, name: '', operation: 'upsertCustomer', wires: [[]] },
        { ...FABRIC_STORE.defaults, id: 'st', type: 'fabric-store', version: 1 },
        // a closed local port: the setup check after the start fails at once, without the network
        { ...NETSUITE_CONFIG.defaults, id: 'nsc-good', type: 'netsuite-config', version: 1, name: 'good', accountId: '1', baseUrl: 'http://127.0.0.1:9', store: 'st' },
        { ...NETSUITE_CONFIG.defaults, id: 'nsc-bad', type: 'netsuite-config', version: 1, name: 'bad', accountId: '1', baseUrl: 'not a url', store: 'st' },
      ],
      env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'browser-dialogs-secret' },
    });
    await waitFor(async () => (await fabric.health()).flows.ok, 'flows started', 60000, 200);
    browser = await launchBrowser({ width: 1440, height: 900 }, 'psfabric-chromium-');
    page = browser.page;
    await page.goto(fabric.url + '/', { waitUntil: 'domcontentloaded' });
    await page.locator('#red-ui-workspace-chart svg .red-ui-flow-node').first().waitFor({ timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
    await fabric?.stop();
    tmp?.cleanup();
  });

  it('every declared type is registered in the editor with exactly its declared defaults', async () => {
    const types = await inPage<Record<string, Record<string, unknown> | null>>(`(() => {
      const out = {};
      for (const t of ${JSON.stringify(declarations().map((d) => d.type))}) {
        const def = RED.nodes.getType(t);
        out[t] = def ? Object.fromEntries(Object.entries(def.defaults).map(([k, d]) => [k, d.value])) : null;
      }
      return out;
    })()`);
    for (const d of declarations()) {
      assert.ok(types[d.type], `${d.type} is not registered in the editor`);
      const { version, ...editor } = types[d.type]!;
      assert.equal(version, d.migrations[d.migrations.length - 1].version, `${d.type}: version`);
      assert.deepEqual(editor, d.defaults, `${d.type}: the editor's defaults`);
    }
  });

  it("netsuite's dialog: the declared operations and the chosen operation's rows only", async () => {
    await inPage(`RED.editor.edit(RED.nodes.node('ns'))`);
    await page.locator('#node-input-operation').waitFor({ timeout: 10000 });
    const options = await inPage<string[]>(`Array.from(document.querySelectorAll('#node-input-operation option')).map((o) => o.value)`);
    assert.deepEqual(options, [...NETSUITE.operations!.values]);
    assert.equal(await page.locator('#node-input-operation').inputValue(), 'upsertCustomer');
    assert.deepEqual(await shown('[data-psf-operation]'), [false, false, false], 'no read rows for a write');

    await page.locator('#node-input-operation').selectOption('suiteql');
    await waitFor(async () => (await shown('[data-psf-operation="suiteql"]')).every(Boolean), 'the SuiteQL rows shown', 10000, 50);
    assert.deepEqual(await shown('[data-psf-operation="getRecord"]'), [false]);

    await page.locator('#node-dialog-cancel').click();
  });

  it('a check declared in TypeScript marks a bad value in the editor (netsuite-config base URL)', async () => {
    const state = await inPage<Record<string, { valid: boolean; errors: string[] }>>(`Object.fromEntries(['good', 'bad'].map((k) => { const n = RED.nodes.node('nsc-' + k); return [k, { valid: n.valid, errors: n.validationErrors || [] }]; }))`);
    assert.deepEqual(state.good, { valid: true, errors: [] });
    assert.equal(state.bad.valid, false);
    assert.equal(state.bad.errors.length, 1, `one error, the base URL's: ${JSON.stringify(state.bad.errors)}`);
  });
});
