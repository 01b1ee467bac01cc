import assert from 'node:assert/strict';
import path from 'node:path';
import { AuditTrail } from '../../../lib/audit';
import { ExceptionQueue, ExceptionQueueError, markQueuedException, messageRecordKey, queuedExceptionOf, type ExceptionInput, type ReplayRequest } from '../../../lib/exceptions';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import type { ExceptionRecord, Json } from '../../../lib/store/store';
import { tempDir } from '../../support/tmp';

const outboxTarget = { kind: 'outbox', connection: 'netsuite:acme', operation: 'createInvoice' } as const;

function failure(overrides: Partial<ExceptionInput> = {}): ExceptionInput {
  return {
    process: 'time-to-cash',
    step: 'create-invoice',
    errorClass: 'validation',
    message: 'Invoice for ACC-1: currency is required',
    recordKey: 'Invoice/inv-1',
    correlationId: 'corr-1',
    request: { customer: 'ACC-1', lines: [{ hours: 8 }] },
    replayTarget: outboxTarget,
    ...overrides,
  };
}

describe('ExceptionQueue', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let queue: ExceptionQueue;
  let audit: AuditTrail;
  let replays: Array<{ target: { connection: string; operation: string }; request: ReplayRequest }>;
  let events: string[];

  beforeEach(() => {
    tmp = tempDir('psfabric-exc-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    audit = new AuditTrail(store);
    queue = new ExceptionQueue(store, { audit });
    replays = [];
    events = [];
    queue.registerOutboxReplayer(async (target, request) => {
      if ((request.payload as { fail?: boolean } | null)?.fail) throw new Error('connection netsuite:acme is closed (token=abc123)');
      replays.push({ target, request });
    });
    queue.on('added', (record) => events.push(`added:${record.id}`));
    queue.on('changed', (record, change) => events.push(`${change}:${record.id}`));
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  const actions = async (id: number): Promise<string[]> =>
    (await audit.list({ limit: 1000 })).filter((e) => (e.details as { exceptionId?: number } | undefined)?.exceptionId === id).map((e) => `${e.action} by ${e.actor}`).reverse();

  it('adds with the default owner team, redacts request and response, and audits and emits', async () => {
    const record = await queue.add(failure({
      request: { customer: 'ACC-1', auth: { password: 'hunter2' } },
      response: { status: 400, headers: { Authorization: 'Bearer eyJabc.def.ghi' }, body: 'bad' },
    }));
    assert.equal(record.ownerTeam, 'integration-ops');
    assert.deepEqual(record.request, { customer: 'ACC-1', auth: '[redacted]' });
    assert.deepEqual(record.response, { status: 400, headers: { Authorization: '[redacted]' }, body: 'bad' });
    assert.deepEqual(events, [`added:${record.id}`]);
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash']);
    const again = await queue.add(failure());
    assert.equal(again.id, record.id);
    assert.equal(again.occurrences, 2);
    assert.deepEqual(events, [`added:${record.id}`, `recurred:${record.id}`]);
  });

  it('resolves the owner team through the pluggable resolver with the entity from the record key', async () => {
    const seen: Array<[string, string, string | undefined]> = [];
    queue.setOwnerResolver((process, step, entity) => {
      seen.push([process, step, entity]);
      return entity === 'Invoice' ? 'billing-ops' : undefined;
    });
    assert.equal((await queue.add(failure())).ownerTeam, 'billing-ops');
    assert.equal((await queue.add(failure({ recordKey: 'Project/p-1' }))).ownerTeam, 'integration-ops');
    assert.equal((await queue.add(failure({ recordKey: 'x', entity: 'Invoice' }))).ownerTeam, 'billing-ops');
    assert.equal((await queue.add(failure({ recordKey: 'y', ownerTeam: 'pmo' }))).ownerTeam, 'pmo');
    assert.deepEqual(seen, [['time-to-cash', 'create-invoice', 'Invoice'], ['time-to-cash', 'create-invoice', 'Project'], ['time-to-cash', 'create-invoice', 'Invoice']]);
    queue.setOwnerResolver(() => { throw new Error('matrix broken'); });
    assert.equal((await queue.add(failure({ recordKey: 'z' }))).ownerTeam, 'integration-ops');
  });

  it('lists, filters, counts and gets', async () => {
    const a = await queue.add(failure({ recordKey: 'Invoice/1' }));
    const b = await queue.add(failure({ recordKey: 'Invoice/2', process: 'quote-to-project' }));
    assert.deepEqual((await queue.list()).map((r) => r.id), [b.id, a.id]);
    assert.deepEqual((await queue.list({ process: 'quote-to-project' })).map((r) => r.id), [b.id]);
    assert.equal(await queue.count({ status: 'open' }), 2);
    assert.equal((await queue.get(a.id))?.recordKey, 'Invoice/1');
  });

  it('replays as is through the registered outbox replayer and marks the exception replayed', async () => {
    const record = await queue.add(failure());
    const replayed = await queue.replay(record.id, { actor: 'alice' });
    assert.equal(replayed.status, 'replayed');
    assert.equal(replayed.resolution?.by, 'alice');
    assert.equal(replays.length, 1);
    assert.deepEqual(replays[0].target, { connection: 'netsuite:acme', operation: 'createInvoice' });
    assert.deepEqual(replays[0].request.payload, { customer: 'ACC-1', lines: [{ hours: 8 }] });
    assert.equal(replays[0].request.edited, false);
    assert.equal(replays[0].request.actor, 'alice');
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash', 'exception.replayed by alice']);
    await assert.rejects(queue.replay(record.id, { actor: 'alice' }), (err: unknown) => err instanceof ExceptionQueueError && err.code === 'not-open');
  });

  it('replays with an edited payload, storing the edit (redacted) and auditing before and after', async () => {
    const record = await queue.add(failure());
    const edited: Json = { customer: 'ACC-1', currency: 'EUR', lines: [{ hours: 8 }], apiKey: 'k-123' };
    await queue.replay(record.id, { actor: 'bob', payload: edited });
    assert.deepEqual(replays[0].request.payload, edited, 'the replayer gets the payload as edited');
    assert.equal(replays[0].request.edited, true);
    const stored = (await queue.get(record.id))!;
    assert.deepEqual(stored.request, { customer: 'ACC-1', currency: 'EUR', lines: [{ hours: 8 }], apiKey: '[redacted]' });
    assert.equal(stored.resolution?.reason, 'replayed with edited payload');
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash', 'exception.edited by bob', 'exception.replayed by bob']);
    const editEntry = (await audit.list({ action: 'exception.edited' }))[0];
    assert.deepEqual((editEntry.details as { previous: Json }).previous, { customer: 'ACC-1', lines: [{ hours: 8 }] });
    assert.equal(editEntry.recordKey, 'Invoice/inv-1');
    assert.equal(editEntry.correlationId, 'corr-1');
    assert.deepEqual(events, [`added:${record.id}`, `edited:${record.id}`, `replayed:${record.id}`]);
  });

  it('keeps the exception open and audits the failure when the replay target refuses', async () => {
    const record = await queue.add(failure({ request: { fail: true } }));
    await assert.rejects(queue.replay(record.id, { actor: 'alice' }), (err: unknown) => {
      assert.ok(err instanceof ExceptionQueueError);
      assert.equal(err.code, 'replay-failed');
      assert.match(err.message, /connection netsuite:acme is closed \(token=\[redacted\]\)/);
      return true;
    });
    assert.equal((await queue.get(record.id))!.status, 'open');
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash', 'exception.replay-failed by alice']);
  });

  it('routes node replays to the node registered under the target id, and says when nobody can replay', async () => {
    const nodeTarget = { kind: 'node', nodeId: 'n-42' } as const;
    const a = await queue.add(failure({ recordKey: 'a', replayTarget: nodeTarget }));
    await assert.rejects(queue.replay(a.id, { actor: 'alice' }), /node n-42 is not running/);
    const received: ReplayRequest[] = [];
    const unregister = queue.registerNodeReplayer('n-42', async (request) => { received.push(request); });
    await queue.replay(a.id, { actor: 'alice' });
    assert.equal(received.length, 1);
    assert.equal(received[0].exception.id, a.id);
    unregister();
    const b = await queue.add(failure({ recordKey: 'b', replayTarget: undefined }));
    await assert.rejects(queue.replay(b.id, { actor: 'alice' }), (err: unknown) => err instanceof ExceptionQueueError && err.code === 'no-replay-target');
    await assert.rejects(queue.replay(99999, { actor: 'alice' }), (err: unknown) => err instanceof ExceptionQueueError && err.code === 'not-found');
  });

  it('bulk-replays every open exception matching a filter, oldest first, with progress, collecting failures', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await queue.add(failure({ recordKey: `Invoice/${i}`, request: i === 2 ? { fail: true } : { n: i } }))).id);
    const other = await queue.add(failure({ recordKey: 'Project/1', process: 'quote-to-project' }));
    const progress: string[] = [];
    const result = await queue.replayMany({ process: 'time-to-cash' }, { actor: 'ops-bulk', onProgress: (p) => progress.push(`${p.done}/${p.total}`) });
    assert.equal(result.total, 5);
    assert.deepEqual(result.replayed, [ids[0], ids[1], ids[3], ids[4]]);
    assert.deepEqual(result.failed.map((f) => f.id), [ids[2]]);
    assert.deepEqual(progress, ['1/5', '2/5', '3/5', '4/5', '5/5']);
    assert.deepEqual(replays.map((r) => r.request.exception.id), [ids[0], ids[1], ids[3], ids[4]]);
    assert.equal((await queue.get(other.id))!.status, 'open');
    const bulk = await audit.list({ action: 'exception.bulk-replay.finished' });
    assert.deepEqual(bulk[0].details, { filter: { process: 'time-to-cash' }, total: 5, replayed: 4, failed: 1 });
    assert.equal(bulk[0].actor, 'ops-bulk');
    // Only the one that failed is still open; a status filter without 'open' replays nothing.
    assert.deepEqual((await queue.replayMany({ process: 'time-to-cash', limit: 10 }, { actor: 'x' })).failed.map((f) => f.id), [ids[2]]);
    assert.equal((await queue.replayMany({ status: 'discarded' }, { actor: 'x' })).total, 0);
  });

  it('discards with a required reason', async () => {
    const record = await queue.add(failure());
    await assert.rejects(queue.discard(record.id, { actor: 'carol', reason: '  ' }), /needs a reason/);
    const discarded = await queue.discard(record.id, { actor: 'carol', reason: 'customer merged into ACC-2' });
    assert.equal(discarded.status, 'discarded');
    assert.deepEqual(discarded.resolution, { by: 'carol', at: discarded.resolution!.at, reason: 'customer merged into ACC-2' });
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash', 'exception.discarded by carol']);
    await assert.rejects(queue.discard(record.id, { actor: 'carol', reason: 'again' }), /only open exceptions/);
    await assert.rejects(queue.replay(record.id, { actor: 'carol' }), /discarded/);
  });

  it('auto-resolves the open and replayed exceptions of a record when a later run succeeds', async () => {
    const open = await queue.add(failure({ step: 'create-invoice' }));
    const replayed = await queue.add(failure({ step: 'mark-billed' }));
    await queue.replay(replayed.id, { actor: 'alice' });
    const discarded = await queue.add(failure({ step: 'notify' }));
    await queue.discard(discarded.id, { actor: 'alice', reason: 'not needed' });
    const unrelated = await queue.add(failure({ recordKey: 'Invoice/other' }));
    const resolved: ExceptionRecord[] = await queue.resolveForRecord('Invoice/inv-1', { actor: 'process:time-to-cash' });
    assert.deepEqual(resolved.map((r) => r.id).sort(), [open.id, replayed.id].sort());
    for (const r of resolved) {
      assert.equal(r.status, 'resolved');
      assert.equal(r.resolution?.reason, 'a later run for the same record succeeded');
    }
    assert.equal((await queue.get(discarded.id))!.status, 'discarded');
    assert.equal((await queue.get(unrelated.id))!.status, 'open');
    assert.deepEqual((await actions(open.id)).slice(-1), ['exception.resolved by process:time-to-cash']);
    assert.equal(await queue.autoResolve('Invoice/other', 'process:x'), 1);
  });

  it('works as the delivery engine\'s ExceptionSink (registerReplayer, autoResolve) and survives a throwing listener', async () => {
    const errors: unknown[] = [];
    const sink = new ExceptionQueue(store, { onListenerError: (err) => errors.push(err) });
    sink.on('added', () => { throw new Error('dashboard bug'); });
    const seen: Array<[number, Json, string]> = [];
    sink.registerReplayer('outbox', async (exception, request, actor) => { seen.push([exception.id, request, actor]); });
    const record = await sink.add(failure({ recordKey: 'Invoice/sink' }));
    assert.equal(errors.length, 1);
    await sink.replay(record.id, { actor: 'dave', payload: { fixed: true } });
    assert.deepEqual(seen, [[record.id, { fixed: true }, 'dave']]);
  });

  it('reports a failure already queued on its entry (audited, nothing added); undefined for an entry that is gone', async () => {
    const record = await queue.add(failure());
    const reported = await queue.report(record.id, 'node:catch-exc');
    assert.equal(reported?.id, record.id);
    assert.equal(reported?.occurrences, 1);
    assert.equal(await queue.count(), 1);
    assert.deepEqual(await actions(record.id), ['exception.added by process:time-to-cash', 'exception.reported by node:catch-exc']);
    assert.equal(await queue.report(record.id + 1000, 'node:catch-exc'), undefined);
  });
});

