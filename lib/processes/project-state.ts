/**
 * The state of a project set up by quote-to-project, as change-order-to-billing builds on it: kept with the
 * quote-to-project run's idempotency record (scope = the process, key = the opportunity id), so a change order finds
 * the project its deal created and each amendment builds on the one before it.
 */
import type { IdempotencyService } from '../idempotency';
import type { Json } from '../store/store';
import type { ProjectState, ReadyPlan } from './change-order';
import { PROCESS as Q2P_PROCESS, type QuoteToProjectPlan } from './quote-to-project';

/** The project as quote-to-project completed it (its ids in every system). */
export interface CompletedProject {
  externalIds?: Record<string, string>;
}

/** The idempotency scope of quote-to-project runs: one record per opportunity. */
export const RUN_SCOPE = Q2P_PROCESS;

/** What a completed quote-to-project run leaves for change orders. */
export function projectStateOf(plan: QuoteToProjectPlan, project: CompletedProject): ProjectState {
  return {
    projectId: plan.project.id,
    accountId: plan.account.id,
    billingEntity: plan.project.billingEntity,
    currency: plan.project.currency,
    erp: plan.erp.erp,
    erpProjectId: plan.project.id,
    psaWorkspaceId: project.externalIds?.kantata,
    contractId: plan.project.contractId,
    startDate: plan.project.startDate,
    endDate: plan.project.endDate,
    budget: { amount: plan.project.budget.amount.amount, hours: plan.project.budget.hours },
    billingSchedule: (plan.writes.psaProject.request as Record<string, unknown>).billingSchedule as ProjectState['billingSchedule'],
  };
}

/** The opportunity a change order belongs to: named on the amendment, else the project id's (`PRJ-<opportunity>`). */
export function opportunityOf(amendment: { opportunityId?: string }, projectId: string | undefined): string | undefined {
  return amendment.opportunityId ?? projectId?.replace(/^PRJ-/, '');
}

export class ProjectStates {
  constructor(private readonly idempotency: Pick<IdempotencyService, 'get' | 'recordOutcome'>) {}

  /** The project state of an opportunity's completed run, or undefined while it has none (not set up yet). */
  async get(opportunityId: string | undefined): Promise<ProjectState | undefined> {
    if (!opportunityId) return undefined;
    const outcome = (await this.idempotency.get(RUN_SCOPE, opportunityId))?.outcome as { projectState?: ProjectState } | undefined;
    return outcome?.projectState;
  }

  /** Records a completed run: the project, its ids in every system, and its state for change orders. */
  async recordCompleted(plan: QuoteToProjectPlan, project: CompletedProject): Promise<ProjectState> {
    const projectState = projectStateOf(plan, project);
    await this.idempotency.recordOutcome(RUN_SCOPE, plan.opportunityId, { projectId: plan.project.id, externalIds: project.externalIds, projectState } as unknown as Json);
    return projectState;
  }

  /**
   * Records an applied amendment's budget, schedule and end date over the project's state, so the next amendment
   * builds on it. Answers false (and records nothing) when the opportunity has no completed run.
   */
  async recordAmended(plan: Pick<ReadyPlan, 'amendment' | 'projectId' | 'budget' | 'billingSchedule' | 'endDate'>): Promise<boolean> {
    const oppId = opportunityOf(plan.amendment, plan.projectId);
    if (!oppId) return false;
    const prev = (await this.idempotency.get(RUN_SCOPE, oppId))?.outcome as Record<string, unknown> & { projectState?: ProjectState } | undefined;
    if (!prev?.projectState) return false;
    await this.idempotency.recordOutcome(RUN_SCOPE, oppId, { ...prev, projectState: { ...prev.projectState, budget: plan.budget, billingSchedule: plan.billingSchedule, endDate: plan.endDate } } as unknown as Json);
    return true;
  }
}
