/**
 * Process KPIs (docs/operations.md), recorded by the process templates in the store's process_instances
 * table and exposed both as plain functions (dashboards, tests, the reporting flow) and as prom-client metrics
 * in the shared registry (lib/kpi/metrics.ts, served on /metrics).
 *
 *  - quote-to-project lead time: closed-won -> project active (process `quote-to-project`, key = opportunity id)
 *  - time-entry posting latency: approval of the oldest entry -> invoice posted (process `time-to-cash`, key = invoice id)
 *  - invoices blocked by master-data mismatch: open time-to-cash exceptions at step `master-data`
 *  - unbilled approved hours: from the reporting roll-up (per region)
 *  - exception backlog by owner team: open exceptions
 *  - reconciliation rate: from the reconciliation run (per entity)
 */
import type { Json, Store } from '../store/store';
import * as metrics from '../kpi/metrics';

export const Q2P = 'quote-to-project';
export const T2C = 'time-to-cash';
export const MASTER_DATA_STEP = 'master-data';
/** Watermark names under which the latest roll-up figures are kept (survive restarts, readable by dashboards). */
export const KPI_SNAPSHOT = 'kpi:snapshot';

type KpiStore = Pick<Store, 'processStart' | 'processComplete' | 'processList' | 'exceptionList' | 'exceptionCount' | 'watermarkGet' | 'watermarkSet'>;

export interface DurationStats {
  count: number;
  avgMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  maxMs: number | null;
  /** Runs slower than the SLA (when one is given). */
  breaches: number;
}

export interface KpiSnapshot {
  unbilledApprovedHours?: Record<string, number>;
  reconciliationRate?: Record<string, number>;
  at?: number;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function durationStats(durations: number[], slaMs?: number): DurationStats {
  const sorted = durations.filter((d) => Number.isFinite(d) && d >= 0).sort((a, b) => a - b);
  return {
    count: sorted.length,
    avgMs: sorted.length ? Math.round(sorted.reduce((s, d) => s + d, 0) / sorted.length) : null,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    maxMs: sorted.length ? sorted[sorted.length - 1] : null,
    breaches: slaMs === undefined ? 0 : sorted.filter((d) => d > slaMs).length,
  };
}

/** Records KPIs in a store; one per store is enough (it holds no state but the store). */
export class KpiRecorder implements metrics.KpiSource {
  private untrack: (() => void) | undefined;

  constructor(private readonly store: KpiStore, private readonly now: () => number = Date.now) {}

  /** Makes /metrics read this store's backlog KPIs; returns the undo (also done by close()). */
  track(): () => void {
    if (!this.untrack) this.untrack = metrics.trackKpiSource(this);
    return () => this.close();
  }

  close(): void {
    this.untrack?.();
    this.untrack = undefined;
  }

  /** A run started (idempotent: a repeat keeps the first start time, so lead times measure from the first trigger). */
  async processStart(process: string, key: string, opts: { startedAt?: number; correlationId?: string; attributes?: Json } = {}): Promise<void> {
    await this.store.processStart({ process, key, correlationId: opts.correlationId, startedAt: opts.startedAt ?? this.now(), status: 'running', attributes: opts.attributes });
    metrics.kpiProcessRuns.inc({ process, outcome: 'started' });
  }

  /**
   * A run finished. Observes the KPI histogram of the process (quote-to-project lead time, time-to-cash posting
   * latency) with the run's duration. Returns the duration in ms (undefined when the start was not recorded).
   */
  async processComplete(process: string, key: string, status: 'completed' | 'failed' = 'completed', opts: { attributes?: Json; startedAt?: number; labels?: Record<string, string> } = {}): Promise<number | undefined> {
    const now = this.now();
    let startedAt = opts.startedAt;
    // the completion's attributes are merged into the start's (billingEntity / region recorded at start stay, so the
    // dashboard's region / entity filters see completed runs)
    const runs = await this.store.processList({ process, status: 'running', limit: 10000 });
    const running = runs.find((r) => r.key === key);
    if (startedAt === undefined) startedAt = running?.startedAt;
    const startAttrs = running?.attributes && typeof running.attributes === 'object' && !Array.isArray(running.attributes) ? (running.attributes as Record<string, Json>) : {};
    const attributes: Json | undefined = opts.attributes === undefined ? undefined : opts.attributes && typeof opts.attributes === 'object' && !Array.isArray(opts.attributes) ? { ...startAttrs, ...(opts.attributes as Record<string, Json>) } : opts.attributes;
    if (startedAt === undefined || !running) {
      // completion without a recorded start (e.g. started before KPIs were recorded): record it as instant
      if (!running) await this.store.processStart({ process, key, startedAt: startedAt ?? now, status: 'running', attributes });
    }
    await this.store.processComplete(process, key, status, now, attributes);
    metrics.kpiProcessRuns.inc({ process, outcome: status });
    if (startedAt === undefined || status !== 'completed') return undefined;
    const ms = Math.max(0, now - startedAt);
    if (process === Q2P) metrics.kpiQuoteToProjectLeadTime.observe({ billing_entity: opts.labels?.billingEntity ?? 'unknown' }, ms / 1000);
    if (process === T2C) metrics.kpiTimeEntryPostingLatency.observe({ erp: opts.labels?.erp ?? 'unknown' }, ms / 1000);
    return ms;
  }

  /** A duplicate trigger was dropped (counted, nothing stored). */
  duplicate(process: string): void {
    metrics.kpiProcessRuns.inc({ process, outcome: 'duplicate' });
  }

