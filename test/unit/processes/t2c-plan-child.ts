/**
 * Child process of the SIGKILL test in time-to-cash-assignment.test.ts: plans and assigns batches of entries against
 * a SQLite file, one batch per `go` line on stdin. Of each batch's invoices it "emits" the first half (prints
 * `emit <invoice id> <sha256 of the write>`), the rest stay assigned and unsent, as when the runtime dies between
 * the assignment and the ERP write; then it prints `batch <n>` and waits. The parent kills it with SIGKILL.
 */
import crypto from 'node:crypto';
import readline from 'node:readline';
import { planAndAssign } from '../../../lib/processes/time-to-cash';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { T2C_CRASH_BATCH, t2cCrashEntries, t2cCrashProjects } from './t2c-crash-fixture';

async function main(): Promise<void> {
  const store = new SqliteStore({ path: process.argv[2] });
  const entries = t2cCrashEntries();
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  process.stdout.write('ready\n');
  for (let n = 0; n * T2C_CRASH_BATCH < entries.length; n++) {
    const next = await lines.next();
    if (next.done) return;
    const plan = await planAndAssign({ timeEntries: entries.slice(n * T2C_CRASH_BATCH, (n + 1) * T2C_CRASH_BATCH) }, t2cCrashProjects, store, { maxLinesPerInvoice: 60 });
    const emitted = plan.invoices.slice(0, Math.ceil(plan.invoices.length / 2));
    for (const w of emitted) process.stdout.write(`emit ${w.invoice.id} ${crypto.createHash('sha256').update(JSON.stringify(w)).digest('hex')}\n`);
    process.stdout.write(`batch ${n}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
