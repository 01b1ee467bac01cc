/** performance-to-reporting steps: figures and reconciliation, each kept as a KPI. */
import type { Json } from '../../store/store';
import { kpiFor } from '../kpi';
import * as rep from '../reporting';
import type { StepContext, StepMsg, StepResult } from './context';

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
