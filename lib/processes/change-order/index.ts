/**
 * change-order-to-billing (docs/templates.md): a contract amendment in the CRM -> the ERP billing schedule
 * and the PSA project budget are updated -> `fabric/v1/contract/amended`.
 *
 * An amendment for a project that does not exist yet (its quote-to-project run has not finished) is never
 * lost: it is parked durably (`ParkedAmendments`, on the store's inbox table) and retried with backoff; after
 * `maxWaits` tries it goes to the exception queue for the owner team with what is missing.
 */
import { addDays, money, type ErpSystem, type FieldProblem } from '../common';
import type { Json, Store } from '../../store/store';

export const PROCESS = 'change-order-to-billing';
export const OWNER_TEAM = 'billing-ops';

export interface Money {
  amount: number;
  currency: string;
}
export interface Amendment {
  /** Stable id (Salesforce Contract_Amendment__c Id or external id). */
  id: string;
  number?: string;
  opportunityId?: string;
  contractId?: string;
  /** The canonical project id when the CRM knows it; else derived from the opportunity (`PRJ-<opportunityId>`). */
  projectId?: string;
  type: 'scope-change' | 'rate-change' | 'extension';
  amountChange: number;
  hoursChange?: number;
  effectiveDate: string;
  newEndDate?: string;
  description?: string;
  currency?: string;
}
export type BillingSchedule =
  | { type: 'milestones'; milestones: Array<{ id: string; name: string; dueDate: string; amount: Money; status: string }> }
  | { type: 'time-and-materials'; invoiceFrequency: string; cap?: Money }
  | { type: 'retainer'; amount: Money; frequency: string; includedHours?: number };

/** The project as the ERP and PSA know it now. */
export interface ProjectState {
  projectId: string;
  accountId: string;
  billingEntity: string;
  currency: string;
  erp: ErpSystem;
  erpProjectId?: string;
  psaWorkspaceId?: string;
  contractId?: string;
  contractNumber?: string;
  startDate: string;
  endDate?: string;
  budget: { amount: number; hours?: number };
  billingSchedule: BillingSchedule;
}

/** Salesforce Contract_Amendment__c -> Amendment. */
export function amendmentFromSalesforce(rec: Record<string, any>): Amendment {
  const type = String(rec.Amendment_Type__c ?? 'Scope Change').toLowerCase().replace(/\s+/g, '-') as Amendment['type'];
  const a: Amendment = {
    id: String(rec.External_Id__c ?? rec.Id ?? ''),
    number: rec.Name ?? undefined,
    opportunityId: rec.Opportunity__c ?? undefined,
    contractId: rec.Contract__c ?? undefined,
    type: (['scope-change', 'rate-change', 'extension'].includes(type) ? type : 'scope-change') as Amendment['type'],
    amountChange: Number(rec.Amount_Change__c ?? 0),
    effectiveDate: String(rec.Effective_Date__c ?? '').slice(0, 10),
    description: rec.Description__c ?? undefined,
  };
  if (rec.Hours_Change__c !== undefined && rec.Hours_Change__c !== null) a.hoursChange = Number(rec.Hours_Change__c);
  if (rec.CurrencyIsoCode) a.currency = rec.CurrencyIsoCode;
  return a;
}

export function projectIdOf(a: Amendment): string | undefined {
  return a.projectId ?? (a.opportunityId ? `PRJ-${a.opportunityId}` : undefined);
}

export function validateAmendment(a: Amendment): FieldProblem[] {
  const p: FieldProblem[] = [];
  const add = (path: string, message: string) => p.push({ record: 'amendment', recordId: a.id, path, message });
  if (!a.id) add('/id', 'is missing');
  if (!projectIdOf(a)) add('/opportunityId', 'is missing: the amendment names neither a project nor an opportunity');
  if (!Number.isFinite(a.amountChange)) add('/amountChange', 'must be a number');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(a.effectiveDate)) add('/effectiveDate', 'must be a date YYYY-MM-DD');
  if (a.type === 'extension' && !a.newEndDate && !a.hoursChange && !a.amountChange) add('/newEndDate', 'an extension needs a new end date, hours or an amount');
  return p;
}

