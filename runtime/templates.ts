/**
 * The process templates (flows/*.json, written by the builders in templates/) as the runtime deploys and packages them.
 *
 *  - `mergeFlows()`: the one merge of flow arrays (each node id once); `writeExamples()`: each template with the shared
 *    config nodes as examples/ (Import > Examples), called by `npm run build`.
 *  - `templateFlows()`: every template merged into one Node-RED flow array; `flows/_config.json` holds the shared
 *    config nodes (fixed ids `psf-store`, `psf-broker`, `psf-netsuite`, ...) once, the templates reference them.
 *    Nodes whose type is not installed (a connector node not built yet) are left out with a warning, so the rest
 *    of the templates still starts instead of Node-RED waiting for missing types.
 *  - `deployTemplates()`: called by the launcher before Node-RED starts. Writes the templates as the flow file when
 *    the user dir has none (or always, with FABRIC_DEPLOY_TEMPLATES=always: the template tabs and config nodes are
 *    replaced, the user's own tabs kept), plus the config nodes' credentials, read from the environment (sandbox
 *    defaults), encrypted the way Node-RED does with the runtime's credential secret. No secret is in a flow file.
 *  - `applyTemplateEnv()`: env defaults the templates' `${...}` properties need (FABRIC_SANDBOX_URL, ...).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const FLOWS_DIR = path.join(PACKAGE_ROOT, 'flows');

type FlowNode = { id: string; type: string; z?: string; g?: string; wires?: string[][]; links?: string[]; [k: string]: unknown };

/**
 * PS Fabric node types the templates use. A template node of one of these types that this package does not
 * register (yet) is left out at deploy time; every other type (core, dashboard, ...) is kept as is.
 */
export const TEMPLATE_PACKAGE_TYPES = new Set([
  'fabric-store', 'fabric-broker', 'fabric-mqtt-in', 'fabric-mqtt-out', 'fabric-exception', 'fabric-exceptions', 'fabric-idempotent', 'canonical',
  'ownership-config', 'api-gate', 'process-step', 'salesforce-config', 'salesforce', 'salesforce-trigger', 'netsuite-config', 'netsuite',
  'business-central-config', 'business-central', 'kantata-config', 'kantata', 'jira-config', 'jira', 'teams-config', 'teams-notify', 'legacy-erp',
  'legacy-erp-config',
]);

/** Node types of this package (package.json `node-red.nodes`). */
export function packageNodeTypes(root = PACKAGE_ROOT): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
  const types = new Set<string>();
  for (const [key, file] of Object.entries(pkg['node-red']?.nodes ?? {})) {
    types.add(key);
    // a file may register several types (e.g. a config + its operation node); the usual convention is type = file name
    types.add(path.basename(file, '.js'));
  }
  return types;
}

export interface TemplateFlowsOptions {
  dir?: string;
  /** PS Fabric types this package registers; default: package.json `node-red.nodes`. `null` keeps everything. */
  installedTypes?: Set<string> | null;
  warn?: (message: string) => void;
}

/** The template files, `_config.json` first, then the templates in name order. */
export function templateFiles(dir = FLOWS_DIR): string[] {
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return [...files.filter((f) => f === '_config.json'), ...files.filter((f) => f !== '_config.json')];
}

/**
 * Flow arrays merged into one: each node id once, the first copy kept (a template file repeats the shared config nodes
 * it needs, so it also imports on its own). The one merge of templates: the deployed flow file, the examples, the tests.
 */
export function mergeFlows(parts: FlowNode[][]): FlowNode[] {
  const seen = new Set<string>();
  const out: FlowNode[] = [];
  for (const nodes of parts) {
    for (const n of nodes) {
      if (!n || typeof n.id !== 'string' || seen.has(n.id)) continue;
      seen.add(n.id);
      out.push(n);
    }
  }
  return out;
}

function readFlowFile(dir: string, file: string): FlowNode[] {
  const nodes = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as FlowNode[];
  if (!Array.isArray(nodes)) throw new Error(`flows/${file} is not a Node-RED flow array`);
  return nodes;
}

/**
 * Import > Examples (Node-RED lists a module's examples/ folder): each template with the shared config nodes of
 * `_config.json`, so it imports on its own. Written by `npm run build` for packaging.
 */
