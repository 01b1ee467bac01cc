/**
 * Every process-step step through the real Node-RED runtime and a real SQLite store: what each step sends on which
 * output, what it records in the store (run claims, project state, parked amendments, billed entries, audit, KPIs),
 * the inbox hand-over it holds or hands on, and errors at a Catch node in the words of the node's catalog.
 * The connector writes between the steps are answered by the test (the template tests in test/integration/templates
 * run the same steps against the vendor sandboxes over HTTP).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { FabricServices } from '../../lib/fabric/services';
import { RUN_SCOPE } from '../../lib/processes/project-state';
import { ParkedAmendments } from '../../lib/processes/change-order';
import type { TimeEntry } from '../../lib/processes/time-to-cash';
import { caught, withCatch, type Caught } from '../support/catch';
import { catalogTranslator, helper, translated } from '../support/node-red';
import { salesforceDeal } from '../support/salesforce-deal';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const storeNode: unknown = require('../../nodes/fabric-store/fabric-store');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const processStep = translated(require('../../nodes/process-step/process-step'), 'process-step');

helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const catalog = catalogTranslator('process-step');
/** A catalog message as the Catch node shows a node's error (`err.toString()`). */
const t = (key: string, subs?: Record<string, unknown>) => catalog(`process-step.${key}`, subs);
const asCaught = (text: string) => `Error: ${text}`;
const NETSUITE_DEAL = '006Hs00000GlobexEHR';
const BC_DEAL = '006Hs00000ThamesCRM';
const INBOX = 'test:salesforce/closed-won';

const step = (id: string, config: Record<string, unknown>, outputs = 1) => ({ id, type: 'process-step', store: 'store', ...config, wires: Array.from({ length: outputs }, (_, i) => [`${id}-out${i + 1}`]) });
const sink = (id: string, outputs = 1) => Array.from({ length: outputs }, (_, i) => ({ id: `${id}-out${i + 1}`, type: 'helper' }));

