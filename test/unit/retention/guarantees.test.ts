/**
 * What a guarantee still needs survives a retention run however short the periods and however old the rows (lib/retention,
 * docs/store-and-guarantees.md "Retention"): the whole service on a real SQLite file, every table seeded with rows a
 * guarantee needs, next to rows of the same age it does not need (so a run that removed nothing would fail too).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { RetentionService, type RetentionPolicy } from '../../../lib/retention';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const ANCIENT = NOW - 3000 * DAY;
/** A few minutes each: everything not protected by a guarantee is due. */
const SHORT: RetentionPolicy = { inboxDays: 0.001, outboxDays: 0.001, exceptionPayloadDays: 0.001, exceptionDays: 0.001, auditDays: 0.001, processDays: 0.001 };

describe('retention never removes what a guarantee still needs', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  beforeEach(() => {
    tmp = tempDir('psfabric-retention-guarantees-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('keeps live idempotency keys, retryable and untaken writes, open exceptions, running processes and unfinished inbox entries', async () => {
    // idempotency: a key inside its window (time-to-cash's billed keys run 400 days) and one past it
    await store.idempotencyClaim('time-to-cash:billed', 'inside-window', NOW - 10 * DAY, 400 * DAY);
    await store.idempotencyClaim('time-to-cash:billed', 'window-over', ANCIENT, DAY);

    // outbox: every write whose delivery can still be tried, or whose completion its origin has not taken yet
    const add = async (key: string, origin?: string) => (await store.outboxEnqueue({ connection: 'netsuite', operation: 'upsert', idempotencyKey: key, request: { key }, origin }, ANCIENT)).item;
    const pending = await add('pending');
    const retrying = await add('retrying');
    const inflight = await add('inflight');
    const failed = await add('failed');
    const untaken = await add('untaken', 'node-q2p');
    const done = await add('done');
    const claimed = await store.outboxClaim('netsuite', 10, ANCIENT, 60_000, 'instance-a/1');
    assert.equal(claimed.length, 6);
    await store.outboxRetryAt(pending.id, ANCIENT + 1, 'not yet', ANCIENT);
    await store.outboxRetryAt(retrying.id, NOW + DAY, '429 too many requests', ANCIENT);
    await store.outboxFailed(failed.id, 'validation: missing subsidiary', { status: 400 }, ANCIENT);
    await store.outboxDelivered(untaken.id, { id: 'NS-1' }, ANCIENT);
    await store.outboxDelivered(done.id, { id: 'NS-2' }, ANCIENT);

    // exceptions: open and replayed ones whole, a resolved one goes
    const exc = (key: string) => store.exceptionAdd({ process: 'time-to-cash', step: 'invoice', errorClass: 'validation', message: key, ownerTeam: 'finance-ops', recordKey: `Invoice/${key}`, request: { lines: 3 } }, ANCIENT);
    const open = await exc('open');
    const replayed = await exc('replayed');
    const resolved = await exc('resolved');
    await store.exceptionSetStatus(replayed.id, 'replayed', 'ops', ANCIENT);
    await store.exceptionSetStatus(resolved.id, 'resolved', 'ops', ANCIENT);

    // process runs: a running one stays, a finished one goes
    await store.processStart({ process: 'quote-to-project', key: 'running', startedAt: ANCIENT, status: 'running' });
    await store.processStart({ process: 'quote-to-project', key: 'finished', startedAt: ANCIENT, status: 'running' });
    await store.processComplete('quote-to-project', 'finished', 'completed', ANCIENT + 1);

    // inbox: received (not handed over) and abandoned entries stay, a handed-over one goes
    for (const id of ['received', 'abandoned', 'handed-over']) await store.inboxAdd({ source: 'mqtt:t', messageId: id, payload: null, receivedAt: ANCIENT });
    await store.inboxAbandon('mqtt:t', 'abandoned', ANCIENT);
    await store.inboxMarkProcessed('mqtt:t', 'handed-over');

    const run = await new RetentionService(store, SHORT, { now: () => NOW }).runOnce();
    assert.equal(run.complete, true);

    assert.ok(await store.idempotencyGet('time-to-cash:billed', 'inside-window', NOW), 'an idempotency key inside its window');
    assert.equal(await store.idempotencyClaim('time-to-cash:billed', 'inside-window', NOW, DAY), false, 'and it still de-duplicates');
    assert.equal(await store.idempotencyGet('time-to-cash:billed', 'window-over', NOW), undefined);

    assert.equal((await store.outboxGet(pending.id))?.status, 'pending', 'a write waiting for its next attempt');
    assert.equal((await store.outboxGet(retrying.id))?.status, 'pending', 'a write backing off');
    assert.equal((await store.outboxGet(inflight.id))?.status, 'inflight', 'a write being delivered (its lease decides, not its age)');
    assert.equal((await store.outboxGet(failed.id))?.status, 'failed', "a failed write: an exception's replay target");
    assert.equal((await store.outboxGet(untaken.id))?.status, 'delivered', 'a delivered write whose origin has not taken the completion');
    assert.equal(await store.outboxGet(done.id), undefined);

    assert.deepEqual((await store.exceptionGet(open.id))?.request, { lines: 3 }, 'an open exception, payload included');
    assert.deepEqual((await store.exceptionGet(replayed.id))?.request, { lines: 3 }, 'a replayed one');
    assert.equal(await store.exceptionGet(resolved.id), undefined);

    assert.deepEqual((await store.processList({ process: 'quote-to-project' })).map((p) => p.key), ['running'], 'a running process');

    assert.equal((await store.inboxGet('mqtt:t', 'received'))?.status, 'received', 'an entry not handed over (replayed at the next start)');
    assert.equal((await store.inboxGet('mqtt:t', 'abandoned'))?.status, 'abandoned', "an abandoned entry (its exception's replay source)");
    assert.equal(await store.inboxGet('mqtt:t', 'handed-over'), undefined);

    assert.deepEqual(run.purged, { 'inbox-processed': 1, 'outbox-delivered': 1, 'idempotency-expired': 1, 'exception-payloads': 1, 'exceptions-closed': 1, 'process-instances': 1 });
  });
});
