/**
 * Child process for the SIGKILL test: writes inbox entries (through the grouped InboxWriter) and outbox
 * items as fast as it can and prints `ack <n>` for each one only after its commit resolved. The parent
 * kills it mid-run and checks that every acknowledged n is in the store.
 */
import { InboxWriter } from '../../../lib/inbox';
import { SqliteStore } from '../../../lib/store/sqlite-store';

async function main(): Promise<void> {
  const file = process.argv[2];
  const store = new SqliteStore({ path: file });
  const inbox = new InboxWriter(store, { windowMs: 2, maxBatch: 64 });
  let n = 0;
  process.stdout.write('ready\n');
  // Many writers at once, like many MQTT messages in flight, so commits really are grouped.
  const writer = async (): Promise<void> => {
    for (;;) {
      const mine = n++;
      await inbox.add({ source: 'crash-test', messageId: `m-${mine}`, payload: { n: mine, text: 'x'.repeat(200) }, receivedAt: Date.now() });
      await store.outboxEnqueue({ connection: 'crash', operation: 'write', idempotencyKey: `k-${mine}`, request: { n: mine } }, Date.now());
      process.stdout.write(`ack ${mine}\n`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