export function writeExamples(flowsDir = FLOWS_DIR, examplesDir = path.join(PACKAGE_ROOT, 'examples')): string[] {
  const files = templateFiles(flowsDir);
  const shared = files.includes('_config.json') ? readFlowFile(flowsDir, '_config.json') : [];
  fs.rmSync(examplesDir, { recursive: true, force: true });
  fs.mkdirSync(examplesDir, { recursive: true });
  const written = files.filter((f) => f !== '_config.json');
  for (const file of written) fs.writeFileSync(path.join(examplesDir, file), JSON.stringify(mergeFlows([readFlowFile(flowsDir, file), shared]), null, 2));
  return written;
}

/** Every template merged into one flow (config nodes once), without node types that are not installed. */
export function templateFlows(options: TemplateFlowsOptions = {}): FlowNode[] {
  const dir = options.dir ?? FLOWS_DIR;
  const installed = options.installedTypes === null ? null : (options.installedTypes ?? packageNodeTypes());
  const dropped = new Map<string, number>();
  const out = mergeFlows(templateFiles(dir).map((file) => readFlowFile(dir, file))).filter((n) => {
    if (!installed || !TEMPLATE_PACKAGE_TYPES.has(n.type) || installed.has(n.type)) return true;
    dropped.set(n.type, (dropped.get(n.type) ?? 0) + 1);
    return false;
  });
  if (dropped.size) {
    const ids = new Set(out.map((n) => n.id));
    for (const n of out) {
      if (Array.isArray(n.wires)) n.wires = n.wires.map((port) => port.filter((id) => ids.has(id)));
      if (Array.isArray(n.links)) n.links = n.links.filter((id) => ids.has(id));
      const g = n as unknown as { nodes?: string[] };
      if (Array.isArray(g.nodes)) g.nodes = g.nodes.filter((id) => ids.has(id));
    }
    options.warn?.(`templates: left out nodes of types not installed: ${[...dropped].map(([t, c]) => `${t} (${c})`).join(', ')}`);
  }
  return out;
}

/** Ids of the template tabs and shared config nodes (what FABRIC_DEPLOY_TEMPLATES=always replaces). */
function templateIds(flows: FlowNode[]): { tabs: Set<string>; ids: Set<string> } {
  return { tabs: new Set(flows.filter((n) => n.type === 'tab').map((n) => n.id)), ids: new Set(flows.map((n) => n.id)) };
}

// -------------------------------------------------------------------------------------------- credentials
/** The sandboxes' demo credentials (sandbox/*): the defaults when the environment names none. */
export const SANDBOX_CREDENTIAL_DEFAULTS = {
  FABRIC_SF_CLIENT_ID: 'psfabric-sandbox-client',
  FABRIC_SF_CLIENT_SECRET: 'psfabric-sandbox-secret',
  FABRIC_NETSUITE_CLIENT_ID: 'psf-demo-m2m-client',
  FABRIC_NETSUITE_CERTIFICATE_ID: 'psf-demo-certificate',
  FABRIC_BC_CLIENT_ID: '5e0c2b7a-0d1e-4c8f-9a51-6f1d2c3b4a50',
  FABRIC_BC_CLIENT_SECRET: 'psf-demo-bc-secret',
  FABRIC_JIRA_EMAIL: 'integration@northwind-advisory.example',
  FABRIC_JIRA_API_TOKEN: 'jira-sandbox-api-token',
};

/** The Kantata sandbox's application token (the templates log in with an application token). */
function kantataDemo(): { accessToken: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const k = require('../sandbox/kantata') as Record<string, unknown>;
    return { accessToken: String(k.KANTATA_STATIC_TOKEN ?? '') };
  } catch {
    return { accessToken: '' };
  }
}

