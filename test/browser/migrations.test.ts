/**
 * Old flow files in the editor (playwright-core + Debian's chromium), against a runtime started like `npm start`
 * (dist/runtime/start.js in a child process: the operations test owns this process' Node-RED) on a flow file written
 * before node configs were versioned (version 0: no `version`, an empty operation meaning "from msg"):
 *  - the editor shows the migrated config (the dialog's operation is "from msg") and the workspace has changes to deploy
 *  - Deploy writes the current version and shape to the flow file
 *  - a version-0 node imported from the clipboard is migrated too
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser, startRuntimeProcess, type Browser, type RuntimeProcess } from '../support/browser';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

/** A flow file as a version of PS Fabric before versioned configs saved it. */
const OLD_FLOWS = [
  { id: 'mig-tab', type: 'tab', label: 'old flow' },
  { id: 'mig-ns', z: 'mig-tab', type: 'netsuite', name: 'old netsuite', netsuite: '', operation: '', query: '', recordType: '', pageSize: 1000, x: 200, y: 100, wires: [[]] },
  { id: 'mig-leg', z: 'mig-tab', type: 'legacy-erp', name: 'old legacy', legacy: '', mode: '', topic: '', x: 200, y: 200, wires: [[], []] },
  { id: 'mig-own', type: 'ownership-config', name: 'old ownership', source: 'default', matrix: '' },
];

type FlowNode = Record<string, unknown> & { id: string };

describe('old flow files in the editor: config migrations', function () {
  this.timeout(180000);
  let tmp: ReturnType<typeof tempDir>;
  let runtime: RuntimeProcess;
  let browser: Browser;
  let page: Page;
  let url = '';
  const flowFile = () => path.join(tmp.dir, 'flows.json');
  const onDisk = (): Map<string, FlowNode> => new Map((JSON.parse(fs.readFileSync(flowFile(), 'utf8')) as FlowNode[]).map((n) => [n.id, n]));
  const deployEnabled = async () => !((await page.locator('#red-ui-header-button-deploy').getAttribute('class')) ?? '').includes('disabled');

  before(async () => {
    tmp = tempDir('psf-migrations-');
    fs.writeFileSync(flowFile(), JSON.stringify(OLD_FLOWS, null, 2));
    runtime = await startRuntimeProcess(tmp.dir);
    url = runtime.url;
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
    tmp?.cleanup();
  });

  it('shows an old node\'s dialog in the current shape, and Deploy writes the current version to the flow file', async () => {
    // the runtime ran the old file as it is: nothing rewrote it
    assert.equal(onDisk().get('mig-ns')?.version, undefined);
    assert.equal(onDisk().get('mig-ns')?.operation, '');

    await page.goto(`${url}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#red-ui-palette .red-ui-palette-node', { timeout: 60000 });
    const oldNode = page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group', { hasText: 'old netsuite' });
    await oldNode.waitFor({ timeout: 30000 });
    // loading an old flow leaves changes to deploy
    await waitFor(deployEnabled, 'the Deploy button enabled by the migrated nodes', 10000, 100);

    await oldNode.locator('.red-ui-flow-node').dblclick();
    const operation = page.locator('#node-input-operation');
    await operation.waitFor({ timeout: 10000 });
    assert.equal(await operation.inputValue(), 'msg', 'the empty operation of version 0 is "from msg" in the dialog');
    await page.locator('#node-dialog-cancel').click();
    await operation.waitFor({ state: 'detached', timeout: 10000 });

    await page.locator('#red-ui-header-button-deploy').click();
    // the netsuite node names no account: Node-RED asks before deploying an incomplete node
    const confirm = page.getByRole('button', { name: 'Confirm deploy' });
    if (await confirm.first().waitFor({ timeout: 5000 }).then(() => true, () => false)) await confirm.first().click();
    const deployed = await waitFor(() => {
      const nodes = onDisk();
      return nodes.get('mig-ns')?.version === 1 ? nodes : undefined;
    }, 'the flow file written by Deploy', 30000, 100);
    assert.equal(deployed.get('mig-ns')?.operation, 'msg');
    assert.equal(deployed.get('mig-leg')?.version, 1);
    assert.equal(deployed.get('mig-leg')?.mode, 'decodeTime', 'the empty mode of version 0 decoded time lines');
    assert.equal(deployed.get('mig-own')?.version, 1, 'config nodes are migrated too');
    await waitFor(async () => !(await deployEnabled()), 'no changes left to deploy', 10000, 100);
  });

  it('migrates a version-0 node imported from the clipboard', async () => {
    const imported = { id: 'mig-import', type: 'jira', name: 'imported jira', jira: '', operation: '', x: 400, y: 300, wires: [[]] };
    await page.keyboard.press('Control+i');
    const dialog = page.locator('#red-ui-clipboard-dialog');
    await dialog.waitFor({ timeout: 10000 });
    const text = page.locator('#red-ui-clipboard-dialog-import-text');
    await text.fill(JSON.stringify([imported]));
    await text.press('End'); // the dialog checks the text on keyup
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    await page.mouse.click(600, 450); // drop the imported node on the canvas
    const node = page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group', { hasText: 'imported jira' });
    await node.waitFor({ timeout: 10000 });
    await node.locator('.red-ui-flow-node').dblclick();
    const operation = page.locator('#node-input-operation');
    await operation.waitFor({ timeout: 10000 });
    assert.equal(await operation.inputValue(), 'msg');
    await page.locator('#node-dialog-cancel').click();
  });
});
