/**
 * The real PS Fabric runtime (dist/runtime/start.js) as a child process of the suite, on a user dir prepared here:
 * a flow file, and the test-only `reliability-deliver` node in <userDir>/nodes. Its fabric-broker talks to a broker
 * in the test process (lib/broker, the same aedes broker the runtime embeds), which outlives the killed runtime and
 * keeps the runtime's persistent session, as an external broker or the legacy ERP's would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { start, type Child } from './child';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const START = path.join(ROOT, 'dist', 'runtime', 'start.js');
const DELIVER = path.join(__dirname, '..', 'nodes', 'reliability-deliver.js');

export interface FlowOptions {
  brokerUrl: string;
  targetUrl: string;
  topic: string;
  /** Largest payload fabric-mqtt-in accepts. */
  maxBytes?: number;
  /** A delay node (ms) between canonical and the delivery: messages sit in the flow after their inbox commit. */
  delayMs?: number;
  /** Requests per second to the target (0 = unlimited). */
  rate?: number;
  /** Also an HTTP in node at POST /<httpPath> feeding canonical (a second path into the same flow). */
  httpPath?: string;
  /** MQTT client id of the flow's fabric-broker (default psfabric-reliability). */
  clientId?: string;
}

export function reliabilityFlow(o: FlowOptions): unknown[] {
  const z = 'reltab';
  const nodes: any[] = [
    { id: z, type: 'tab', label: 'reliability' },
    { id: 'relbroker', type: 'fabric-broker', name: 'bus', mode: 'url', url: o.brokerUrl, clientId: o.clientId ?? 'psfabric-reliability', clean: false, protocolVersion: '4', keepalive: 60, sharedGroup: '' },
    { id: 'relstore', type: 'fabric-store', name: 'store', kind: 'sqlite', path: '', retentionDays: 7 },
    { id: 'relin', type: 'fabric-mqtt-in', z, name: '', broker: 'relbroker', store: 'relstore', topic: o.topic, qos: '1', maxBytes: o.maxBytes ?? 1048576, wires: [['relcan'], ['relexcIn']] },
    { id: 'relcan', type: 'canonical', z, name: '', entity: 'timeentry', mapping: '', event: 'approved', source: '', subject: '', correlationProperty: 'correlationid', idempotencyKey: '', maxBytes: o.maxBytes ?? 1048576, wires: [[o.delayMs ? 'reldelay' : 'reldeliver'], ['relexcCan']] },
    { id: 'reldeliver', type: 'reliability-deliver', z, name: '', store: 'relstore', url: o.targetUrl, rate: o.rate ?? 0, wires: [[]] },
    { id: 'relexcIn', type: 'fabric-exception', z, name: 'bad mqtt payload', store: 'relstore', process: 'reliability', step: 'mqtt-in', owner: '', errorClass: 'validation', message: '', replay: false, wires: [[], []] },
    { id: 'relexcCan', type: 'fabric-exception', z, name: 'not a canonical time entry', store: 'relstore', process: 'reliability', step: 'canonical', owner: '', errorClass: 'validation', message: '', replay: false, wires: [[], []] },
  ];
  if (o.delayMs) nodes.push({ id: 'reldelay', type: 'delay', z, name: '', pauseType: 'delay', timeout: String(o.delayMs), timeoutUnits: 'milliseconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, allowrate: false, outputs: 1, wires: [['reldeliver']] });
  if (o.httpPath) {
    nodes.push({ id: 'relhttp', type: 'http in', z, name: '', url: `/${o.httpPath}`, method: 'post', upload: false, swaggerDoc: '', wires: [['relcan', 'relhttpres']] });
    nodes.push({ id: 'relhttpres', type: 'http response', z, name: '', statusCode: '202', headers: {}, wires: [] });
  }
  return nodes;
}

/** A user dir with the flow file and the test-only delivery node. */
export function prepareUserDir(dir: string, flows: unknown[]): void {
  fs.mkdirSync(path.join(dir, 'nodes'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(flows, null, 2));
  fs.writeFileSync(path.join(dir, 'nodes', 'reliability-deliver.js'), `module.exports = require(${JSON.stringify(DELIVER)});\n`);
  fs.writeFileSync(
    path.join(dir, 'nodes', 'reliability-deliver.html'),
    `<script type="text/javascript">RED.nodes.registerType('reliability-deliver',{category:'function',color:'#ddd',defaults:{name:{value:''},store:{value:'',type:'fabric-store'},url:{value:''},rate:{value:0}},inputs:1,outputs:1,label:function(){return this.name||'reliability deliver';}});</script>\n` +
      `<script type="text/html" data-template-name="reliability-deliver"><div class="form-row"><label>Name</label><input type="text" id="node-input-name"></div></script>\n`,
  );
}

export interface RuntimeChild extends Child {
  url: string;
}

/** Starts dist/runtime/start.js on free ports; resolves once it is ready and its flows are started. `env` overrides the defaults below. */
export async function startRuntime(userDir: string, env: NodeJS.ProcessEnv = {}): Promise<RuntimeChild> {
  const port = await freePort();
  const child = await start(
    START,
    {
      FABRIC_USER_DIR: userDir,
      FABRIC_PORT: String(port),
      FABRIC_MQTT_PORT: '0',
      FABRIC_MQTT_PERSISTENCE: 'memory',
      FABRIC_STORE_PATH: 'fabric.sqlite',
      FABRIC_SANDBOXES: 'off',
      FABRIC_LOG_LEVEL: process.env.RELIABILITY_VERBOSE ? 'info' : 'error',
      FABRIC_CREDENTIAL_SECRET: 'reliability-suite-secret',
      ...env,
    },
    undefined,
    90000,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).status === 200, 'the runtime to be healthy', 60000, 100);
  return { ...child, url };
}

/** True once the broker has a session of `clientId` subscribed to `filter`. */
export function subscribed(aedes: any, clientId: string, filter: string): boolean {
  const c = (aedes.clients as Record<string, any>)[clientId];
  return !!(c && c.subscriptions && c.subscriptions[filter]);
}

/** A valid canonical time entry with this id. */
export function timeEntry(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    version: 1,
    person: { id: 'CON-002', name: 'Daniel Okafor', email: 'daniel.okafor@northwind-advisory.example' },
    projectId: 'PRJ-1001-WMS',
    date: '2026-11-02',
    hours: 7.5,
    role: 'Solution Architect',
    billable: true,
    rate: { amount: 210, currency: 'USD', unit: 'hour' },
    status: 'approved',
    approvedAt: '2026-11-17T09:12:44Z',
    ...extra,
  };
}
