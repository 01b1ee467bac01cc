/**
 * One active reader per trigger (lib/triggers/active-reader.ts) on a real SQLite file shared by two store handles,
 * as two instances share PostgreSQL: one reads, the other stands by; a stop hands over at once; a holder that stops
 * renewing (killed) is taken over after its lease; a restarted identity takes its own lease back at once; a dead
 * instance found by the presence sweep is taken over without waiting for the next renewal.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { InstancePresence } from '../../../lib/cluster/instance';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { ActiveReader, DEFAULT_TRIGGER_LEASE_MS, triggerLeaseMsFromEnv, type ActiveReaderOptions } from '../../../lib/triggers/active-reader';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

describe('ActiveReader (one active reader per trigger, SQLite file store)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let stores: SqliteStore[];
  let readers: ActiveReader[];
  let presences: InstancePresence[];
  let clock: number;
  const now = () => clock;
  const openStore = () => {
    const s = new SqliteStore({ path: path.join(tmp.dir, 'fabric.sqlite') });
    stores.push(s);
    return s;
  };
  /** A reader that records its transitions as `<who>:active` / `<who>:standby`. */
  const reader = (who: string, log: string[], o: Partial<ActiveReaderOptions> & Pick<ActiveReaderOptions, 'store'>) => {
    const r = new ActiveReader({ name: 'salesforce-trigger:trg', ttlMs: 3000, renewEveryMs: 1000, now, onActive: () => void log.push(`${who}:active`), onStandby: () => void log.push(`${who}:standby`), ...o });
    readers.push(r);
    return r;
  };

  beforeEach(() => {
    tmp = tempDir('psfabric-active-reader-');
    stores = [];
    readers = [];
    presences = [];
    clock = 1_000_000;
  });
  afterEach(async () => {
    for (const r of readers) await r.stop().catch(() => undefined);
    for (const p of presences) await p.stop();
    for (const s of stores) await s.close();
    tmp.cleanup();
  });

  it('one of two instances reads; a stop ends its reader, then hands the lease over at once', async () => {
    const log: string[] = [];
    const a = reader('a', log, { store: openStore(), owner: 'a/1' });
    const b = reader('b', log, { store: openStore(), owner: 'b/1' });
    await a.start();
    await b.start();
    assert.equal(a.active, true);
    assert.equal(b.active, false, 'the second instance stands by');
    assert.equal(await b.tryNow(), false, 'and keeps standing by while the holder renews');
    assert.deepEqual(log, ['a:active']);
    await a.stop();
    assert.deepEqual(log, ['a:active', 'a:standby'], 'the reader ended on close');
    assert.equal(await b.tryNow(), true, 'taken over without waiting for the lease to expire');
    assert.deepEqual(log, ['a:active', 'a:standby', 'b:active']);
  });

  it('a holder that stops renewing (killed) is taken over after its lease; it then stands by itself', async () => {
    const log: string[] = [];
    const a = reader('a', log, { store: openStore(), owner: 'a/1' });
    const b = reader('b', log, { store: openStore(), owner: 'b/1' });
    await a.start();
    await b.start();
    clock += 2999;
    assert.equal(await b.tryNow(), false, 'within the lease');
    clock += 1;
    assert.equal(a.active, false, 'the holder does not believe it reads past its lease');
    assert.equal(await b.tryNow(), true, 'taken over once the lease ran out');
    assert.equal(await a.tryNow(), false, 'the old holder, alive again, does not read beside it');
    assert.deepEqual(log, ['a:active', 'b:active', 'a:standby']);
  });

  it('a restarted instance takes its own lease back at once; another live instance\'s lease is respected', async () => {
    const hour = 3600_000;
    const log: string[] = [];
    const first = openStore();
    const killed = new InstancePresence({ store: first, id: 'node-a', incarnation: 'killed', log: () => undefined });
    presences.push(killed);
    await killed.start();
    const old = reader('a-old', log, { store: first, ttlMs: hour, renewEveryMs: 1000, now: Date.now });
    await old.start();
    assert.equal(old.active, true);
    assert.equal(old.owner, killed.owner, 'owned by the instance incarnation');
    // killed: its presence and reader never stop or release; the same identity starts again on a new process
    await killed.stop();
    const second = openStore();
    const restarted = new InstancePresence({ store: second, id: 'node-a', log: () => undefined });
    presences.push(restarted);
    const other = openStore();
    const live = new InstancePresence({ store: other, id: 'node-b', log: () => undefined });
    presences.push(live);
    const again = reader('a-new', log, { store: second, ttlMs: hour, renewEveryMs: 1000, now: Date.now });
    const b = reader('b', log, { store: other, ttlMs: hour, renewEveryMs: 1000, now: Date.now });
    // the reader waits for its presence's first round (which frees the killed incarnation's lease) before contending
    const starting = again.start();
    await restarted.start();
    await starting;
    assert.equal(again.active, true, 'not standing by for an hour behind its own dead incarnation');
    await live.start();
    await b.start();
    assert.equal(b.active, false, 'a live instance\'s lease is respected');
  });

  it('an instance the presence sweep finds dead is taken over at once, not at the next renewal', async () => {
    const log: string[] = [];
    const sa = openStore();
    const sb = openStore();
    const pa = new InstancePresence({ store: sa, id: 'node-a', heartbeatMs: 1000, now, log: () => undefined });
    const pb = new InstancePresence({ store: sb, id: 'node-b', heartbeatMs: 1000, now, log: () => undefined });
    presences.push(pa, pb);
    await pa.start();
    await pb.start();
    const hour = 3600_000;
    // renewals an hour apart: only the sweep can explain a takeover within this test
    const a = reader('a', log, { store: sa, ttlMs: 2 * hour, renewEveryMs: hour, now });
    const b = reader('b', log, { store: sb, ttlMs: 2 * hour, renewEveryMs: hour, now });
    await a.start();
    await b.start();
    assert.equal(b.active, false);
    await pa.stop(); // a is killed: no more heartbeats, nothing released
    clock += pb.deadAfterMs + 1;
    await pb.tick(); // b's sweep: a is dead, its lease freed
    await waitFor(() => b.active, 'b to take the reader over on the sweep');
    assert.deepEqual(log, ['a:active', 'b:active']);
  });

  it('serialises transitions: a stop during a slow start ends the reader after it started, once', async () => {
    const log: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const a = reader('a', log, {
      store: openStore(),
      owner: 'a/1',
      onActive: async () => {
        log.push('a:starting');
        await slow;
        log.push('a:active');
      },
    });
    const started = a.start();
    await waitFor(() => log.includes('a:starting'), 'onActive to begin');
    const stopped = a.stop();
    release();
    await Promise.all([started, stopped]);
    assert.deepEqual(log, ['a:starting', 'a:active', 'a:standby']);
  });

  it('FABRIC_TRIGGER_LEASE_MS: default 30 s, refuses what is not an integer >= 1000 with the reason', () => {
    assert.equal(triggerLeaseMsFromEnv({}), DEFAULT_TRIGGER_LEASE_MS);
    assert.equal(triggerLeaseMsFromEnv({ FABRIC_TRIGGER_LEASE_MS: '5000' }), 5000);
    for (const bad of ['500', '2.5s', 'x']) assert.throws(() => triggerLeaseMsFromEnv({ FABRIC_TRIGGER_LEASE_MS: bad }), /FABRIC_TRIGGER_LEASE_MS must be an integer >= 1000, got/);
  });
});