  private async durations(process: string, since?: number): Promise<number[]> {
    const runs = await this.store.processList({ process, status: 'completed', since, limit: 100000 });
    return runs.filter((r) => r.completedAt !== undefined).map((r) => r.completedAt! - r.startedAt);
  }

  /** Closed-won -> project active. */
  async quoteToProjectLeadTime(opts: { since?: number; slaMs?: number } = {}): Promise<DurationStats> {
    return durationStats(await this.durations(Q2P, opts.since), opts.slaMs);
  }

  /** Approval of the oldest entry -> invoice posted, per invoice. */
  async timeEntryPostingLatency(opts: { since?: number; slaMs?: number } = {}): Promise<DurationStats> {
    return durationStats(await this.durations(T2C, opts.since), opts.slaMs);
  }

  /** Open time-to-cash exceptions caused by master data (the invoices they block). */
  async invoicesBlockedByMasterData(): Promise<number> {
    return this.store.exceptionCount({ status: 'open', process: T2C, step: MASTER_DATA_STEP });
  }

  /** Open exceptions per owner team. */
  async exceptionBacklogByOwner(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const page = 1000;
    for (let offset = 0; ; offset += page) {
      const rows = await this.store.exceptionList({ status: 'open', limit: page, offset });
      for (const r of rows) out[r.ownerTeam] = (out[r.ownerTeam] ?? 0) + 1;
      if (rows.length < page) break;
    }
    return out;
  }

  private async snapshot(): Promise<KpiSnapshot> {
    const raw = await this.store.watermarkGet(KPI_SNAPSHOT);
    if (!raw) return {};
    try {
      return JSON.parse(raw) as KpiSnapshot;
    } catch {
      return {};
    }
  }

  private async updateSnapshot(change: (s: KpiSnapshot) => void): Promise<void> {
    const s = await this.snapshot();
    change(s);
    s.at = this.now();
    await this.store.watermarkSet(KPI_SNAPSHOT, JSON.stringify(s), this.now());
  }

  /** From the reporting roll-up: unbilled approved hours per region (replaces the previous figures). */
  async setUnbilledApprovedHours(byRegion: Record<string, number>): Promise<void> {
    metrics.kpiUnbilledApprovedHours.reset();
    for (const [region, hours] of Object.entries(byRegion)) metrics.kpiUnbilledApprovedHours.set({ region }, hours);
    await this.updateSnapshot((s) => {
      s.unbilledApprovedHours = { ...byRegion };
    });
  }

  async unbilledApprovedHours(): Promise<Record<string, number>> {
    return (await this.snapshot()).unbilledApprovedHours ?? {};
  }

  /** From the reconciliation run: rate 0..1 per entity (`customer`, `project`, `overall`). */
  async setReconciliationRate(byEntity: Record<string, number>): Promise<void> {
    for (const [entity, rate] of Object.entries(byEntity)) metrics.kpiReconciliationRate.set({ entity }, rate);
    await this.updateSnapshot((s) => {
      s.reconciliationRate = { ...(s.reconciliationRate ?? {}), ...byEntity };
    });
  }

  async reconciliationRate(): Promise<Record<string, number>> {
    return (await this.snapshot()).reconciliationRate ?? {};
  }

  /** Every KPI at once (dashboards, the reporting flow's `fabric/v1/kpi/...` publication). */
  async all(opts: { since?: number; leadTimeSlaMs?: number; postingSlaMs?: number } = {}): Promise<Record<string, unknown>> {
    return {
      quoteToProjectLeadTime: await this.quoteToProjectLeadTime({ since: opts.since, slaMs: opts.leadTimeSlaMs }),
      timeEntryPostingLatency: await this.timeEntryPostingLatency({ since: opts.since, slaMs: opts.postingSlaMs }),
      invoicesBlockedByMasterData: await this.invoicesBlockedByMasterData(),
      unbilledApprovedHours: await this.unbilledApprovedHours(),
      exceptionBacklogByOwner: await this.exceptionBacklogByOwner(),
      reconciliationRate: await this.reconciliationRate(),
      at: this.now(),
    };
  }
}

const recorders = new WeakMap<object, KpiRecorder>();

/** The one recorder of a store, tracked for /metrics. */
export function kpiFor(store: KpiStore): KpiRecorder {
  let r = recorders.get(store);
  if (!r) {
    r = new KpiRecorder(store);
    r.track();
    recorders.set(store, r);
  }
  return r;
}

// plain-function API (the brief's "exported as plain functions")
export const recordProcessStart = (store: KpiStore, process: string, key: string, opts?: Parameters<KpiRecorder['processStart']>[2]) => kpiFor(store).processStart(process, key, opts);
export const recordProcessComplete = (store: KpiStore, process: string, key: string, status?: 'completed' | 'failed', opts?: Parameters<KpiRecorder['processComplete']>[3]) => kpiFor(store).processComplete(process, key, status, opts);
export const quoteToProjectLeadTime = (store: KpiStore, opts?: { since?: number; slaMs?: number }) => kpiFor(store).quoteToProjectLeadTime(opts);
export const timeEntryPostingLatency = (store: KpiStore, opts?: { since?: number; slaMs?: number }) => kpiFor(store).timeEntryPostingLatency(opts);
export const invoicesBlockedByMasterData = (store: KpiStore) => kpiFor(store).invoicesBlockedByMasterData();
export const exceptionBacklogByOwner = (store: KpiStore) => kpiFor(store).exceptionBacklogByOwner();
export const unbilledApprovedHours = (store: KpiStore) => kpiFor(store).unbilledApprovedHours();
export const reconciliationRate = (store: KpiStore) => kpiFor(store).reconciliationRate();
