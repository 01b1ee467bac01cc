/**
 * The behaviour every Store implementation must have. Run it against an implementation with
 * `describeStoreContract('SqliteStore', async () => ({ store, cleanup }))`; each test gets a fresh store.
 */
import assert from 'node:assert/strict';
import type { ApiConsumerRecord, NewException, NewOutboxItem, NewTriggerRun, Store } from '../../../lib/store/store';
import { describeRetentionContract } from './retention-contract';

export type MakeStore = () => Promise<{ store: Store; cleanup: () => Promise<void> | void }>;

const T0 = Date.parse('2026-11-30T09:00:00Z');

function outboxItem(overrides: Partial<NewOutboxItem> = {}): NewOutboxItem {
  return {
    connection: 'netsuite:acme',
    operation: 'upsertCustomer',
    idempotencyKey: 'k-1',
    request: { externalId: 'ACC-1', name: 'Acme GmbH' },
    ...overrides,
  };
}

function exception(overrides: Partial<NewException> = {}): NewException {
  return {
    process: 'time-to-cash',
    step: 'create-invoice',
    errorClass: 'validation',
    message: 'Customer ACC-1 has no billing currency',
    ownerTeam: 'billing-ops',
    recordKey: 'Invoice/inv-1',
    ...overrides,
  };
}

