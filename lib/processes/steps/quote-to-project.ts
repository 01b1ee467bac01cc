/**
 * quote-to-project steps. The run's inbox hand-over is held from the plan to the completion: a run makes several
 * writes, and a crash after the first must replay the run (lib/inbox holdInboxHandOver).
 */
import { messageRecordKey } from '../../exceptions';
import { holdInboxHandOver, markInboxProcessed, releaseInboxHandOver } from '../../inbox';
import { toEnvelope } from '../../model';
import { CrossReference } from '../../xref';
import type { Json } from '../../store/store';
import { ProcessStepError, routeFor } from '../common';
import { kpiFor } from '../kpi';
import { ProjectStates, RUN_SCOPE } from '../project-state';
import * as q2p from '../quote-to-project';
import { StepInputError, type StepContext, type StepMsg, type StepResult } from './context';

/** A Salesforce {opportunity, account, lineItems?, contract?} or a canonical deal. */
function dealOf(input: StepMsg, directory: q2p.Directory): q2p.CloseWonDeal {
  if (!input.opportunity?.Id && !input.opportunity?.StageName) return q2p.withDirectory(input as q2p.CloseWonDeal, directory);
  return q2p.dealFromSalesforce({
    opportunity: input.opportunity,
    account: input.account ?? undefined,
    lineItems: input.lineItems ?? input.lines,
    contract: input.contract ? { ...input.contract, Billing_Milestones__r: { records: input.billingSchedule ?? [] } } : undefined,
    directory,
  });
}

/** The system name of the CRM in the cross-reference (as the ownership matrix names it). */
const CRM_SYSTEM = 'salesforce';

/**
 * The CRM's own ids of the deal's records (Account, Opportunity -> the project it becomes, Contract), kept in the
 * cross-reference beside the ids the other systems answer, so a record can be looked up from any system's id.
 * `connection`: the trigger's Salesforce connection (msg.salesforce.connection).
 */
async function recordCrmIds(services: StepContext['services'], input: StepMsg, plan: q2p.QuoteToProjectPlan, connection: string): Promise<void> {
  const xref = new CrossReference(services.store).forConnection(connection);
  const account = input.account ?? input.opportunity?.Account;
  if (account?.Id && plan.account?.id) await xref.record('account', plan.account.id, CRM_SYSTEM, { id: String(account.Id) });
  if (input.opportunity?.Id) await xref.record('project', plan.project.id, CRM_SYSTEM, { id: String(input.opportunity.Id) });
  const contract = input.contract;
  if (contract?.Id && plan.project.contractId) await xref.record('contract', plan.project.contractId, CRM_SYSTEM, { id: String(contract.Id), ...(contract.ContractNumber ? { number: String(contract.ContractNumber) } : {}) });
}

/**
 * Out 1: msg.plan, KPI start (run key = opportunity id). Out 2: what is missing, for the exception queue. Out 3: the
 * repeat of a completed run (an unfinished run continues: quote-to-project runDecision).
 */
