/**
 * performance-to-reporting (docs/templates.md): scheduled roll-up of utilisation, realisation, margin,
 * unbilled approved hours and DSO per project and per region, and a reconciliation of customers and projects
 * across CRM, ERP and PSA (mismatches + reconciliation rate). Pure functions over plain records; the flow
 * fetches the records through the connector nodes and publishes the figures on the bus.
 */
import { money } from '../common';

export const PROCESS = 'performance-to-reporting';

export interface ReportTimeEntry {
  id: string;
  projectId: string;
  personId: string;
  date: string;
  hours: number;
  billable: boolean;
  /** approved | billed | submitted | draft | rejected */
  status: string;
  /** Bill rate per hour (standard rate: what the hours are worth at the rate card). */
  rate?: number;
}
export interface ReportProject {
  projectId: string;
  name?: string;
  region: string;
  billingEntity?: string;
  currency: string;
}
export interface ReportPerson {
  id: string;
  region: string;
  /** Cost per hour. */
  costRate: number;
  /** Available hours per week (default 40). */
  capacityHoursPerWeek?: number;
}
export interface ReportInvoice {
  id: string;
  projectId: string;
  issueDate: string;
  total: number;
  /** Still to be paid. */
  outstanding: number;
  /** Hours the invoice billed (for realisation); default: sum of its time lines. */
  hours?: number;
}

export interface ProjectFigures {
  projectId: string;
  region: string;
  currency: string;
  hours: number;
  billableHours: number;
  billedHours: number;
  unbilledApprovedHours: number;
  /** Billable hours at their standard (rate card) rate. */
  standardValue: number;
  /** Invoiced in the period. */
  revenue: number;
  cost: number;
  margin: number;
  /** margin / revenue, 0..1 (null without revenue). */
  marginPct: number | null;
  /** revenue / value of the billed hours at standard rates (null when nothing billed). */
  realisation: number | null;
  /** Days sales outstanding: outstanding / revenue * days in period (null without revenue). */
  dso: number | null;
  outstanding: number;
}
export interface RegionFigures {
  region: string;
  /** Per currency, because regions bill in their own currency. */
  currencies: string[];
  capacityHours: number;
  hours: number;
  billableHours: number;
  /** billable hours / capacity, 0..1 */
  utilisation: number | null;
  unbilledApprovedHours: number;
  revenue: number;
  cost: number;
  margin: number;
  marginPct: number | null;
  realisation: number | null;
  dso: number | null;
  outstanding: number;
}
export interface Rollup {
  period: { from: string; to: string; days: number };
  projects: ProjectFigures[];
  regions: RegionFigures[];
  totals: { unbilledApprovedHours: number; hours: number; billableHours: number; utilisation: number | null };
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000) + 1;
}
function ratio(a: number, b: number): number | null {
  return b > 0 ? Math.round((a / b) * 10000) / 10000 : null;
}

/**
 * Figures for entries dated within [from, to]. Unbilled approved hours are counted regardless of date (they are a
 * stock, not a flow): approved, billable and not yet billed.
 */
