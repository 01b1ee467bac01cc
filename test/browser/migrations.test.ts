/**
 * Old flow files in the editor (playwright-core + Debian's chromium), against a runtime started like `npm start`
 * (dist/runtime/start.js in a child process: the operations test owns this process' Node-RED) on a flow file written
 * before node configs were versioned (version 0: no `version`, an empty operation meaning "from msg"):
 *  - the editor shows the migrated config (the dialog's operation is "from msg") and the workspace has changes to deploy
 *  - Deploy writes the current version and shape to the flow file
 *  - a version-0 node imported from the clipboard is migrated too
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

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
  let profile: ReturnType<typeof tempDir>;
  let child: ChildProcess;
  let output = '';
  let url = '';
  let context: BrowserContext;
  let page: Page;
  const flowFile = () => path.join(tmp.dir, 'flows.json');
  const onDisk = (): Map<string, FlowNode> => new Map((JSON.parse(fs.readFileSync(flowFile(), 'utf8')) as FlowNode[]).map((n) => [n.id, n]));
  const deployEnabled = async () => !((await page.locator('#red-ui-header-button-deploy').getAttribute('class')) ?? '').includes('disabled');

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
    tmp = tempDir('psf-migrations-');
    profile = tempDir('psf-migrations-chromium-');
    fs.writeFileSync(flowFile(), JSON.stringify(OLD_FLOWS, null, 2));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      FABRIC_USER_DIR: tmp.dir,
      FABRIC_HOST: '127.0.0.1',
      FABRIC_PORT: String(await freePort()),
      FABRIC_MQTT_PORT: String(await freePort()),
      FABRIC_SANDBOXES: 'off',
      FABRIC_MQTT_PERSISTENCE: 'memory',
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
