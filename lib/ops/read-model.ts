/**
 * The read model of the operations view (docs/operations.md): what the dashboard shows, computed from the store.
 *
 * - KPI snapshot: per process figures from the process instances the templates record (store.processList),
 *   open exceptions by owner team, outbox backlog and circuit state per connection, and the reporting
 *   template's figures (unbilled approved hours, reconciliation rate) once it publishes them.
 * - Exception table rows (process, step, owner team, error, age) with filters (process, owner team,
 *   region / billing entity) and a detail view (payload, vendor error, history).
 *
 * Plain TypeScript over the Store interface: no Node-RED. Region and billing entity come from the process
 * instance attributes (`region`, `billingEntity`) or from the exception's request; a billing entity without a
 * region is placed through the ERP routing table (lib/processes/erp-routing.default.json).
 */
import { DEFAULT_ERP_ROUTING, type ErpRoutingTable } from '../processes/common';
import { KPI_SNAPSHOT, MASTER_DATA_STEP } from '../processes/kpi';
import type { ExceptionFilter, ExceptionRecord, Json, OutboxBacklog, ProcessInstance, Store } from '../store/store';
import type { SetupSummary } from '../setup/registry';
import { xrefKeyOfRecord } from '../xref';

export type CircuitStateName = 'closed' | 'half-open' | 'open';

/** The process names the templates record (aliases accepted, the first is the canonical one). */
export const PROCESS_NAMES = {
  quoteToProject: ['quote-to-project'],
  timeToCash: ['time-to-cash'],
  changeOrder: ['change-order', 'change-order-to-billing'],
  reporting: ['performance-to-reporting', 'reporting', 'reconciliation'],
} as const;

/** The time-to-cash step whose exceptions are invoices blocked by a master-data mismatch (lib/processes/kpi). */
export { MASTER_DATA_STEP };

export interface OpsFilter {
  /** Reporting region, e.g. `Americas`, `UK&I`, `DACH`, `France`. */
  region?: string;
  /** Billing entity code, e.g. `NWA-UK`. */
  entity?: string;
}

export interface ExceptionRowFilter extends OpsFilter {
  process?: string;
  ownerTeam?: string;
  status?: ExceptionFilter['status'];
  /** Free text over message, record key and error class. */
  text?: string;
  limit?: number;
}

export interface DurationStats {
  count: number;
  avgSeconds: number | null;
  p50Seconds: number | null;
  p90Seconds: number | null;
  maxSeconds: number | null;
}

export interface KpiSnapshot {
  at: number;
  filter: OpsFilter;
  windowDays: number;
  quoteToProject: DurationStats & { running: number; failed: number; slaHours: number; breaches: number; runningBreaches: number; withinSlaPct: number | null };
  timeEntryPosting: DurationStats & { running: number; failed: number; entries: number };
  changeOrder: { completed: number; running: number; failed: number };
  invoicesBlocked: number;
  unbilledApprovedHours: number | null;
  reconciliationRate: number | null;
  /** When the reporting figures above were produced (null when none yet). */
  figuresAt: number | null;
  openExceptions: number;
  exceptionsByTeam: Array<{ team: string; open: number }>;
  outbox: Array<{ connection: string; pending: number; inflight: number; failed: number; delivered: number }>;
  outboxBacklog: number;
  circuits: Array<{ connection: string; state: CircuitStateName }>;
  /** The last setup check of each connection (lib/setup), keyed like `outbox` and `circuits` by connection name. */
  setup: SetupSummary[];
  processes: Array<{ process: string; running: number; completed: number; failed: number }>;
}

export interface ExceptionRow {
  id: number;
  process: string;
  step: string;
  ownerTeam: string;
  errorClass: string;
  error: string;
  recordKey: string;
  correlationId: string;
  entity: string;
  region: string;
  status: string;
  occurrences: number;
  firstSeenAt: number;
  lastSeenAt: number;
  ageSeconds: number;
  /** `3m`, `5h 12m`, `2d 4h`. */
  age: string;
  replayable: boolean;
}