/** The billing schedule after the amendment. */
export function amendSchedule(schedule: BillingSchedule, a: Amendment, currency: string): BillingSchedule {
  if (schedule.type === 'milestones') {
    const ms = schedule.milestones.map((m) => ({ ...m, amount: { ...m.amount } }));
    if (a.amountChange > 0) {
      ms.push({ id: `CO-${a.id}`, name: `Change order ${a.number ?? a.id}`, dueDate: a.effectiveDate, amount: { amount: money(a.amountChange), currency }, status: 'planned' });
    } else if (a.amountChange < 0) {
      // reduce the latest planned milestones, never below zero
      let left = -a.amountChange;
      for (let i = ms.length - 1; i >= 0 && left > 0; i--) {
        if (ms[i].status !== 'planned') continue;
        const cut = Math.min(ms[i].amount.amount, left);
        ms[i].amount.amount = money(ms[i].amount.amount - cut);
        left = money(left - cut);
      }
    }
    return { type: 'milestones', milestones: ms };
  }
  if (schedule.type === 'time-and-materials') {
    const out: BillingSchedule = { type: 'time-and-materials', invoiceFrequency: schedule.invoiceFrequency };
    if (schedule.cap) out.cap = { amount: money(schedule.cap.amount + a.amountChange), currency: schedule.cap.currency };
    return out;
  }
  return { ...schedule, ...(a.hoursChange ? { includedHours: money((schedule.includedHours ?? 0) + a.hoursChange) } : {}) };
}

export interface ReadyPlan {
  status: 'ready';
  amendment: Amendment;
  projectId: string;
  budget: { amount: number; hours?: number };
  billingSchedule: BillingSchedule;
  endDate?: string;
  /** ERP: billing schedule of the project (undefined when the ERP cannot take one: see `erpNotUpdated`). */
  erpWrite?: { system: ErpSystem; operation: string; idempotencyKey: string; recordKey: string; request: Record<string, any> };
  /**
   * Set when the project's ERP has no interface for a billing schedule, so only the PSA budget (and this plan's
   * schedule on the contract.amended event) carries the amendment. The flow records it in the audit trail and the
   * event's amendment description says so.
   */
  erpNotUpdated?: { system: ErpSystem; billingEntity: string; reason: string };
  psaWrite?: { system: 'kantata'; operation: 'updateWorkspace'; idempotencyKey: string; recordKey: string; request: Record<string, any> };
  /** Canonical Contract with the amendment: the contract.amended event's data. */
  contract: Record<string, any>;
}
export interface WaitPlan {
  status: 'waiting';
  amendment: Amendment;
  projectId?: string;
  attempt: number;
  retryAt: number;
  reason: string;
}
export interface ExceptionPlan {
  status: 'exception';
  amendment: Amendment;
  projectId?: string;
  problems: FieldProblem[];
  message: string;
  ownerTeam: string;
  errorClass: 'validation' | 'not-found';
}
export type AmendmentPlan = ReadyPlan | WaitPlan | ExceptionPlan;

