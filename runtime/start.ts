/**
 * `npm start`: PS Fabric with Node-RED, the embedded broker, the SQLite store and the vendor sandboxes.
 * Configuration by environment variables (docs/runtime.md). SIGINT/SIGTERM stop everything cleanly, exit 0.
 */
import { startFabric, type RunningFabric } from './launcher';

async function main(): Promise<void> {
  let running: RunningFabric | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[ps-fabric] ${signal}: stopping (flows, HTTP, sandboxes, broker, store)`);
    const force = setTimeout(() => {
      console.error('[ps-fabric] shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15000);
    force.unref();
    (running ? running.stop() : Promise.resolve()).then(
      () => {
        console.log('[ps-fabric] stopped');
        process.exit(0);
      },
      (err) => {
        console.error(`[ps-fabric] error while stopping: ${(err as Error).stack ?? err}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  running = await startFabric();
  if (stopping) await running.stop();
  if (process.send) process.send({ ready: true, url: running.url, mqttUrl: running.mqttUrl });
}

main().catch((err) => {
  console.error(`[ps-fabric] failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
