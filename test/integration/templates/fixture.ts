/**
 * One PS Fabric runtime for every template test file (Node-RED runs once per process): started on first use, stopped by
 * a root-level `after` hook. Templates deployed from flows/ with credentials from env defaults, sandboxes on, the
 * embedded broker; the pollers are set short (Node-RED substitutes ${VAR} from process.env).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { startFabric, type RunningFabric } from '../../../runtime/launcher';
import { freePort } from '../../support/ports';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

export interface BusEvent { topic: string; body: any }
export interface TemplatesFabric {
  fabric: RunningFabric;
  bus: MqttClient;
  events: BusEvent[];
  /** GET / POST / PUT on the sandbox server (JSON). */
  sb(path: string, method?: string, body?: unknown): Promise<any>;
  /** POST on the Node-RED admin API (JSON). */
  admin(path: string, body?: unknown): Promise<{ status: number; body: any }>;
  publish(topic: string, data: unknown, id?: string): void;
}

let shared: Promise<TemplatesFabric> | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;

async function start(): Promise<TemplatesFabric> {
  tmp = tempDir('psf-templates-');
  const sandboxPort = await freePort();
  Object.assign(process.env, { FABRIC_Q2P_POLL_SECONDS: '1', FABRIC_T2C_POLL_SECONDS: '2', FABRIC_CO_RETRY_SECONDS: '2', FABRIC_REPORTING_INTERVAL: '3600' });
  const fabric = await startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: true, sandboxPort, logLevel: 'warn', env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'templates-test-secret', FABRIC_SANDBOX_PORT: String(sandboxPort), FABRIC_LEGACY_ERP: 'off' } });
  await waitFor(async () => (await fabric.health()).flows.state === 'started', 'flows started', 30000);
  const bus = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0, ...fabric.mqttCredentials });
  const events: BusEvent[] = [];
  bus.on('message', (topic, payload) => {
    try {
      events.push({ topic, body: JSON.parse(payload.toString()) });
    } catch {
      events.push({ topic, body: payload.toString() });
    }
  });
  await bus.subscribeAsync('fabric/v1/#', { qos: 1 });
  const sb = async (p: string, method = 'GET', body?: unknown) => {
    const res = await fetch(`${fabric.sandboxes!.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  };
  const admin = async (p: string, body?: unknown) => {
    const res = await fetch(`${fabric.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ps-fabric-request': '1' }, body: JSON.stringify(body ?? {}) });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = JSON.parse(text); } catch { /* plain text */ }
    return { status: res.status, body: parsed };
  };
  let seq = 0;
  const publish = (topic: string, data: unknown, id?: string) => {
    seq += 1;
    bus.publish(topic, JSON.stringify({ specversion: '1.0', id: id ?? `test-${Date.now()}-${seq}`, source: '/test', type: `com.psfabric.test.v1`, time: new Date().toISOString(), correlationid: `test-${seq}`, data }), { qos: 1 });
  };
  return { fabric, bus, events, sb, admin, publish };
}

export function templatesFabric(): Promise<TemplatesFabric> {
  shared ??= start();
  return shared;
}

/** Closes an opportunity in the Salesforce sandbox (the real salesforce-trigger picks it up) and waits for its project.created. */
export async function closeWonAndWait(t: TemplatesFabric, oppId: string, timeoutMs = 60000): Promise<BusEvent> {
  const seen = t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId);
  if (seen) return seen;
  await t.sb(`/salesforce/_sandbox/close-won/${oppId}`, 'POST');
  return waitFor(() => t.events.find((e) => e.topic === 'fabric/v1/project/created' && e.body.data?.opportunityId === oppId), `project.created for ${oppId}`, timeoutMs, 100);
}

after(async function () {
  this.timeout(60000);
  if (!shared) return;
  const t = await shared.catch(() => undefined);
  await t?.bus.endAsync().catch(() => {});
  await t?.fabric.stop();
  tmp?.cleanup();
});
