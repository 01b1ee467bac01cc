/** time-to-cash steps: entries -> invoice writes (assigned durably before they leave), then the posted invoice. */
import { markInboxProcessed } from '../../inbox';
import { toEnvelope } from '../../model';
import type { Json } from '../../store/store';
import { kpiFor, MASTER_DATA_STEP } from '../kpi';
import * as t2c from '../time-to-cash';
import { entrySources, planHandOver } from '../time-to-cash/inbox-hand-over';
import { StepInputError, type StepContext, type StepMsg, type StepResult } from './context';

/** The project context of each entry: msg.projects, else the Kantata workspace context given with the entries. */
function projectsOf(msg: StepMsg, raw: unknown[]): Record<string, t2c.ProjectContext> {
  const projects: Record<string, t2c.ProjectContext> = { ...(msg.projects ?? {}) };
  for (const it of [...raw, ...((msg.kantata?.items ?? []) as unknown[])] as StepMsg[]) {
    const ctx = it?.workspace ?? it?.context ?? msg.workspace;
    if (ctx?.projectId && !projects[ctx.projectId]) projects[ctx.projectId] = t2c.projectFromWorkspace(ctx);
  }
  return projects;
}

/**
 * Out 1: one msg per invoice write (its entries assigned to it in the store before it leaves; entries already
 * assigned to an unposted invoice send that invoice's stored write again). Out 2: one msg per blocked entry.
 */
export async function t2cPlan(msg: StepMsg, { services, settings }: StepContext): Promise<StepResult> {
  const sources = entrySources(msg);
  const timeEntries = sources.items.filter((x) => x.hours !== undefined) as unknown as t2c.TimeEntry[];
  const expenses = sources.items.filter((x) => x.hours === undefined && x.amount !== undefined) as unknown as t2c.Expense[];
  const plan = await t2c.planAndAssign({ timeEntries, expenses }, projectsOf(msg, sources.raw), services.store, { routing: settings.routing, batchSize: settings.batchSize, maxLinesPerInvoice: settings.maxLines });
  const { shares, untouched } = planHandOver(sources, [...plan.invoices.map((w) => w.entryIds), ...plan.blocked.map((b) => [b.entry.id])]);
  for (const r of untouched) await markInboxProcessed(r, services.store);
  const kpi = kpiFor(services.store);
  const invoices: StepMsg[] = [];
  for (const [i, w] of plan.invoices.entries()) {
    if (w.oldestApprovedAt !== undefined) {
      await kpi.processStart(t2c.PROCESS, w.invoice.id, { startedAt: w.oldestApprovedAt, correlationId: msg.correlationId, attributes: { erp: w.erp, lines: w.entryIds.length, billingEntity: w.invoice.billingEntity ?? null, region: w.route.region ?? null } });
    }
    // the request is the payload, not a second copy in msg.invoiceWrite (the ERP node keeps the msg with its outbox write)
    const { request, ...invoiceWrite } = w;
    invoices.push({
      _msgid: `${msg._msgid}:${w.invoice.id}`, payload: request, operation: w.operation, idempotencyKey: w.idempotencyKey, recordKey: w.recordKey, process: t2c.PROCESS, step: 'erp-invoice',
      erp: w.erp, erpTarget: `${w.erp}:${w.route.company}`, invoiceWrite, correlationId: msg.correlationId ?? `t2c:${w.invoice.id}`, ...(shares[i] ? { _fabricInbox: shares[i] } : {}),
    });
  }
  const blocked: StepMsg[] = plan.blocked.map((b, j) => ({
    ...(shares[plan.invoices.length + j] ? { _fabricInbox: shares[plan.invoices.length + j] } : {}),
    _msgid: `${msg._msgid}:${b.entry.id}`,
    payload: b.entry as unknown as Json,
    error: { message: `${b.kind} ${b.entry.id} cannot be invoiced: ${b.problems.map((p) => p.message).join('; ')}`, details: b.problems },
    errorClass: 'validation',
    ownerTeam: b.cause === 'master-data' ? t2c.MASTER_DATA_OWNER : 'delivery-ops',
    process: t2c.PROCESS,
    step: b.cause === 'master-data' ? MASTER_DATA_STEP : 'validate',
    recordKey: `${b.kind === 'timeentry' ? 'TimeEntry' : 'Expense'}/${b.entry.id}`,
  }));
  const records = () => {
    const invoiceOf = new Map<string, string>();
    for (const w of plan.invoices) for (const id of w.entryIds) invoiceOf.set(id, w.recordKey);
    const keys = (entity: string, entries: Array<{ id: string }>) => entries.map((e) => ({ recordKey: `${entity}/${e.id}`, process: t2c.PROCESS, ...(invoiceOf.has(e.id) ? { partOf: invoiceOf.get(e.id) } : {}) }));
    return [...keys('TimeEntry', timeEntries), ...keys('Expense', expenses)];
  };
  return { out: [invoices, blocked], status: { key: 't2c', subs: { invoices: plan.invoices.length, lines: plan.totals.lines, blocked: plan.blocked.length } }, records };
}

/** After the ERP write: entries recorded billed, msg.payload = invoice.posted, msg.markInvoiced = the PSA request. */
export async function t2cPosted(msg: StepMsg, { services, settings, actor }: StepContext): Promise<StepResult> {
  const w = msg.invoiceWrite as t2c.InvoiceWrite | undefined;
  if (!w) throw new StepInputError('noInvoice', {}, 'msg.invoiceWrite is missing');
  const posted = t2c.postedInvoice(w, msg.payload as StepMsg);
  await t2c.recordBilled(services.idempotency, w); // one transaction (one disk sync) for the invoice's entries
  await kpiFor(services.store).processComplete(t2c.PROCESS, w.invoice.id, 'completed', { labels: { erp: w.erp }, attributes: { erp: w.erp, lines: w.entryIds.length, billingEntity: w.invoice.billingEntity ?? null, region: w.route.region ?? null } });
  await services.exceptions.autoResolve?.(w.recordKey, actor);
  const mark = w.markInvoiced.kantata;
  msg.markInvoiced = mark.timeEntryIds.length + mark.expenseIds.length > 0
    ? { payload: { timeEntryIds: mark.timeEntryIds, expenseIds: mark.expenseIds, workspaceId: mark.workspaceId, invoiceNumber: w.invoice.id, invoiceDate: w.invoice.issueDate }, operation: 'markInvoiced', idempotencyKey: `t2c:${w.invoice.id}:mark-invoiced` }
    : null;
  msg.payload = toEnvelope({ entity: 'invoice', event: 'posted', source: settings.source, data: posted, correlationid: msg.correlationId, idempotencykey: `t2c:${w.invoice.id}:posted` });
  msg.topic = 'fabric/v1/invoice/posted';
  return { out: msg };
}
