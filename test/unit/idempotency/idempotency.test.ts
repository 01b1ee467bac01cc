import assert from 'node:assert/strict';
import path from 'node:path';
import { IdempotencyService } from '../../../lib/idempotency';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

describe('IdempotencyService', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let now: number;
  let service: IdempotencyService;
  beforeEach(() => {
    tmp = tempDir('psfabric-idem-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    now = Date.parse('2026-12-01T00:00:00Z');
    service = new IdempotencyService(store, { retentionMs: 1000, purgeIntervalMs: 0, now: () => now });
  });
  afterEach(async () => {
    service.close();
    await store.close();
    tmp.cleanup();
  });

  it('lets the first claim through and reports repeats with the recorded outcome', async () => {
    assert.deepEqual(await service.claim('invoice', 'te-1'), { claimed: true });
    await service.recordOutcome('invoice', 'te-1', { invoice: 'INV-7' });
    const repeat = await service.claim('invoice', 'te-1');
    assert.equal(repeat.claimed, false);
    assert.deepEqual(repeat.existing?.outcome, { invoice: 'INV-7' });
    assert.equal(repeat.existing?.expiresAt, now + 1000);
  });

  it('holds a key for its retention, then lets it be claimed again', async () => {
    await service.claim('s', 'k');
    now += 999;
    assert.equal((await service.claim('s', 'k')).claimed, false);
    now += 1;
    assert.equal((await service.claim('s', 'k')).claimed, true);
    assert.equal((await service.claim('s', 'other', 10)).claimed, true);
    now += 10;
    assert.equal(await service.get('s', 'other'), undefined);
  });

  it('claimMany answers each key as claim called once per key would', async () => {
    await service.claim('billed', 'te-1');
    await service.recordOutcome('billed', 'te-1', { invoice: 'INV-1' });
    const results = await service.claimMany('billed', ['te-2', 'te-1', 'te-3', 'te-2']);
    assert.deepEqual(results.map((r) => r.claimed), [true, false, true, false]);
    assert.deepEqual(results[1].existing?.outcome, { invoice: 'INV-1' }, 'an earlier claim is reported with its outcome');
    assert.equal(results[3].existing?.firstSeenAt, now, 'a repeat in the batch sees the claim its first occurrence made');
    assert.equal((await service.claim('billed', 'te-3')).claimed, false);
    now += 1000;
    assert.deepEqual((await service.claimMany('billed', ['te-1', 'te-3'], 50)).map((r) => r.claimed), [true, true], 'expired keys are claimed again');
    assert.equal((await service.get('billed', 'te-3'))?.expiresAt, now + 50);
  });

  it('releases a key so a failed attempt can be retried', async () => {
    await service.claim('s', 'k');
    await service.release('s', 'k');
    assert.equal((await service.claim('s', 'k')).claimed, true);
  });

  it('run() does the work once, answers repeats from the outcome, and frees the key when the work fails', async () => {
    let calls = 0;
    const work = async () => ({ n: ++calls });
    assert.deepEqual(await service.run('s', 'k', work), { duplicate: false, outcome: { n: 1 } });
    assert.deepEqual(await service.run('s', 'k', work), { duplicate: true, outcome: { n: 1 } });
    assert.equal(calls, 1);
    await assert.rejects(service.run('s', 'bad', async () => { throw new Error('ERP down'); }), /ERP down/);
    assert.deepEqual(await service.run('s', 'bad', work), { duplicate: false, outcome: { n: 2 } });
  });

  it('purges expired keys on demand and on its (unref\'d) interval', async () => {
    await service.claim('s', 'a');
    await service.claim('s', 'b', 5000);
    now += 1000;
    assert.equal(await service.purgeExpired(), 1);
    const timed = new IdempotencyService(store, { retentionMs: 1, purgeIntervalMs: 10, now: () => now });
    try {
      await timed.claim('s', 'c');
      now += 5000;
      // Looked up "as of" time 0 so only deletion (not expiry) makes them disappear.
      await waitFor(async () => !(await store.idempotencyGet('s', 'c', 0)) && !(await store.idempotencyGet('s', 'b', 0)), 'the interval to purge b and c');
    } finally {
      timed.close();
    }
  });

  it('rejects a non-positive retention', () => {
    assert.throws(() => service.setDefaultRetention(0), /positive/);
    service.setDefaultRetention(5000);
    assert.equal(service.defaultRetentionMs, 5000);
  });
});