/** Credentials of the shared config nodes, from the environment (sandbox defaults). Keyed by config node id. */
export function templateCredentials(env: NodeJS.ProcessEnv, userDir: string): Record<string, Record<string, string>> {
  const v = (name: keyof typeof SANDBOX_CREDENTIAL_DEFAULTS) => env[name] ?? SANDBOX_CREDENTIAL_DEFAULTS[name];
  const k = kantataDemo();
  let privateKey = env.FABRIC_NETSUITE_PRIVATE_KEY ?? '';
  if (!privateKey && env.FABRIC_NETSUITE_PRIVATE_KEY_FILE) privateKey = fs.readFileSync(env.FABRIC_NETSUITE_PRIVATE_KEY_FILE, 'utf8');
  if (!privateKey) {
    // the sandbox accepts any key for its demo certificate: generate one per user dir, kept beside the flows
    const file = path.join(userDir, '.netsuite-demo-key.pem');
    if (!fs.existsSync(file)) {
      const { privateKey: pem } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      fs.writeFileSync(file, pem, { mode: 0o600 });
    }
    privateKey = fs.readFileSync(file, 'utf8');
  }
  const sandbox = (env.FABRIC_SANDBOX_URL ?? `http://${env.FABRIC_SANDBOX_HOST ?? '127.0.0.1'}:${env.FABRIC_SANDBOX_PORT ?? '1881'}`).replace(/\/$/, '');
  return {
    'psf-salesforce': { clientId: v('FABRIC_SF_CLIENT_ID'), clientSecret: v('FABRIC_SF_CLIENT_SECRET') },
    'psf-netsuite': { clientId: v('FABRIC_NETSUITE_CLIENT_ID'), certificateId: v('FABRIC_NETSUITE_CERTIFICATE_ID'), privateKey },
    'psf-bc-uk': { clientId: v('FABRIC_BC_CLIENT_ID'), clientSecret: v('FABRIC_BC_CLIENT_SECRET') },
    'psf-bc-de': { clientId: v('FABRIC_BC_CLIENT_ID'), clientSecret: v('FABRIC_BC_CLIENT_SECRET') },
    'psf-kantata': { accessToken: env.FABRIC_KANTATA_TOKEN ?? k.accessToken },
    'psf-jira': { email: v('FABRIC_JIRA_EMAIL'), apiToken: v('FABRIC_JIRA_API_TOKEN') },
    // the Teams Workflows webhook URL is the credential; the sandbox's demo flow when none is given (loaded only then,
    // as the launcher loads the sandboxes)
    'psf-teams-delivery': { webhookUrl: env.FABRIC_TEAMS_WEBHOOK_URL ?? (sandbox ? demoTeamsUrl(sandbox, 'psfabric-delivery') : '') },
  };
}

/** Node-RED's credential file format: `{ "$": iv(hex) + aes-256-ctr(JSON)(base64) }`, key = sha256(secret). */
export function encryptCredentials(credentials: Record<string, unknown>, secret: string): { $: string } {
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
  return { $: iv.toString('hex') + cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64') };
}

export function decryptCredentials(file: { $?: string } | Record<string, unknown>, secret: string): Record<string, unknown> {
  const enc = (file as { $?: string }).$;
  if (typeof enc !== 'string') return file as Record<string, unknown>;
  const key = crypto.createHash('sha256').update(secret).digest();
  const decipher = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(enc.slice(0, 32), 'hex'));
  return JSON.parse(decipher.update(enc.slice(32), 'base64', 'utf8') + decipher.final('utf8')) as Record<string, unknown>;
}

export function credentialFileOf(flowFile: string): string {
  const ext = path.extname(flowFile);
  return `${flowFile.slice(0, flowFile.length - ext.length)}_cred${ext || '.json'}`;
}

// -------------------------------------------------------------------------------------------- deploy
export interface DeployOptions {
  userDir: string;
  flowFile: string;
  credentialSecret?: string | false;
  env?: NodeJS.ProcessEnv;
  /** Written instead of the templates (tests). */
  initialFlows?: unknown[];
  log?: (message: string) => void;
}
export interface DeployResult {
  written: boolean;
  nodes: number;
  from: string[];
  credentials: number;
}

