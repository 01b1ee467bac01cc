/**
 * change-order-to-billing steps. An amendment whose project is not set up yet (its deal's quote-to-project run has
 * not completed) is parked durably (change-order ParkedAmendments) and planned again by `ParkedAmendmentRetry`
 * until its project exists or it has waited `maxWaits` times.
 */
import { messageRecordKey } from '../../exceptions';
import { markInboxProcessed } from '../../inbox';
import { toEnvelope } from '../../model';
import type { Json } from '../../store/store';
import * as co from '../change-order';
import { opportunityOf, ProjectStates } from '../project-state';
import { StepInputError, type StepContext, type StepMsg, type StepResult } from './context';

/** Plans one try of an amendment: out 1 ready (ERP request), out 2 parked (waiting for its project), out 3 exception. */
export async function planAmendmentTry(msg: StepMsg, amendment: co.Amendment, attempt: number, { services, settings }: StepContext): Promise<StepResult> {
  const projectId = co.projectIdOf(amendment);
  const state = await new ProjectStates(services.idempotency).get(opportunityOf(amendment, projectId));
  const plan = co.planAmendment(amendment, state, { attempt, maxWaits: settings.maxWaits, baseDelayMs: settings.retrySeconds * 1000 });
  msg.coPlan = plan;
  msg.process = co.PROCESS;
  msg.correlationId = msg.correlationId ?? `co:${amendment.id}`;
  if (plan.status === 'ready') {
    msg.recordKey = `Project/${plan.projectId}`;
    if (plan.erpWrite) {
      msg.payload = plan.erpWrite.request;
      msg.operation = plan.erpWrite.operation;
      msg.idempotencyKey = plan.erpWrite.idempotencyKey;
      msg.erp = plan.erpWrite.system;
    } else {
      msg.payload = null;
      msg.erp = 'none';
    }
    msg.psaRequest = plan.psaWrite ? { payload: plan.psaWrite.request, operation: plan.psaWrite.operation, idempotencyKey: plan.psaWrite.idempotencyKey } : null;
    return { out: [msg, null, null] };
  }
  if (plan.status === 'waiting') {
    await new co.ParkedAmendments(services.store).park({ amendment, attempt, retryAt: plan.retryAt, correlationId: msg.correlationId });
    await markInboxProcessed(msg); // parked durably: the amendment's inbox entry (fabric-mqtt-in) is handed over
    msg.payload = { amendmentId: amendment.id, projectId: plan.projectId, attempt, retryAt: new Date(plan.retryAt).toISOString(), reason: plan.reason };
    return { out: [null, msg, null] };
  }
  msg.payload = { amendment } as unknown as Json;
  msg.error = { message: plan.message, details: plan.problems };
  msg.errorClass = plan.errorClass;
  msg.ownerTeam = plan.ownerTeam;
  msg.step = 'plan';
  msg.recordKey = amendment?.id ? `Amendment/${amendment.id}` : messageRecordKey(msg); // no amendment id: the message's own id
  return { out: [null, null, msg] };
}

/** A Salesforce Contract_Amendment__c, `{amendment}` or a canonical amendment; msg.retry.attempt = which try. */
export async function coPlan(msg: StepMsg, ctx: StepContext): Promise<StepResult> {
  const raw = (msg.payload ?? {}) as StepMsg;
  const amendment: co.Amendment = raw.Amendment_Type__c !== undefined || raw.Amount_Change__c !== undefined ? co.amendmentFromSalesforce(raw) : (raw.amendment ?? raw);
  return planAmendmentTry(msg, amendment, Number(msg.retry?.attempt ?? 1), ctx);
}

/**
 * The amendment is applied: the project state amended (the next amendment builds on it), msg.payload =
 * contract.amended; an ERP without a billing-schedule interface is recorded in the audit trail (not silent).
 */
export async function coComplete(msg: StepMsg, { services, settings, actor }: StepContext): Promise<StepResult> {
  const plan = msg.coPlan as co.ReadyPlan | undefined;
  if (!plan || plan.status !== 'ready') throw new StepInputError('noPlan', {}, 'msg.coPlan is missing or not ready');
  await new ProjectStates(services.idempotency).recordAmended(plan);
  await services.exceptions.autoResolve?.(`Amendment/${plan.amendment.id}`, actor);
  if (plan.erpNotUpdated) {
    await services.audit?.append({
      actor, action: 'erp.billing-schedule.not-updated', process: co.PROCESS, correlationId: msg.correlationId, targetSystem: plan.erpNotUpdated.system, recordKey: `Project/${plan.projectId}`,
      details: { amendmentId: plan.amendment.id, billingEntity: plan.erpNotUpdated.billingEntity, reason: plan.erpNotUpdated.reason, billingSchedule: plan.billingSchedule, budget: plan.budget } as unknown as Json,
    });
    msg.erpNotUpdated = plan.erpNotUpdated;
  }
  msg.payload = toEnvelope({ entity: 'contract', event: 'amended', source: settings.source, data: plan.contract, correlationid: msg.correlationId, idempotencykey: co.amendedEventKey(plan.amendment) });
  msg.topic = 'fabric/v1/contract/amended';
  return { out: msg };
}

/** How many parked amendments one retry pass takes at most (the rest wait for the next pass). */
const RETRY_BATCH = 200;
/** A pass runs at least this often, so a short retry delay is honoured without waiting for a long interval. */
const MAX_PASS_INTERVAL_MS = 5000;

/** Plans parked amendments again once their retry time has come; what each try answers goes to `send`. */
export class ParkedAmendmentRetry {
  private timer?: NodeJS.Timeout;

  /** `ctx` is asked for at each pass (the store may open after the node starts). */
  constructor(
    private readonly ctx: () => StepContext,
    private readonly send: (out: StepResult['out']) => void,
    private readonly retrySeconds: number,
  ) {}

  /** One pass: each due amendment is taken off the shelf and planned again (next attempt). Answers how many. */
  async pass(now = Date.now()): Promise<number> {
    const ctx = this.ctx();
    const parked = new co.ParkedAmendments(ctx.services.store);
    const due = await parked.due(now, RETRY_BATCH);
    for (const p of due) {
      await parked.take(p);
      const attempt = p.attempt + 1;
      const { out } = await planAmendmentTry({ _msgid: `${p.amendment.id}#${attempt}`, correlationId: p.correlationId, retry: { attempt } }, p.amendment, attempt, ctx);
      this.send(out);
    }
    return due.length;
  }

  /** Passes every retry interval (at most every 5 s) until stop(); a failed pass goes to `onError` and the next one runs. */
  start(onError: (err: unknown) => void): void {
    const every = Math.min(Math.max(1, this.retrySeconds) * 1000, MAX_PASS_INTERVAL_MS);
    this.timer = setInterval(() => {
      this.pass().catch(onError);
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
