import assert from 'node:assert/strict';
import { isExpiredReplayError, isStalled, parseBackfillRange, resyncWindows, BackfillRangeError } from '../../../lib/triggers/gaps';
import path from 'node:path';
import { RunConflictError, TriggerRunner, TriggerRuns, type WindowReader } from '../../../lib/triggers/runs';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const H = 3600 * 1000;
const NOW = Date.parse('2026-12-06T06:00:00Z');

describe('lib/triggers', () => {
  it('isStalled: only a known last run older than the window is a gap', () => {
    assert.equal(isStalled(undefined, NOW, H), false);
    assert.equal(isStalled(NOW - H, NOW, H), false);
    assert.equal(isStalled(NOW - H - 1, NOW, H), true);
    assert.equal(isStalled(NaN, NOW, H), false);
  });

  it('isExpiredReplayError: the Streaming API and Pub/Sub wordings, not other subscribe errors', () => {
    assert.ok(isExpiredReplayError('CometD subscribe to /data/OpportunityChangeEvent failed: 400::The replayId {12} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.'));
    assert.ok(isExpiredReplayError('INVALID_ARGUMENT: sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted'));
    assert.equal(isExpiredReplayError('400::The channel you requested to subscribe to does not exist {/data/X}'), false);
    assert.equal(isExpiredReplayError('403::Handshake denied'), false);
  });

  it('resyncWindows: consecutive windows of at most the slice, bounded by the longest range', () => {
    const { windows } = resyncWindows(NOW - 2.5 * H, NOW, { sliceMs: H });
    assert.deepEqual(windows.map((w) => [(w.from - NOW) / H, (w.to - NOW) / H]), [[-2.5, -1.5], [-1.5, -0.5], [-0.5, 0]]);
    const cut = resyncWindows(NOW - 10 * H, NOW, { sliceMs: H, maxRangeMs: 3 * H });
    assert.equal(cut.windows.length, 3);
    assert.equal(cut.windows[0].from, NOW - 3 * H);
    assert.equal(cut.truncatedFrom, NOW - 10 * H);
    assert.deepEqual(resyncWindows(NOW, NOW).windows, []);
  });

  it('parseBackfillRange: ISO or epoch ms, to capped at now, clear refusals', () => {
    assert.deepEqual(parseBackfillRange({ from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' }, NOW), { from: Date.parse('2026-12-01T00:00:00Z'), to: Date.parse('2026-12-02T00:00:00Z') });
    assert.equal(parseBackfillRange({ from: NOW - H, to: NOW + 5 * H }, NOW).to, NOW);
    assert.throws(() => parseBackfillRange({ to: '2026-12-02' }, NOW), (e: Error) => e instanceof BackfillRangeError && /"from" is required/.test(e.message));
    assert.throws(() => parseBackfillRange({ from: 'last week', to: '2026-12-02' }, NOW), /"from" must be an ISO 8601 date-time/);
    assert.throws(() => parseBackfillRange({ from: '2026-12-03', to: '2026-12-02' }, NOW), /must be before "to"/);
    assert.throws(() => parseBackfillRange({ from: '2026-01-01', to: '2026-12-02' }, NOW), /at most 31 days per backfill: split it/);
  });

  describe('TriggerRunner: runs in the store, run by the instance that reads the trigger', () => {
    let tmp: ReturnType<typeof tempDir>;
    let store: SqliteStore;
    const stops: Array<() => Promise<void>> = [];
    beforeEach(() => {
      tmp = tempDir('psfabric-runs-');
      store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    });
    afterEach(async () => {
      for (const stop of stops.splice(0)) await stop();
      await store.close();
      tmp.cleanup();
    });
    /** One instance's runner of trigger t1 (its own registry, as in its own process). */
    const instance = (owner: string, read: (owner: string) => WindowReader, active: { on: boolean }) => {
      const registry = new TriggerRuns();
      const texts: string[] = [];
      const runner = new TriggerRunner({ store, trigger: 't1', name: 'T', owner: () => owner, active: () => active.on, reader: () => read(owner), sliceMs: H, everyMs: 3600000, onProgress: (r) => texts.push(r.text) }, registry);
      stops.push(runner.start());
      return { runner, registry, texts };
    };

    it('runs window by window with progress, refuses a second run of the trigger, records a failure', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen: number[] = [];
      const a = instance('a/1', () => async (w) => {
        seen.push(w.from);
        if (seen.length === 1) await gate;
        return { emitted: 2, skipped: 1 };
      }, { on: true });
      const done = a.runner.run('backfill', { from: NOW - 3 * H, to: NOW }, 'user:ops');
      await waitFor(() => seen.length === 1, 'the first window read');
      assert.equal(a.runner.latest?.windowsTotal, 3);
      await assert.rejects(a.runner.request('backfill', { from: NOW - H, to: NOW }, 'user:ops'), (e: Error) => e instanceof RunConflictError && /already running \(backfill .*: 0\/3, 0 emitted\)/.test(e.message));
      release();
      const end = await done;
      assert.equal(end.state, 'done');
      assert.equal(end.emitted, 6);
      assert.equal(end.skipped, 3);
      assert.deepEqual(seen, [NOW - 3 * H, NOW - 2 * H, NOW - H]);
      assert.ok(a.texts.some((t) => /^backfill .*: 1\/3, 2 emitted$/.test(t)), JSON.stringify(a.texts));
      assert.match(a.texts.at(-1)!, /done, 6 emitted/);
      assert.deepEqual(a.registry.list(), [end]);
      assert.deepEqual({ ...(await store.triggerRunGet(end.id)), text: end.text }, end, 'the store holds what the runner shows');

      const failing = instance('a/1', () => async (w) => {
        if (w.from === NOW - H) throw new Error('query refused');
        return { emitted: 1, skipped: 0 };
      }, { on: true });
      const failed = await failing.runner.run('replay-expired', { from: NOW - 2 * H, to: NOW }, 'node:t1');
      assert.equal(failed.state, 'failed');
      assert.equal(failed.windowsDone, 1);
      assert.match(failed.text, /resync \(replay-expired\) .* failed at 1\/2: query refused/);
    });

    it('a request on the standby is run by the reading instance, shown on both; a run left by a stopped runner is carried on from its last window by the next', async () => {
      const reads: Array<[string, number]> = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const read = (owner: string) => async (w: { from: number }) => {
        reads.push([owner, (w.from - (NOW - 4 * H)) / H]);
        if (owner === 'a/1' && reads.length === 2) await gate;
        return { emitted: 1, skipped: 0 };
      };
      const activeA = { on: true };
      const activeB = { on: false };
      const a = instance('a/1', read, activeA);
      const b = instance('b/1', read, activeB);
      // their first looks at the store (start) are over before the request
      await Promise.all([a.runner.sync(), b.runner.sync()]);
      const requested = await b.runner.request('backfill', { from: NOW - 4 * H, to: NOW }, 'user:ops');
      assert.equal(requested.state, 'pending');
      await b.runner.sync();
      assert.deepEqual(reads, [], 'the standby reads nothing');
      await assert.rejects(a.runner.request('backfill', { from: NOW - H, to: NOW }, 'user:ops'), RunConflictError, 'refused on the other instance too');
      await a.runner.sync();
      await waitFor(() => reads.length === 2, 'a reads the first two windows');
      await b.runner.sync();
      assert.match(b.registry.get('t1')!.text, /^backfill .*: 1\/4, 1 emitted \(on a\)$/, 'the standby shows the run and where it runs');
      assert.match(a.registry.get('t1')!.text, /^backfill .*: 1\/4, 1 emitted$/);

      // a loses the lease while reading window 1; b takes the run over from its last finished window
      activeA.on = false;
      activeB.on = true;
      await b.runner.sync();
      release();
      await waitFor(() => b.runner.latest?.state === 'done', 'b to finish the run');
      const end = b.runner.latest!;
      assert.deepEqual([end.id, end.windowsDone, end.runner], [requested.id, 4, 'b/1']);
      assert.deepEqual(reads.filter((r) => r[0] === 'b/1').map((r) => r[1]), [1, 2, 3], 'b carries on from window 1 (the one a was reading)');
      assert.deepEqual(reads.filter((r) => r[0] === 'a/1').map((r) => r[1]), [0, 1], 'a stops after the window it was reading');
    });
  });
});
