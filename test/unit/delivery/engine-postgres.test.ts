/**
 * The engine on PostgreSQL: a delivered write's mark and its `write.delivered` audit entry go to the database as one
 * statement (one round trip, one commit), shared by the writes that finish in the same turn.
 * Needs FABRIC_TEST_PG_URL (`.ci/cluster-setup.sh`); pending without it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { PostgresStore } from '../../../lib/store/postgres-store';
import { DeliveryEngine } from '../../../lib/delivery/engine';
import { httpExecutor } from '../../../lib/delivery/http-executor';
import { servicesFor, type FabricServices } from '../../../lib/fabric/services';
import type { AuditEntry } from '../../../lib/store/store';
import { FAST } from './harness';
import { Vendor } from './vendor';

const PG_URL = process.env.FABRIC_TEST_PG_URL;

if (!PG_URL) {
  describe('delivery engine on PostgreSQL (skipped: FABRIC_TEST_PG_URL not set)', () => {
    it.skip('writes the delivered mark with its audit entry in one statement when FABRIC_TEST_PG_URL is set', () => {});
  });
} else {
  describe('delivery engine on PostgreSQL: delivered mark and audit entry', function () {
    this.timeout(60_000);
    let store: PostgresStore;
    let vendor: Vendor;
    let services: FabricServices;
    let engine: DeliveryEngine;
    let statements: string[];

    beforeEach(async () => {
      store = new PostgresStore({ connectionString: PG_URL, schema: `fabric_t_${crypto.randomBytes(5).toString('hex')}`, poolMax: 4 });
      await store.ready;
      // every statement the store sends, as the database sees them
      statements = [];
      const pool = (store as unknown as { pool: { query: (sql: string, ...rest: unknown[]) => Promise<unknown> } }).pool;
      const query = pool.query.bind(pool);
      pool.query = (sql: string, ...rest: unknown[]) => {
        statements.push(sql);
        return query(sql, ...rest);
      };
      vendor = await new Vendor().start();
      services = servicesFor(store);
    });
    afterEach(async () => {
      await engine?.close();
      services.idempotency.close();
      await vendor.stop();
      await store.raw(`DROP SCHEMA "${store.schema}" CASCADE`).catch(() => undefined);
      await store.close();
    });

    it('stores each delivered write with its audit entry in one statement, never one without the other', async () => {
      engine = new DeliveryEngine(store, services, { leaseMs: 10_000, sweepMs: 200, log: () => undefined });
      const conn = engine.registerConnection('vendor:pg', httpExecutor({ baseUrl: vendor.url }), { ...FAST, concurrency: 8 });
      statements.length = 0;
      const n = 40;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => conn.submit({ operation: 'upsertCustomer', idempotencyKey: `k-${i}`, request: { n: i }, recordKey: `Account/a-${i}`, process: 'quote-to-project' })));
      assert.ok(results.every((r) => r.item.status === 'delivered'));
      const audit = await store.auditList({ action: 'write.delivered', limit: 1000 });
      assert.deepEqual(audit.map((a) => a.recordKey).sort(), Array.from({ length: n }, (_, i) => `Account/a-${i}`).sort());
      for (const r of results) assert.equal((await store.outboxGet(r.item.id))!.status, 'delivered');
      const audits = statements.filter((sql) => /INSERT INTO audit/.test(sql));
      const marks = statements.filter((sql) => /SET status = 'delivered'/.test(sql));
      assert.ok(audits.length > 0 && audits.length <= n, `${audits.length} audit statements for ${n} writes`);
      assert.deepEqual(marks, audits, 'every delivered mark carries its audit entries, and no audit entry goes alone');
    });

    it('tells an audit sink that does not write to the engine\'s store after the delivered mark, as before', async () => {
      const told: AuditEntry[] = [];
      engine = new DeliveryEngine(store, { exceptions: services.exceptions, audit: { record: async (e) => void told.push(e) } }, { leaseMs: 10_000, sweepMs: 200, log: () => undefined });
      const conn = engine.registerConnection('vendor:pg', httpExecutor({ baseUrl: vendor.url }), { ...FAST, concurrency: 2 });
      const r = await conn.submit({ operation: 'upsertCustomer', idempotencyKey: 'k-1', request: { n: 1 }, recordKey: 'Account/a-1' });
      assert.equal(r.item.status, 'delivered');
      assert.deepEqual(told.map((e) => [e.action, e.recordKey]), [['write.delivered', 'Account/a-1']]);
      assert.deepEqual(await store.auditList({ action: 'write.delivered' }), []);
    });
  });
}