export function rollup(input: { timeEntries: ReportTimeEntry[]; projects: ReportProject[]; people: ReportPerson[]; invoices: ReportInvoice[]; from: string; to: string }): Rollup {
  const days = daysBetween(input.from, input.to);
  const inPeriod = (d: string) => d >= input.from && d <= input.to;
  const people = new Map(input.people.map((p) => [p.id, p]));
  const projects = new Map(input.projects.map((p) => [p.projectId, p]));
  const figures = new Map<string, ProjectFigures>();
  const fig = (projectId: string): ProjectFigures => {
    let f = figures.get(projectId);
    if (!f) {
      const p = projects.get(projectId);
      f = { projectId, region: p?.region ?? 'unknown', currency: p?.currency ?? 'USD', hours: 0, billableHours: 0, billedHours: 0, unbilledApprovedHours: 0, standardValue: 0, revenue: 0, cost: 0, margin: 0, marginPct: null, realisation: null, dso: null, outstanding: 0 };
      figures.set(projectId, f);
    }
    return f;
  };
  const billedStandard = new Map<string, number>();
  for (const e of input.timeEntries) {
    const f = fig(e.projectId);
    if (e.billable && e.status === 'approved') f.unbilledApprovedHours += e.hours;
    if (!inPeriod(e.date) || e.status === 'rejected' || e.status === 'draft') continue;
    f.hours += e.hours;
    f.cost += e.hours * (people.get(e.personId)?.costRate ?? 0);
    if (e.billable) {
      f.billableHours += e.hours;
      f.standardValue += e.hours * (e.rate ?? 0);
      if (e.status === 'billed') {
        f.billedHours += e.hours;
        billedStandard.set(e.projectId, (billedStandard.get(e.projectId) ?? 0) + e.hours * (e.rate ?? 0));
      }
    }
  }
  for (const inv of input.invoices) {
    const f = fig(inv.projectId);
    f.outstanding += inv.outstanding;
    if (inPeriod(inv.issueDate)) f.revenue += inv.total;
  }
  for (const f of figures.values()) {
    f.hours = money(f.hours);
    f.billableHours = money(f.billableHours);
    f.billedHours = money(f.billedHours);
    f.unbilledApprovedHours = money(f.unbilledApprovedHours);
    f.standardValue = money(f.standardValue);
    f.revenue = money(f.revenue);
    f.cost = money(f.cost);
    f.outstanding = money(f.outstanding);
    f.margin = money(f.revenue - f.cost);
    f.marginPct = ratio(f.margin, f.revenue);
    f.realisation = ratio(f.revenue, billedStandard.get(f.projectId) ?? 0);
    f.dso = f.revenue > 0 ? Math.round((f.outstanding / f.revenue) * days * 10) / 10 : null;
  }
  const regions = new Map<string, RegionFigures & { billedStd: number }>();
  for (const f of figures.values()) {
    let r = regions.get(f.region);
    if (!r) {
      r = { region: f.region, currencies: [], capacityHours: 0, hours: 0, billableHours: 0, utilisation: null, unbilledApprovedHours: 0, revenue: 0, cost: 0, margin: 0, marginPct: null, realisation: null, dso: null, outstanding: 0, billedStd: 0 };
      regions.set(f.region, r);
    }
    if (!r.currencies.includes(f.currency)) r.currencies.push(f.currency);
    r.hours += f.hours;
    r.billableHours += f.billableHours;
    r.unbilledApprovedHours += f.unbilledApprovedHours;
    r.revenue += f.revenue;
    r.cost += f.cost;
    r.outstanding += f.outstanding;
    r.billedStd += billedStandard.get(f.projectId) ?? 0;
  }
  const weeks = days / 7;
  for (const p of input.people) {
    const r = regions.get(p.region);
    if (r) r.capacityHours += (p.capacityHoursPerWeek ?? 40) * weeks;
  }
  const out: RegionFigures[] = [];
  for (const r of [...regions.values()].sort((a, b) => a.region.localeCompare(b.region))) {
    const { billedStd, ...rest } = r;
    rest.capacityHours = money(rest.capacityHours);
    rest.hours = money(rest.hours);
    rest.billableHours = money(rest.billableHours);
    rest.unbilledApprovedHours = money(rest.unbilledApprovedHours);
    rest.revenue = money(rest.revenue);
    rest.cost = money(rest.cost);
    rest.outstanding = money(rest.outstanding);
    rest.margin = money(rest.revenue - rest.cost);
    rest.marginPct = ratio(rest.margin, rest.revenue);
    rest.utilisation = ratio(rest.billableHours, rest.capacityHours);
    rest.realisation = ratio(rest.revenue, billedStd);
    rest.dso = rest.revenue > 0 ? Math.round((rest.outstanding / rest.revenue) * days * 10) / 10 : null;
    out.push(rest);
  }
  const projectsOut = [...figures.values()].sort((a, b) => a.projectId.localeCompare(b.projectId));
  const capacity = out.reduce((s, r) => s + r.capacityHours, 0);
  const billable = projectsOut.reduce((s, f) => s + f.billableHours, 0);
  return {
    period: { from: input.from, to: input.to, days },
    projects: projectsOut,
    regions: out,
    totals: {
      unbilledApprovedHours: money(projectsOut.reduce((s, f) => s + f.unbilledApprovedHours, 0)),
      hours: money(projectsOut.reduce((s, f) => s + f.hours, 0)),
      billableHours: money(billable),
      utilisation: ratio(billable, capacity),
    },
  };
}

