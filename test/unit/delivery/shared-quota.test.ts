/**
 * Vendor quotas per account, not per process (issue 19, item 1), and priority lanes (item 1, second half).
 * Two delivery engines on one store stand for two instances: on one SQLite file (two store handles), and - where
 * FABRIC_TEST_PG_URL is set - on two PostgresStore pools of one schema. The vendor is the real sandbox frame with its
 * concurrency limit / window quota, and it reports the most requests it saw in flight and in a window.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import type { ConcurrencyCap } from '../../../lib/delivery/concurrency-cap';
import { Client } from 'pg';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { PostgresStore } from '../../../lib/store/postgres-store';
import type { Store, Lane } from '../../../lib/store/store';
import { DeliveryEngine, type ConnectionOptions, type DeliveryEngineOptions } from '../../../lib/delivery/engine';
import { httpExecutor } from '../../../lib/delivery/http-executor';
import type { ConnectionHandle } from '../../../lib/delivery/types';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';
import { FAST } from './harness';
import { QuotaVendor } from './quota-vendor';
import { SharedSlots } from '../../../lib/delivery/shared-quota';

const PG_URL = process.env.FABRIC_TEST_PG_URL;
const quiet = { log: () => undefined };
const ENGINE: DeliveryEngineOptions = { leaseMs: 10_000, sweepMs: 100, quotaLeaseMs: 1_000, quotaHoldMs: 200, ...quiet };

interface Instances {
  stores: Store[];
  engines: DeliveryEngine[];
  cleanup(): Promise<void>;
}

function sqliteInstances(n: number, options: DeliveryEngineOptions = ENGINE): Instances {
  const tmp = tempDir('psfabric-quota-');
  const file = path.join(tmp.dir, 'fabric.sqlite');
  const stores = Array.from({ length: n }, () => new SqliteStore({ path: file, synchronous: 'NORMAL' }));
  const engines = stores.map((s, i) => new DeliveryEngine(s, {}, { ...options, owner: `instance-${i}` }));
  return {
    stores,
    engines,
    async cleanup() {
      for (const e of engines) await e.close();
      for (const s of stores) await s.close().catch(() => undefined);
      tmp.cleanup();
    },
  };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

async function postgresInstances(n: number, options: DeliveryEngineOptions = ENGINE): Promise<Instances> {
  const schema = `fabric_q_${crypto.randomBytes(5).toString('hex')}`;
  const stores = Array.from({ length: n }, () => new PostgresStore({ connectionString: PG_URL!, schema, poolMax: 4 }));
  await Promise.all(stores.map((s) => s.ready));
  const engines = stores.map((s, i) => new DeliveryEngine(s, {}, { ...options, owner: `instance-${i}` }));
  return {
    stores,
    engines,
    async cleanup() {
      for (const e of engines) await e.close();
      for (const s of stores) await s.close().catch(() => undefined);
      await dropSchema(schema);
    },
  };
}

const write = (conn: ConnectionHandle, i: number, lane?: Lane) =>
  conn.submit({ operation: 'upsert', idempotencyKey: `w-${i}`, request: { n: i }, recordKey: `R/${i}`, process: 'test', step: 'quota', ...(lane ? { lane } : {}) });

function connect(engine: DeliveryEngine, vendor: QuotaVendor, options: ConnectionOptions): ConnectionHandle {
  return engine.registerConnection('erp:acme', httpExecutor({ baseUrl: vendor.url }), { ...FAST, ...options });
}

/** The store operations every shared quota stands on, against one store kind. */
function storeContract(kind: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>): void {
  describe(`${kind}: quota slots and the shared bucket`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ store, cleanup } = await open()));
    afterEach(async () => cleanup());

    it('a slot is held by one holder at a time, renewed by its holder, free again when released or expired', async () => {
      const T = 1_000_000;
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'a', 3, 2, T, 1000), [0, 1]);
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'b', 3, 5, T, 1000), [2], 'only the one free slot');
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'b', 3, 1, T + 10, 1000), []);
      assert.deepEqual(await store.quotaSlotsAcquire('other', 'b', 3, 1, T, 1000), [0], 'connections are separate');
      assert.equal(await store.quotaSlotsRenew('c', 'a', T + 900, 1000), 2, "a's two slots now last until T + 1900");
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'b', 3, 3, T + 1500, 1000), [2], "b's slot 2 expired at T + 1000 (taken again); a's were renewed");
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'c', 3, 3, T + 1900, 1000), [0, 1], "a's expire at T + 1900 exactly");
      await store.quotaSlotsRelease('c', 'b', [0, 1]);
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'd', 3, 3, T + 1950, 1000), [], 'b cannot release slots it does not hold');
      await store.quotaSlotsRelease('c', 'c', [0]);
      assert.deepEqual(await store.quotaSlotsAcquire('c', 'd', 3, 3, T + 1950, 1000), [0]);
      assert.equal(await store.quotaSlotsRenew('c', 'a', T + 1950, 1000), 0, 'a holds nothing any more: a renewal does not revive its slots');
      assert.equal(await store.quotaSlotsRenew('c', 'c', T + 1950, 1000), 1);
    });

    it('the census counts the holders with a live slot or a live demand, and the others that wait', async () => {
      const T = 1_000_000;
      assert.deepEqual(await store.quotaSlotsCensus('c', 'a', T), { holders: 1, othersWaiting: 0 }, 'alone: the asker counts itself');
      await store.quotaSlotsAcquire('c', 'a', 4, 2, T, 1000);
      await store.quotaSlotsAcquire('c', 'b', 4, 2, T, 1000);
      await store.quotaSlotsDemand('c', 'd', T + 500);
      await store.quotaSlotsDemand('c', 'a', T + 500);
      await store.quotaSlotsDemand('other', 'e', T + 500);
      assert.deepEqual(await store.quotaSlotsCensus('c', 'a', T + 10), { holders: 3, othersWaiting: 1 }, "a, b (slots) and d (waits); a's own demand is not another's");
      assert.deepEqual(await store.quotaSlotsCensus('c', 'b', T + 10), { holders: 3, othersWaiting: 2 });
      assert.deepEqual(await store.quotaSlotsCensus('c', 'x', T + 10), { holders: 4, othersWaiting: 2 }, 'an asker with neither counts itself');
      assert.deepEqual(await store.quotaSlotsCensus('c', 'a', T + 600), { holders: 2, othersWaiting: 0 }, 'the demands expired at T + 500 (d counts no more); the slots last until T + 1000');
      await store.quotaSlotsDemand('c', 'd', T + 2000);
      await store.quotaSlotsDemand('c', 'd', 0);
      assert.deepEqual(await store.quotaSlotsCensus('c', 'a', T + 700), { holders: 2, othersWaiting: 0 }, 'a demand withdrawn (0) is gone at once');
    });

    it('the bucket spaces reservations by the interval, in one statement per batch', async () => {
      const T = Date.now();
      assert.equal(await store.quotaRateReserve('c', 3, 1000, T), 0, 'an idle bucket: the first token is due now');
      const second = await store.quotaRateReserve('c', 2, 1000, T);
      assert.ok(second > 2000 && second <= 3000, `the next batch starts after the first three tokens (got ${second} ms)`);
      assert.equal(await store.quotaRateReserve('other', 1, 1000, T), 0, 'connections are separate');
    });
  });
}

