/**
 * Child process of native-lifetime.test.ts: opens and closes SQLite stores, prepares throw-away statements through
 * better-sqlite3 directly, then allocates so that the garbage collector runs (young-generation GCs during
 * allocation) and frees whatever is unreachable. Prints "done" and exits 0 unless the process aborts.
 */
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../lib/store/sqlite-store';

async function main(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const store = new SqliteStore({ path: ':memory:' });
    for (let j = 0; j < 20; j++) store.settings();
    await store.watermarkSet(`w${i}`, String(i), Date.now());
    await store.watermarkGet(`w${i}`);
    await store.close();
  }
  const db = new Database(':memory:');
  for (let i = 0; i < 200; i++) db.prepare('SELECT ? AS n').get(i);
  db.pragma('user_version');
  db.close();
  let churn: object[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    churn.push({ i, s: `x${i}` });
    if (churn.length > 10_000) churn = [];
  }
  process.stdout.write(`done ${churn.length > 0}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