export interface ExceptionDetail extends ExceptionRow {
  message: string;
  details: Json | null;
  /** What was being sent (secrets redacted), pretty-printed for the edit box too. */
  request: Json | null;
  requestText: string;
  /** The vendor's answer (status and body, secrets redacted). */
  response: Json | null;
  responseText: string;
  replayTarget: string;
  resolution: ExceptionRecord['resolution'] | null;
  history: Array<{ at: number; actor: string; action: string; details: Json | null }>;
  /** Trace id (W3C) of the latest run that raised it, to look up in the tracing backend; null when not traced. */
  traceId: string | null;
  /** The record's id in every system, from the cross-reference (lib/xref); empty when none is recorded. */
  xref: Array<{ system: string; connection: string; vendorId: string; vendorNumber: string | null }>;
}

export interface Figures {
  at: number;
  unbilledApprovedHours?: number;
  reconciliationRate?: number;
  /** Per region or billing entity: { 'UK&I': { unbilledApprovedHours, reconciliationRate }, 'NWA-UK': {...} }. */
  by?: Record<string, { unbilledApprovedHours?: number; reconciliationRate?: number }>;
}

export interface OpsReadModelOptions {
  /** Quote-to-project SLA (closed-won -> project active), hours. Default 24. */
  slaHours?: number;
  /** How far back process instances are read. Default 30 days. */
  windowDays?: number;
  /** Where circuit states come from (the delivery metrics by default, see lib/kpi/ops-metrics). */
  circuits?: () => Array<{ connection: string; state: CircuitStateName }>;
  /** Where the connections' setup check results come from (lib/setup's registry in the ops-feed). */
  setup?: () => SetupSummary[];
  routing?: ErpRoutingTable;
  now?: () => number;
  /** Cap on process instances read per snapshot. */
  maxInstances?: number;
}

type OpsStore = Pick<Store, 'processList' | 'exceptionList' | 'exceptionCount' | 'exceptionGet' | 'outboxBacklog' | 'auditList' | 'watermarkGet' | 'xrefOf'>;

const HOUR = 3600_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Finds the first string value of one of `keys` in a JSON value, breadth first, a few levels deep. */
export function findKey(value: unknown, keys: string[], depth = 4): string | undefined {
  let level: unknown[] = [value];
  for (let d = 0; d <= depth && level.length; d++) {
    const next: unknown[] = [];
    for (const v of level) {
      if (Array.isArray(v)) {
        next.push(...v.slice(0, 5));
        continue;
      }
      if (!isRecord(v)) continue;
      for (const k of keys) {
        const found = v[k];
        if (typeof found === 'string' && found.trim()) return found;
      }
      next.push(...Object.values(v));
    }
    level = next;
  }
  return undefined;
}

