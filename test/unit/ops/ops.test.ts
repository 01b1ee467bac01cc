/**
 * lib/ops on a real SQLite store: KPI snapshot from process instances and exceptions (with region / entity
 * filters), exception rows and detail, console actions (replay, edit-and-replay, bulk with progress, discard),
 * owner-team digests, series buffer, and the ops metrics in the registry.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ExceptionQueue, type ExceptionInput } from '../../../lib/exceptions';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { OpsReadModel, OpsConsole, DigestNotifier, SeriesBuffer, digestCard, teamsDigestSender, formatAge, type Digest } from '../../../lib/ops';
import { registry } from '../../../lib/kpi/metrics';
import { countMessages, trackStore } from '../../../lib/kpi/ops-metrics';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const H = 3600_000;

function failure(n: number, overrides: Partial<ExceptionInput> = {}): ExceptionInput {
  return {
    process: 'time-to-cash',
    step: 'master-data',
    errorClass: 'validation',
    message: `Invoice ${n}: customer has no tax registration`,
    recordKey: `Invoice/inv-${n}`,
    ownerTeam: 'finance-ops',
    request: { billingEntity: n % 2 ? 'NWA-UK' : 'NWA-US', customer: `ACC-${n}` },
    response: { status: 400, body: { message: 'Tax registration missing' } },
    replayTarget: { kind: 'node', nodeId: 'replayer' },
    ...overrides,
  };
}

describe('lib/ops', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let queue: ExceptionQueue;
  let now: number;
  let model: OpsReadModel;
  let replayed: Array<{ id: number; payload: unknown; edited: boolean }>;

  beforeEach(() => {
    tmp = tempDir('psfabric-ops-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
    now = Date.now();
    queue = new ExceptionQueue(store, { now: () => now });
    replayed = [];
    queue.registerNodeReplayer('replayer', async (r) => {
      if ((r.payload as any)?.fail) throw new Error('vendor still says no');
      replayed.push({ id: r.exception.id, payload: r.payload, edited: r.edited });
    });
    model = new OpsReadModel(store, { slaHours: 24, now: () => now, circuits: () => [{ connection: 'netsuite:acme', state: 'open' }] });
  });

  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('computes the KPI snapshot from process instances, exceptions and the outbox', async () => {
    const t0 = now - 5 * 24 * H;
    await store.processStart({ process: 'quote-to-project', key: 'opp-1', startedAt: t0, status: 'running', attributes: { billingEntity: 'NWA-UK' } });
    await store.processComplete('quote-to-project', 'opp-1', 'completed', t0 + 2 * H);
    await store.processStart({ process: 'quote-to-project', key: 'opp-2', startedAt: t0, status: 'running', attributes: { billingEntity: 'NWA-US' } });
    await store.processComplete('quote-to-project', 'opp-2', 'completed', t0 + 30 * H);
    await store.processStart({ process: 'quote-to-project', key: 'opp-3', startedAt: now - 48 * H, status: 'running', attributes: { billingEntity: 'NWA-US' } });
    await store.processStart({ process: 'time-to-cash', key: 'inv-a', startedAt: now - 10_000, status: 'running', attributes: { region: 'UK&I', entries: 3 } });
    await store.processComplete('time-to-cash', 'inv-a', 'completed', now - 4_000);
    await store.processStart({ process: 'performance-to-reporting', key: 'run-1', startedAt: now - 1000, status: 'running' });
    await store.processComplete('performance-to-reporting', 'run-1', 'completed', now - 500, { unbilledApprovedHours: 1234.5, reconciliationRate: 0.97, by: { 'UK&I': { unbilledApprovedHours: 200, reconciliationRate: 0.9 } } });
    for (let i = 1; i <= 3; i++) await queue.add(failure(i));
    await queue.add(failure(9, { process: 'quote-to-project', step: 'validate', ownerTeam: 'sales-ops', errorClass: 'validation', request: { billingEntity: 'NWA-US' } }));
    await store.outboxEnqueue({ connection: 'netsuite:acme', operation: 'createInvoice', idempotencyKey: 'k1', request: {} }, now);

    const all = await model.snapshot();
    assert.equal(all.quoteToProject.count, 2);
    assert.equal(all.quoteToProject.breaches, 1);
    assert.equal(all.quoteToProject.runningBreaches, 1);
    assert.equal(all.quoteToProject.withinSlaPct, 50);
    assert.equal(all.quoteToProject.avgSeconds, 16 * 3600);
    assert.equal(all.timeEntryPosting.count, 1);
    assert.equal(all.timeEntryPosting.avgSeconds, 6);
    assert.equal(all.timeEntryPosting.entries, 3);
    assert.equal(all.invoicesBlocked, 3);
    assert.equal(all.openExceptions, 4);
    assert.deepEqual(all.exceptionsByTeam, [{ team: 'finance-ops', open: 3 }, { team: 'sales-ops', open: 1 }]);
    assert.equal(all.unbilledApprovedHours, 1234.5);
    assert.equal(all.reconciliationRate, 0.97);
    assert.equal(all.outboxBacklog, 1);
    assert.deepEqual(all.circuits, [{ connection: 'netsuite:acme', state: 'open' }]);

    const uk = await model.snapshot({ region: 'UK&I' });
    assert.equal(uk.quoteToProject.count, 1, 'NWA-UK is in UK&I through the routing table');
    assert.equal(uk.quoteToProject.breaches, 0);
    assert.equal(uk.timeEntryPosting.count, 1);
    assert.equal(uk.invoicesBlocked, 2, 'exceptions 1 and 3 are for NWA-UK');
    assert.equal(uk.unbilledApprovedHours, 200);
    assert.equal(uk.reconciliationRate, 0.9);
    const us = await model.snapshot({ entity: 'NWA-US' });
    assert.equal(us.openExceptions, 2);
    assert.equal(us.unbilledApprovedHours, null);

    model.publishFigures({ unbilledApprovedHours: 10, reconciliationRate: 0.5 });
    assert.equal((await model.snapshot()).reconciliationRate, 0.5, 'newer published figures win');

    // the reporting template's stored roll-up (lib/processes/kpi, watermark kpi:snapshot)
    await store.watermarkSet('kpi:snapshot', JSON.stringify({ unbilledApprovedHours: { 'UK&I': 100, DACH: 50 }, reconciliationRate: { customer: 0.9, overall: 0.8 }, at: now + 1 }), now);
    const rolled = await model.snapshot();
    assert.equal(rolled.unbilledApprovedHours, 150);
    assert.equal(rolled.reconciliationRate, 0.8);
    assert.equal((await model.snapshot({ entity: 'NWA-DE' })).unbilledApprovedHours, 50);
  });

  it('lists exception rows with filters and shows the detail', async () => {
    now -= 2 * H;
    for (let i = 1; i <= 4; i++) await queue.add(failure(i));
    now += 2 * H;
    await queue.add(failure(5, { process: 'quote-to-project', ownerTeam: 'sales-ops', replayTarget: undefined }));
    const rows = await model.exceptionRows();
    assert.equal(rows.length, 5);
    assert.equal(rows[0].process, 'quote-to-project');
    assert.equal(rows[0].replayable, false);
    assert.equal(rows[1].age, '2h 0m');
    assert.equal(rows[1].region, 'Americas', 'inv-4 is billed by NWA-US');
    assert.equal((await model.exceptionRows({ ownerTeam: 'finance-ops' })).length, 4);
    assert.equal((await model.exceptionRows({ process: 'quote-to-project' })).length, 1);
    assert.deepEqual((await model.exceptionRows({ entity: 'NWA-US' })).map((r) => r.recordKey).sort(), ['Invoice/inv-2', 'Invoice/inv-4']);
    assert.equal((await model.exceptionRows({ region: 'UK&I', ownerTeam: 'finance-ops' })).length, 2);
    assert.equal((await model.exceptionRows({ text: 'inv-3' })).length, 1);
    const detail = await model.exceptionDetail(rows[1].id);
    assert.ok(detail);
    assert.match(detail.requestText, /"customer": "ACC-4"/);
    assert.match(detail.responseText, /Tax registration missing/);
    assert.equal(detail.replayTarget, 'node replayer');
    assert.ok(detail.history.some((h) => h.action === 'exception.added'));
    const choices = await model.exceptionFilterChoices();
    assert.deepEqual(choices.ownerTeams, ['finance-ops', 'sales-ops']);
    assert.ok(choices.regions.includes('DACH'));
    assert.equal(formatAge(59), '59s');
    assert.equal(formatAge(2 * 86400 + 7200), '2d 2h');
  });

  it('console: replay, edit-and-replay, discard with reason, bulk replay by filter with progress', async () => {
    const ids: number[] = [];
    for (let i = 1; i <= 6; i++) ids.push((await queue.add(failure(i))).id);
    const ops = new OpsConsole(queue, model);
    assert.equal((await ops.replay(ids[0], 'user:ann')).status, 'replayed');
    assert.equal((await ops.editAndReplay(ids[1], '{"customer":"ACC-2","taxRegistration":"GB123"}', 'user:ann')).status, 'replayed');
    assert.deepEqual(replayed[1], { id: ids[1], payload: { customer: 'ACC-2', taxRegistration: 'GB123' }, edited: true });
    await assert.rejects(ops.editAndReplay(ids[2], '{not json', 'user:ann'), /not valid JSON/);
    await assert.rejects(ops.discard(ids[2], '  ', 'user:ann'), /needs a reason/);
    assert.equal((await ops.discard(ids[2], 'duplicate of INV-9', 'user:ann')).resolution?.reason, 'duplicate of INV-9');

    // ids 3..5 open: 4 (odd -> wait: failure(4) is NWA-US, failure(5) NWA-UK, failure(6) NWA-US)
    const progress: string[] = [];
    const result = await ops.bulkReplay({ entity: 'NWA-US' }, 'user:bob', (p) => progress.push(p.text));
    assert.deepEqual(result.replayed.sort(), [ids[3], ids[5]].sort());
    assert.equal(progress[progress.length - 1], 'bulk replay done: 2/2 replayed');
    assert.ok(progress.includes('bulk replay 1/2'));
    const rest = await ops.bulkReplay({ ownerTeam: 'finance-ops' }, 'user:bob');
    assert.deepEqual(rest.replayed, [ids[4]]);
    assert.equal(await queue.count({ status: 'open' }), 0);
    assert.equal(ops.progress()?.running, false);
  });

  it('digest: batches new exceptions per owner team over a window and sends one Teams card each', async () => {
    const sent: Digest[] = [];
    // a window far longer than the adds take however busy the machine is; its end is the flush below (the timer's own
    // flush is the next test)
    const digests = new DigestNotifier(async (d) => void sent.push(d), { windowMs: 600_000, maxItems: 2 }).attach(queue);
    for (let i = 1; i <= 3; i++) await queue.add(failure(i));
    await queue.add(failure(7, { ownerTeam: 'sales-ops', process: 'quote-to-project' }));
    await queue.add(failure(8, { ownerTeam: 'sales-ops', process: 'ops-digest' }));
    assert.deepEqual(digests.pending(), { 'finance-ops': 3, 'sales-ops': 1 });
    assert.equal(sent.length, 0, 'nothing is sent before the window ends');
    await digests.flush();
    assert.equal(sent.length, 2);
    const fin = sent.find((d) => d.team === 'finance-ops')!;
    assert.equal(fin.exceptions.length, 2);
    assert.equal(fin.omitted, 1);
    const card = digestCard(fin, 'http://x/dashboard/exceptions') as any;
    // an Adaptive Card message: Workflows webhooks post nothing else (MessageCard belonged to the retired connectors)
    assert.equal(card.type, 'message');
    const content = card.attachments[0].content;
    assert.equal(content.body[0].text, '3 new PS Fabric exceptions for finance-ops');
    assert.equal(content.body.find((e: any) => e.type === 'FactSet').facts.length, 3);
    assert.equal(content.actions[0].url, 'http://x/dashboard/exceptions');

    const submitted: any[] = [];
    const sender = teamsDigestSender((team) => (team === 'finance-ops' ? { submit: async (item: any) => (submitted.push(item), {} as any) } : undefined));
    await sender(fin);
    await sender(sent.find((d) => d.team === 'sales-ops')!);
    assert.equal(submitted.length, 1);
    assert.equal(submitted[0].operation, 'postCard');
    assert.equal(submitted[0].process, 'ops-digest');
    await digests.close();
  });

  it('digest: a window ends by itself and sends what it gathered', async () => {
    const sent: Digest[] = [];
    const digests = new DigestNotifier(async (d) => void sent.push(d), { windowMs: 20 }).attach(queue);
    await queue.add(failure(1));
    await waitFor(() => sent.length === 1, 'the window to end');
    assert.equal(sent[0].team, 'finance-ops');
    assert.deepEqual(digests.pending(), {});
    await digests.close();
  });

  it('series buffer is bounded; ops metrics appear in the registry', async () => {
    const s = new SeriesBuffer(3);
    for (let i = 0; i < 5; i++) s.push('open', i, i * 10);
    s.push('open', 9, NaN);
    assert.deepEqual(s.points('open'), [{ t: 2, v: 20 }, { t: 3, v: 30 }, { t: 4, v: 40 }]);
    await queue.add(failure(1));
    const untrack = trackStore(store);
    countMessages('ops-feed', 'in', 2);
    const text = await registry.metrics();
    untrack();
    assert.match(text, /psfabric_exceptions_open\{owner_team="finance-ops",process="time-to-cash"\} 1/);
    assert.match(text, /psfabric_node_messages_total\{type="ops-feed",direction="in"\} \d+/);
    assert.match(text, /process_cpu_user_seconds_total/);
  });
});
