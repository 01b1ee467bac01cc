/** The process layer behind process-step: step settings, the t2c inbox hand-over, project state and the parked-amendment retry. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { servicesFor } from '../../../lib/fabric/services';
import { IdempotencyService } from '../../../lib/idempotency';
import { markInboxProcessed } from '../../../lib/inbox';
import { amendmentFromSalesforce, ParkedAmendments } from '../../../lib/processes/change-order';
import { ProjectStates, opportunityOf } from '../../../lib/processes/project-state';
import { dealFromSalesforce, planQuoteToProject } from '../../../lib/processes/quote-to-project';
import { ParkedAmendmentRetry, STEP_DEFAULTS, StepInputError, processOfStep, stepNamed, stepSettings, type StepContext, type StepMsg } from '../../../lib/processes/steps';
import { entrySources, planHandOver } from '../../../lib/processes/time-to-cash/inbox-hand-over';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { salesforceDeal } from '../../support/salesforce-deal';
import { tempDir } from '../../support/tmp';

const OPP = '006Hs00000GlobexEHR';
const plan = () => planQuoteToProject(dealFromSalesforce(salesforceDeal(OPP)), { now: () => 0 });

describe('processes: step settings', () => {
  it('defaults for empty settings, numbers from the editor\'s strings, the event source from the step\'s process', () => {
    const s = stepSettings({ step: 't2c-plan', batchSize: '', maxLines: '120', retrySeconds: 'x' });
    assert.equal(s.batchSize, STEP_DEFAULTS.batchSize);
    assert.equal(s.maxLines, 120);
    assert.equal(s.retrySeconds, STEP_DEFAULTS.retrySeconds, 'not a number: the default');
    assert.equal(s.source, '/psfabric/flows/time-to-cash');
    assert.equal(stepSettings({ step: 'co-plan', source: '/mine' }).source, '/mine');
    assert.deepEqual(['q2p-plan', 't2c-posted', 'co-complete', 'rollup', 'kpi'].map(processOfStep), ['quote-to-project', 'time-to-cash', 'change-order-to-billing', 'performance-to-reporting', 'performance-to-reporting']);
    assert.equal(stepSettings({ step: 'q2p-plan', routing: '{"NWA-US": {"region": "North"}}' }).routing['NWA-US'].region, 'North');
  });

  it('every StepInputError a step raises has its message in the process-step catalog', () => {
    const root = path.resolve(__dirname, '../../../..');
    const dir = path.join(root, 'lib', 'processes', 'steps');
    const keys = fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).flatMap((f) => [...fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/new StepInputError\('(\w+)'/g)].map((m) => m[1]));
    assert.ok(keys.length >= 6, `found ${keys.join(', ')}`);
    const errors = JSON.parse(fs.readFileSync(path.join(root, 'locales', 'en-US', 'process-step.json'), 'utf8'))['process-step'].errors as Record<string, string>;
    assert.deepEqual(keys.filter((k) => typeof errors[k] !== 'string'), [], 'keys missing from locales/en-US/process-step.json errors');
  });

  it('a routing or directory that does not parse, or an unknown step, is a StepInputError naming its catalog message', () => {
    assert.throws(() => stepSettings({ step: 'rollup', routing: '{' }), (e: unknown) => e instanceof StepInputError && e.key === 'badRouting' && typeof e.subs.error === 'string');
    assert.throws(() => stepSettings({ step: 'q2p-plan', directory: '[' }), (e: unknown) => e instanceof StepInputError && e.key === 'badDirectory');
    assert.doesNotThrow(() => stepSettings({ step: 'rollup', directory: '[' }), 'the directory is read by q2p-plan only');
    assert.throws(() => stepNamed('toString'), (e: unknown) => e instanceof StepInputError && e.key === 'unknownStep' && e.subs.step === 'toString');
  });
});

describe('processes: time-to-cash inbox hand-over', () => {
  const A = { source: 's', messageId: 'a' };
  const B = { source: 's', messageId: 'b' };
  const entry = (id: string) => ({ id, hours: 1 });

  it('one msg: its entries come from it; envelopes are unwrapped; a msg without entries is handed over at once', () => {
    const one = entrySources({ _msgid: 'm', payload: [{ specversion: '1.0', data: entry('e1') }, entry('e2')], _fabricInbox: A });
    assert.deepEqual(one.items.map((x) => x.id), ['e1', 'e2']);
    assert.deepEqual(one.sourcesOf.get('e1'), [A]);
    assert.deepEqual(planHandOver(one, [['e1', 'e2']]).untouched, []);
    const empty = entrySources({ _msgid: 'm', payload: { timeEntries: [] }, _fabricInbox: A });
    assert.deepEqual(planHandOver(empty, []).untouched, [A]);
  });

  it('a join of complete msgs: each part keeps its identity; a part none of the new msgs holds is handed over at once', () => {
    const joined = entrySources({ _msgid: 'j', payload: [{ _msgid: 'a', payload: [entry('e1'), entry('e2')], _fabricInbox: A }, { _msgid: 'b', payload: entry('e3'), _fabricInbox: B }], _fabricInbox: { source: 's', messageId: 'join' } });
    assert.equal(joined.own, undefined, 'the join\'s own identity is not a source when its parts carry theirs');
    const { shares, untouched } = planHandOver(joined, [['e1'], ['e2'], []]);
    assert.deepEqual(untouched, [B], 'e3 was skipped (e.g. billed already)');
    assert.ok(shares[0] && shares[1]);
    assert.equal(shares[2], undefined);
  });

  it('a source is processed once every new msg holding one of its entries is handed over', async () => {
    const tmp = tempDir('psfabric-t2c-handover-');
    const store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
    try {
      await store.inboxAdd({ source: 's', messageId: 'a', payload: null, receivedAt: 1 });
      const { shares } = planHandOver(entrySources({ _msgid: 'm', payload: [entry('e1'), entry('e2')], _fabricInbox: A }), [['e1'], ['e2']]);
      await markInboxProcessed(shares[0], store);
      assert.equal((await store.inboxGet('s', 'a'))?.status, 'received');
      await markInboxProcessed(shares[1], store);
      assert.equal((await store.inboxGet('s', 'a'))?.status, 'processed');
    } finally {
      await store.close();
      tmp.cleanup();
    }
  });
});

describe('processes: project state and parked amendments', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  beforeEach(() => {
    tmp = tempDir('psfabric-project-state-');
    store = new SqliteStore({ path: path.join(tmp.dir, 's.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('a completed run records the state a change order builds on; an amendment updates it; no run, no state', async () => {
    const idempotency = new IdempotencyService(store);
    try {
      const states = new ProjectStates(idempotency);
      const p = plan();
      assert.equal(await states.get(OPP), undefined);
      await idempotency.claim('quote-to-project', OPP);
      const recorded = await states.recordCompleted(p, { externalIds: { kantata: '42' } });
      assert.deepEqual(await states.get(OPP), JSON.parse(JSON.stringify(recorded)), 'as stored (JSON)');
      assert.equal(recorded.psaWorkspaceId, '42');
      assert.equal(recorded.budget.amount, p.project.budget.amount.amount);
      assert.equal(opportunityOf({}, `PRJ-${OPP}`), OPP);
      const amended = { amendment: { opportunityId: OPP }, projectId: p.project.id, budget: { amount: 1, hours: 2 }, billingSchedule: recorded.billingSchedule, endDate: '2030-01-01' };
      assert.equal(await states.recordAmended(amended as never), true);
      const after = (await states.get(OPP))!;
      assert.deepEqual([after.budget, after.endDate, after.psaWorkspaceId], [{ amount: 1, hours: 2 }, '2030-01-01', '42']);
      assert.equal(((await idempotency.get('quote-to-project', OPP))?.outcome as StepMsg).projectId, p.project.id, 'the run\'s outcome is kept beside the state');
      assert.equal(await states.recordAmended({ ...amended, amendment: { opportunityId: 'none' } } as never), false);
    } finally {
      idempotency.close();
    }
  });

  it('a retry pass plans the due parked amendments again (next attempt) and leaves the others parked', async () => {
    const services = servicesFor(store);
    const sent: unknown[] = [];
    const ctx = (): StepContext => ({ services, settings: stepSettings({ step: 'co-plan', retrySeconds: 1 }), actor: 'test' });
    const retry = new ParkedAmendmentRetry(ctx, (out) => sent.push(out), 1);
    const amendment = amendmentFromSalesforce({ Id: 'a1', Opportunity__c: OPP, Amendment_Type__c: 'Scope Change', Amount_Change__c: 1000, Effective_Date__c: '2026-12-01' });
    const parked = new ParkedAmendments(store);
    await parked.park({ amendment, attempt: 1, retryAt: 100, correlationId: 'c1' }, 0);
    await parked.park({ amendment: { ...amendment, id: 'a2' }, attempt: 1, retryAt: 10_000 }, 0);
    assert.equal(await retry.pass(200), 1);
    assert.equal(sent.length, 1);
    const [ready, waiting, exception] = sent[0] as Array<StepMsg | null>;
    assert.equal(ready, null, 'still no project');
    assert.equal(exception, null);
    assert.equal(waiting!.payload.attempt, 2);
    assert.equal(waiting!.correlationId, 'c1');
    assert.deepEqual((await parked.all()).map((p) => `${p.amendment.id}#${p.attempt}`).sort(), ['a1#2', 'a2#1']);
  });
});
