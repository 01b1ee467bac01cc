import assert from 'node:assert/strict';
import { isExpiredReplayError, isStalled, parseBackfillRange, resyncWindows, BackfillRangeError } from '../../../lib/triggers/gaps';
import { TriggerRuns } from '../../../lib/triggers/runs';

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

  it('TriggerRuns: runs window by window with progress, refuses a second run of the same trigger, records a failure', async () => {
    const runs = new TriggerRuns();
    const unregister = runs.register('t1', { name: 'T', backfill: async () => { throw new Error('unused'); } });
    assert.ok(runs.target('t1'));
    const texts: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    const { run, done } = runs.start('t1', 'T', 'backfill', { from: NOW - 3 * H, to: NOW }, async (w) => {
      seen.push(w.from);
      if (seen.length === 1) await gate;
      return { emitted: 2, skipped: 1 };
    }, { sliceMs: H, onProgress: (r) => texts.push(r.text) });
    assert.equal(run.windowsTotal, 3);
    assert.throws(() => runs.start('t1', 'T', 'cdc-gap', { from: NOW - H, to: NOW }, async () => ({ emitted: 0, skipped: 0 })), /already running/);
    release();
    const end = await done;
    assert.equal(end.state, 'done');
    assert.equal(end.emitted, 6);
    assert.equal(end.skipped, 3);
    assert.deepEqual(seen, [NOW - 3 * H, NOW - 2 * H, NOW - H]);
    assert.match(texts[1], /backfill .*: 1\/3, 2 emitted/);
    assert.match(texts.at(-1)!, /done, 6 emitted/);
    assert.equal(runs.list()[0], end);

    const failed = await runs.start('t1', 'T', 'replay-expired', { from: NOW - 2 * H, to: NOW }, async (w) => {
      if (w.from === NOW - H) throw new Error('query refused');
      return { emitted: 1, skipped: 0 };
    }, { sliceMs: H }).done;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.windowsDone, 1);
    assert.match(failed.text, /resync \(replay-expired\) .* failed at 1\/2: query refused/);
    unregister();
    assert.equal(runs.target('t1'), undefined);
    assert.equal(runs.list().length, 0);
  });
});