export interface AmendmentOptions {
  /** Which try this is (1 = first). */
  attempt?: number;
  /** Tries while the project does not exist, before the amendment goes to the exception queue. Default 6. */
  maxWaits?: number;
  /** First wait; doubles each try up to maxDelayMs. Default 30 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
}

export function planAmendment(a: Amendment, project: ProjectState | undefined, opts: AmendmentOptions = {}): AmendmentPlan {
  const now = opts.now ?? Date.now;
  const attempt = opts.attempt ?? 1;
  const projectId = projectIdOf(a);
  const problems = validateAmendment(a);
  if (problems.length) return { status: 'exception', amendment: a, projectId, problems, message: `Amendment ${a.id} cannot be applied: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, ownerTeam: 'sales-ops', errorClass: 'validation' };
  if (!project) {
    const maxWaits = opts.maxWaits ?? 6;
    if (attempt < maxWaits) {
      const base = opts.baseDelayMs ?? 30_000;
      const delay = Math.min(opts.maxDelayMs ?? 30 * 60_000, base * 2 ** (attempt - 1));
      return { status: 'waiting', amendment: a, projectId, attempt, retryAt: now() + delay, reason: `project ${projectId} does not exist yet (quote-to-project not finished); retry ${attempt + 1} of ${maxWaits}` };
    }
    const problem: FieldProblem = { record: 'amendment', recordId: a.id, path: '/projectId', message: `project ${projectId} still does not exist after ${attempt} tries: create the project (replay its quote-to-project run) and replay this amendment` };
    return { status: 'exception', amendment: a, projectId, problems: [problem], message: `Amendment ${a.id}: ${problem.message}`, ownerTeam: OWNER_TEAM, errorClass: 'not-found' };
  }
  if (a.currency && a.currency !== project.currency) {
    const problem: FieldProblem = { record: 'amendment', recordId: a.id, path: '/currency', message: `${a.currency} differs from the project currency ${project.currency}` };
    return { status: 'exception', amendment: a, projectId, problems: [problem], message: `Amendment ${a.id}: ${problem.message}`, ownerTeam: 'sales-ops', errorClass: 'validation' };
  }
  const budget = { amount: money(project.budget.amount + a.amountChange), ...(project.budget.hours !== undefined || a.hoursChange ? { hours: money((project.budget.hours ?? 0) + (a.hoursChange ?? 0)) } : {}) };
  const billingSchedule = amendSchedule(project.billingSchedule, a, project.currency);
  const endDate = a.newEndDate ?? project.endDate;
  const key = `co:${a.id}`;
  const noSchedule = ERP_WITHOUT_BILLING_SCHEDULE[project.erp];
  const erpWrite: ReadyPlan['erpWrite'] = noSchedule
    ? undefined
    : { system: project.erp, operation: 'updateProject', idempotencyKey: `${key}:erp`, recordKey: `Project/${project.projectId}`, request: { projectExternalId: project.erpProjectId ?? project.projectId, project: { id: project.projectId }, billingSchedule, ...(endDate ? { endDate } : {}) } };
  const erpNotUpdated: ReadyPlan['erpNotUpdated'] = noSchedule ? { system: project.erp, billingEntity: project.billingEntity, reason: noSchedule } : undefined;
  const description = a.description ?? a.type;
  const psaWrite: ReadyPlan['psaWrite'] = project.psaWorkspaceId
    ? { system: 'kantata', operation: 'updateWorkspace', idempotencyKey: `${key}:psa`, recordKey: `Project/${project.projectId}`, request: { id: project.psaWorkspaceId, workspace: { price: budget.amount, budgeted: true, ...(endDate ? { due_date: endDate } : {}) } } }
    : undefined;
  const contract = {
    id: project.contractId ?? `CTR-${project.projectId}`,
    version: 2,
    accountId: project.accountId,
    number: project.contractNumber ?? project.contractId ?? `CTR-${project.projectId}`,
    billingEntity: project.billingEntity,
    currency: project.currency,
    startDate: project.startDate,
    ...(endDate ? { endDate } : {}),
    status: 'active',
    totalValue: { amount: budget.amount, currency: project.currency },
    billingSchedule,
    amendments: [{ id: a.id, number: amendmentNumber(a), effectiveDate: a.effectiveDate, description: erpNotUpdated ? erpNoteOn(description, erpNotUpdated) : description, valueChange: { amount: a.amountChange, currency: project.currency }, ...(a.newEndDate ? { newEndDate: a.newEndDate } : {}) }],
  };
  return { status: 'ready', amendment: a, projectId: project.projectId, budget, billingSchedule, endDate, erpWrite, psaWrite, ...(erpNotUpdated ? { erpNotUpdated } : {}), contract };
}

/**
 * ERPs that cannot take a project billing schedule through their interface, with why. Business Central API v2.0
 * `projects` carry only number and displayName (no planning lines, no billing schedule, no end date: see
 * /work/shared/contracts/business-central); the legacy ERP's MQTT interface takes customers and invoices only.
 */
export const ERP_WITHOUT_BILLING_SCHEDULE: Partial<Record<ErpSystem, string>> = {
  businessCentral: 'Business Central API v2.0 has no billing schedule for projects (projects carry number and name only; job planning lines are not in the API)',
  legacy: 'the legacy ERP interface takes customers and invoices only (no projects, no billing schedule)',
};

/** The amendment's description on contract.amended, saying the ERP schedule was not updated (schema: max 1000). */
export function erpNoteOn(description: string, note: NonNullable<ReadyPlan['erpNotUpdated']>): string {
  const suffix = ` [ERP billing schedule not updated (${note.system}, ${note.billingEntity}): ${note.reason}. PSA budget and this event carry the amended schedule]`;
  return description.slice(0, Math.max(1, 1000 - suffix.length)) + suffix;
}

/** Amendment number as an integer (`CA-0007` -> 7; 1 when the CRM has none). */
export function amendmentNumber(a: Amendment): number {
  const m = /(\d+)\s*$/.exec(a.number ?? '');
  return m ? Math.max(1, parseInt(m[1], 10)) : 1;
}

/** The contract.amended event's idempotency key: one per amendment (a contract has many). */
export function amendedEventKey(a: Amendment): string {
  return `co:${a.id}:contract-amended`;
}

/** Next retry of a parked amendment (exported for the tests and the node's status). */
export function nextRetry(attempt: number, now: number, baseDelayMs = 30_000, maxDelayMs = 30 * 60_000): number {
  return now + Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}

// ------------------------------------------------------------------------------------------ parked amendments
export interface ParkedAmendment {
  amendment: Amendment;
  attempt: number;
  retryAt: number;
  correlationId?: string;
}

/**
 * Durable parking for amendments that wait for their project, on the store's inbox table (source
 * `change-order:parked`, one row per amendment and try). Survives restarts; `due()` returns what is ready.
 */
export class ParkedAmendments {
  static readonly SOURCE = 'change-order:parked';
  constructor(private readonly store: Pick<Store, 'inboxAdd' | 'inboxPending' | 'inboxMarkProcessed'>) {}

  private messageId(id: string, attempt: number): string {
    return `${id}#${attempt}`;
  }

  async park(entry: ParkedAmendment, now = Date.now()): Promise<void> {
    await this.store.inboxAdd({ source: ParkedAmendments.SOURCE, messageId: this.messageId(entry.amendment.id, entry.attempt), payload: entry as unknown as Json, receivedAt: now });
  }

  /** Everything parked (not yet taken), oldest first. */
  async all(limit = 1000): Promise<ParkedAmendment[]> {
    const rows = await this.store.inboxPending(ParkedAmendments.SOURCE, limit);
    return rows.map((r) => r.payload as unknown as ParkedAmendment);
  }

  /** Parked amendments whose retry time has come. */
  async due(now = Date.now(), limit = 1000): Promise<ParkedAmendment[]> {
    return (await this.all(limit)).filter((p) => p.retryAt <= now);
  }

  /** Takes a parked try off the shelf (it is being retried, applied or sent to the exception queue). */
  async take(entry: ParkedAmendment): Promise<void> {
    await this.store.inboxMarkProcessed(ParkedAmendments.SOURCE, this.messageId(entry.amendment.id, entry.attempt));
  }
}

export { addDays };
