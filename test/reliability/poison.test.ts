/**
 * Poison message: a write the target rejects permanently (422) goes to the exception queue on its first attempt and
 * is never sent again (not by the sweep, not after a restart); a write that always fails transiently (500) is tried
 * exactly maxAttempts times, then lands in the exception queue as transient-exhausted. Attempt counts are the
 * target's own. Healthy writes around them are delivered. Real engine, real SQLite file, real HTTP.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { servicesFor } from '../../lib/fabric/services';
import { DeliveryEngine } from '../../lib/delivery/engine';
import { httpExecutor } from '../../lib/delivery/http-executor';
import { record } from './support/report';
import { startTarget, missing, type RunningTarget } from './support/target';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const LIMITS = { ratePerSecond: 0, concurrency: 4, maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 100, breakerThreshold: 50, breakerHalfOpenAfterMs: 200, attemptTimeoutMs: 3000 };

/** The real SQLite store, counting the engine's claims: each is one look for due work (a sweep, a wake). */
class ClaimCountingStore extends SqliteStore {
  claims = 0;
  override outboxClaim(...args: Parameters<SqliteStore['outboxClaim']>): ReturnType<SqliteStore['outboxClaim']> {
    this.claims += 1;
    return super.outboxClaim(...args);
  }
}
/** Waits until the engine on `store` has looked for due work `n` more times (what was due would have been sent). */
const sweeps = (store: ClaimCountingStore, n: number, what: string) => {
  const from = store.claims;
  return waitFor(() => store.claims >= from + n, `${n} outbox sweeps ${what}`);
};

describe('reliability: poison message', function () {
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  const file = () => path.join(tmp.dir, 'fabric.sqlite');

  before(async () => {
    tmp = tempDir('psfabric-rel-poison-');
    t = await startTarget();
  });
  after(async () => {
    await t?.close();
    tmp?.cleanup();
  });

  it('goes to the exception queue on its first permanent failure and is never retried; a transient one stops at maxAttempts', async function () {
    const healthy = Array.from({ length: 50 }, (_, i) => `ok-${i}`);
    let store = new ClaimCountingStore({ path: file() });
    let engine = new DeliveryEngine(store, servicesFor(store), { leaseMs: 5000, sweepMs: 100, log: () => undefined });
    let conn = engine.registerConnection('reliability:poison', httpExecutor({ baseUrl: t.url }), LIMITS);
    const submit = (key: string, poison?: string) =>
      conn.submit({ operation: 'effects', idempotencyKey: key, request: { id: key, ...(poison ? { poison } : {}) }, recordKey: `Write/${key}`, process: 'reliability', step: 'poison' }).then(
        () => 'delivered',
        (err: Error) => `failed: ${err.message}`,
      );
    const outcomes = await Promise.all([...healthy.slice(0, 25).map((k) => submit(k)), submit('poison-permanent', 'permanent'), submit('poison-transient', 'transient'), ...healthy.slice(25).map((k) => submit(k))]);
    const figures = { scenario: '6 poison', writes: healthy.length + 2, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: missing(t.target, healthy).length, exceptions: 0, maxRate: '' as const, notes: '' };
    try {
      assert.match(outcomes[25], /^failed: .*422/);
      assert.match(outcomes[26], /^failed: /);
      assert.equal(outcomes.filter((o) => o === 'delivered').length, healthy.length);
      // let the sweep run many times, then restart on the same file: nothing is sent again
      await sweeps(store, 10, 'after the failures');
      await engine.close();
      await store.close();
      store = new ClaimCountingStore({ path: file() });
      engine = new DeliveryEngine(store, servicesFor(store), { leaseMs: 5000, sweepMs: 100, log: () => undefined });
      conn = engine.registerConnection('reliability:poison', httpExecutor({ baseUrl: t.url }), LIMITS);
      await sweeps(store, 10, 'after the restart');
      const again = await submit('poison-permanent', 'permanent'); // an upstream replay of the same write
      assert.match(again, /already failed and is in the exception queue/);
      await sweeps(store, 5, 'after the repeated submit');

      const permanentAttempts = t.target.received.get('poison-permanent');
      const transientAttempts = t.target.received.get('poison-transient');
      figures.notes = `target attempts: permanent ${permanentAttempts}, transient ${transientAttempts} (maxAttempts ${LIMITS.maxAttempts})`;
      assert.equal(permanentAttempts, 1, 'the permanently failing write was sent more than once');
      assert.equal(transientAttempts, LIMITS.maxAttempts, 'the always-500 write was not stopped at maxAttempts');
      const exceptions = await store.exceptionList({ limit: 100 });
      figures.exceptions = exceptions.length;
      const perm = exceptions.find((e) => e.recordKey === 'Write/poison-permanent');
      const trans = exceptions.find((e) => e.recordKey === 'Write/poison-transient');
      assert.ok(perm && perm.status === 'open' && perm.attempts === 1, `permanent: ${JSON.stringify(perm)}`);
      assert.notEqual(perm.errorClass, 'transient-exhausted');
      assert.match(perm.message, /422/);
      assert.ok(trans && trans.errorClass === 'transient-exhausted' && trans.attempts === LIMITS.maxAttempts, `transient: ${JSON.stringify(trans)}`);
      assert.equal(exceptions.length, 2);
      assert.equal(figures.lost, 0);
      const item = await store.outboxFind('reliability:poison', 'poison-permanent');
      assert.equal(item?.status, 'failed');
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    } finally {
      await engine.close();
      await store.close();
    }
    record(figures);
  });
});
