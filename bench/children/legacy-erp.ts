/**
 * Child process: the legacy ERP simulator (sandbox/legacy-erp/simulator.ts) as the ERP that books invoices
 * (persistent session, QoS 1). The parent asks how many source entries are on booked invoice lines, and at the
 * end for every (entryId, booked at, deliveries) to compute latency, lost and duplicated.
 */
import { LegacyErpSimulator } from '../../sandbox/legacy-erp/simulator';
import { serveParent } from '../lib/util';

async function main(): Promise<void> {
  const sim = new LegacyErpSimulator({ url: process.env.BENCH_MQTT_URL!, clientId: process.env.BENCH_CLIENT_ID ?? 'legacy-erp-fr01' });
  const ipc = serveParent(
    async (msg) => {
      const invoices = Object.values(sim.state.invoices);
      if (msg.type === 'count') {
        let lines = 0;
        for (const inv of invoices) lines += inv.invoice.lines.length;
        return { lines, invoices: invoices.length, rejected: sim.state.rejected.length };
      }
      if (msg.type === 'lines') {
        // entryId -> [bookedAt ms, occurrences on booked lines (>1 = billed twice), deliveries of its invoice]
        const out: Record<string, [number, number, number]> = {};
        for (const inv of invoices) {
          const at = Date.parse(inv.receivedAt);
          for (const l of inv.invoice.lines) {
            const prev = out[l.sourceEntryId];
            out[l.sourceEntryId] = prev ? [prev[0], prev[1] + 1, inv.deliveries] : [at, 1, inv.deliveries];
          }
        }
        return { lines: out, rejected: sim.state.rejected.slice(0, 5) };
      }
      throw new Error(`unknown request ${msg.type}`);
    },
    () => sim.stop(),
  );
  await sim.start();
  ipc.ready({});
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
