/** Child process: the vendor sandboxes (sandbox/server.ts), all or the ones named in BENCH_VENDORS, zero added latency. */
import { startSandboxes, VENDORS } from '../../sandbox/server';
import { serveParent } from '../lib/util';

async function main(): Promise<void> {
  const names = (process.env.BENCH_VENDORS ?? '').split(',').filter(Boolean);
  const vendors = names.length ? VENDORS.filter((v) => names.includes(v.name)) : VENDORS;
  const running = await startSandboxes({ port: 0, vendors });
  const ipc = serveParent(
    async (msg) => {
      if (msg.type === 'count') {
        const sb = running.sandboxes[msg.vendor];
        return { count: Object.keys(sb.state[msg.collection] ?? {}).length, requests: sb.requests().length };
      }
      throw new Error(`unknown request ${msg.type}`);
    },
    () => running.close(),
  );
  ipc.ready({ url: running.url });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
