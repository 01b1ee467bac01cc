import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { InstancePresence, INSTANCE_ID_FILE, heartbeatFromEnv, presenceOf, resolveInstanceId, LeaseElection } from '../../../lib/cluster';
import { DeliveryEngine } from '../../../lib/delivery/engine';
import { openFabric } from '../../../lib/fabric/services';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { Json } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const CONNECTION = 'erp:test';

describe('instance identity and presence (lib/cluster/instance.ts)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(() => {
    tmp = tempDir('psfabric-instance-');
    store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await store.close();
    tmp.cleanup();
  });

  /** What a SIGKILLed incarnation leaves behind: an item it claimed (120 s lease) and never finished. */
  async function leftInFlight(owner: string, key: string): Promise<void> {
    await store.outboxEnqueue({ connection: CONNECTION, operation: 'post', idempotencyKey: key, request: { key } }, Date.now());
    const claimed = await store.outboxClaim(CONNECTION, 1, Date.now(), 120_000, owner);
    assert.deepEqual(claimed.map((i) => i.idempotencyKey), [key]);
  }

  /** A delivery engine (default 120 s lease) on the store whose vendor records what it was sent. */
  function engineOn(): { sent: string[] } {
    const sent: string[] = [];
    const engine = new DeliveryEngine(store, {}, { sweepMs: 60_000, log: () => undefined });
    closers.push(() => engine.close());
    engine.registerConnection(CONNECTION, {
      async execute(_op: string, request: Json) {
        sent.push((request as { key: string }).key);
        return { ok: true };
      },
    }, { ratePerSecond: 0 });
    return { sent };
  }

  describe('identity', () => {
    it('takes FABRIC_INSTANCE_ID, else generates one id per user dir and keeps it', () => {
      assert.equal(resolveInstanceId({ env: { FABRIC_INSTANCE_ID: ' node-a ' }, userDir: tmp.dir }), 'node-a');
      assert.equal(fs.existsSync(path.join(tmp.dir, INSTANCE_ID_FILE)), false);
      const generated = resolveInstanceId({ env: {}, userDir: tmp.dir });
      assert.match(generated, /^[A-Za-z0-9._-]+-[0-9a-f]{8}$/);
      assert.equal(resolveInstanceId({ env: {}, userDir: tmp.dir }), generated, 'the same id on the next start');
      const other = tempDir('psfabric-instance-other-');
      try {
        assert.notEqual(resolveInstanceId({ env: {}, userDir: other.dir }), generated, 'another user dir is another instance');
      } finally {
        other.cleanup();
      }
    });

    it('rejects an unusable id or heartbeat with the reason', () => {
      assert.throws(() => resolveInstanceId({ env: { FABRIC_INSTANCE_ID: 'a/b' } }), /FABRIC_INSTANCE_ID must be 1-64 characters/);
      fs.writeFileSync(path.join(tmp.dir, INSTANCE_ID_FILE), 'bad id\n');
      assert.throws(() => resolveInstanceId({ env: {}, userDir: tmp.dir }), /delete the file to generate a new one/);
      assert.throws(() => resolveInstanceId({ env: {} }), /no FABRIC_INSTANCE_ID and no user directory/);
      assert.throws(() => heartbeatFromEnv({ FABRIC_INSTANCE_HEARTBEAT_MS: '50' }), /FABRIC_INSTANCE_HEARTBEAT_MS must be an integer >= 100, got "50"/);
      assert.equal(heartbeatFromEnv({}), 5000);
    });
  });

  it('a restarted incarnation takes back what its dead predecessor left in flight at once, not after the 120 s lease', async () => {
    await leftInFlight('node-a/dead-incarnation', 'inv-1');
    await leftInFlight('node-b/alive', 'inv-2');
    await store.instanceBeat('node-b', 'alive', Date.now());
    const presence = new InstancePresence({ store, id: 'node-a', heartbeatMs: 60_000, log: () => undefined });
    closers.push(() => presence.stop());
    await presence.start();
    const { sent } = engineOn();
    await waitFor(async () => (await store.outboxFind(CONNECTION, 'inv-1'))?.status === 'delivered', 'the dead incarnation\'s item delivered');
    assert.deepEqual(sent, ['inv-1'], "node-b's item is left to node-b (its heartbeat is fresh)");
    assert.equal((await store.outboxFind(CONNECTION, 'inv-2'))?.leaseOwner, 'node-b/alive');
  });

  it('a survivor takes over a dead instance\'s in-flight items after its missed heartbeats, not after the lease', async () => {
    await store.instanceBeat('node-b', 'gone', Date.now());
    await leftInFlight('node-b/gone', 'inv-3');
    const presence = new InstancePresence({ store, id: 'node-a', heartbeatMs: 100, deadAfterMs: 300, log: () => undefined });
    closers.push(() => presence.stop());
    const taken: string[] = [];
    presence.on('reclaimed', (e: { from: string; id: string }) => taken.push(`${e.from}:${e.id}`));
    const { sent } = engineOn();
    await presence.start();
    await waitFor(async () => (await store.outboxFind(CONNECTION, 'inv-3'))?.status === 'delivered', "node-b's item delivered by node-a");
    assert.deepEqual(sent, ['inv-3']);
    assert.deepEqual(taken, ['dead:node-b']);
    assert.deepEqual((await store.instanceList()).map((i) => i.id), ['node-a']);
  });

  it('declares an instance dead only after deadAfterMs without a heartbeat (driven by a test clock)', async () => {
    let clock = 1_000_000;
    const a = new InstancePresence({ store, id: 'node-a', heartbeatMs: 5000, now: () => clock, log: () => undefined });
    const b = new InstancePresence({ store, id: 'node-b', heartbeatMs: 5000, now: () => clock, log: () => undefined });
    assert.equal(a.deadAfterMs, 15_000);
    await a.tick();
    await b.tick();
    await leftInFlight(b.owner, 'inv-4');
    clock += 15_000;
    await a.tick();
    assert.deepEqual((await store.instanceList()).map((i) => i.id), ['node-a', 'node-b'], 'a heartbeat exactly 15 s old is alive');
    clock += 1;
    await a.tick();
    assert.deepEqual((await store.instanceList()).map((i) => i.id), ['node-a']);
    assert.equal((await store.outboxFind(CONNECTION, 'inv-4'))?.leaseUntil, clock, 'due now');
  });

  it('openFabric with `instance` runs one presence per store; the engine and elections on it own their leases by it', async () => {
    await store.close();
    const file = path.join(tmp.dir, 'fabric.sqlite');
    const handle = openFabric({ kind: 'sqlite', path: file }, { instance: { userDir: tmp.dir, env: { FABRIC_INSTANCE_HEARTBEAT_MS: '1000' } } });
    const again = openFabric({ kind: 'sqlite', path: file }, { instance: { userDir: tmp.dir } });
    try {
      const presence = handle.services.presence!;
      assert.ok(presence && again.services.presence === presence);
      assert.equal(presenceOf(handle.store), presence);
      assert.equal(presence.heartbeatMs, 1000);
      assert.equal(presence.id, fs.readFileSync(path.join(tmp.dir, INSTANCE_ID_FILE), 'utf8').trim());
      const engine = new DeliveryEngine(handle.store, {}, { log: () => undefined });
      assert.equal(engine.owner, presence.owner);
      await engine.close();
      assert.equal(new LeaseElection({ store: handle.store, name: 'poller:x' }).owner, presence.owner);
      await presence.started;
      assert.deepEqual((await handle.store.instanceList()).map((i) => [i.id, i.incarnation]), [[presence.id, presence.incarnation]]);
    } finally {
      await again.release();
      await handle.release();
    }
    store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
  });
});