describe('delivery: vendor quotas shared across instances', function () {
  this.timeout(60_000);

  storeContract('SqliteStore', async () => {
    const tmp = tempDir('psfabric-quota-store-');
    const store = new SqliteStore({ path: path.join(tmp.dir, 'f.sqlite'), synchronous: 'NORMAL' });
    return { store, cleanup: async () => { await store.close(); tmp.cleanup(); } };
  });
  if (PG_URL) {
    storeContract('PostgresStore', async () => {
      const schema = `fabric_q_${crypto.randomBytes(5).toString('hex')}`;
      const store = new PostgresStore({ connectionString: PG_URL, schema, poolMax: 2 });
      await store.ready;
      return { store, cleanup: async () => { await store.close(); await dropSchema(schema); } };
    });
  }

  it('the capacity goes round: once another process waits, a process whose turn ended leaves the slot to it, though it has work of its own', async () => {
    const tmp = tempDir('psfabric-quota-turns-');
    const file = path.join(tmp.dir, 'f.sqlite');
    const stores = [0, 1].map(() => new SqliteStore({ path: file, synchronous: 'NORMAL' }));
    // capacity 1, every turn ends at release (holdMs 0): the slot goes back to the store after each use
    const [a, b] = stores.map((store, i) => new SharedSlots({ store, connection: 'erp:acme', holder: `h${i}`, capacity: 1, leaseMs: 10_000, holdMs: 0, lingerMs: 50, pollMs: 25, now: Date.now, random: Math.random, log: () => undefined }));
    try {
      const turns: string[] = [];
      let slot = await a.acquire(5);
      turns.push('a');
      const bDone = b.acquire(5).then((s) => {
        turns.push('b');
        b.release(s);
      });
      // b's ask found no slot and recorded that it waits; a learns it from its census (every pollMs here)
      await waitFor(() => (a.contention()?.othersWaiting ?? 0) > 0, 'a sees that b waits', 5_000, 5);
      // a always has the next write waiting for a slot when it gives one back (as an engine with a backlog does)
      for (let i = 0; i < 10; i++) {
        const next = a.acquire(5);
        a.release(slot);
        slot = await next;
        turns.push('a');
      }
      a.release(slot);
      await bDone;
      assert.ok(turns.indexOf('b') <= 2, `b had a turn among a's first ones (turns: ${turns.join(' ')})`);
    } finally {
      await Promise.all([a.close(), b.close()]);
      for (const s of stores) await s.close();
      tmp.cleanup();
    }
  });

  /** Two SharedSlots on one SQLite file; by default short turns and a census every 10 ms. */
  function slotPair(capacity: number, timing: { leaseMs: number; holdMs: number; lingerMs: number } = { leaseMs: 10_000, holdMs: 30, lingerMs: 50 }) {
    const tmp = tempDir('psfabric-quota-share-');
    const file = path.join(tmp.dir, 'f.sqlite');
    const stores = [0, 1].map(() => new SqliteStore({ path: file, synchronous: 'NORMAL' }));
    const [a, b] = stores.map((store, i) => new SharedSlots({ store, connection: 'erp:acme', holder: `h${i}`, capacity, ...timing, pollMs: 10, now: Date.now, random: Math.random, log: () => undefined }));
    return {
      a,
      b,
      async close() {
        await Promise.all([a.close(), b.close()]);
        for (const st of stores) await st.close();
        tmp.cleanup();
      },
    };
  }

  /** Keeps `n` attempts of `slots` running (each one event-loop turn long) until `until` resolves true. */
  async function busy(slots: SharedSlots, n: number, until: () => boolean): Promise<void> {
    await Promise.all(Array.from({ length: n }, async () => {
      while (!until()) {
        const slot = await slots.acquire(5);
        await new Promise((resolve) => setImmediate(resolve));
        slots.release(slot);
      }
    }));
  }

  it('nobody else waits: a process keeps the slots it uses past its turn, without a round trip to the store', async () => {
    const { a, close } = slotPair(4);
    try {
      const start = Date.now();
      // 20 turns' worth of attempts, 4 at a time: with turns, each slot would go back and be taken again every 30 ms
      await busy(a, 4, () => Date.now() - start > 20 * 30);
      assert.equal(a.contention()?.othersWaiting, 0);
      assert.equal(a.share(), 4, 'alone, the whole capacity is its to use (and to claim writes for)');
      // with turns each of the 4 slots goes back and is taken again every 30 ms: some 80 takes in 20 turns. A census
      // can go stale for a moment on a loaded machine (it is due every 10 ms here), and its slots then take a turn.
      assert.ok(a.fetched <= 20, `the slots were taken from the store ${a.fetched} times (turns would take some 80; 4-8 expected, as the census starts)`);
    } finally {
      await close();
    }
  });

  // A turn (holdMs) of 4 s and a census every second (holdMs / 4), against a linger of 20 ms.
  const LONG_TURNS = { leaseMs: 20_000, holdMs: 4_000, lingerMs: 20 };

  it('nobody else waits: a slot left unused between two writes of a backlog is still there for the next, without a round trip', async () => {
    const { a, close } = slotPair(4, LONG_TURNS);
    try {
      const slots = await Promise.all([0, 1, 2, 3].map(() => a.acquire(5)));
      await waitFor(() => a.contention() !== undefined, 'a has taken its census');
      const fetched = a.fetched;
      for (const slot of slots) a.release(slot);
      // well past the linger: a pause of a backlog (the next claim on its way from the store) is longer than 20 ms
      const paused = Date.now();
      await waitFor(() => Date.now() - paused > 10 * LONG_TURNS.lingerMs, 'a pause of 10 lingers');
      assert.equal(a.held(), 4, 'alone, the unused slots stay for a turn');
      const again = await Promise.all([0, 1, 2, 3].map(() => a.acquire(5)));
      assert.equal(a.fetched, fetched, 'the next writes took them without asking the store');
      for (const slot of again) a.release(slot);
      await waitFor(() => a.held() === 0, 'unused for a whole turn, they go back to the store', 10_000);
    } finally {
      await close();
    }
  });

  it('others wait: the unused slots above the share go back at the next census, not when they would have lingered out', async () => {
    const { a, b, close } = slotPair(4, LONG_TURNS);
    try {
      const slots = await Promise.all([0, 1, 2, 3].map(() => a.acquire(5)));
      await waitFor(() => a.contention() !== undefined, 'a has taken its census');
      for (const slot of slots) a.release(slot);
      assert.equal(a.held(), 4, 'unused, kept while nobody else waits');
      const bSlots = await Promise.all([b.acquire(5), b.acquire(5)]);
      // a's whole-turn linger (4 s) has not run out: what went back went at a's census, and only what is above its share
      assert.equal(a.held(), 2, `a kept its share (a ${a.held()}, b ${b.held()})`);
      assert.equal(b.held(), 2);
      for (const slot of bSlots) b.release(slot);
    } finally {
      await close();
    }
  });

  it('others wait: two processes with backlogs settle at half the capacity each, and then no slot moves', async () => {
    const { a, b, close } = slotPair(4);
    try {
      let stop = false;
      const aRuns = busy(a, 4, () => stop);
      await waitFor(() => a.held() === 4, 'a holds the whole capacity');
      const bRuns = busy(b, 4, () => stop);
      await waitFor(() => a.held() === 2 && b.held() === 2, `a and b hold 2 each (a ${a.held()}, b ${b.held()})`, 10_000, 5);
      const fetched = [a.fetched, b.fetched];
      const start = Date.now();
      await waitFor(() => Date.now() - start > 10 * 30, '10 turns');
      assert.deepEqual([a.held(), b.held()], [2, 2]);
      assert.deepEqual([a.share(), b.share()], [2, 2], 'each claims writes for its share only, not for the whole capacity');
      assert.deepEqual([a.fetched, b.fetched], fetched, 'no slot was given back and taken again once shares were settled');
      stop = true;
      await Promise.all([aRuns, bRuns]);
    } finally {
      await close();
    }
  });

  describe('two engines on one SQLite file', () => {
    let vendor: QuotaVendor;
    let inst: Instances | undefined;
    beforeEach(async () => {
      vendor = await new QuotaVendor().start();
    });
    afterEach(async () => {
      await inst?.cleanup();
      inst = undefined;
      await vendor.stop();
    });

    it('shared: the vendor never sees more than the concurrency cap in flight; every write applied once', async () => {
      inst = sqliteInstances(2);
      vendor.sandbox.faults.concurrencyLimit = 3;
      const conns = inst.engines.map((e) => connect(e, vendor, { concurrency: 3, shared: true }));
      await Promise.all(Array.from({ length: 60 }, (_, i) => write(conns[i % 2], i)));
      const seen = vendor.sandbox.limitObservations();
      assert.equal(seen.rejected.concurrency, 0, 'no write was refused for concurrency');
      assert.ok(seen.maxInFlight <= 3, `at most 3 in flight at the vendor (saw ${seen.maxInFlight})`);
      assert.equal(vendor.effects(), 60);
      assert.deepEqual([...vendor.received.values()].filter((n) => n !== 1), [], 'each write sent once');
    });

    it('not shared (the control): the same two engines send up to twice the cap, and the vendor refuses some', async () => {
      inst = sqliteInstances(2);
      vendor.sandbox.faults.concurrencyLimit = 3;
      vendor.holdMs = 300; // each engine keeps its own 3 busy long enough for the other's to arrive
      const conns = inst.engines.map((e) => connect(e, vendor, { concurrency: 3, shared: false }));
      const writes = Array.from({ length: 30 }, (_, i) => write(conns[i % 2], i));
      await waitFor(() => vendor.sandbox.limitObservations().rejected.concurrency > 0, 'the vendor to refuse a request for concurrency');
      vendor.holdMs = 5;
      await Promise.all(writes);
      assert.ok(vendor.sandbox.limitObservations().maxInFlight > 3);
      assert.equal(vendor.effects(), 30, 'the refused writes were retried');
    });

    it('shared rate: two engines at 9 requests/s for the account stay within a quota of 10 in any second (sandbox window quota)', async () => {
      // One request of headroom: a request whose timer fires late shortens the gap to the next one, so a sliding
      // window can see one more than rate x window (docs/delivery.md, "Shared across instances").
      inst = sqliteInstances(2);
      vendor.holdMs = 5;
      vendor.sandbox.faults.windowLimit = 10;
      vendor.sandbox.faults.windowMs = 1000;
      const conns = inst.engines.map((e) => connect(e, vendor, { concurrency: 4, ratePerSecond: 9, shared: true }));
      await Promise.all(Array.from({ length: 24 }, (_, i) => write(conns[i % 2], i)));
      const seen = vendor.sandbox.limitObservations();
      assert.equal(seen.rejected.window, 0, 'no request refused by the window quota');
      assert.ok(seen.maxInWindow <= 10, `at most 10 in any second (saw ${seen.maxInWindow}; 18 without sharing)`);
      assert.equal(vendor.effects(), 24);
    });

    it("a dead instance's slots come back once their leases expire, and nothing is sent before", async () => {
      inst = sqliteInstances(1);
      const [store] = inst.stores;
      // what a killed instance leaves behind: every slot taken, never renewed, never released
      const leaseUntil = Date.now() + 800;
      assert.deepEqual(await store.quotaSlotsAcquire('erp:acme', 'dead-instance', 2, 2, Date.now(), leaseUntil - Date.now()), [0, 1]);
      const conn = connect(inst.engines[0], vendor, { concurrency: 2, shared: true });
      await Promise.all(Array.from({ length: 6 }, (_, i) => write(conn, i)));
      const first = Math.min(...vendor.arrivedAt);
      assert.ok(first >= leaseUntil, `the first write arrived after the dead slots' leases ended (${first - leaseUntil} ms after)`);
      assert.equal(vendor.effects(), 6);
    });
  });

  describe('priority lanes', () => {
    let vendor: QuotaVendor;
    let inst: Instances | undefined;
    beforeEach(async () => {
      vendor = await new QuotaVendor().start();
    });
    afterEach(async () => {
      await inst?.cleanup();
      inst = undefined;
      await vendor.stop();
    });

    for (const shared of [false, true]) {
      it(`due writes are sent high lane first, then normal, then low (${shared ? 'shared' : 'local'} limits)`, async () => {
        inst = sqliteInstances(1);
        const [store] = inst.stores;
        const lanes: Array<Lane | undefined> = ['low', undefined, 'high'];
        for (let i = 0; i < 12; i++) {
          const lane = lanes[i % 3];
          await store.outboxEnqueue({ connection: 'erp:acme', operation: 'upsert', idempotencyKey: `${lane ?? 'normal'}-${i}`, request: { i }, ...(lane ? { lane } : {}) }, Date.now());
        }
        connect(inst.engines[0], vendor, { concurrency: 1, shared });
        await waitFor(() => vendor.effects() === 12, 'all 12 delivered');
        assert.deepEqual(vendor.order.map((k) => k.split('-')[0]), [...Array(4).fill('high'), ...Array(4).fill('normal'), ...Array(4).fill('low')]);
      });

      it(`a high-lane write waiting for the connection goes before low-lane reads queued earlier (${shared ? 'shared' : 'local'} limits)`, async () => {
        inst = sqliteInstances(1);
        const conn = connect(inst.engines[0], vendor, { concurrency: 1, shared });
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const started: string[] = [];
        const blocker = conn.call(async () => {
          started.push('blocker');
          await gate;
        });
        await waitFor(() => started.length === 1, 'the blocking read holds the only slot');
        // a read notes whether the vendor had the write when it ran (the write's own completion is recorded later,
        // after its store bookkeeping, so when it resolves says nothing about the order at the connection)
        const reads = ['r1', 'r2', 'r3'].map((tag) => conn.call(async () => void started.push(vendor.order.includes('w-1') ? `${tag} after the write` : tag), { lane: 'low' }));
        const urgent = write(conn, 1, 'high');
        // the connection's concurrency cap is where the three reads and the claimed write now wait
        const limiter = (conn as unknown as { limiter: ConcurrencyCap }).limiter;
        await waitFor(() => limiter.waiting() === 4, 'the write is claimed and waits behind the blocker with the reads');
        release();
        await Promise.all([blocker, urgent, ...reads]);
        assert.deepEqual(started, ['blocker', 'r1 after the write', 'r2 after the write', 'r3 after the write']);
      });
    }

    it('an unknown lane is refused with a clear error before anything is stored', async () => {
      inst = sqliteInstances(1);
      const conn = connect(inst.engines[0], vendor, { concurrency: 1 });
      await assert.rejects(write(conn, 1, 'urgent' as Lane), /lane must be one of high, normal, low, got "urgent"/);
      await assert.rejects(conn.call(async () => 1, { lane: 'fast' as Lane }), /lane must be one of high, normal, low/);
      assert.equal(await inst.stores[0].outboxFind('erp:acme', 'w-1'), undefined);
    });
  });

  (PG_URL ? describe : describe.skip)(`two engines on two PostgresStore pools${PG_URL ? '' : ' (skipped: FABRIC_TEST_PG_URL not set)'}`, () => {
    let vendor: QuotaVendor;
    let inst: Instances | undefined;
    beforeEach(async () => {
      vendor = await new QuotaVendor().start();
    });
    afterEach(async () => {
      await inst?.cleanup();
      inst = undefined;
      await vendor.stop();
    });

    it('account limit 5: never more than 5 in flight; one engine stops abruptly, its slots expire and the other takes the whole capacity; nothing lost or doubled', async () => {
      const quotaLeaseMs = 1_000;
      inst = await postgresInstances(2, { ...ENGINE, leaseMs: 3_000, quotaLeaseMs, quotaHoldMs: 200 });
      const [a, b] = inst.engines;
      vendor.sandbox.faults.concurrencyLimit = 5;
      vendor.holdMs = 50;
      const limits: ConnectionOptions = { concurrency: 5, attemptTimeoutMs: 1_000 };
      const connA = connect(a, vendor, limits); // shared by default on PostgreSQL
      const connB = connect(b, vendor, limits);
      const N = 400;
      const callers = Array.from({ length: N }, (_, i) => write(i % 2 ? connA : connB, i).then(() => true, () => false));
      await waitFor(() => vendor.effects() >= 40, 'both engines are delivering');
      const together = vendor.sandbox.limitObservations().maxInFlight;
      // a stops abruptly: its store is gone (no renewal, no release, no outcome recorded); what it had in flight at
      // the vendor finishes there, and the items it had claimed come back to b after their outbox lease
      await inst.stores[0].close();
      const pgB = inst.stores[1] as PostgresStore;
      // a's slot leases, as the shared store holds them, have run out (a can no longer renew them)
      await waitFor(async () => {
        const rows = await pgB.raw<{ n: string }>("SELECT COUNT(*) AS n FROM quota_slots WHERE connection = 'erp:acme' AND holder LIKE 'instance-0:%' AND lease_until > $1", [Date.now()]);
        return Number(rows[0].n) === 0;
      }, "a's slot leases have run out", 5_000);
      const before = vendor.sandbox.limitObservations();
      assert.ok(before.maxInFlight <= 5 && together <= 5, `never more than 5 in flight while both ran (saw ${before.maxInFlight})`);
      vendor.sandbox.resetLimitObservations();
      await waitFor(async () => {
        const rows = await pgB.raw<{ n: string }>("SELECT COUNT(*) AS n FROM quota_slots WHERE connection = 'erp:acme' AND holder LIKE 'instance-1:%' AND lease_until > $1", [Date.now()]);
        return Number(rows[0].n) === 5;
      }, 'b holds all 5 slots of the account', 20_000);
      await waitFor(async () => {
        const row = (await inst!.stores[1].outboxBacklog()).find((r) => r.connection === 'erp:acme');
        return row && row.pending === 0 && row.inflight === 0 && row.delivered === N;
      }, 'b delivered everything, including what a had claimed', 40_000);
      const after = vendor.sandbox.limitObservations();
      assert.equal(before.rejected.concurrency + after.rejected.concurrency, 0, 'the sandbox never refused a request for concurrency');
      assert.ok(after.maxInFlight <= 5, `b alone never more than 5 in flight (saw ${after.maxInFlight})`);
      assert.equal(vendor.effects(), N, 'every write applied once (the vendor applies by idempotency key)');
      const resent = [...vendor.received.values()].filter((n) => n > 1).length;
      assert.ok(resent <= 20, `only writes a had claimed were sent again (${resent})`);
      void callers; // a's callers wait for a store that is gone, as a killed process's would; cleanup rejects them
    });
  });
});
