/**
 * Child process of the month-end scenario: the vendor sandboxes (sandbox/server.ts, every vendor) and the legacy ERP
 * simulator (FR01, an MQTT client of the runtime's broker), in a process of their own. The suite SIGKILLs only the
 * runtime, so whatever a vendor accepted stays accepted: the comparison at the end is made against what the vendors
 * really booked, not against state a crash could erase.
 *
 * IPC in: { type: 'legacy', url, username?, password? } (connect the simulator to the runtime's broker; it reconnects by itself after a
 * runtime restart), { type: 'progress' } (entries on ERP invoice lines, counted here so the suite can poll often).
 * IPC out: { ready, url }, { reply, ...answer } for each request.
 */
import { startSandboxes } from '../../../sandbox/server';
import { LegacyErpSimulator } from '../../../sandbox/legacy-erp/simulator';
import { billedEntries } from './erp-lines';

async function main(): Promise<void> {
  const running = await startSandboxes({ port: 0 });
  let legacy: LegacyErpSimulator | undefined;
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (m: any) => {
    void (async () => {
      try {
        if (m?.type === 'legacy') {
          legacy = new LegacyErpSimulator({ url: m.url, clientId: 'legacy-erp-fr01', httpPort: 0, username: m.username, password: m.password });
          await legacy.start();
          send({ reply: m.id, httpUrl: legacy.httpUrl });
        } else if (m?.type === 'progress') {
          const s = running.sandboxes;
          const lines = billedEntries(s.netsuite.collection('invoice'), s.bc.collection('salesInvoices'), s.bc.collection('salesInvoiceLines'), Object.values(legacy?.state.invoices ?? {}));
          let onLines = 0;
          for (const on of lines.values()) onLines += on.length;
          send({ reply: m.id, entries: lines.size, lines: onLines });
        } else if (m?.type === 'stop') {
          await legacy?.stop();
          await running.close();
          process.exit(0);
        }
      } catch (err) {
        send({ reply: m?.id, error: (err as Error).message });
      }
    })();
  });
  send({ ready: true, url: running.url });
}

main().catch((err) => {
  console.error(`vendors-child failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
