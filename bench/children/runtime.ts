/**
 * Child process: one PS Fabric runtime (runtime/launcher.ts startFabric: store, embedded broker with level
 * persistence, Node-RED) with the flow given in BENCH_FLOW_FILE, sandboxes off (they run in their own child).
 *
 * Measurement tap: `global.get('benchDone')(id)` in a function node records (id, time) and reports them to the
 * parent in batches; it is injected as functionGlobalContext by wrapping RED.init (bench only, no product change).
 */
import fs from 'node:fs';
import path from 'node:path';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import { buildSettings } from '../../runtime/settings-builder';
import { deployTemplates } from '../../runtime/templates';

/**
 * BENCH_PATCH_LEGACY=1: four fixes to the deployed time-to-cash template's legacy path, applied to the written flow
 * file only (flows/time-to-cash.json is not touched): (1) the TE lines are not JSON, so fabric-mqtt-in emits them
 * on output 2, which the template leaves unwired: wire it to the decoder; (2) fabric-mqtt-out JSON-quotes a string
 * payload, so the IH/IL posting is turned into bytes first; (3) process-step sends { invoice } to the ERP branch, the
 * legacy encoder wants the invoice: unwrap it, and (4) give it a number that survives the 20-character cut. Without
 * (1)-(3) no legacy entry is ever invoiced; without (4) some invoices of a month collide and are not booked.
 */
function patchLegacyPath(flowPath: string): void {
  const flows = JSON.parse(fs.readFileSync(flowPath, 'utf8')) as Array<Record<string, any>>;
  const byId = new Map(flows.map((n) => [n.id, n]));
  const inNode = byId.get('t2c-legacy-in');
  const enc = byId.get('t2c-legacy-enc');
  if (!inNode || !enc) throw new Error('time-to-cash template: legacy nodes t2c-legacy-in / t2c-legacy-enc not found');
  inNode.wires[1] = ['t2c-legacy-decode'];
  // (3) process-step hands the ERP branch { invoice, ... }; legacy-erp encodeInvoice expects the invoice itself;
  // (4) and it cuts the invoice number to 20 characters: `INV-NWA-FR-202611-48EE2E1E8C` -> `INV-NWA-FR-202611-48`,
  //     so invoices of one entity and month collide and the legacy ERP books only the first: number = period + hash
  for (const n of flows) if (Array.isArray(n.wires)) n.wires = n.wires.map((w: string[]) => w.map((id) => (id === 't2c-legacy-enc' && n.id !== 'bench-patch-unwrap' ? 'bench-patch-unwrap' : id)));
  flows.push({ id: 'bench-patch-unwrap', type: 'function', z: enc.z, name: 'bench patch: unwrap invoice', func: 'if (msg.payload && msg.payload.invoice) msg.payload = msg.payload.invoice;\n// legacy invoice numbers hold 20 characters: keep period + hash, not the first 20 characters of the id\nmsg.payload = Object.assign({}, msg.payload, { number: String(msg.payload.id).replace(/^INV-[A-Z]+-[A-Z]+-/, \'\') });\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['t2c-legacy-enc']], x: enc.x, y: enc.y - 40 });
  enc.wires[0] = enc.wires[0].map((id: string) => (id === 't2c-legacy-out' ? 'bench-patch-bytes' : id));
  flows.push({ id: 'bench-patch-bytes', type: 'function', z: enc.z, name: 'bench patch: posting to bytes', func: 'msg.payload = Buffer.from(String(msg.payload), "utf8");\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['t2c-legacy-out']], x: enc.x, y: enc.y + 40 });
  fs.writeFileSync(flowPath, JSON.stringify(flows, null, 2));
}
import { serveParent } from '../lib/util';

async function main(): Promise<void> {
  // BENCH_TEMPLATES=1: the product as `npm start` deploys it (every flows/*.json template, sandboxes in process)
  const templates = process.env.BENCH_TEMPLATES === '1';
  const flows = templates ? undefined : (JSON.parse(fs.readFileSync(process.env.BENCH_FLOW_FILE!, 'utf8')) as unknown[]);
  let batch: Array<[string, number]> = [];
  const flush = () => {
    if (batch.length === 0) return;
    process.send?.({ type: 'done', items: batch });
    batch = [];
  };
  setInterval(flush, 50).unref();
  const benchDone = (id: unknown) => {
    batch.push([String(id), Date.now()]);
    if (batch.length >= 2000) flush();
  };
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const RED = require('node-red');
  const init = RED.init;
  RED.init = function (server: unknown, settings: Record<string, any>) {
    settings.functionGlobalContext = { ...(settings.functionGlobalContext ?? {}), benchDone };
    return init.call(RED, server, settings);
  };
  let fabric: RunningFabric | undefined;
  const ipc = serveParent(
    async (msg) => {
      if (msg.type === 'subscribed') {
        const clients = Object.values(fabric!.broker.aedes.clients as Record<string, any>);
        return { ok: clients.some((c) => c.subscriptions && Object.keys(c.subscriptions).some((f) => f === msg.filter || f.endsWith('/' + msg.filter))) };
      }
      if (msg.type === 'health') return { health: await fabric!.health() };
      if (msg.type === 'flush') {
        flush();
        return {};
      }
      throw new Error(`unknown request ${msg.type}`);
    },
    async () => {
      flush();
      await fabric?.stop();
    },
  );
  const env = { ...process.env, FABRIC_CREDENTIAL_SECRET: 'bench-secret', FABRIC_MQTT_PERSISTENCE: 'level', FABRIC_MQTT_AUTH: 'off', FABRIC_USER_DIR: process.env.BENCH_USER_DIR } as NodeJS.ProcessEnv;
  if (templates && process.env.BENCH_PATCH_LEGACY === '1') {
    const settings = buildSettings(env);
    deployTemplates({ userDir: settings.userDir, flowFile: settings.flowFile, credentialSecret: settings.credentialSecret, env, log: () => undefined });
    patchLegacyPath(path.resolve(settings.userDir, settings.flowFile));
  }
  fabric = await startFabric({
    userDir: process.env.BENCH_USER_DIR,
    port: 0,
    mqttPort: Number(process.env.BENCH_MQTT_PORT ?? 0),
    sandboxes: templates,
    sandboxPort: 0,
    initialFlows: flows,
    logLevel: 'warn',
    env,
  });
  ipc.ready({ url: fabric.url, mqttUrl: fabric.mqttUrl });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