export async function q2pPlan(msg: StepMsg, { services, settings }: StepContext): Promise<StepResult> {
  const deal = dealOf((msg.payload ?? {}) as StepMsg, settings.directory);
  const oppId = deal.opportunity?.id ?? 'unknown';
  msg.process = q2p.PROCESS;
  msg.correlationId = msg.correlationId ?? `q2p:${oppId}`;
  try {
    msg.plan = q2p.planQuoteToProject(deal, { routing: settings.routing });
  } catch (err) {
    if (!(err instanceof ProcessStepError)) throw err;
    msg.payload = { opportunityId: oppId, missing: err.problems } as unknown as Json;
    msg.error = { message: err.message, details: err.problems };
    msg.errorClass = 'validation';
    msg.ownerTeam = err.ownerTeam;
    msg.step = 'validate';
    msg.recordKey = err.recordKey ?? messageRecordKey(msg); // no opportunity id: the message's own id, never a shared placeholder
    return { out: [null, msg, null] };
  }
  const claim = await services.idempotency.claim(RUN_SCOPE, oppId);
  if (q2p.runDecision(claim, { replay: !!msg.replay, redelivered: !!msg.redelivered }) === 'duplicate') {
    kpiFor(services.store).duplicate(q2p.PROCESS);
    msg.duplicate = { key: oppId, outcome: claim.existing?.outcome ?? null };
    await markInboxProcessed(msg, services.store); // a completed run's repeat ends here
    return { out: [null, null, msg] };
  }
  holdInboxHandOver(msg); // handed over when the run completes (q2p-complete), not at its first write
  const plan = msg.plan as q2p.QuoteToProjectPlan;
  const input = (msg.payload ?? {}) as StepMsg;
  if (input.opportunity?.Id) await recordCrmIds(services, input, plan, String(msg.salesforce?.connection ?? CRM_SYSTEM));
  await kpiFor(services.store).processStart(q2p.PROCESS, oppId, {
    startedAt: plan.closedWonAt,
    correlationId: msg.correlationId,
    attributes: { billingEntity: plan.project.billingEntity, region: routeFor(plan.project.billingEntity, settings.routing)?.region ?? null, erp: plan.erp.erp },
  });
  msg.results = {};
  msg.erp = plan.erp.erp;
  msg.erpTarget = `${plan.erp.erp}:${plan.erp.company}`;
  msg.payload = plan as unknown as Json;
  return { out: [msg, null, null] };
}

/** The previous connector's answer, kept under the write that asked for it. */
function keepPendingResult(msg: StepMsg): void {
  if (msg.pendingWrite) msg.results = { ...(msg.results ?? {}), [msg.pendingWrite]: msg.payload };
}

/** Prepares the next planned write for a connector node: msg.payload = request, msg.operation, idempotency and record keys. */
export async function q2pWrite(msg: StepMsg, { settings }: StepContext): Promise<StepResult> {
  if (!msg.plan) throw new StepInputError('noPlan', {}, 'msg.plan is missing');
  keepPendingResult(msg);
  const w = (msg.plan as q2p.QuoteToProjectPlan).writes[(settings.write ?? '') as keyof q2p.QuoteToProjectPlan['writes']] as q2p.PlannedWrite | undefined;
  if (!w) throw new StepInputError('unknownWrite', { write: String(settings.write) }, `unknown write ${String(settings.write)}`);
  const request = { ...w.request } as StepMsg;
  // the epic goes into the project Jira actually has (the key it answered with)
  if (settings.write === 'jiraEpic' && msg.results?.jiraProject?.key) request.projectKey = msg.results.jiraProject.key;
  msg.payload = request;
  msg.operation = w.operation;
  msg.idempotencyKey = w.idempotencyKey;
  msg.recordKey = w.recordKey;
  msg.step = w.step;
  msg.pendingWrite = settings.write;
  return { out: msg };
}

/** The project is active: its state recorded for change orders, the run handed over, msg.payload = project.created. */
export async function q2pComplete(msg: StepMsg, { services, settings, actor }: StepContext): Promise<StepResult> {
  if (!msg.plan) throw new StepInputError('noPlan', {}, 'msg.plan is missing');
  keepPendingResult(msg);
  delete msg.pendingWrite;
  const plan = msg.plan as q2p.QuoteToProjectPlan;
  const done = q2p.completeProject(plan, msg.results ?? {});
  await new ProjectStates(services.idempotency).recordCompleted(plan, done.project);
  releaseInboxHandOver(msg);
  const billingEntity = plan.project.billingEntity;
  await kpiFor(services.store).processComplete(q2p.PROCESS, plan.opportunityId, 'completed', {
    labels: { billingEntity },
    attributes: { projectId: plan.project.id, erp: plan.erp.erp, billingEntity, region: routeFor(billingEntity, settings.routing)?.region ?? null },
  });
  await services.exceptions.autoResolve?.(`Opportunity/${plan.opportunityId}`, actor);
  msg.project = done.project;
  msg.payload = toEnvelope({ entity: 'project', event: 'created', source: settings.source, data: done.project, correlationid: msg.correlationId, idempotencykey: `${plan.runKey}:project-created` });
  msg.topic = 'fabric/v1/project/created';
  msg.notification = plan.writes.notify;
  return { out: msg };
}