/** `95` -> `1m 35s`, `7300` -> `2h 1m`, `200000` -> `2d 7h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function durationStats(seconds: number[]): DurationStats {
  if (!seconds.length) return { count: 0, avgSeconds: null, p50Seconds: null, p90Seconds: null, maxSeconds: null };
  const sorted = [...seconds].sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    count: sorted.length,
    avgSeconds: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    p50Seconds: round(pick(0.5)),
    p90Seconds: round(pick(0.9)),
    maxSeconds: round(sorted[sorted.length - 1]),
  };
}

function pretty(value: Json | undefined | null): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

export class OpsReadModel {
  readonly slaHours: number;
  readonly windowDays: number;
  private readonly routing: ErpRoutingTable;
  private readonly now: () => number;
  private readonly circuits: () => Array<{ connection: string; state: CircuitStateName }>;
  private readonly setup: () => SetupSummary[];
  private readonly maxInstances: number;
  private figures: Figures | undefined;

  constructor(private readonly store: OpsStore, options: OpsReadModelOptions = {}) {
    this.slaHours = options.slaHours && options.slaHours > 0 ? options.slaHours : 24;
    this.windowDays = options.windowDays && options.windowDays > 0 ? options.windowDays : 30;
    this.routing = options.routing ?? DEFAULT_ERP_ROUTING;
    this.now = options.now ?? Date.now;
    this.circuits = options.circuits ?? (() => []);
    this.setup = options.setup ?? (() => []);
    this.maxInstances = options.maxInstances ?? 20000;
  }

  /** Figures the reporting template published (e.g. received on the bus); they win over older stored ones. */
  publishFigures(figures: Omit<Figures, 'at'> & { at?: number }): void {
    this.figures = { ...figures, at: figures.at ?? this.now() };
  }

  /** The region of a billing entity from the routing table. */
  regionOf(entity: string | undefined): string | undefined {
    if (!entity) return undefined;
    return (this.routing[entity] ?? this.routing[entity.toUpperCase()])?.region;
  }

  /** Billing entities and regions known to the routing table (filter choices). */
  filterChoices(): { entities: string[]; regions: string[] } {
    const entities = Object.keys(this.routing).sort();
    const regions = [...new Set(entities.map((e) => this.routing[e].region).filter((r): r is string => !!r))].sort();
    return { entities, regions };
  }

  private placeInstance(i: ProcessInstance): { entity?: string; region?: string } {
    const a = i.attributes;
    const entity = findKey(a, ['billingEntity', 'entity'], 2);
    const region = findKey(a, ['region'], 2) ?? this.regionOf(entity);
    return { entity, region };
  }

  private placeException(r: ExceptionRecord): { entity?: string; region?: string } {
    const entity = findKey(r.request, ['billingEntity']) ?? findKey(r.details, ['billingEntity']);
    const region = findKey(r.request, ['region'], 2) ?? this.regionOf(entity);
    return { entity, region };
  }

  private matches(place: { entity?: string; region?: string }, filter: OpsFilter): boolean {
    if (filter.entity && place.entity?.toUpperCase() !== filter.entity.toUpperCase()) return false;
    if (filter.region && place.region !== filter.region) return false;
    return true;
  }

  private async instances(names: readonly string[], since: number, filter: OpsFilter): Promise<ProcessInstance[]> {
    const out: ProcessInstance[] = [];
    for (const process of names) {
      const rows = await this.store.processList({ process, since, limit: this.maxInstances });
      for (const i of rows) if (this.matches(this.placeInstance(i), filter)) out.push(i);
    }
    return out;
  }

  private durations(instances: ProcessInstance[], attributeKeys: string[]): number[] {
    const out: number[] = [];
    for (const i of instances) {
      if (i.status !== 'completed') continue;
      const a = isRecord(i.attributes) ? i.attributes : {};
      let ms: number | undefined;
      for (const k of attributeKeys) {
        ms = num(a[k]);
        if (ms !== undefined) break;
      }
      if (ms === undefined && i.completedAt !== undefined) ms = i.completedAt - i.startedAt;
      if (ms !== undefined && ms >= 0) out.push(ms / 1000);
    }
    return out;
  }

  /**
   * The roll-up the reporting template keeps under the `kpi:snapshot` watermark (lib/processes/kpi):
   * unbilled approved hours per region, reconciliation rate per entity kind (customer, project, overall).
   */
  private async storedFigures(): Promise<Figures | undefined> {
    let raw: string | undefined;
    try {
      raw = await this.store.watermarkGet(KPI_SNAPSHOT);
    } catch {
      return undefined;
    }
    if (!raw) return undefined;
    let s: { unbilledApprovedHours?: Record<string, number>; reconciliationRate?: Record<string, number>; at?: number };
    try {
      s = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const hours = s.unbilledApprovedHours ?? {};
    const rates = s.reconciliationRate ?? {};
    const rateValues = Object.values(rates).filter((v) => Number.isFinite(v));
    const by: NonNullable<Figures['by']> = {};
    for (const [region, h] of Object.entries(hours)) by[region] = { unbilledApprovedHours: h, reconciliationRate: num(rates.overall) };
    for (const [entity, route] of Object.entries(this.routing)) if (route.region && hours[route.region] !== undefined) by[entity] = by[route.region];
    return {
      at: s.at ?? 0,
      unbilledApprovedHours: Object.keys(hours).length ? Object.values(hours).reduce((a, b) => a + b, 0) : undefined,
      reconciliationRate: num(rates.overall) ?? (rateValues.length ? rateValues.reduce((a, b) => a + b, 0) / rateValues.length : undefined),
      by,
    };
  }

  /** The latest reporting figures: published ones, the stored roll-up, or the newest reporting run that recorded them. */
  private async latestFigures(since: number): Promise<Figures | undefined> {
    let best = this.figures;
    const stored = await this.storedFigures();
    if (stored && (!best || stored.at > best.at)) best = stored;
    for (const process of PROCESS_NAMES.reporting) {
      const runs = await this.store.processList({ process, since, limit: 50 });
      for (const run of runs) {
        const a = isRecord(run.attributes) ? run.attributes : undefined;
        if (!a) continue;
        const hours = num(a.unbilledApprovedHours ?? a.unbilledHours);
        const rate = num(a.reconciliationRate);
        if (hours === undefined && rate === undefined) continue;
        const at = run.completedAt ?? run.startedAt;
        if (best && best.at >= at) continue;
        best = { at, unbilledApprovedHours: hours, reconciliationRate: rate, by: isRecord(a.by) ? (a.by as Figures['by']) : isRecord(a.byRegion) ? (a.byRegion as Figures['by']) : undefined };
      }
    }
    return best;
  }

  private figuresFor(f: Figures | undefined, filter: OpsFilter): { hours: number | null; rate: number | null } {
    if (!f) return { hours: null, rate: null };
    const key = filter.entity ?? filter.region;
    if (key) {
      const part = f.by?.[key];
      return { hours: num(part?.unbilledApprovedHours) ?? null, rate: num(part?.reconciliationRate) ?? null };
    }
    return { hours: num(f.unbilledApprovedHours) ?? null, rate: num(f.reconciliationRate) ?? null };
  }

  /** Open exceptions (capped) placed by region / entity, for filtered counts. */
  private async openExceptions(filter: OpsFilter, limit = 5000): Promise<ExceptionRecord[]> {
    const rows = await this.store.exceptionList({ status: 'open', limit });
    return filter.region || filter.entity ? rows.filter((r) => this.matches(this.placeException(r), filter)) : rows;
  }

  async snapshot(filter: OpsFilter = {}): Promise<KpiSnapshot> {
    const now = this.now();
    const since = now - this.windowDays * 24 * HOUR;
    const clean: OpsFilter = { region: filter.region || undefined, entity: filter.entity || undefined };

    const q2p = await this.instances(PROCESS_NAMES.quoteToProject, since, clean);
    const ttc = await this.instances(PROCESS_NAMES.timeToCash, since, clean);
    const co = await this.instances(PROCESS_NAMES.changeOrder, since, clean);

    const slaSeconds = this.slaHours * 3600;
    const leadTimes = this.durations(q2p, ['leadTimeMs']);
    const breaches = leadTimes.filter((s) => s > slaSeconds).length;
    const runningBreaches = q2p.filter((i) => i.status === 'running' && now - i.startedAt > slaSeconds * 1000).length;
    const latencies = this.durations(ttc, ['postingLatencyMs', 'latencyMs']);
    const entries = ttc.reduce((sum, i) => sum + (isRecord(i.attributes) ? (num(i.attributes.entries ?? i.attributes.entryCount ?? i.attributes.lines) ?? 1) : 1), 0);

    const open = await this.openExceptions(clean);
    const byTeam = new Map<string, number>();
    for (const r of open) byTeam.set(r.ownerTeam, (byTeam.get(r.ownerTeam) ?? 0) + 1);
    const invoicesBlocked = open.filter((r) => (PROCESS_NAMES.timeToCash as readonly string[]).includes(r.process) && r.step === MASTER_DATA_STEP).length;

    let backlog: OutboxBacklog[];
    try {
      backlog = await this.store.outboxBacklog();
    } catch {
      backlog = [];
    }
    const latest = await this.latestFigures(since);
    const figures = this.figuresFor(latest, clean);
    const count = (list: ProcessInstance[], status: ProcessInstance['status']) => list.filter((i) => i.status === status).length;
    const processes = (
      [
        [PROCESS_NAMES.quoteToProject[0], q2p],
        [PROCESS_NAMES.timeToCash[0], ttc],
        [PROCESS_NAMES.changeOrder[0], co],
      ] as const
    ).map(([process, list]) => ({ process, running: count(list, 'running'), completed: count(list, 'completed'), failed: count(list, 'failed') }));

    return {
      at: now,
      filter: clean,
      windowDays: this.windowDays,
      quoteToProject: {
        ...durationStats(leadTimes),
        running: count(q2p, 'running'),
        failed: count(q2p, 'failed'),
        slaHours: this.slaHours,
        breaches,
        runningBreaches,
        withinSlaPct: leadTimes.length ? Math.round(((leadTimes.length - breaches) / leadTimes.length) * 1000) / 10 : null,
      },
      timeEntryPosting: { ...durationStats(latencies), running: count(ttc, 'running'), failed: count(ttc, 'failed'), entries },
      changeOrder: { completed: count(co, 'completed'), running: count(co, 'running'), failed: count(co, 'failed') },
      invoicesBlocked,
      unbilledApprovedHours: figures.hours,
      reconciliationRate: figures.rate,
      figuresAt: latest?.at ?? null,
      openExceptions: open.length,
      exceptionsByTeam: [...byTeam].map(([team, n]) => ({ team, open: n })).sort((a, b) => b.open - a.open || a.team.localeCompare(b.team)),
      outbox: backlog.map((b) => ({ connection: b.connection, pending: b.pending, inflight: b.inflight, failed: b.failed, delivered: b.delivered })),
      outboxBacklog: backlog.reduce((sum, b) => sum + b.pending + b.inflight, 0),
      circuits: this.circuits(),
      setup: this.setup(),
      processes,
    };
  }

  toRow(r: ExceptionRecord): ExceptionRow {
    const place = this.placeException(r);
    const ageSeconds = Math.max(0, (this.now() - r.firstSeenAt) / 1000);
    return {
      id: r.id,
      process: r.process,
      step: r.step,
      ownerTeam: r.ownerTeam,
      errorClass: r.errorClass,
      error: r.message,
      recordKey: r.recordKey ?? '',
      correlationId: r.correlationId ?? '',
      entity: place.entity ?? '',
      region: place.region ?? '',
      status: r.status,
      occurrences: r.occurrences,
      firstSeenAt: r.firstSeenAt,
      lastSeenAt: r.lastSeenAt,
      ageSeconds: Math.round(ageSeconds),
      age: formatAge(ageSeconds),
      replayable: !!r.replayTarget,
    };
  }

  /** The exception table: newest first, filtered. */
  async exceptionRows(filter: ExceptionRowFilter = {}): Promise<ExceptionRow[]> {
    const limit = filter.limit ?? 200;
    const placed = !!(filter.region || filter.entity || filter.text);
    const records = await this.store.exceptionList({
      status: filter.status ?? 'open',
      process: filter.process || undefined,
      ownerTeam: filter.ownerTeam || undefined,
      limit: placed ? Math.max(limit, 5000) : limit,
    });
    const text = filter.text?.trim().toLowerCase();
    const rows: ExceptionRow[] = [];
    for (const r of records) {
      const row = this.toRow(r);
      if (!this.matches(row, { region: filter.region || undefined, entity: filter.entity || undefined })) continue;
      if (text && ![row.error, row.recordKey, row.errorClass, row.step, row.process, row.correlationId].some((s) => s.toLowerCase().includes(text))) continue;
      rows.push(row);
      if (rows.length >= limit) break;
    }
    return rows;
  }

  async exceptionDetail(id: number): Promise<ExceptionDetail | undefined> {
    const r = await this.store.exceptionGet(id);
    if (!r) return undefined;
    const audit = r.correlationId || r.recordKey ? await this.store.auditList({ recordKey: r.recordKey, correlationId: r.recordKey ? undefined : r.correlationId, limit: 50 }) : [];
    const history = audit
      .filter((a) => !isRecord(a.details) || a.details.exceptionId === undefined || a.details.exceptionId === id)
      .slice(0, 20)
      .map((a) => ({ at: a.at, actor: a.actor, action: a.action, details: a.details ?? null }));
    const traced = audit.find((a) => isRecord(a.details) && a.details.exceptionId === id && typeof a.details.traceId === 'string');
    const target = r.replayTarget;
    const record = xrefKeyOfRecord(r.recordKey);
    const ids = record ? await this.store.xrefOf(record.entity, record.key) : [];
    return {
      ...this.toRow(r),
      message: r.message,
      details: r.details ?? null,
      request: r.request ?? null,
      requestText: pretty(r.request),
      response: r.response ?? null,
      responseText: pretty(r.response),
      replayTarget: !target ? 'none (not replayable)' : target.kind === 'outbox' ? `outbox ${target.connection} ${target.operation}` : `node ${target.nodeId}`,
      resolution: r.resolution ?? null,
      history,
      traceId: traced && isRecord(traced.details) ? (traced.details.traceId as string) : null,
      xref: ids.map((x) => ({ system: x.system, connection: x.connection, vendorId: x.vendorId, vendorNumber: x.vendorNumber ?? null })),
    };
  }

  /** Choices for the console's filters: processes and owner teams with open exceptions, plus regions and entities. */
  async exceptionFilterChoices(): Promise<{ processes: string[]; ownerTeams: string[]; regions: string[]; entities: string[] }> {
    const open = await this.store.exceptionList({ status: 'open', limit: 5000 });
    const { regions, entities } = this.filterChoices();
    return {
      processes: [...new Set(open.map((r) => r.process))].sort(),
      ownerTeams: [...new Set(open.map((r) => r.ownerTeam))].sort(),
      regions,
      entities,
    };
  }
}
