/**
 * Child process for the cross-reference SIGKILL test: records ids through lib/xref on a SQLite file as fast as it can
 * (many writers at once, so commits are grouped) and prints `ack <n>` for each only after its write resolved. The
 * parent kills it mid-run and checks that every acknowledged id is in the file.
 */
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { CrossReference } from '../../../lib/xref';

async function main(): Promise<void> {
  const store = new SqliteStore({ path: process.argv[2] });
  const xref = new CrossReference(store).forConnection('bc:NWA UK');
  let n = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const mine = n++;
      await xref.record('account', `ACC-K${mine}`, 'businessCentral', { id: `guid-${mine}`, number: `C${mine}` });
      process.stdout.write(`ack ${mine}\n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
