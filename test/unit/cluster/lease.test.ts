import assert from 'node:assert/strict';
import path from 'node:path';
import { LeaseElection } from '../../../lib/cluster';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';

describe('LeaseElection (single active poller on store leases)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let clock = 1_000_000;
  const now = () => clock;
  beforeEach(() => {
    tmp = tempDir('psfabric-lease-');
    store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
    clock = 1_000_000;
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('elects one of two contenders, renews, and lets the other take over after the holder stops renewing', async () => {
    const a = new LeaseElection({ store, name: 'poller:x', owner: 'a', ttlMs: 3000, renewEveryMs: 1000, now });
    const b = new LeaseElection({ store, name: 'poller:x', owner: 'b', ttlMs: 3000, renewEveryMs: 1000, now });
    const changes: string[] = [];
    a.on('change', (l) => changes.push(`a:${l}`));
    b.on('change', (l) => changes.push(`b:${l}`));
    assert.equal(await a.tick(), true);
    assert.equal(await b.tick(), false);
    clock += 1000;
    assert.equal(await a.tick(), true, 'renewed');
    clock += 2500; // 3500 after the first grant, 2500 after the renewal: still a's
    assert.equal(await b.tick(), false);
    assert.equal(a.isLeader, true);
    clock += 600; // a crashed: no renewal since +1000; lease ran out at +4000
    assert.equal(a.isLeader, false, 'the holder stops believing it leads once its lease ran out');
    assert.equal(await b.tick(), true, 'taken over after expiry');
    assert.equal(await a.tick(), false);
    assert.deepEqual(changes, ['a:true', 'b:true', 'a:false']);
    let ran = 0;
    await a.runIfLeader(async () => ran++);
    await b.runIfLeader(async () => ran++);
    assert.equal(ran, 1);
  });

  it('stop() releases the lease so another contender takes over at once', async () => {
    const a = new LeaseElection({ store, name: 'poller:y', owner: 'a', ttlMs: 60_000, now });
    const b = new LeaseElection({ store, name: 'poller:y', owner: 'b', ttlMs: 60_000, now });
    await a.start();
    assert.equal(a.isLeader, true);
    assert.equal(await b.tick(), false);
    await a.stop();
    assert.equal(a.isLeader, false);
    assert.equal(await b.tick(), true);
    await b.stop();
  });

  it('is not leader when the store fails, and rejects a renewal period not shorter than the ttl', async () => {
    const failing = { leaseAcquire: async () => { throw new Error('db down'); }, leaseRelease: async () => {} };
    const e = new LeaseElection({ store: failing, name: 'p', owner: 'a', ttlMs: 1000 });
    const errors: unknown[] = [];
    e.on('renewError', (err) => errors.push(err));
    assert.equal(await e.tick(), false);
    assert.equal(errors.length, 1);
    assert.throws(() => new LeaseElection({ store, name: 'p', ttlMs: 1000, renewEveryMs: 1000 }), RangeError);
  });
});
