/**
 * The Store contract against a real PostgreSQL, plus what only matters with several instances on one database.
 * Needs FABRIC_TEST_PG_URL (e.g. postgres://fabric:fabric@127.0.0.1:5432/fabric_test; `.ci/cluster-setup.sh`
 * provides one). Without it every test here is pending, with the reason in the title.
 * Each test works in its own schema, dropped afterwards, so runs never see each other's rows.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Client } from 'pg';
import { PostgresStore, redactConnectionString } from '../../../lib/store/postgres-store';
import { POSTGRES_MIGRATIONS } from '../../../lib/store/postgres-migrations';
import { openStore, openStoreReady, storeUsers } from '../../../lib/store/registry';
import type { NewOutboxItem } from '../../../lib/store/store';
import { describeStoreContract } from './store-contract';

const PG_URL = process.env.FABRIC_TEST_PG_URL;
const T0 = Date.parse('2026-11-30T09:00:00Z');

async function dropSchema(schema: string): Promise<void> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

const freshSchema = () => `fabric_t_${crypto.randomBytes(5).toString('hex')}`;

if (!PG_URL) {
  describe('PostgresStore (skipped: FABRIC_TEST_PG_URL not set)', () => {
    it.skip('runs the Store contract and the cross-instance tests against PostgreSQL when FABRIC_TEST_PG_URL is set', () => {});
  });
} else {
  describeStoreContract('PostgresStore', async () => {
    const schema = freshSchema();
    const store = new PostgresStore({ connectionString: PG_URL, schema, poolMax: 4 });
    await store.ready;
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropSchema(schema);
      },
    };
  });

  describe('PostgresStore across instances (two pools on one database)', function () {
    this.timeout(60000);
    let schema: string;
    let a: PostgresStore;
    let b: PostgresStore;
    beforeEach(async () => {
      schema = freshSchema();
      // both open a new schema at the same time: the advisory lock lets exactly one migrate
      a = new PostgresStore({ connectionString: PG_URL, schema, poolMax: 4 });
      b = new PostgresStore({ connectionString: PG_URL, schema, poolMax: 4 });
      await Promise.all([a.ready, b.ready]);
    });
    afterEach(async () => {
      await Promise.all([a.close(), b.close()]);
      await dropSchema(schema);
    });

    const item = (i: number): NewOutboxItem => ({ connection: 'erp:acme', operation: 'createInvoice', idempotencyKey: `inv-${i}`, request: { n: i } });

    it('migrates a new schema once when two instances start together', async () => {
      const rows = await a.raw<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((m) => m.version));
    });

    it('concurrent outboxClaim from two instances never returns the same item twice, and every item is claimed', async () => {
      const N = 600;
      for (let i = 0; i < N; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => (j % 2 ? a : b).outboxEnqueue(item(i + j), T0)));
      }
      const seen = new Map<number, string>();
      let duplicates = 0;
      const worker = async (store: PostgresStore, owner: string) => {
        for (;;) {
          const claimed = await store.outboxClaim('erp:acme', 7, T0 + 10, 60_000, owner);
          if (claimed.length === 0) {
            // nothing due: done once everything is leased
            const backlog = (await store.outboxBacklog())[0];
            if (backlog.pending === 0) return;
            continue;
          }
          for (const c of claimed) {
            if (seen.has(c.id)) duplicates++;
            seen.set(c.id, owner);
            assert.equal(c.attempts, 1);
            assert.equal(c.leaseOwner, owner);
          }
        }
      };
      await Promise.all([worker(a, 'a1'), worker(a, 'a2'), worker(b, 'b1'), worker(b, 'b2')]);
      assert.equal(duplicates, 0);
      assert.equal(seen.size, N);
      const owners = new Set(seen.values());
      assert.ok(owners.size >= 2, `claims were spread over ${owners.size} workers`);
    });

    it('takes over the items of an instance whose lease expired (it crashed), exactly once', async () => {
      for (let i = 0; i < 20; i++) await a.outboxEnqueue(item(i), T0);
      const dead = await a.outboxClaim('erp:acme', 20, T0, 1000, 'instance-a');
      assert.equal(dead.length, 20);
      assert.deepEqual(await b.outboxClaim('erp:acme', 50, T0 + 999, 1000, 'instance-b'), []);
      const [x, y] = await Promise.all([
        b.outboxClaim('erp:acme', 50, T0 + 1000, 1000, 'instance-b'),
        b.outboxClaim('erp:acme', 50, T0 + 1000, 1000, 'instance-b2'),
      ]);
      assert.equal(x.length + y.length, 20);
      assert.equal(new Set([...x, ...y].map((i) => i.id)).size, 20);
      for (const i of [...x, ...y]) assert.equal(i.attempts, 2);
    });

    it('enqueues one item per (connection, key) however many instances enqueue it at once', async () => {
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).outboxEnqueue(item(1), T0 + i)));
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
      assert.equal(new Set(results.map((r) => r.item.id)).size, 1);
    });

    it('idempotencyClaim: each key is won by exactly one instance', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `te-${i}`);
      const attempts = keys.flatMap((k) => [a, b, a, b].map((s) => s.idempotencyClaim('time-to-cash', k, T0, 60_000).then((won) => ({ k, won }))));
      const results = await Promise.all(attempts);
      for (const k of keys) assert.equal(results.filter((r) => r.k === k && r.won).length, 1, k);
    });

    it('inbox entries are unique across instances (a redelivery to the other instance is a duplicate)', async () => {
      const entries = Array.from({ length: 40 }, (_, i) => ({ source: 'mqtt:in', messageId: `m${i}`, payload: { i }, receivedAt: T0 }));
      const [ra, rb] = await Promise.all([a.inboxAddMany(entries), b.inboxAddMany(entries)]);
      for (let i = 0; i < 40; i++) assert.equal(Number(ra[i]) + Number(rb[i]), 1, `m${i}`);
    });

    it('shares watermarks and leases: one holder at a time, takeover after expiry', async () => {
      await a.watermarkSet('kantata:approved-time', 'cursor-7', T0);
      assert.equal(await b.watermarkGet('kantata:approved-time'), 'cursor-7');
      const wins = await Promise.all([a.leaseAcquire('poller', 'a', T0, 1000), b.leaseAcquire('poller', 'b', T0, 1000)]);
      assert.equal(wins.filter(Boolean).length, 1);
      const holder = wins[0] ? 'a' : 'b';
      const other = holder === 'a' ? b : a;
      assert.equal(await other.leaseAcquire('poller', holder === 'a' ? 'b' : 'a', T0 + 999, 1000), false);
      assert.equal(await other.leaseAcquire('poller', holder === 'a' ? 'b' : 'a', T0 + 1000, 1000), true, 'taken over after expiry');
    });

    it('shares the cross-reference: an id one instance records is what the other reads, and the last put wins', async () => {
      await a.xrefPut({ entity: 'account', key: 'ACC-9', system: 'businessCentral', connection: 'bc:NWA UK', vendorId: 'guid-9', vendorNumber: 'C10009' }, T0);
      const [seen] = await b.xrefOf('account', 'ACC-9');
      assert.deepEqual([seen.vendorId, seen.vendorNumber], ['guid-9', 'C10009']);
      assert.deepEqual((await b.xrefFind('account', 'businessCentral', 'C10009')).map((r) => r.key), ['ACC-9']);
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).xrefPut({ entity: 'person', key: 'maya@firm.example', system: 'jira', connection: 'jira:site', vendorId: `acct-${i}` }, T0 + i)));
      const rows = await a.xrefOf('person', 'maya@firm.example');
      assert.equal(rows.length, 1, 'one row however many instances record it at once');
    });

    it('exceptionAdd from two instances for the same record keeps one open exception with both occurrences', async () => {
      const ex = { process: 'time-to-cash', step: 'create-invoice', errorClass: 'validation' as const, message: 'no currency', ownerTeam: 'billing-ops', recordKey: 'Invoice/1' };
      const added = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).exceptionAdd(ex, T0 + i)));
      assert.equal(new Set(added.map((e) => e.id)).size, 1);
      assert.equal((await a.exceptionGet(added[0].id))!.occurrences, 10);
    });
  });

  describe('PostgresStore through the registry', function () {
    this.timeout(30000);
    it('shares one pool per database + schema, keeps the password out of the id, and closes with the last handle', async () => {
      const schema = freshSchema();
      const one = openStore({ kind: 'postgres', connectionString: PG_URL, schema });
      const two = openStore({ kind: 'postgres', connectionString: PG_URL, schema });
      try {
        assert.equal(one.store, two.store);
        assert.equal(one.store.kind, 'postgres');
        assert.equal(storeUsers(one.id), 2);
        const password = new URL(PG_URL).password;
        if (password) assert.ok(!one.id.includes(`:${password}@`), `no password in the store id ${one.id}`);
        await one.store.watermarkSet('w', 'v', T0);
        assert.equal(await two.store.watermarkGet('w'), 'v');
      } finally {
        await one.release();
        await two.release();
        await dropSchema(schema);
      }
      assert.equal(storeUsers(one.id), 0);
    });

    it('openStoreReady rejects with a clear error (and no password) when the database cannot be reached', async () => {
      const bad = 'postgres://fabric:s3cret-pw@127.0.0.1:1/nowhere';
      await assert.rejects(openStoreReady({ kind: 'postgres', connectionString: bad, pool: { connectionTimeoutMillis: 2000 } }), (err: Error) => {
        assert.ok(!err.message.includes('s3cret-pw'));
        return true;
      });
      assert.equal(redactConnectionString(bad), 'postgres://fabric:***@127.0.0.1:1/nowhere');
    });
  });
}
