/** Child process: the embedded broker (lib/broker startBroker) alone, with `level` or `memory` persistence. */
import path from 'node:path';
import { startBroker, type PersistenceKind } from '../../lib/broker';
import { serveParent, tmpDir } from '../lib/util';

async function main(): Promise<void> {
  const persistence = (process.env.BENCH_PERSISTENCE ?? 'level') as PersistenceKind;
  const tmp = tmpDir('psf-bench-broker-');
  const broker = await startBroker({ port: 0, persistence, persistenceDir: path.join(tmp.dir, 'mqtt'), authMode: 'off' });
  const ipc = serveParent(
    async (msg) => {
      if (msg.type === 'stats') return { stats: broker.stats };
      throw new Error(`unknown request ${msg.type}`);
    },
    async () => {
      await broker.close();
      tmp.cleanup();
    },
  );
  ipc.ready({ url: broker.url, persistence });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
