/**
 * Retention behaviour every Store implementation must have (lib/retention; docs/store-and-guarantees.md "Retention"):
 * old rows that no guarantee needs go, in bounded batches; every row a guarantee still needs stays, however old.
 * Called from describeStoreContract, so SQLite and PostgreSQL both run it.
 */
import assert from 'node:assert/strict';
import type { Store } from '../../../lib/store/store';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const OLD = NOW - 100 * DAY;
const CUTOFF = NOW - 30 * DAY;

export function describeRetentionContract(getStore: () => Store): void {
  describe('retention', () => {
    it('inbox: removes handed-over entries received before the cutoff, in batches; keeps received, abandoned and recent ones', async () => {
      const store = getStore();
      for (let i = 0; i < 5; i++) await store.inboxAdd({ source: 's', messageId: `old-${i}`, payload: i, receivedAt: OLD + i });
      await store.inboxAdd({ source: 's', messageId: 'old-pending', payload: null, receivedAt: OLD + 10 });
      await store.inboxAdd({ source: 's', messageId: 'old-abandoned', payload: null, receivedAt: OLD + 11 });
      await store.inboxAdd({ source: 's', messageId: 'new', payload: null, receivedAt: NOW });
      for (let i = 0; i < 5; i++) await store.inboxMarkProcessed('s', `old-${i}`);
      await store.inboxAbandon('s', 'old-abandoned', NOW);
      await store.inboxMarkProcessed('s', 'new');

      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 2), 2, 'a batch removes at most its limit');
      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 2), 2);
      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 2), 1);
      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 2), 0);
      for (let i = 0; i < 5; i++) assert.equal(await store.inboxGet('s', `old-${i}`), undefined);
      assert.equal((await store.inboxGet('s', 'old-pending'))?.status, 'received');
      assert.equal((await store.inboxGet('s', 'old-abandoned'))?.status, 'abandoned');
      assert.equal((await store.inboxGet('s', 'new'))?.status, 'processed');
    });

    it('inbox: keeps the entries whose message ids it is told to keep (retained messages), of any source and age', async () => {
      const store = getStore();
      for (const id of ['retained-a', 'gone', 'retained-b']) {
        for (const source of ['s', 't']) {
          await store.inboxAdd({ source, messageId: id, payload: null, receivedAt: OLD });
          await store.inboxMarkProcessed(source, id);
        }
      }
      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 100, ['retained-a', 'retained-b', 'not-in-the-inbox']), 2);
      for (const source of ['s', 't']) {
        assert.equal(await store.inboxGet(source, 'gone'), undefined);
        assert.equal((await store.inboxGet(source, 'retained-a'))?.status, 'processed');
        assert.equal((await store.inboxGet(source, 'retained-b'))?.status, 'processed');
      }
      assert.equal(await store.retentionPurge('inbox-processed', CUTOFF, 100, ['retained-a']), 2, 'no longer kept: the next purge takes them');
      assert.equal(await store.inboxGet('s', 'retained-b'), undefined);
      assert.ok(await store.inboxGet('t', 'retained-a'));
    });

    it('outbox: removes delivered items its origin took; keeps unacknowledged, failed, pending, in-flight and recent ones', async () => {
      const store = getStore();
      const add = async (key: string, origin?: string) => (await store.outboxEnqueue({ connection: 'c', operation: 'op', idempotencyKey: key, request: {}, origin }, OLD)).item;
      const taken = await add('taken', 'node-1');
      const noOrigin = await add('no-origin');
      const untaken = await add('untaken', 'node-1');
      const failed = await add('failed');
      const pending = await add('pending');
      const recent = await add('recent');
      const inflight = await add('inflight');
      await store.outboxClaim('c', 10, OLD, 60_000, 'me');
      await store.outboxDelivered(taken.id, { ok: true }, OLD + 1);
      await store.outboxAcknowledge(taken.id);
      await store.outboxDelivered(noOrigin.id, { ok: true }, OLD + 1);
      await store.outboxDelivered(untaken.id, { ok: true }, OLD + 1);
      await store.outboxFailed(failed.id, 'refused', undefined, OLD + 1);
      await store.outboxRetryAt(pending.id, OLD + 5, 'busy', OLD + 1);
      await store.outboxDelivered(recent.id, { ok: true }, NOW);

      assert.equal(await store.retentionPurge('outbox-delivered', CUTOFF, 100), 2);
      assert.equal(await store.outboxGet(taken.id), undefined);
      assert.equal(await store.outboxGet(noOrigin.id), undefined);
      assert.equal((await store.outboxGet(untaken.id))?.status, 'delivered', 'the origin has not taken its completion yet');
      assert.equal((await store.outboxGet(failed.id))?.status, 'failed', "a failed item is an exception's replay target");
      assert.equal((await store.outboxGet(pending.id))?.status, 'pending');
      assert.equal((await store.outboxGet(inflight.id))?.status, 'inflight', 'claimed long ago, never finished: it is retried when its lease ends');
      assert.equal((await store.outboxGet(recent.id))?.status, 'delivered');
    });

    it('idempotency: removes keys whose window ended, never a key inside its window', async () => {
      const store = getStore();
      await store.idempotencyClaim('t2c', 'expired', OLD, DAY);
      await store.idempotencyClaim('t2c', 'live', OLD, 400 * DAY);
      assert.equal(await store.retentionPurge('idempotency-expired', NOW, 100), 1);
      assert.equal(await store.idempotencyGet('t2c', 'expired', OLD), undefined);
      assert.ok(await store.idempotencyGet('t2c', 'live', NOW));
      assert.equal(await store.idempotencyClaim('t2c', 'live', NOW, DAY), false, 'the live key still de-duplicates');
    });

    it('exceptions: empties the payloads of old closed ones and later removes them; open and replayed ones stay whole', async () => {
      const store = getStore();
      const add = (key: string) => store.exceptionAdd({ process: 'p', step: 's', errorClass: 'validation', message: `bad ${key}`, ownerTeam: 'ops', recordKey: `R/${key}`, request: { secret: 'record data' }, response: { status: 400 }, details: [{ path: '/x', message: 'missing' }] }, OLD);
      const resolved = await add('resolved');
      const discarded = await add('discarded');
      const open = await add('open');
      const replayed = await add('replayed');
      const recent = await add('recent');
      await store.exceptionSetStatus(resolved.id, 'resolved', 'ops', OLD);
      await store.exceptionSetStatus(discarded.id, 'discarded', 'ops', OLD);
      await store.exceptionSetStatus(replayed.id, 'replayed', 'ops', OLD);
      await store.exceptionSetStatus(recent.id, 'resolved', 'ops', OLD);
      await store.exceptionAdd({ process: 'p', step: 's', errorClass: 'validation', message: 'bad recent again', ownerTeam: 'ops', recordKey: 'R/recent-2' }, NOW);

      assert.equal(await store.retentionPurge('exception-payloads', CUTOFF, 100), 3);
      assert.equal(await store.retentionPurge('exception-payloads', CUTOFF, 100), 0, 'an emptied payload is not counted again');
      const kept = await store.exceptionGet(resolved.id);
      assert.equal(kept?.request ?? undefined, undefined);
      assert.equal(kept?.response ?? undefined, undefined);
      assert.equal(kept?.message, 'bad resolved', 'the message and details stay');
      assert.deepEqual(kept?.details, [{ path: '/x', message: 'missing' }]);
      assert.deepEqual((await store.exceptionGet(open.id))?.request, { secret: 'record data' });
      assert.deepEqual((await store.exceptionGet(replayed.id))?.request, { secret: 'record data' });

      assert.equal(await store.retentionPurge('exceptions-closed', CUTOFF, 100), 3);
      assert.equal(await store.exceptionGet(resolved.id), undefined);
      assert.equal(await store.exceptionGet(discarded.id), undefined);
      assert.equal((await store.exceptionGet(open.id))?.status, 'open');
      assert.equal((await store.exceptionGet(replayed.id))?.status, 'replayed');
    });

    it('audit and process runs: removes entries before the cutoff; running processes stay', async () => {
      const store = getStore();
      await store.auditAppend({ at: OLD, actor: 'a', action: 'write.delivered', recordKey: 'R/1' });
      await store.auditAppend({ at: NOW, actor: 'a', action: 'write.delivered', recordKey: 'R/1' });
      assert.equal(await store.retentionPurge('audit', CUTOFF, 100), 1);
      assert.deepEqual((await store.auditList({ recordKey: 'R/1' })).map((e) => e.at), [NOW]);

      await store.processStart({ process: 'q2p', key: 'done', startedAt: OLD, status: 'running' });
      await store.processComplete('q2p', 'done', 'completed', OLD + 1);
      await store.processStart({ process: 'q2p', key: 'failed', startedAt: OLD, status: 'running' });
      await store.processComplete('q2p', 'failed', 'failed', OLD + 1);
      await store.processStart({ process: 'q2p', key: 'stuck', startedAt: OLD, status: 'running' });
      await store.processStart({ process: 'q2p', key: 'recent', startedAt: NOW, status: 'running' });
      await store.processComplete('q2p', 'recent', 'completed', NOW);
      assert.equal(await store.retentionPurge('process-instances', CUTOFF, 100), 2);
      assert.deepEqual((await store.processList({ process: 'q2p' })).map((p) => p.key).sort(), ['recent', 'stuck']);
    });
  });
}