describe('process-step: every step through the runtime', function () {
  this.timeout(30000);
  let tmp: ReturnType<typeof tempDir>;
  let errors: Caught;
  const services = (): FabricServices => helper.getNode('store').requireServices();
  const outs = new Map<string, Msg[]>();
  const out = (id: string) => outs.get(id)!;

  async function load(nodes: Array<Record<string, unknown>>): Promise<void> {
    const sinks = nodes.flatMap((n) => (n.wires as string[][]).map((_, i) => sink(String(n.id), (n.wires as string[][]).length)[i]));
    await helper.load([storeNode, processStep], withCatch([{ id: 'store', type: 'fabric-store', path: path.join(tmp.dir, 'fabric.sqlite') }, ...nodes, ...sinks]));
    outs.clear();
    for (const s of sinks) {
      const got: Msg[] = [];
      outs.set(String(s.id), got);
      helper.getNode(String(s.id)).on('input', (m: Msg) => got.push(m));
    }
    errors = caught();
  }
  /** Sends msg into a node and waits for the next msg on one of its outputs (or the Catch node). */
  async function through(id: string, msg: Msg, output: string): Promise<Msg> {
    const before = out(output).length;
    helper.getNode(id).receive(msg);
    return waitFor(() => out(output)[before], `${output} after ${id}`);
  }
  /** A closed-won deal through plan, each write (answered as the connectors would), and completion. */
  async function provision(oppId: string, extra: Msg = {}): Promise<{ planned: Msg; completed: Msg }> {
    const planned = await through('plan', { _msgid: `deal-${oppId}`, payload: salesforceDeal(oppId), ...extra }, 'plan-out1');
    let m: Msg = { ...planned };
    m = await through('w-jira', m, 'w-jira-out1');
    m = await through('w-epic', { ...m, payload: { key: 'GLOBX', id: '10001' } }, 'w-epic-out1');
    const completed = await through('complete', { ...m, payload: { key: 'GLOBX-1' }, results: { ...m.results, psaProject: { workspace: { id: 4242 } } } }, 'complete-out1');
    return { planned, completed };
  }
  const Q2P = [
    step('plan', { step: 'q2p-plan' }, 3),
    step('w-jira', { step: 'q2p-write', write: 'jiraProject' }),
    step('w-epic', { step: 'q2p-write', write: 'jiraEpic' }),
    step('w-bad', { step: 'q2p-write', write: 'fax' }),
    step('complete', { step: 'q2p-complete' }),
  ];

  beforeEach(() => {
    tmp = tempDir('psfabric-process-step-');
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  it('quote-to-project: plan (inbox hand-over held), writes in order, complete (project state recorded, hand-over released, project.created); a repeat is a duplicate', async () => {
    await load(Q2P);
    await services().store.inboxAdd({ source: INBOX, messageId: 'sf-1', payload: NETSUITE_DEAL, receivedAt: Date.now() });
    const { planned, completed } = await provision(NETSUITE_DEAL, { _fabricInbox: { source: INBOX, messageId: 'sf-1' } });
    assert.equal(planned.plan.opportunityId, NETSUITE_DEAL);
    assert.equal(planned.erp, 'netsuite');
    assert.equal(planned.correlationId, `q2p:${NETSUITE_DEAL}`);
    assert.equal(planned._fabricInbox, undefined, 'a run of several writes does not hand over at its first write');
    assert.deepEqual(planned._fabricInboxHeld, { source: INBOX, messageId: 'sf-1' });
    const jira = out('w-jira-out1')[0];
    assert.equal(jira.operation, planned.plan.writes.jiraProject.operation);
    assert.equal(jira.idempotencyKey, planned.plan.writes.jiraProject.idempotencyKey);
    assert.equal(jira.pendingWrite, 'jiraProject');
    const epic = out('w-epic-out1')[0];
    assert.equal(epic.payload.projectKey, 'GLOBX', 'the epic goes into the project key Jira answered with');
    assert.deepEqual(epic.results.jiraProject, { key: 'GLOBX', id: '10001' });

    assert.equal(completed.payload.type, 'com.psfabric.project.created.v1');
    assert.equal(completed.payload.source, '/psfabric/flows/quote-to-project');
    assert.equal(completed.project.externalIds.kantata, '4242');
    assert.deepEqual(completed._fabricInbox, { source: INBOX, messageId: 'sf-1' }, 'the run is complete: the next hand-over point marks it');
    const outcome = (await services().idempotency.get(RUN_SCOPE, NETSUITE_DEAL))?.outcome as Msg;
    assert.equal(outcome.projectState.psaWorkspaceId, '4242');
    assert.equal(outcome.projectState.erp, 'netsuite');
    assert.equal((await services().store.inboxGet(INBOX, 'sf-1'))?.status, 'received');

    // the same deal again from the trigger: the run completed, so it ends at out 3 and its inbox entry is handed over
    await services().store.inboxAdd({ source: INBOX, messageId: 'sf-2', payload: NETSUITE_DEAL, receivedAt: Date.now() });
    const dup = await through('plan', { _msgid: 'again', payload: salesforceDeal(NETSUITE_DEAL), _fabricInbox: { source: INBOX, messageId: 'sf-2' } }, 'plan-out3');
    assert.equal(dup.duplicate.key, NETSUITE_DEAL);
    assert.equal(dup.duplicate.outcome.projectId, outcome.projectId);
    await waitFor(async () => (await services().store.inboxGet(INBOX, 'sf-2'))?.status === 'processed', 'the repeat handed over');
    assert.equal(out('plan-out1').length, 1);
    assert.equal(errors.all.length, 0);
  });

  it('quote-to-project: a deal with missing data goes to out 2 with field problems; a write without a plan or of an unknown kind reaches the Catch node', async () => {
    await load(Q2P);
    const missing = await through('plan', { _msgid: 'bad', payload: salesforceDeal(NETSUITE_DEAL, { account: { Tax_Registration__c: null, BillingCountry: null } }) }, 'plan-out2');
    assert.equal(missing.errorClass, 'validation');
    assert.equal(missing.step, 'validate');
    assert.ok(missing.ownerTeam);
    assert.ok(missing.error.details.length > 0);
    assert.ok(missing.error.details.every((p: Msg) => typeof p.path === 'string' && typeof p.message === 'string'));
    assert.equal(missing.payload.opportunityId, NETSUITE_DEAL);

    helper.getNode('w-jira').receive({ _msgid: 'np', payload: {} });
    const noPlan = await errors.next((e) => e.source.id === 'w-jira');
    assert.equal(noPlan.message, asCaught(t('errors.noPlan')));
    assert.equal(noPlan.source.type, 'process-step');

    const planned = await through('plan', { _msgid: 'ok', payload: salesforceDeal(NETSUITE_DEAL) }, 'plan-out1');
    helper.getNode('w-bad').receive(planned);
    const unknown = await errors.next((e) => e.source.id === 'w-bad');
    assert.equal(unknown.message, asCaught(t('errors.unknownWrite', { write: 'fax' })));
    assert.equal(unknown.msg._msgid, planned._msgid, 'the msg reaches the Catch node with the error');
  });

  it('a node with an unknown step or invalid routing JSON reports it at the Catch node for every msg', async () => {
    await load([step('odd', { step: 'fax-it' }), step('routing', { step: 't2c-plan', routing: '{not json' })]);
    helper.getNode('odd').receive({ _msgid: 'x', payload: {} });
    assert.equal((await errors.next((e) => e.source.id === 'odd')).message, asCaught(t('errors.unknownStep', { step: 'fax-it' })));
    helper.getNode('routing').receive({ _msgid: 'y', payload: [] });
    assert.match((await errors.next((e) => e.source.id === 'routing')).message, /^Error: ERP routing is not valid JSON: /);
  });

  it('time-to-cash: t2c-posted records the invoice\'s entries billed (a re-plan sends nothing), answers invoice.posted and the PSA mark-invoiced request', async () => {
    await load([step('t2c', { step: 't2c-plan' }, 2), step('posted', { step: 't2c-posted' })]);
    const project = { projectId: 'KAN-WS-1', accountId: 'ACC-1001', billingEntity: 'NWA-US', currency: 'USD', status: 'active', psaWorkspaceId: '1' };
    const entries: TimeEntry[] = [1, 2].map((n) => ({
      id: `KAN-TE-${n}`, version: 1, person: { id: 'CON-1' }, projectId: 'KAN-WS-1', date: `2026-11-0${n}`, hours: 4, role: 'Consultant', billable: true,
      rate: { amount: 120, currency: 'USD', unit: 'hour' }, status: 'approved', approvedAt: '2026-11-29T09:00:00Z', externalIds: { kantata: String(n) },
    }));
    const invoice = await through('t2c', { _msgid: 'te', payload: entries, projects: { 'KAN-WS-1': project } }, 't2c-out1');
    assert.deepEqual(invoice.invoiceWrite.entryIds, ['KAN-TE-1', 'KAN-TE-2']);
    assert.ok(invoice.payload);
    assert.equal(invoice.invoiceWrite.request, undefined, 'the request travels as the payload only');
    const posted = await through('posted', { ...invoice, payload: { id: 'NS-INV-77' } }, 'posted-out1');
    assert.equal(posted.payload.type, 'com.psfabric.invoice.posted.v1');
    assert.equal(posted.topic, 'fabric/v1/invoice/posted');
    assert.deepEqual(posted.markInvoiced.payload.timeEntryIds, ['1', '2']);
    assert.equal(posted.markInvoiced.operation, 'markInvoiced');

    const statuses: string[] = [];
    helper.getNode('t2c').on('call:status', (call: { args: Array<{ text?: string }> }) => statuses.push(String(call.args[0]?.text)));
    helper.getNode('t2c').receive({ _msgid: 'te-again', payload: entries, projects: { 'KAN-WS-1': project } });
    await waitFor(() => statuses.includes(t('status.t2c', { invoices: 0, lines: 0, blocked: 0 })), 'the re-plan status: nothing to invoice');
    assert.equal(out('t2c-out1').length, 1, 'billed entries are not invoiced again');

    helper.getNode('posted').receive({ _msgid: 'stray', payload: {} });
    assert.equal((await errors.next((e) => e.source.id === 'posted')).message, asCaught(t('errors.noInvoice')));
  });

  it('change-order: an amendment before its project is parked durably and retried by the node until the project exists; complete amends the state and audits a BC schedule not updated', async () => {
    await load([...Q2P, step('co', { step: 'co-plan', retrySeconds: 1 }, 3), step('co-done', { step: 'co-complete' })]);
    const amendment = (id: string, opp: string) => ({ Id: id, Name: `CA-${id}`, Opportunity__c: opp, Amendment_Type__c: 'Scope Change', Amount_Change__c: 12000, Hours_Change__c: 80, Effective_Date__c: '2026-12-01', Description__c: 'Extra interface' });

    const parked = await through('co', { _msgid: 'ca1', payload: amendment('a0A1', NETSUITE_DEAL) }, 'co-out2');
    assert.equal(parked.payload.attempt, 1);
    assert.equal(parked.payload.projectId, `PRJ-${NETSUITE_DEAL}`);
    assert.equal((await new ParkedAmendments(services().store).all()).length, 1, 'parked in the store, not in memory');

    await provision(NETSUITE_DEAL);
    const ready = await waitFor(() => out('co-out1')[0], 'the parked amendment planned again once its project exists', 15000);
    assert.equal(ready.retry.attempt, 2);
    assert.equal(ready.erp, 'netsuite');
    assert.equal(ready.operation, 'updateProject');
    assert.equal(ready.psaRequest.payload.id, '4242');
    assert.equal((await new ParkedAmendments(services().store).all()).length, 0);

    const amended = await through('co-done', ready, 'co-done-out1');
    assert.equal(amended.payload.type, 'com.psfabric.contract.amended.v1');
    const state = ((await services().idempotency.get(RUN_SCOPE, NETSUITE_DEAL))?.outcome as Msg).projectState;
    assert.deepEqual(state.budget, ready.coPlan.budget, 'the next amendment builds on this one');
    const next = await through('co', { _msgid: 'ca2', payload: amendment('a0A2', NETSUITE_DEAL) }, 'co-out1');
    assert.equal(next.coPlan.budget.amount, ready.coPlan.budget.amount + 12000);

    // Business Central has no billing-schedule API: PSA only, said in the audit trail
    const bcDeal = salesforceDeal(BC_DEAL);
    const bcPlanned = await through('plan', { _msgid: 'bc', payload: bcDeal }, 'plan-out1');
    await through('complete', { ...bcPlanned, results: { psaProject: { workspace: { id: 77 } } } }, 'complete-out1');
    const bcReady = await through('co', { _msgid: 'ca3', payload: amendment('a0B1', BC_DEAL) }, 'co-out1');
    assert.equal(bcReady.erp, 'none');
    const bcDone = await through('co-done', bcReady, 'co-done-out1');
    assert.equal(bcDone.erpNotUpdated.system, 'businessCentral');
    const audit = await waitFor(async () => (await services().store.auditList({ action: 'erp.billing-schedule.not-updated' })).find((e: Msg) => e.recordKey === `Project/${bcReady.coPlan.projectId}`), 'the audit entry');
    assert.equal(audit.actor, 'node:co-done');

    const invalid = await through('co', { _msgid: 'ca4', payload: { Amendment_Type__c: 'Scope Change' } }, 'co-out3');
    assert.equal(invalid.step, 'plan');
    assert.ok(invalid.error.message);
    helper.getNode('co-done').receive({ _msgid: 'nope', payload: {} });
    assert.equal((await errors.next((e) => e.source.id === 'co-done')).message, asCaught(t('errors.noPlan')));
  });

  it('reporting: rollup, reconcile and kpi answer their figures and keep them as KPIs', async () => {
    await load([step('n-rollup', { step: 'rollup' }), step('n-reconcile', { step: 'reconcile' }), step('n-kpi', { step: 'kpi' })]);
    const figures = await through('n-rollup', {
      _msgid: 'r', payload: {
        from: '2026-11-01', to: '2026-11-30', projects: [{ projectId: 'P1', region: 'Americas', currency: 'USD' }], people: [{ id: 'A', region: 'Americas', costRate: 50 }],
        timeEntries: [{ id: '1', projectId: 'P1', personId: 'A', date: '2026-11-03', hours: 8, billable: true, status: 'approved', rate: 100 }], invoices: [],
      },
    }, 'n-rollup-out1');
    assert.equal(figures.topic, 'fabric/v1/kpi/rollup');
    assert.equal(figures.payload.regions[0].unbilledApprovedHours, 8);

    const recon = await through('n-reconcile', {
      _msgid: 'c', payload: {
        requestId: 'q1',
        customer: { crm: [{ key: 'ACC-1', name: 'Acme' }, { key: 'ACC-2', name: 'Globex' }], erp: [{ key: 'ACC-1', name: 'ACME ' }], psa: [{ key: 'ACC-1', name: 'Acme' }, { key: 'ACC-2', name: 'Globex' }] },
        expectedIn: { customer: { 'ACC-2': ['crm', 'psa'] } },
      },
    }, 'n-reconcile-out1');
    assert.equal(recon.payload.rate, 1, 'ACC-2 is expected in the CRM and the PSA only; names compare without case and spaces');
    assert.equal(recon.payload.requestId, 'q1');
    assert.equal(recon.payload.source, 'given');

    const kpi = await through('n-kpi', { _msgid: 'k' }, 'n-kpi-out1');
    assert.equal(kpi.topic, 'fabric/v1/kpi/snapshot');
    assert.deepEqual(kpi.payload.unbilledApprovedHours, { Americas: 8 });
    assert.equal(kpi.payload.reconciliationRate.overall, 1);
  });
});