export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void> | void;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup();
    });

    describeRetentionContract(() => store);

    describe('inbox', () => {
      it('adds an entry once per (source, messageId) and lists pending entries in arrival order', async () => {
        assert.equal(await store.inboxAdd({ source: 's', messageId: 'm1', payload: { a: 1 }, receivedAt: T0 }), true);
        assert.equal(await store.inboxAdd({ source: 's', messageId: 'm1', payload: { a: 2 }, receivedAt: T0 + 1 }), false);
        assert.equal(await store.inboxAdd({ source: 'other', messageId: 'm1', payload: null, receivedAt: T0 }), true);
        assert.equal(await store.inboxAdd({ source: 's', messageId: 'm2', payload: [1, 'x', true], receivedAt: T0 + 2 }), true);
        const pending = await store.inboxPending('s', 10);
        assert.deepEqual(pending.map((r) => [r.messageId, r.payload, r.status]), [['m1', { a: 1 }, 'received'], ['m2', [1, 'x', true], 'received']]);
        assert.ok(pending[0].seq < pending[1].seq);
        assert.equal(pending[0].receivedAt, T0);
      });

      it('adds many in one call, reporting per entry whether it was new (duplicates inside the batch too)', async () => {
        await store.inboxAdd({ source: 's', messageId: 'old', payload: 1, receivedAt: T0 });
        const result = await store.inboxAddMany([
          { source: 's', messageId: 'a', payload: 1, receivedAt: T0 },
          { source: 's', messageId: 'old', payload: 1, receivedAt: T0 },
          { source: 's', messageId: 'a', payload: 2, receivedAt: T0 },
          { source: 's', messageId: 'b', payload: 3, receivedAt: T0 },
        ]);
        assert.deepEqual(result, [true, false, false, true]);
        assert.deepEqual(await store.inboxAddMany([]), []);
        assert.equal((await store.inboxPending('s', 100)).length, 3);
      });

      it('marks entries processed and honours the limit', async () => {
        for (let i = 0; i < 5; i++) await store.inboxAdd({ source: 's', messageId: `m${i}`, payload: i, receivedAt: T0 + i });
        await store.inboxMarkProcessed('s', 'm0');
        await store.inboxMarkProcessed('s', 'm2');
        assert.deepEqual((await store.inboxPending('s', 2)).map((r) => r.messageId), ['m1', 'm3']);
        // A processed entry is still known: re-adding it is not new.
        assert.equal(await store.inboxAdd({ source: 's', messageId: 'm0', payload: 0, receivedAt: T0 }), false);
      });

      it('keeps the trigger meta, counts start-up replays and abandons entries out of the pending list', async () => {
        await store.inboxAddMany([
          { source: 's', messageId: 'a', payload: { x: 1 }, receivedAt: T0, meta: { topic: 'legacy/v1/a', qos: 1 } },
          { source: 's', messageId: 'b', payload: 2, receivedAt: T0 + 1 },
        ]);
        await store.inboxAdd({ source: 's', messageId: 'c', payload: 3, receivedAt: T0 + 2, meta: { topic: 't/c' } });
        const [a, b, c] = await store.inboxPending('s', 10);
        assert.deepEqual([a.meta, a.replays, a.status], [{ topic: 'legacy/v1/a', qos: 1 }, 0, 'received']);
        assert.equal(b.meta, undefined);
        assert.deepEqual(c.meta, { topic: 't/c' });
        assert.equal(await store.inboxNoteReplay('s', 'a'), 1);
        assert.equal(await store.inboxNoteReplay('s', 'a'), 2);
        assert.equal(await store.inboxNoteReplay('s', 'missing'), 0);
        assert.equal((await store.inboxGet('s', 'a'))?.replays, 2);
        assert.equal(await store.inboxAbandon('s', 'a', T0 + 10), true);
        assert.equal(await store.inboxAbandon('s', 'a', T0 + 11), false, 'only a received entry is abandoned');
        assert.equal((await store.inboxGet('s', 'a'))?.status, 'abandoned');
        assert.equal(await store.inboxNoteReplay('s', 'a'), 0, 'an abandoned entry is not replayed');
        assert.deepEqual((await store.inboxPending('s', 10)).map((r) => r.messageId), ['b', 'c']);
        // a late hand-over still marks an abandoned entry processed; a processed one is never abandoned
        await store.inboxMarkProcessed('s', 'a');
        assert.equal((await store.inboxGet('s', 'a'))?.status, 'processed');
        await store.inboxMarkProcessed('s', 'b');
        assert.equal(await store.inboxAbandon('s', 'b', T0 + 12), false);
        assert.equal(await store.inboxGet('s', 'nope'), undefined);
        assert.equal(await store.inboxAdd({ source: 's', messageId: 'a', payload: 0, receivedAt: T0 }), false);
      });
    });

    describe('outbox', () => {
      it('enqueues once per (connection, idempotencyKey) and returns the first item for a duplicate', async () => {
        const first = await store.outboxEnqueue(outboxItem({ origin: 'node-1', context: { msgid: 'x' }, correlationId: 'c-1', process: 'p', step: 's', recordKey: 'Account/ACC-1' }), T0);
        assert.equal(first.duplicate, false);
        assert.equal(first.item.status, 'pending');
        assert.equal(first.item.attempts, 0);
        assert.equal(first.item.nextAttemptAt, T0);
        assert.deepEqual(first.item.request, { externalId: 'ACC-1', name: 'Acme GmbH' });
        assert.deepEqual(first.item.context, { msgid: 'x' });
        assert.equal(first.item.recordKey, 'Account/ACC-1');
        const again = await store.outboxEnqueue(outboxItem({ request: { changed: true } }), T0 + 5);
        assert.equal(again.duplicate, true);
        assert.equal(again.item.id, first.item.id);
        assert.deepEqual(again.item.request, { externalId: 'ACC-1', name: 'Acme GmbH' });
        const otherConnection = await store.outboxEnqueue(outboxItem({ connection: 'bc:acme' }), T0);
        assert.equal(otherConnection.duplicate, false);
        assert.deepEqual(await store.outboxFind('netsuite:acme', 'k-1'), first.item);
        assert.deepEqual(await store.outboxGet(first.item.id), first.item);
        assert.equal(await store.outboxFind('netsuite:acme', 'nope'), undefined);
        assert.equal(await store.outboxGet(99999), undefined);
      });

      it('claims due items of one connection with a lease, counting attempts, and never twice while leased', async () => {
        const a = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'a' }), T0)).item;
        const b = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'b' }), T0 + 1)).item;
        await store.outboxEnqueue(outboxItem({ idempotencyKey: 'c', connection: 'other' }), T0);
        const claimed = await store.outboxClaim('netsuite:acme', 10, T0 + 10, 1000, 'worker-1');
        assert.deepEqual(claimed.map((i) => i.id), [a.id, b.id]);
        for (const item of claimed) {
          assert.equal(item.status, 'inflight');
          assert.equal(item.attempts, 1);
          assert.equal(item.leaseOwner, 'worker-1');
          assert.equal(item.leaseUntil, T0 + 1010);
        }
        assert.deepEqual(await store.outboxClaim('netsuite:acme', 10, T0 + 20, 1000, 'worker-2'), []);
        // The lease expired (worker-1 died): another worker takes the items over.
        const takenOver = await store.outboxClaim('netsuite:acme', 1, T0 + 1011, 1000, 'worker-2');
        assert.equal(takenOver.length, 1);
        assert.equal(takenOver[0].id, a.id);
        assert.equal(takenOver[0].attempts, 2);
        assert.equal(takenOver[0].leaseOwner, 'worker-2');
      });

      it('does not claim items scheduled for later; retryAt reschedules and keeps the error', async () => {
        const a = (await store.outboxEnqueue(outboxItem(), T0)).item;
        await store.outboxClaim('netsuite:acme', 10, T0, 1000, 'w');
        await store.outboxRetryAt(a.id, T0 + 5000, '503 Service Unavailable', T0 + 1);
        const retrying = (await store.outboxGet(a.id))!;
        assert.equal(retrying.status, 'pending');
        assert.equal(retrying.lastError, '503 Service Unavailable');
        assert.equal(retrying.nextAttemptAt, T0 + 5000);
        assert.equal(retrying.leaseOwner, undefined);
        assert.deepEqual(await store.outboxClaim('netsuite:acme', 10, T0 + 4999, 1000, 'w'), []);
        const due = await store.outboxClaim('netsuite:acme', 10, T0 + 5000, 1000, 'w');
        assert.equal(due.length, 1);
        assert.equal(due[0].attempts, 2);
      });

      it('records delivery and failure, and tells the origin about completions until acknowledged', async () => {
        const a = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'a', origin: 'node-1' }), T0)).item;
        const b = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'b', origin: 'node-1' }), T0)).item;
        const c = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'c', origin: 'node-1' }), T0)).item;
        await store.outboxEnqueue(outboxItem({ idempotencyKey: 'd', origin: 'node-2' }), T0);
        await store.outboxClaim('netsuite:acme', 10, T0, 1000, 'w');
        await store.outboxDelivered(a.id, { id: 'NS-77' }, T0 + 10);
        await store.outboxFailed(b.id, 'REQUIRED_FIELD_MISSING: currency', { status: 400, body: { error: 'x' } }, T0 + 11);
        const delivered = (await store.outboxGet(a.id))!;
        assert.equal(delivered.status, 'delivered');
        assert.deepEqual(delivered.response, { id: 'NS-77' });
        assert.equal(delivered.updatedAt, T0 + 10);
        const failed = (await store.outboxGet(b.id))!;
        assert.equal(failed.status, 'failed');
        assert.equal(failed.lastError, 'REQUIRED_FIELD_MISSING: currency');
        assert.deepEqual(failed.response, { status: 400, body: { error: 'x' } });
        assert.deepEqual((await store.outboxUnacknowledged('node-1', 10)).map((i) => i.id), [a.id, b.id]);
        await store.outboxAcknowledge(a.id);
        assert.deepEqual((await store.outboxUnacknowledged('node-1', 10)).map((i) => i.id), [b.id]);
        assert.deepEqual(await store.outboxUnacknowledged('node-2', 10), []);
        assert.equal((await store.outboxGet(c.id))!.status, 'inflight');
        // Finished items are not claimed again.
        assert.deepEqual((await store.outboxClaim('netsuite:acme', 10, T0 + 1_000_000, 1000, 'w')).map((i) => i.id).sort(), [c.id, (await store.outboxFind('netsuite:acme', 'd'))!.id].sort());
      });

      it('marks an item delivered with its audit entry in one transaction: both are stored, or neither', async () => {
        const a = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'a' }), T0)).item;
        const b = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'b' }), T0)).item;
        await store.outboxClaim('netsuite:acme', 10, T0, 1000, 'w');
        const entry = { at: T0 + 10, actor: 'delivery', action: 'write.delivered', process: 'time-to-cash', correlationId: 'c1', targetSystem: 'netsuite:acme', recordKey: 'Invoice/1', details: { outboxId: a.id } };
        await store.outboxDelivered(a.id, { id: 'NS-77' }, T0 + 10, entry);
        const delivered = (await store.outboxGet(a.id))!;
        assert.equal(delivered.status, 'delivered');
        assert.deepEqual(delivered.response, { id: 'NS-77' });
        assert.equal(delivered.leaseOwner, undefined);
        const audit = await store.auditList({ action: 'write.delivered' });
        assert.equal(audit.length, 1);
        assert.deepEqual(audit[0], { id: audit[0].id, ...entry });
        // the database refuses the audit entry (actor is NOT NULL): the delivered mark is not stored either
        const refused = { ...entry, actor: null as unknown as string, details: { outboxId: b.id } };
        await assert.rejects(store.outboxDelivered(b.id, { id: 'NS-78' }, T0 + 11, refused));
        assert.equal((await store.outboxGet(b.id))!.status, 'inflight');
        assert.equal((await store.auditList({ action: 'write.delivered' })).length, 1);
      });

      it('stores the delivered marks of one turn each with its audit entry; one the database refuses fails alone', async () => {
        const items = [];
        for (let i = 0; i < 12; i++) items.push((await store.outboxEnqueue(outboxItem({ idempotencyKey: `k${i}` }), T0)).item);
        await store.outboxClaim('netsuite:acme', 20, T0, 1000, 'w');
        const entry = (id: number, actor: string) => ({ at: T0 + id, actor, action: 'write.delivered', details: { outboxId: id } });
        const bad = items[5].id;
        const outcomes = await Promise.allSettled(items.map((it) => store.outboxDelivered(it.id, { n: it.id }, T0 + 20, entry(it.id, it.id === bad ? (null as unknown as string) : 'delivery'))));
        assert.deepEqual(outcomes.map((o) => o.status), items.map((it) => (it.id === bad ? 'rejected' : 'fulfilled')));
        for (const it of items) {
          const stored = (await store.outboxGet(it.id))!;
          assert.equal(stored.status, it.id === bad ? 'inflight' : 'delivered', `item ${it.id}`);
          if (it.id !== bad) assert.deepEqual(stored.response, { n: it.id });
        }
        const audit = await store.auditList({ action: 'write.delivered', limit: 100 });
        assert.deepEqual(audit.map((a) => (a.details as { outboxId: number }).outboxId).sort((x, y) => x - y), items.filter((it) => it.id !== bad).map((it) => it.id));
        assert.ok(audit.every((a) => a.at === T0 + (a.details as { outboxId: number }).outboxId && a.actor === 'delivery'));
      });

      it('requeues a failed item with its idempotency key (optionally with a new request), but not a live one', async () => {
        const a = (await store.outboxEnqueue(outboxItem({ origin: 'n' }), T0)).item;
        assert.equal(await store.outboxRequeue(a.id, T0 + 1), undefined, 'pending items are not requeued');
        await store.outboxClaim('netsuite:acme', 10, T0, 1000, 'w');
        await store.outboxFailed(a.id, 'bad', undefined, T0 + 2);
        const requeued = (await store.outboxRequeue(a.id, T0 + 3, { externalId: 'ACC-1', name: 'Acme GmbH', currency: 'EUR' }))!;
        assert.equal(requeued.status, 'pending');
        assert.equal(requeued.attempts, 0);
        assert.equal(requeued.idempotencyKey, 'k-1');
        assert.equal(requeued.nextAttemptAt, T0 + 3);
        assert.equal(requeued.lastError, undefined);
        assert.deepEqual(requeued.request, { externalId: 'ACC-1', name: 'Acme GmbH', currency: 'EUR' });
        assert.deepEqual(await store.outboxUnacknowledged('n', 10), []);
        assert.equal(await store.outboxRequeue(424242, T0), undefined);
      });

      it('reports the backlog per connection and purges old delivered, acknowledged items only', async () => {
        const a = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'a' }), T0)).item;
        const b = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'b', origin: 'n' }), T0)).item;
        const c = (await store.outboxEnqueue(outboxItem({ idempotencyKey: 'c' }), T0)).item;
        await store.outboxEnqueue(outboxItem({ idempotencyKey: 'd' }), T0);
        await store.outboxEnqueue(outboxItem({ idempotencyKey: 'e', connection: 'jira:acme' }), T0);
        await store.outboxClaim('netsuite:acme', 3, T0, 1000, 'w');
        await store.outboxDelivered(a.id, null, T0 + 1);
        await store.outboxDelivered(b.id, null, T0 + 1);
        await store.outboxFailed(c.id, 'x', undefined, T0 + 1);
        const backlog = await store.outboxBacklog();
        const byConnection = Object.fromEntries(backlog.map((row) => [row.connection, row]));
        assert.deepEqual(byConnection['netsuite:acme'], { connection: 'netsuite:acme', pending: 1, inflight: 0, failed: 1, delivered: 2 });
        assert.deepEqual(byConnection['jira:acme'], { connection: 'jira:acme', pending: 1, inflight: 0, failed: 0, delivered: 0 });
      });
    });

    describe('idempotency keys', () => {
      it('claims a key once until it expires, then again', async () => {
        assert.equal(await store.idempotencyClaim('scope', 'k', T0, 1000), true);
        assert.equal(await store.idempotencyClaim('scope', 'k', T0 + 999, 1000), false);
        assert.equal(await store.idempotencyClaim('other', 'k', T0, 1000), true);
        const record = (await store.idempotencyGet('scope', 'k', T0 + 1))!;
        assert.deepEqual(record, { scope: 'scope', key: 'k', firstSeenAt: T0, expiresAt: T0 + 1000 });
        assert.equal(await store.idempotencyGet('scope', 'k', T0 + 1000), undefined, 'expired keys are not returned');
        await store.idempotencySetOutcome('scope', 'k', { invoice: 'INV-1' });
        assert.equal(await store.idempotencyClaim('scope', 'k', T0 + 1000, 500), true, 'an expired key can be claimed again');
        const renewed = (await store.idempotencyGet('scope', 'k', T0 + 1001))!;
        assert.equal(renewed.firstSeenAt, T0 + 1000);
        assert.equal(renewed.outcome, undefined, 'the old outcome does not leak into the new claim');
      });

      it('stores an outcome, releases keys and purges expired ones', async () => {
        await store.idempotencyClaim('s', 'a', T0, 1000);
        await store.idempotencyClaim('s', 'b', T0, 5000);
        await store.idempotencySetOutcome('s', 'a', { id: 42, ok: true });
        assert.deepEqual((await store.idempotencyGet('s', 'a', T0))!.outcome, { id: 42, ok: true });
        await store.idempotencyRelease('s', 'a');
        assert.equal(await store.idempotencyClaim('s', 'a', T0 + 1, 1000), true);
        assert.equal(await store.idempotencyPurgeExpired(T0 + 1000), 0);
        assert.equal(await store.idempotencyPurgeExpired(T0 + 1001), 1);
        assert.equal(await store.idempotencyPurgeExpired(T0 + 5000), 1);
        assert.equal(await store.idempotencyGet('s', 'b', T0), undefined);
      });

      it('claims many keys in one call with the answers sequential claims would give', async () => {
        await store.idempotencyClaim('s', 'held', T0, 1000);
        await store.idempotencyClaim('s', 'expired', T0 - 2000, 1000);
        await store.idempotencySetOutcome('s', 'expired', { invoice: 'INV-OLD' });
        await store.idempotencyClaim('other', 'new-1', T0, 1000);
        const won = await store.idempotencyClaimMany('s', ['new-1', 'held', 'expired', 'new-2', 'new-1'], T0, 1000);
        assert.deepEqual(won, [true, false, true, true, false], 'new, live, expired (taken over), new, repeat in the batch');
        assert.deepEqual(await store.idempotencyGet('s', 'new-2', T0 + 1), { scope: 's', key: 'new-2', firstSeenAt: T0, expiresAt: T0 + 1000 });
        assert.deepEqual(await store.idempotencyGet('s', 'expired', T0 + 1), { scope: 's', key: 'expired', firstSeenAt: T0, expiresAt: T0 + 1000 }, 'the old outcome is cleared');
        assert.equal((await store.idempotencyGet('s', 'held', T0 + 1))!.firstSeenAt, T0, 'a live key keeps its first claim');
        assert.equal(await store.idempotencyClaim('s', 'new-2', T0 + 999, 1000), false, 'a key claimed in a batch is held like any other');
        assert.deepEqual(await store.idempotencyClaimMany('s', [], T0, 1000), []);
      });

      it('lets each key of overlapping concurrent batches be won exactly once', async () => {
        const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
        const batches = Array.from({ length: 6 }, (_, b) => keys.filter((_, i) => (i + b) % 3 !== 0).reverse().slice(b));
        const results = await Promise.all(batches.map((batch) => store.idempotencyClaimMany('s', batch, T0, 1000)));
        const wins = new Map<string, number>();
        batches.forEach((batch, b) => batch.forEach((key, i) => { if (results[b][i]) wins.set(key, (wins.get(key) ?? 0) + 1); }));
        const claimedAnywhere = new Set(batches.flat());
        assert.equal(wins.size, claimedAnywhere.size, 'every key asked for was won by some batch');
        assert.ok([...wins.values()].every((n) => n === 1), 'and by exactly one');
      });

      it('lets exactly one of many concurrent claims win', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => store.idempotencyClaim('s', 'race', T0, 1000)));
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('assignments', () => {
      it('stores a group with its members and data all or nothing, and answers who holds which member', async () => {
        const write = { invoice: { id: 'INV-1', lines: [{ lineNumber: 1 }] }, idempotencyKey: 't2c:INV-1' };
        assert.deepEqual(await store.assignmentCreate('inv', 'INV-1', ['e2', 'e1', 'e2'], write, T0), { assigned: true });
        assert.deepEqual(await store.assignmentGet('inv', 'INV-1'), { scope: 'inv', id: 'INV-1', members: ['e2', 'e1'], data: write, createdAt: T0 });
        assert.deepEqual(await store.assignmentsOf('inv', ['e1', 'e3', 'e2']), new Map([['e1', 'INV-1'], ['e2', 'INV-1']]));
        assert.deepEqual(await store.assignmentsOf('inv', []), new Map());

        const clash = await store.assignmentCreate('inv', 'INV-2', ['e3', 'e1'], { other: true }, T0 + 1);
        assert.deepEqual(clash, { assigned: false, idTaken: false, taken: new Map([['e1', 'INV-1']]) });
        assert.equal(await store.assignmentGet('inv', 'INV-2'), undefined, 'nothing of a refused group is stored');
        assert.deepEqual(await store.assignmentsOf('inv', ['e3']), new Map(), 'not even its free members');

        assert.deepEqual(await store.assignmentCreate('inv', 'INV-1', ['e9'], {}, T0 + 2), { assigned: false, idTaken: true, taken: new Map() });
        assert.deepEqual(await store.assignmentsOf('inv', ['e9']), new Map());
        assert.deepEqual(await store.assignmentCreate('other-scope', 'INV-1', ['e1'], {}, T0), { assigned: true }, 'scopes are separate');
        await assert.rejects(store.assignmentCreate('inv', 'INV-3', [], {}, T0), /INV-3 needs at least one member/);
      });

      it('gives each member of overlapping concurrent groups to exactly one group', async () => {
        const members = Array.from({ length: 40 }, (_, i) => `e${i}`);
        // 8 groups over overlapping windows of the members, in different orders
        const groups = Array.from({ length: 8 }, (_, g) => ({ id: `INV-${g}`, members: (g % 2 ? [...members].reverse() : members).filter((_, i) => (i + g) % 4 !== 0).slice(g * 2, g * 2 + 20) }));
        const results = await Promise.all(groups.map((g) => store.assignmentCreate('inv', g.id, g.members, { id: g.id }, T0)));
        const won = groups.filter((_, i) => results[i].assigned);
        assert.ok(won.length >= 1);
        const owner = await store.assignmentsOf('inv', members);
        const seen = new Set<string>();
        for (const g of won) {
          for (const m of g.members) {
            assert.equal(owner.get(m), g.id, `${m} belongs to the group that won it`);
            assert.ok(!seen.has(m), `${m} is in one winning group only`);
            seen.add(m);
          }
        }
        assert.equal(owner.size, seen.size, 'no member of a losing group was stored');
        for (const [i, g] of groups.entries()) {
          const r = results[i];
          if (!r.assigned) assert.ok(r.taken.size > 0 && [...r.taken.keys()].every((m) => g.members.includes(m)), `${g.id} lost on a member it asked for`);
        }
      });
    });

    describe('exceptions', () => {
      it('adds an exception with all its facts and reads it back', async () => {
        const added = await store.exceptionAdd(exception({
          correlationId: 'corr-1',
          details: [{ path: '/currency', message: 'is required' }],
          request: { customer: 'ACC-1' },
          response: { status: 400, body: { code: 'INVALID' } },
          replayTarget: { kind: 'outbox', connection: 'netsuite:acme', operation: 'createInvoice' },
          attempts: 3,
        }), T0);
        assert.equal(added.status, 'open');
        assert.equal(added.occurrences, 1);
        assert.equal(added.firstSeenAt, T0);
        assert.equal(added.lastSeenAt, T0);
        assert.equal(added.attempts, 3);
        assert.deepEqual(added.replayTarget, { kind: 'outbox', connection: 'netsuite:acme', operation: 'createInvoice' });
        assert.deepEqual(added.details, [{ path: '/currency', message: 'is required' }]);
        assert.equal(added.resolution, undefined);
        assert.deepEqual(await store.exceptionGet(added.id), added);
        assert.equal(await store.exceptionGet(123456), undefined);
      });

      it('updates the open exception of the same (process, step, recordKey) instead of duplicating it', async () => {
        const first = await store.exceptionAdd(exception({ request: { v: 1 } }), T0);
        const again = await store.exceptionAdd(exception({ message: 'still no currency', request: { v: 2 }, attempts: 2 }), T0 + 60_000);
        assert.equal(again.id, first.id);
        assert.equal(again.occurrences, 2);
        assert.equal(again.firstSeenAt, T0);
        assert.equal(again.lastSeenAt, T0 + 60_000);
        assert.equal(again.message, 'still no currency');
        assert.deepEqual(again.request, { v: 2 });
        // Another step, or no recordKey, is a different exception.
        assert.notEqual((await store.exceptionAdd(exception({ step: 'other' }), T0)).id, first.id);
        const noKey1 = await store.exceptionAdd(exception({ recordKey: undefined }), T0);
        const noKey2 = await store.exceptionAdd(exception({ recordKey: undefined }), T0);
        assert.notEqual(noKey1.id, noKey2.id);
        // Once it is no longer open, a new failure opens a new one.
        await store.exceptionSetStatus(first.id, 'discarded', 'alice', T0 + 1, 'duplicate of INV-9');
        const fresh = await store.exceptionAdd(exception(), T0 + 2);
        assert.notEqual(fresh.id, first.id);
        assert.equal(fresh.occurrences, 1);
      });

      it('lists (newest first), filters and counts', async () => {
        const a = await store.exceptionAdd(exception({ recordKey: 'Invoice/1', ownerTeam: 'billing-ops', correlationId: 'c1' }), T0);
        const b = await store.exceptionAdd(exception({ recordKey: 'Invoice/2', ownerTeam: 'billing-ops', errorClass: 'permanent' }), T0 + 10);
        const c = await store.exceptionAdd(exception({ process: 'quote-to-project', step: 'create-project', recordKey: 'Opportunity/9', ownerTeam: 'pmo' }), T0 + 20);
        await store.exceptionSetStatus(b.id, 'replayed', 'bob', T0 + 30);
        const ids = async (filter: Parameters<Store['exceptionList']>[0]) => (await store.exceptionList(filter)).map((r) => r.id);
        assert.deepEqual(await ids({}), [c.id, b.id, a.id]);
        assert.deepEqual(await ids({ status: 'open' }), [c.id, a.id]);
        assert.deepEqual(await ids({ status: ['open', 'replayed'], process: 'time-to-cash' }), [b.id, a.id]);
        assert.deepEqual(await ids({ ownerTeam: 'pmo' }), [c.id]);
        assert.deepEqual(await ids({ errorClass: 'permanent' }), [b.id]);
        assert.deepEqual(await ids({ recordKey: 'Invoice/1' }), [a.id]);
        assert.deepEqual(await ids({ correlationId: 'c1' }), [a.id]);
        assert.deepEqual(await ids({ step: 'create-project' }), [c.id]);
        assert.deepEqual(await ids({ olderThan: T0 + 10 }), [a.id]);
        assert.deepEqual(await ids({ limit: 1, offset: 1 }), [b.id]);
        assert.equal(await store.exceptionCount({}), 3);
        assert.equal(await store.exceptionCount({ status: 'open', ownerTeam: 'billing-ops' }), 1);
        assert.equal(await store.exceptionCount({ status: [] as never[] }), 0);
      });

      it('sets a status with who, when and why, and updates the request', async () => {
        const a = await store.exceptionAdd(exception({ request: { v: 1 } }), T0);
        await store.exceptionSetStatus(a.id, 'discarded', 'alice', T0 + 5, 'customer closed the account');
        const discarded = (await store.exceptionGet(a.id))!;
        assert.equal(discarded.status, 'discarded');
        assert.deepEqual(discarded.resolution, { by: 'alice', at: T0 + 5, reason: 'customer closed the account' });
        await store.exceptionUpdateRequest(a.id, { v: 2, fixed: true });
        assert.deepEqual((await store.exceptionGet(a.id))!.request, { v: 2, fixed: true });
        await store.exceptionSetStatus(a.id, 'resolved', 'process:time-to-cash', T0 + 6);
        assert.deepEqual((await store.exceptionGet(a.id))!.resolution, { by: 'process:time-to-cash', at: T0 + 6 });
      });

      it('keeps hostile strings and keys intact as data', async () => {
        const nasty = "Robert'); DROP TABLE exceptions;--";
        const added = await store.exceptionAdd(exception({ recordKey: nasty, message: nasty, details: JSON.parse('{"__proto__":{"polluted":1},"constructor":"x"}') }), T0);
        const back = (await store.exceptionGet(added.id))!;
        assert.equal(back.recordKey, nasty);
        assert.equal(JSON.stringify(back.details), '{"__proto__":{"polluted":1},"constructor":"x"}');
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(await store.exceptionCount({ recordKey: nasty }), 1);
      });
    });

    describe('audit', () => {
      it('appends entries and lists them newest first by record, correlation, action and time', async () => {
        await store.auditAppend({ at: T0, actor: 'process:time-to-cash', action: 'write.delivered', process: 'time-to-cash', correlationId: 'c1', targetSystem: 'netsuite', recordKey: 'Invoice/1', details: { id: 'NS-1' } });
        await store.auditAppend({ at: T0 + 1, actor: 'alice', action: 'exception.replayed', recordKey: 'Invoice/1' });
        await store.auditAppend({ at: T0 + 2, actor: 'bob', action: 'exception.discarded', recordKey: 'Invoice/2', correlationId: 'c1' });
        const all = await store.auditList({});
        assert.deepEqual(all.map((e) => e.actor), ['bob', 'alice', 'process:time-to-cash']);
        assert.deepEqual(all[2], { id: all[2].id, at: T0, actor: 'process:time-to-cash', action: 'write.delivered', process: 'time-to-cash', correlationId: 'c1', targetSystem: 'netsuite', recordKey: 'Invoice/1', details: { id: 'NS-1' } });
        assert.deepEqual((await store.auditList({ recordKey: 'Invoice/1' })).map((e) => e.actor), ['alice', 'process:time-to-cash']);
        assert.deepEqual((await store.auditList({ correlationId: 'c1' })).map((e) => e.actor), ['bob', 'process:time-to-cash']);
        assert.deepEqual((await store.auditList({ action: 'exception.replayed' })).map((e) => e.actor), ['alice']);
        assert.deepEqual((await store.auditList({ since: T0 + 1 })).map((e) => e.actor), ['bob', 'alice']);
        assert.deepEqual((await store.auditList({ limit: 1 })).map((e) => e.actor), ['bob']);
      });
    });

    describe('process instances', () => {
      it('starts, completes and lists runs; a restarted run keeps its first start time', async () => {
        await store.processStart({ process: 'quote-to-project', key: 'opp-1', correlationId: 'c1', startedAt: T0, status: 'running' });
        await store.processStart({ process: 'quote-to-project', key: 'opp-2', startedAt: T0 + 10, status: 'running', attributes: { amount: 1000 } });
        await store.processStart({ process: 'time-to-cash', key: 'batch-1', startedAt: T0 + 20, status: 'running' });
        await store.processComplete('quote-to-project', 'opp-1', 'completed', T0 + 100, { projectId: 'PRJ-1' });
        await store.processComplete('quote-to-project', 'missing', 'failed', T0 + 100);
        const runs = await store.processList({ process: 'quote-to-project' });
        assert.deepEqual(runs.map((r) => r.key), ['opp-2', 'opp-1']);
        assert.deepEqual(runs[1], { process: 'quote-to-project', key: 'opp-1', correlationId: 'c1', startedAt: T0, completedAt: T0 + 100, status: 'completed', attributes: { projectId: 'PRJ-1' } });
        assert.deepEqual((await store.processList({ status: 'running' })).map((r) => r.key), ['batch-1', 'opp-2']);
        assert.deepEqual((await store.processList({ since: T0 + 10, limit: 1 })).map((r) => r.key), ['batch-1']);
        await store.processStart({ process: 'quote-to-project', key: 'opp-1', startedAt: T0 + 500, status: 'running' });
        const restarted = (await store.processList({ process: 'quote-to-project', status: 'running' })).find((r) => r.key === 'opp-1')!;
        assert.equal(restarted.startedAt, T0);
        assert.equal(restarted.completedAt, undefined);
        assert.equal(restarted.correlationId, 'c1');
      });
    });

    describe('watermarks and leases', () => {
      it('gets and sets watermarks', async () => {
        assert.equal(await store.watermarkGet('sf:opportunity'), undefined);
        await store.watermarkSet('sf:opportunity', '2026-11-30T09:00:00.000Z', T0);
        await store.watermarkSet('sf:opportunity', '2026-11-30T09:05:00.000Z', T0 + 1);
        assert.equal(await store.watermarkGet('sf:opportunity'), '2026-11-30T09:05:00.000Z');
      });

      it('gives a lease to one owner at a time, renews it for that owner and frees it on release or expiry', async () => {
        assert.equal(await store.leaseAcquire('poller', 'a', T0, 1000), true);
        assert.equal(await store.leaseAcquire('poller', 'b', T0 + 500, 1000), false);
        assert.equal(await store.leaseAcquire('poller', 'a', T0 + 900, 1000), true, 'renewal');
        assert.equal(await store.leaseAcquire('poller', 'b', T0 + 1500, 1000), false, 'renewed until T0+1900');
        assert.equal(await store.leaseAcquire('poller', 'b', T0 + 1900, 1000), true, 'expired');
        await store.leaseRelease('poller', 'a');
        assert.equal(await store.leaseAcquire('poller', 'a', T0 + 2000, 1000), false, 'releasing a lease one does not hold does nothing');
        await store.leaseRelease('poller', 'b');
        assert.equal(await store.leaseAcquire('poller', 'a', T0 + 2000, 1000), true);
      });
    });

    describe('trigger runs', () => {
      const newRun = (id: string, trigger = 'trg-1', overrides: Partial<NewTriggerRun> = {}): NewTriggerRun => ({
        id, trigger, name: 'closed won', kind: 'backfill', from: T0 - 3 * 3600000, to: T0, sliceMs: 3600000, windowsTotal: 3, actor: 'user:ops', startedAt: T0, ...overrides,
      });
      const progress = (windowsDone: number, emitted = 0, skipped = 0) => ({ windowsDone, emitted, skipped });

      it('records a run as pending and refuses a second pending or running run of the same trigger, on any trigger else not', async () => {
        const run = await store.triggerRunCreate(newRun('r1'), T0);
        assert.ok(run);
        assert.deepEqual({ ...run, updatedAt: 0 }, { ...newRun('r1'), windowsDone: 0, emitted: 0, skipped: 0, state: 'pending', updatedAt: 0 });
        assert.equal(await store.triggerRunCreate(newRun('r2', 'trg-1', { kind: 'cdc-gap', actor: 'node:trg-1' }), T0 + 1), undefined, 'a second run of the trigger');
        assert.equal(await store.triggerRunGet('r2'), undefined, 'nothing written for the refused run');
        assert.ok(await store.triggerRunCreate(newRun('r3', 'trg-2'), T0 + 1), 'another trigger');
        assert.equal((await store.triggerRunActive('trg-1'))?.id, 'r1');
        // taken and running: still the one run of the trigger
        assert.equal((await store.triggerRunTake('r1', 'a/1', T0 + 2))?.state, 'running');
        assert.equal(await store.triggerRunCreate(newRun('r4'), T0 + 3), undefined, 'refused while running');
        assert.equal(await store.triggerRunEnd('r1', 'a/1', { state: 'done', ...progress(3, 5, 1) }, T0 + 4), true);
        assert.equal(await store.triggerRunActive('trg-1'), undefined);
        assert.ok(await store.triggerRunCreate(newRun('r5', 'trg-1', { startedAt: T0 + 5 }), T0 + 5), 'a new run once the previous ended');
      });

      it('records progress and the end for the runner that took it only; another runner takes a run over from its last progress', async () => {
        await store.triggerRunCreate(newRun('r1'), T0);
        assert.equal(await store.triggerRunProgress('r1', 'a/1', progress(1), T0 + 1), false, 'not taken yet');
        await store.triggerRunTake('r1', 'a/1', T0 + 1);
        assert.equal(await store.triggerRunProgress('r1', 'a/1', progress(1, 2, 1), T0 + 2), true);
        // a/1 died: b/1 takes it over and carries on from window 1
        const taken = await store.triggerRunTake('r1', 'b/1', T0 + 3);
        assert.deepEqual([taken?.runner, taken?.windowsDone, taken?.emitted, taken?.skipped, taken?.state], ['b/1', 1, 2, 1, 'running']);
        assert.equal(await store.triggerRunProgress('r1', 'a/1', progress(2, 9, 9), T0 + 4), false, 'the former runner writes nothing');
        assert.equal(await store.triggerRunEnd('r1', 'a/1', { state: 'failed', error: 'stopped', ...progress(2) }, T0 + 4), false);
        assert.equal(await store.triggerRunProgress('r1', 'b/1', progress(2, 3, 1), T0 + 5), true);
        assert.equal(await store.triggerRunEnd('r1', 'b/1', { state: 'failed', error: 'query refused', ...progress(2, 3, 1) }, T0 + 6), true);
        const ended = await store.triggerRunGet('r1');
        assert.deepEqual([ended?.state, ended?.error, ended?.windowsDone, ended?.emitted, ended?.endedAt, ended?.runner], ['failed', 'query refused', 2, 3, T0 + 6, 'b/1']);
        assert.equal(await store.triggerRunTake('r1', 'a/2', T0 + 7), undefined, 'an ended run is not taken');
        assert.equal(await store.triggerRunEnd('r1', 'b/1', { state: 'done', ...progress(3) }, T0 + 8), false, 'ended once');
      });

      it('keeps the error given at the start (a cut range) when a run ends without one', async () => {
        await store.triggerRunCreate(newRun('r1', 'trg-1', { error: 'left out 2026-10-01 → 2026-10-30' }), T0);
        await store.triggerRunTake('r1', 'a/1', T0);
        await store.triggerRunEnd('r1', 'a/1', { state: 'done', ...progress(3) }, T0 + 1);
        assert.equal((await store.triggerRunGet('r1'))?.error, 'left out 2026-10-01 → 2026-10-30');
      });

      it('lists per trigger its pending or running run, else its newest; triggers without a run are left out', async () => {
        for (const [id, startedAt] of [['old', T0], ['newer', T0 + 10]] as const) {
          await store.triggerRunCreate(newRun(id, 'trg-1', { startedAt }), startedAt);
          await store.triggerRunTake(id, 'a/1', startedAt);
          await store.triggerRunEnd(id, 'a/1', { state: 'done', ...progress(3) }, startedAt + 1);
        }
        await store.triggerRunCreate(newRun('ended', 'trg-2', { startedAt: T0 + 30 }), T0 + 30);
        await store.triggerRunTake('ended', 'a/1', T0 + 30);
        await store.triggerRunEnd('ended', 'a/1', { state: 'done', ...progress(3) }, T0 + 31);
        await store.triggerRunCreate(newRun('pending', 'trg-2', { startedAt: T0 + 20 }), T0 + 32);
        const latest = await store.triggerRunLatest(['trg-1', 'trg-2', 'trg-3']);
        assert.deepEqual(latest.map((r) => [r.trigger, r.id]).sort(), [['trg-1', 'newer'], ['trg-2', 'pending']]);
        assert.deepEqual(await store.triggerRunLatest([]), []);
      });
    });

    describe('runtime instances', () => {
      const claimAs = async (owner: string, key: string, leaseMs = 120_000) => {
        await store.outboxEnqueue(outboxItem({ idempotencyKey: key }), T0);
        const [item] = await store.outboxClaim('netsuite:acme', 1, T0, leaseMs, owner);
        assert.equal(item.idempotencyKey, key);
        return item;
      };

      it('records heartbeats per identity; a new incarnation replaces the previous one and restarts started_at', async () => {
        await store.instanceBeat('a', 'inc1', T0);
        await store.instanceBeat('a', 'inc1', T0 + 5000);
        await store.instanceBeat('b', 'inc9', T0 + 100);
        assert.deepEqual(await store.instanceList(), [
          { id: 'a', incarnation: 'inc1', startedAt: T0, heartbeatAt: T0 + 5000 },
          { id: 'b', incarnation: 'inc9', startedAt: T0 + 100, heartbeatAt: T0 + 100 },
        ]);
        await store.instanceBeat('a', 'inc2', T0 + 6000);
        assert.deepEqual((await store.instanceList())[0], { id: 'a', incarnation: 'inc2', startedAt: T0 + 6000, heartbeatAt: T0 + 6000 });
      });

      it('a new incarnation frees what earlier incarnations of its identity hold, and nothing of anyone else', async () => {
        await claimAs('a/inc1', 'k-old');
        await claimAs('a/inc2', 'k-mine');
        await claimAs('ab/inc1', 'k-other-prefix');
        await claimAs('b/inc1', 'k-other');
        assert.equal(await store.leaseAcquire('poller:x', 'a/inc1', T0, 60_000), true);
        assert.equal(await store.leaseAcquire('poller:y', 'b/inc1', T0, 60_000), true);
        assert.deepEqual(await store.instanceReclaim('a', 'inc2', T0 + 10), { outboxItems: 1, leases: 1 });
        // the freed item is due at once (its lease would have run for 120 s), with its attempt still counted
        const again = await store.outboxClaim('netsuite:acme', 10, T0 + 10, 1000, 'a/inc2');
        assert.deepEqual(again.map((i) => [i.idempotencyKey, i.attempts]), [['k-old', 2]]);
        assert.equal(await store.leaseAcquire('poller:x', 'a/inc2', T0 + 10, 60_000), true, 'the dead incarnation\'s lease is gone');
        assert.equal(await store.leaseAcquire('poller:y', 'a/inc2', T0 + 10, 60_000), false, 'another identity\'s lease stays');
        assert.deepEqual(await store.instanceReclaim('a', 'inc2', T0 + 20), { outboxItems: 0, leases: 0 }, 'nothing of its own incarnation');
      });

      it('frees the holdings of instances whose heartbeat is older than the bound, once, and never its own', async () => {
        await store.instanceBeat('a', 'inc1', T0);
        await store.instanceBeat('b', 'inc1', T0);
        await store.instanceBeat('c', 'inc1', T0 + 9000);
        await claimAs('b/inc1', 'k-b');
        await claimAs('c/inc1', 'k-c');
        assert.equal(await store.leaseAcquire('poller:x', 'b/inc1', T0, 60_000), true);
        assert.deepEqual(await store.instanceReclaimDead(T0, T0 + 15_000, 'a'), [], 'a heartbeat exactly at the bound is alive');
        const dead = await store.instanceReclaimDead(T0 + 1, T0 + 15_000, 'a');
        assert.deepEqual(dead, [{ id: 'b', incarnation: 'inc1', startedAt: T0, heartbeatAt: T0, outboxItems: 1, leases: 1 }]);
        assert.deepEqual((await store.instanceList()).map((i) => i.id), ['a', 'c']);
        const taken = await store.outboxClaim('netsuite:acme', 10, T0 + 15_000, 1000, 'a/inc1');
        assert.deepEqual(taken.map((i) => i.idempotencyKey), ['k-b'], "c's item stays leased: c is alive");
        assert.deepEqual(await store.instanceReclaimDead(T0 + 1, T0 + 15_000, 'a'), [], 'a second sweep finds nothing');
      });
    });

    describe('API consumers', () => {
      const consumer = (id: string, overrides: Partial<ApiConsumerRecord> = {}): ApiConsumerRecord => ({
        id, name: `portal ${id}`, scopes: ['projects:read', 'timeentries:write'], hash: `$2b$04$hash-of-${id}`, createdAt: T0, ...overrides,
      });

      it('adds a consumer once per id and gives back exactly what was stored', async () => {
        assert.equal(await store.consumerGet('0123456789ab'), undefined);
        const full = consumer('0123456789ab', { createdBy: 'admin', rateLimit: { perSecond: 5, burst: 10 } });
        assert.equal(await store.consumerAdd(full), true);
        assert.equal(await store.consumerAdd(consumer('0123456789ab', { name: 'someone else', hash: 'other' })), false, 'an id is never overwritten');
        assert.deepEqual(await store.consumerGet('0123456789ab'), full);
        await store.consumerAdd(consumer('bbbbbbbbbbbb', { createdAt: T0 - 1 }));
        const minimal = await store.consumerGet('bbbbbbbbbbbb');
        assert.deepEqual(minimal, consumer('bbbbbbbbbbbb', { createdAt: T0 - 1 }));
        assert.ok(!('rateLimit' in minimal!) && !('revokedAt' in minimal!) && !('createdBy' in minimal!), 'absent optional fields are absent, not null');
        assert.deepEqual((await store.consumerList()).map((c) => c.id), ['bbbbbbbbbbbb', '0123456789ab'], 'oldest first');
      });

      it('revokes an active consumer once and keeps it listed for the audit', async () => {
        await store.consumerAdd(consumer('aaaaaaaaaaaa'));
        assert.equal(await store.consumerRevoke('aaaaaaaaaaaa', T0 + 5, 'ops'), true);
        assert.equal(await store.consumerRevoke('aaaaaaaaaaaa', T0 + 9, 'someone-else'), false, 'already revoked');
        assert.equal(await store.consumerRevoke('cccccccccccc', T0 + 9), false, 'unknown id');
        const revoked = await store.consumerGet('aaaaaaaaaaaa');
        assert.equal(revoked?.revokedAt, T0 + 5);
        assert.equal(revoked?.revokedBy, 'ops');
        assert.deepEqual((await store.consumerList()).map((c) => [c.id, c.revokedAt]), [['aaaaaaaaaaaa', T0 + 5]]);
      });
    });

    describe('cross-reference', () => {
      it('puts one row per (entity, key, system, connection), replaces the ids on a second put and keeps the first time', async () => {
        await store.xrefPut({ entity: 'account', key: 'ACC-1', system: 'businessCentral', connection: 'bc:NWA UK', vendorId: 'guid-1', vendorNumber: 'C10001' }, T0);
        await store.xrefPut({ entity: 'account', key: 'ACC-1', system: 'businessCentral', connection: 'bc:NWA DE', vendorId: 'guid-9', vendorNumber: 'C20001' }, T0 + 1);
        await store.xrefPut({ entity: 'account', key: 'ACC-1', system: 'netsuite', connection: 'netsuite:acme', vendorId: '812' }, T0 + 2);
        await store.xrefPut({ entity: 'project', key: 'ACC-1', system: 'jira', connection: 'jira:site', vendorId: '10001', vendorNumber: 'ACME' }, T0 + 3);
        await store.xrefPut({ entity: 'account', key: 'ACC-1', system: 'businessCentral', connection: 'bc:NWA UK', vendorId: 'guid-1b', vendorNumber: 'C10002' }, T0 + 10);
        const rows = await store.xrefOf('account', 'ACC-1');
        assert.deepEqual(rows.map((r) => [r.system, r.connection, r.vendorId, r.vendorNumber]), [
          ['businessCentral', 'bc:NWA DE', 'guid-9', 'C20001'], ['businessCentral', 'bc:NWA UK', 'guid-1b', 'C10002'], ['netsuite', 'netsuite:acme', '812', undefined],
        ]);
        const uk = rows.find((r) => r.connection === 'bc:NWA UK')!;
        assert.deepEqual([uk.createdAt, uk.updatedAt], [T0, T0 + 10]);
        assert.ok(!('vendorNumber' in rows[2]), 'no number is absent, not null');
        assert.deepEqual(await store.xrefOf('account', 'ACC-2'), []);
      });

      it('finds the record of a vendor id or number, and lists an entity in key order page by page', async () => {
        for (const [key, n] of [['ACC-3', 3], ['ACC-1', 1], ['ACC-2', 2]] as const) {
          await store.xrefPut({ entity: 'account', key, system: 'businessCentral', connection: 'bc:NWA UK', vendorId: `guid-${n}`, vendorNumber: `C1000${n}` }, T0);
          await store.xrefPut({ entity: 'account', key, system: 'kantata', connection: 'kantata:x', vendorId: `${n}` }, T0);
        }
        assert.deepEqual((await store.xrefFind('account', 'businessCentral', 'C10002')).map((r) => r.key), ['ACC-2']);
        assert.deepEqual((await store.xrefFind('account', 'businessCentral', 'guid-3')).map((r) => r.key), ['ACC-3']);
        assert.deepEqual(await store.xrefFind('account', 'kantata', 'C10002'), [], 'per system');
        assert.deepEqual(await store.xrefFind('project', 'businessCentral', 'C10002'), [], 'per entity');
        const first = await store.xrefList('account', undefined, 4);
        assert.deepEqual(first.map((r) => `${r.key}/${r.system}`), ['ACC-1/businessCentral', 'ACC-1/kantata', 'ACC-2/businessCentral', 'ACC-2/kantata']);
        const rest = await store.xrefList('account', 'ACC-2', 4);
        assert.deepEqual(rest.map((r) => `${r.key}/${r.system}`), ['ACC-3/businessCentral', 'ACC-3/kantata']);
      });
    });
  });
}
