/**
 * Worker side of checkpointer.ts: its own better-sqlite3 connection to the store's file, running
 * `PRAGMA wal_checkpoint(PASSIVE)` when asked, so copying WAL pages into the database file and the fsyncs that
 * go with it happen off the runtime's main thread. PASSIVE never waits for and never blocks the writer.
 * Never TRUNCATE or set journal_size_limit here: the main thread's WalSyncer keeps a descriptor on the `-wal` file.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { FromCheckpointWorker, ToCheckpointWorker } from './checkpointer';

const port = parentPort!;
const send = (m: FromCheckpointWorker) => port.postMessage(m);

// Module scope on purpose: the connection and its statement stay referenced until the worker exits, so the garbage
// collector never frees them in a weak callback (see "Node.js 24 + better-sqlite3 12" in sqlite-store.ts).
const db = new Database((workerData as { path: string }).path, { fileMustExist: true, timeout: 1000 });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

port.on('message', (m: ToCheckpointWorker) => {
  if (m.type === 'checkpoint') {
    try {
      const row = checkpoint.get() as { busy: number; log: number; checkpointed: number };
      send({ type: 'result', busy: row.busy, log: row.log, checkpointed: row.checkpointed });
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  } else if (m.type === 'close') {
    // the main connection is still open, so this close neither checkpoints nor removes the -wal file
    db.close();
    process.exit(0);
  }
});
