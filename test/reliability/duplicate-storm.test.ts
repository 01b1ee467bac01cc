/**
 * Duplicate storm: the same writes (same event ids, hence the same idempotency keys) submitted concurrently by two
 * processes on one store (two runtime instances, or an MQTT path and an HTTP path), one of them SIGKILLed in the
 * middle and restarted (it submits everything again); then, across a restart of both, a third run submits
 * everything once more. The target applies each write once; the only re-sends it sees are items in flight in the
 * killed process (lease expiry), and none at all after the restart.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { record } from './support/report';
import { start, kill9, knob, type Child } from './support/child';
import { startTarget, missing, unexpectedEffects, type RunningTarget } from './support/target';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const DRIVER = path.join(__dirname, 'crash-driver.js');

describe('reliability: duplicate storm (two submitters, kill, restart)', function () {
  const M = knob('RELIABILITY_DUP_WRITES', 500);
  const CONCURRENCY = 8;
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  const children: Child[] = [];

  before(async () => {
    tmp = tempDir('psfabric-rel-dup-');
    t = await startTarget();
  });
  after(async () => {
    for (const c of children) await kill9(c);
    await t?.close();
    tmp?.cleanup();
  });

  it(`gives exactly one effect per event for ${M} events sent twice concurrently, also across a restart`, async function () {
    const db = path.join(tmp.dir, 'fabric.sqlite');
    const env = { RELIABILITY_DB: db, RELIABILITY_TARGET: t.url, RELIABILITY_WRITES: String(M), RELIABILITY_PREFIX: 'evt', RELIABILITY_RESUBMIT: '1', RELIABILITY_RATE: '0', RELIABILITY_CONCURRENCY: String(CONCURRENCY) };
    const keys = Array.from({ length: M }, (_, i) => `evt-${i}`);
    const done = [new Set<string>(), new Set<string>(), new Set<string>()];
    const dupAnswers = [0, 0, 0];
    const failures: string[] = [];
    const listener = (n: number) => (m: any) => {
      if (!m?.completion) return;
      if (m.ok) done[n].add(m.completion);
      else failures.push(`${m.completion}: ${m.error}`);
      if (m.duplicate) dupAnswers[n] += 1;
    };
    const figures = { scenario: '4 duplicate storm', writes: M, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as number | '', notes: '' };
    try {
      // two submitters at once (they race on every key)
      const [a, b] = await Promise.all([start(DRIVER, env, listener(0)), start(DRIVER, env, listener(1))]);
      children.push(a, b);
      // kill one of them in the middle and start it again: it submits everything a second time
      await waitFor(() => t.target.effects.size >= M / 3, 'a third of the events delivered', 120000, 5);
      await kill9(b);
      figures.kills += 1;
      const b2 = await start(DRIVER, env, listener(1));
      children.push(b2);
      await waitFor(() => done[0].size >= M && done[1].size >= M, `both submitters to see all ${M} events delivered (${done[0].size}/${done[1].size})`, 180000, 50);
      const resendsBeforeRestart = t.target.duplicates();
      // restart: both stop, a third process submits everything again
      for (const c of [a, b2]) {
        c.proc.send('stop');
        await c.exited;
      }
      const c3 = await start(DRIVER, env, listener(2));
      children.push(c3);
      await waitFor(() => done[2].size >= M, 'the third run to finish', 120000, 20);
      c3.proc.send('stop');
      await c3.exited;

      figures.resendsAbsorbed = t.target.duplicates();
      figures.lost = missing(t.target, keys).length;
      figures.duplicatedEffects = unexpectedEffects(t.target, keys);
      figures.maxRate = t.target.maxRate();
      const store = new SqliteStore({ path: db });
      figures.exceptions = await store.exceptionCount({});
      await store.close();
      figures.notes = `each event submitted by 2 processes + the restarted one + the run after the restart; answered "duplicate" from the store: ${dupAnswers.join("/")}`;
      assert.deepEqual(failures.slice(0, 5), []);
      assert.equal(figures.lost, 0);
      assert.equal(t.target.effects.size, M);
      assert.ok(resendsBeforeRestart <= CONCURRENCY, `${resendsBeforeRestart} re-sends; only the killed process' in-flight items (<= ${CONCURRENCY}) may be re-sent`);
      assert.equal(figures.resendsAbsorbed, resendsBeforeRestart, 'the run after the restart sent something again');
      assert.equal(dupAnswers[2], M, 'the run after the restart should have answered every event from the store as a duplicate');
      assert.equal(figures.exceptions, 0);
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    }
    record(figures);
  });
});