export function deployTemplates(opts: DeployOptions): DeployResult {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => console.log(`[ps-fabric] ${m}`));
  const target = path.resolve(opts.userDir, opts.flowFile);
  const mode = (env.FABRIC_DEPLOY_TEMPLATES ?? 'first-start').toLowerCase();
  const exists = fs.existsSync(target);
  if (exists && mode !== 'always') return { written: false, nodes: 0, from: [], credentials: 0 };
  if (mode === 'never' && !opts.initialFlows) return { written: false, nodes: 0, from: [], credentials: 0 };
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (opts.initialFlows) {
    if (exists) return { written: false, nodes: 0, from: [], credentials: 0 };
    fs.writeFileSync(target, JSON.stringify(opts.initialFlows, null, 2));
    return { written: true, nodes: opts.initialFlows.length, from: ['initialFlows'], credentials: 0 };
  }
  const templates = templateFlows({ warn: log });
  let flows: FlowNode[] = templates;
  if (exists) {
    const { tabs, ids } = templateIds(templates);
    const current = JSON.parse(fs.readFileSync(target, 'utf8')) as FlowNode[];
    flows = [...current.filter((n) => !ids.has(n.id) && !(n.z && tabs.has(n.z))), ...templates];
  }
  fs.writeFileSync(target, JSON.stringify(flows, null, 2));
  // credentials of the shared config nodes (only those deployed), merged into what is there
  const deployed = new Set(flows.map((n) => n.id));
  const creds = Object.fromEntries(Object.entries(templateCredentials(env, opts.userDir)).filter(([id]) => deployed.has(id)));
  const credFile = path.resolve(opts.userDir, credentialFileOf(opts.flowFile));
  let existing: Record<string, unknown> = {};
  if (fs.existsSync(credFile) && opts.credentialSecret !== undefined) {
    try {
      existing = decryptCredentials(JSON.parse(fs.readFileSync(credFile, 'utf8')), opts.credentialSecret === false ? '' : opts.credentialSecret);
    } catch {
      existing = {};
    }
  }
  const merged = { ...existing, ...creds };
  const body = opts.credentialSecret === false || opts.credentialSecret === undefined ? merged : encryptCredentials(merged, opts.credentialSecret);
  fs.writeFileSync(credFile, JSON.stringify(body, null, 2), { mode: 0o600 });
  return { written: true, nodes: flows.length, from: templateFiles(), credentials: Object.keys(creds).length };
}

/** Which variables of an env object this module set (process.env cannot carry symbols). */
const setByUs = new WeakMap<object, Set<string>>();

/**
 * Env defaults the templates' `${...}` properties read (Node-RED substitutes them from process.env when a node
 * starts): FABRIC_SANDBOX_URL (the running sandboxes), FABRIC_BC_TENANT / _ENVIRONMENT, FABRIC_NETSUITE_ACCOUNT,
 * FABRIC_REPORTING_PERIOD (the sandboxes' demo month).
 * A value the user set is kept; one this function set earlier (a previous start in the same process) is updated.
 */
export function applyTemplateEnv(target: NodeJS.ProcessEnv, values: { sandboxUrl?: string; reportingPeriod?: string }): void {
  let ours = setByUs.get(target);
  if (!ours) {
    ours = new Set<string>();
    setByUs.set(target, ours);
  }
  const mine = ours;
  const set = (name: string, value: string | undefined) => {
    if (value === undefined) return;
    if (target[name] === undefined || mine.has(name)) {
      target[name] = value;
      mine.add(name);
    }
  };
  set('FABRIC_SANDBOX_URL', values.sandboxUrl ?? 'http://127.0.0.1:1881');
  // Node-RED substitutes only whole-value `${VAR}` properties, so each config node URL has its own variable
  const sb = String(target.FABRIC_SANDBOX_URL).replace(/\/$/, '');
  set('FABRIC_BC_TENANT', 'northwind.onmicrosoft.com');
  set('FABRIC_BC_ENVIRONMENT', 'sandbox');
  set('FABRIC_SALESFORCE_URL', `${sb}/salesforce`);
  set('FABRIC_NETSUITE_URL', `${sb}/netsuite`);
  set('FABRIC_BC_URL', `${sb}/bc`);
  set('FABRIC_BC_TOKEN_URL', `${sb}/bc/oauth/${target.FABRIC_BC_TENANT}/oauth2/v2.0/token`);
  set('FABRIC_KANTATA_URL', `${sb}/kantata`);
  set('FABRIC_JIRA_URL', `${sb}/jira`);
  set('FABRIC_NETSUITE_ACCOUNT', '1234567_SB1');
  set('FABRIC_Q2P_POLL_SECONDS', '5');
  set('FABRIC_T2C_POLL_SECONDS', '10');
  set('FABRIC_REPORTING_INTERVAL', '3600');
  set('FABRIC_CO_RETRY_SECONDS', '30');
  // the month the sandboxes' time entries are in; unset = the roll-up covers the month to date
  set('FABRIC_REPORTING_PERIOD', values.reportingPeriod);
}

function demoTeamsUrl(sandbox: string, flow: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the demo's sandbox is loaded only when the demo runs
  return (require('../sandbox/teams') as typeof import('../sandbox/teams')).teamsWorkflowUrl(sandbox, flow);
}