describe('queued exception on a msg: what a Catch path links to', () => {
  it('is found only when the error came from the node that left it; no id clears it', () => {
    const msg: Record<string, unknown> = { _msgid: 'm1' };
    markQueuedException(msg, 42, 'node-a');
    assert.equal(queuedExceptionOf({ ...msg, error: { message: 'x', source: { id: 'node-a' } } }), 42);
    assert.equal(queuedExceptionOf({ ...msg, error: { message: 'x', source: { id: 'function-b' } } }), undefined, 'a later failure elsewhere is recorded anew');
    assert.equal(queuedExceptionOf(msg), undefined, 'no caught error');
    markQueuedException(msg, undefined, 'node-a');
    assert.equal(queuedExceptionOf({ ...msg, error: { message: 'x', source: { id: 'node-a' } } }), undefined);
  });
});

describe('messageRecordKey: the record key of a failed message that names no record', () => {
  it('is the inbox message id, else the Node-RED msg id, else nothing; distinct messages give distinct keys', () => {
    const a = messageRecordKey({ _msgid: 'm1', _fabricInbox: { source: 'mqtt:q2p-in', messageId: 'ce:/crm#1' } });
    const b = messageRecordKey({ _msgid: 'm2', _fabricInbox: { source: 'mqtt:q2p-in', messageId: 'ce:/crm#2' } });
    assert.equal(a, 'Message/ce:/crm#1');
    assert.equal(b, 'Message/ce:/crm#2');
    // a redelivery of the same message (a new Node-RED msg id) keeps its key, so it updates its own row
    assert.equal(messageRecordKey({ _msgid: 'm3', _fabricInbox: { source: 'mqtt:q2p-in', messageId: 'ce:/crm#1' } }), a);
    assert.equal(messageRecordKey({ _msgid: 'm4', payload: '' }), 'Message/m4');
    assert.equal(messageRecordKey({ payload: '' }), undefined);
    assert.equal(messageRecordKey(undefined), undefined);
  });
});
