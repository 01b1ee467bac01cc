/**
 * Child process: one PS Fabric runtime (runtime/launcher.ts startFabric: store, embedded broker with level
 * persistence, Node-RED) with the flow given in BENCH_FLOW_FILE, sandboxes off (they run in their own child).
 *
 * Measurement tap: `global.get('benchDone')(id)` in a function node records (id, time) and reports them to the
 * parent in batches; it is injected as functionGlobalContext by wrapping RED.init (bench only, no product change).
 */
import fs from 'node:fs';
import { startFabric, type RunningFabric } from '../../runtime/launcher';

import { serveParent } from '../lib/util';
import { sharedEventLoopGate } from '../../lib/broker/event-loop-gate';

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
  // eslint-disable-next-line @typescript-eslint/no-require-imports
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
        const subs = await fabric!.broker.clientSubscriptions('');
        return { ok: subs.some((s) => s.topic === msg.filter || s.topic.endsWith('/' + msg.filter)) };
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
  const env = { ...process.env, FABRIC_CREDENTIAL_SECRET: 'bench-secret', FABRIC_MQTT_PERSISTENCE: 'level', FABRIC_MQTT_AUTH: 'off', FABRIC_LEGACY_ERP: 'off', FABRIC_USER_DIR: process.env.BENCH_USER_DIR } as NodeJS.ProcessEnv;
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
  // BENCH_MEM_LOG=<ms>: the runtime's heap, RSS and MQTT backpressure every <ms> on stderr (diagnosis of a long run)
  const memEvery = Number(process.env.BENCH_MEM_LOG ?? 0);
  if (memEvery > 0) {
    const gate = sharedEventLoopGate();
    setInterval(() => {
      const m = process.memoryUsage();
      const mb = (n: number) => Math.round(n / 1048576);
      console.error(`[mem] rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} gate ${JSON.stringify(gate?.stats)} broker ${JSON.stringify(fabric?.broker.stats)}`);
    }, memEvery).unref();
  }
  ipc.ready({ url: fabric.url, mqttUrl: fabric.mqttUrl, sandboxUrl: fabric.sandboxes?.url });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
