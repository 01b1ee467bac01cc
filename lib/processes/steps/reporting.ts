/** performance-to-reporting steps: figures and reconciliation, each kept as a KPI. */
import type { Json } from '../../store/store';
import { kpiFor } from '../kpi';
import * as rep from '../reporting';
import * as sources from '../reporting/sources';
import type { StepContext, StepMsg, StepResult } from './context';

/**
 * Kantata time entries (msg.payload; their workspaces in msg.kantata.included, custom fields named by
 * msg.kantata.fieldNames, the connection's mapping) for msg.period or msg.from / msg.to -> the roll-up's input.
 */
export async function rollupInput(msg: StepMsg, { settings }: StepContext): Promise<StepResult> {
  const period = sources.reportingPeriod({ from: msg.from, to: msg.to, period: msg.period });
  const workspaces = (msg.kantata?.included?.workspaces ?? {}) as Record<string, Record<string, any>>;
  msg.reportInput = sources.rollupInputFromKantata(Array.isArray(msg.payload) ? msg.payload : [], workspaces, { period, routing: settings.routing, fieldNames: msg.kantata?.fieldNames ?? {}, people: msg.people, invoices: msg.invoices }) as unknown as Json;
  msg.payload = msg.reportInput;
  return { out: msg };
}

/**
 * A reconciliation request (msg.reconRequest) is checked first: refused with every problem named (msg.details). Lists
 * given on it (msg.reconInput) go to output 1 as they are; none given: output 2, to read them.
 */
export async function reconcileRequest(msg: StepMsg): Promise<StepResult> {
  const problems = msg.reconRequest !== undefined ? sources.reconcileRequestProblems(msg.reconRequest) : [];
  if (problems.length) {
    msg.details = problems.slice(0, 50);
    msg.errorClass = 'validation';
    throw new Error(sources.reconcileRequestMessage(msg.reconRequestId, problems));
  }
  const given = msg.reconInput && typeof msg.reconInput === 'object' && (msg.reconInput.customer || msg.reconInput.project);
  if (!given) return { out: [null, msg] };
  msg.payload = { ...msg.reconInput, ...(msg.reconRequestId ? { requestId: msg.reconRequestId } : {}) };
  return { out: [msg, null] };
}

/** The lists read from each system (msg.recon; Kantata custom fields by msg.kantata.fieldNames) -> the reconciliation's input. */
export async function reconcileLists(msg: StepMsg, { settings }: StepContext): Promise<StepResult> {
  msg.payload = { ...sources.reconcileInputFromReads(msg.recon ?? {}, { routing: settings.routing, fieldNames: msg.kantata?.fieldNames ?? {} }), requestId: msg.reconRequestId, source: 'read' } as unknown as Json;
  delete msg.recon;
  return { out: msg };
}

/** msg.payload {timeEntries, projects, people, invoices, from, to} -> figures; KPI unbilled approved hours per region. */
export async function rollup(msg: StepMsg, { services }: StepContext): Promise<StepResult> {
  const r = rep.rollup(msg.payload as Parameters<typeof rep.rollup>[0]);
  await kpiFor(services.store).setUnbilledApprovedHours(Object.fromEntries(r.regions.map((x) => [x.region, x.unbilledApprovedHours])));
  msg.payload = r as unknown as Json;
  msg.topic = 'fabric/v1/kpi/rollup';
  return { out: msg };
}

/**
 * msg.payload {customer: {crm, erp, psa}, project: {...}, expectedIn?} -> reports; KPI reconciliation rate.
 * expectedIn[entity][key] = the systems that must hold that key (default: every given system), e.g. a customer billed
 * from an ERP that is not read (legacy) is expected only in the CRM and the PSA.
 */
export async function reconcile(msg: StepMsg, { services }: StepContext): Promise<StepResult> {
  const input = (msg.payload ?? {}) as StepMsg;
  const expected = (input.expectedIn ?? {}) as Record<string, Record<string, rep.ReconSystem[]> | undefined>;
  const reports: rep.ReconciliationReport[] = [];
  for (const entity of ['customer', 'project'] as const) {
    if (!input[entity]) continue;
    const systems = input[entity] as Partial<Record<rep.ReconSystem, rep.ReconRecord[]>>;
    const byKey = expected[entity];
    const all = Object.keys(systems) as rep.ReconSystem[];
    reports.push(rep.reconcile(entity, systems, byKey ? { expectedIn: (key) => (byKey[key] ?? all).filter((s) => all.includes(s)) } : {}));
  }
  const rates: Record<string, number> = Object.fromEntries(reports.map((r) => [r.entity, r.rate]));
  rates.overall = rep.overallRate(reports);
  await kpiFor(services.store).setReconciliationRate(rates);
  msg.payload = { reports, rate: rates.overall, ...(input.requestId ? { requestId: String(input.requestId) } : {}), source: input.source === 'read' ? 'read' : 'given' } as unknown as Json;
  msg.topic = 'fabric/v1/kpi/reconciliation';
  return { out: msg };
}

/** msg.payload = every KPI (lib/processes/kpi.ts). */
export async function kpiSnapshot(msg: StepMsg, { services }: StepContext): Promise<StepResult> {
  msg.payload = (await kpiFor(services.store).all()) as Json;
  msg.topic = 'fabric/v1/kpi/snapshot';
  return { out: msg };
}