// ------------------------------------------------------------------------------------------ reconciliation
/** One record as a system holds it, reduced to what is compared. */
export interface ReconRecord {
  /** The shared key (our external id: `ACC-1001`, `PRJ-...`). */
  key: string;
  /** That system's own id. */
  systemId?: string;
  name?: string;
  currency?: string;
  billingEntity?: string;
  [field: string]: unknown;
}
export type ReconSystem = 'crm' | 'erp' | 'psa';
export interface Mismatch {
  entity: 'customer' | 'project';
  key: string;
  kind: 'missing' | 'different';
  /** Systems that do not have the record (kind missing). */
  missingIn?: ReconSystem[];
  /** Field that differs and each system's value (kind different). */
  field?: string;
  values?: Partial<Record<ReconSystem, unknown>>;
  message: string;
}
export interface ReconciliationReport {
  entity: 'customer' | 'project';
  total: number;
  matched: number;
  /** matched / total, 0..1 (1 when there is nothing to compare). */
  rate: number;
  mismatches: Mismatch[];
}

function norm(v: unknown): unknown {
  return typeof v === 'string' ? v.trim().replace(/\s+/g, ' ').toLowerCase() : v;
}

/**
 * Compares the same entity across the systems that should all hold it. A key is matched when every system that
 * is expected to hold it does, and the compared fields agree (case and whitespace insensitive).
 * `expectedIn(key)` says which systems must hold a record (default: all given systems).
 */
export function reconcile(
  entity: 'customer' | 'project',
  systems: Partial<Record<ReconSystem, ReconRecord[]>>,
  opts: { fields?: string[]; expectedIn?: (key: string, present: ReconSystem[]) => ReconSystem[] } = {},
): ReconciliationReport {
  const fields = opts.fields ?? ['name', 'currency'];
  const names = Object.keys(systems) as ReconSystem[];
  const byKey = new Map<string, Partial<Record<ReconSystem, ReconRecord>>>();
  for (const sys of names) {
    for (const rec of systems[sys] ?? []) {
      if (!rec.key) continue;
      const row = byKey.get(rec.key) ?? {};
      row[sys] = rec;
      byKey.set(rec.key, row);
    }
  }
  const mismatches: Mismatch[] = [];
  let matched = 0;
  for (const key of [...byKey.keys()].sort()) {
    const row = byKey.get(key)!;
    const present = names.filter((s) => row[s]);
    const expected = opts.expectedIn ? opts.expectedIn(key, present) : names;
    const missingIn = expected.filter((s) => !row[s]);
    let ok = true;
    if (missingIn.length) {
      ok = false;
      mismatches.push({ entity, key, kind: 'missing', missingIn, message: `${entity} ${key} is in ${present.join(', ')} but missing in ${missingIn.join(', ')}` });
    }
    for (const field of fields) {
      const values: Partial<Record<ReconSystem, unknown>> = {};
      for (const s of present) if (row[s]![field] !== undefined && row[s]![field] !== null && row[s]![field] !== '') values[s] = row[s]![field];
      const distinct = new Set(Object.values(values).map(norm));
      if (distinct.size > 1) {
        ok = false;
        mismatches.push({ entity, key, kind: 'different', field, values, message: `${entity} ${key}: ${field} differs (${Object.entries(values).map(([s, v]) => `${s}=${JSON.stringify(v)}`).join(', ')})` });
      }
    }
    if (ok) matched += 1;
  }
  const total = byKey.size;
  return { entity, total, matched, rate: total === 0 ? 1 : Math.round((matched / total) * 10000) / 10000, mismatches };
}

/** Overall reconciliation rate across several reports (matched / total over all). */
export function overallRate(reports: ReconciliationReport[]): number {
  const total = reports.reduce((s, r) => s + r.total, 0);
  const matched = reports.reduce((s, r) => s + r.matched, 0);
  return total === 0 ? 1 : Math.round((matched / total) * 10000) / 10000;
}
