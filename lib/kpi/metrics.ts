/**
 * The one Prometheus registry of PS Fabric (served on `/metrics`).
 *
 * Everything that exports metrics registers them here, so that one scrape sees the whole product.
 * The registry lives on `globalThis` under a well-known symbol: if this module is loaded twice
 * (e.g. once from the runtime and once from a node package copy), both copies share one registry
 * and default metrics are collected once.
 *
 * Add new metrics below the delivery section, each created through `metric()` so that loading this
 * file twice never throws "metric already registered".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { OutboxBacklog } from '../store/store';

interface SharedMetrics {
  registry: Registry;
  backlogSources: Set<BacklogSource>;
}

/** Anything that can report outbox backlog (a Store). */
export interface BacklogSource {
  outboxBacklog(): Promise<OutboxBacklog[]>;
}

const KEY = Symbol.for('ps-fabric.metrics.v1');
const g = globalThis as unknown as Record<symbol, SharedMetrics | undefined>;
if (!g[KEY]) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  g[KEY] = { registry, backlogSources: new Set() };
}
const shared = g[KEY] as SharedMetrics;

/** The product's registry: `res.set('Content-Type', registry.contentType); res.end(await registry.metrics())`. */
export const registry: Registry = shared.registry;

/** Returns the metric already registered under `name`, or registers the one `create` builds. */
export function metric<T extends Metric<string>>(name: string, create: () => T): T {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as unknown as T;
  const m = create();
  registry.registerMetric(m);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Delivery (lib/delivery): per connection
// ---------------------------------------------------------------------------------------------

/** Every try against a vendor, by outcome: success | transient | permanent | rejected (breaker open, not sent). */
export const deliveryAttempts = metric('psfabric_delivery_attempts_total', () =>
  new Counter({ name: 'psfabric_delivery_attempts_total', help: 'Outbox delivery attempts by connection and outcome (success, transient, permanent, rejected).', labelNames: ['connection', 'outcome'] as const, registers: [] }),
);

/** Final outcome of each outbox item: delivered | failed (sent to the exception queue). */
export const deliveryOutcomes = metric('psfabric_delivery_items_total', () =>
  new Counter({ name: 'psfabric_delivery_items_total', help: 'Outbox items completed, by connection and outcome (delivered, failed).', labelNames: ['connection', 'outcome'] as const, registers: [] }),
);

export const deliveryRetries = metric('psfabric_delivery_retries_total', () =>
  new Counter({ name: 'psfabric_delivery_retries_total', help: 'Outbox attempts rescheduled after a transient failure.', labelNames: ['connection'] as const, registers: [] }),
);

export const deliveryThrottled = metric('psfabric_delivery_http_429_total', () =>
  new Counter({ name: 'psfabric_delivery_http_429_total', help: 'HTTP 429 (Too Many Requests) answers received from vendors.', labelNames: ['connection'] as const, registers: [] }),
);

/** 0 closed, 1 half-open, 2 open. */
export const circuitStateGauge = metric('psfabric_circuit_state', () =>
  new Gauge({ name: 'psfabric_circuit_state', help: 'Circuit breaker state per connection: 0 closed, 1 half-open, 2 open.', labelNames: ['connection'] as const, registers: [] }),
);

export const deliveryLatency = metric('psfabric_delivery_latency_seconds', () =>
  new Histogram({
    name: 'psfabric_delivery_latency_seconds',
    help: 'Time from submit (outbox enqueue) to confirmed delivery.',
    labelNames: ['connection'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [],
  }),
);

export const outboxBacklogGauge = metric('psfabric_outbox_backlog', () =>
  new Gauge({
    name: 'psfabric_outbox_backlog',
    help: 'Outbox items per connection and status (pending, inflight, failed), read from the store at scrape time.',
    labelNames: ['connection', 'status'] as const,
    registers: [],
    async collect() {
      this.reset();
      const totals = new Map<string, { pending: number; inflight: number; failed: number }>();
      for (const source of shared.backlogSources) {
        let rows: OutboxBacklog[];
        try {
          rows = await source.outboxBacklog();
        } catch {
          continue; // a closed store must not break the scrape
        }
        for (const r of rows) {
          const t = totals.get(r.connection) ?? { pending: 0, inflight: 0, failed: 0 };
          t.pending += r.pending;
          t.inflight += r.inflight;
          t.failed += r.failed;
          totals.set(r.connection, t);
        }
      }
      for (const [connection, t] of totals) {
        this.set({ connection, status: 'pending' }, t.pending);
        this.set({ connection, status: 'inflight' }, t.inflight);
        this.set({ connection, status: 'failed' }, t.failed);
      }
    },
  }),
);

/** Makes the backlog gauge read this store at scrape time; returns the undo. */
export function trackOutboxBacklog(source: BacklogSource): () => void {
  shared.backlogSources.add(source);
  return () => {
    shared.backlogSources.delete(source);
  };
}

export function circuitStateValue(state: 'closed' | 'half-open' | 'open'): number {
  return state === 'closed' ? 0 : state === 'half-open' ? 1 : 2;
}

// ---------------------------------------------------------------------------------------------
// Process KPIs (lib/processes/kpi.ts): docs/operations.md
// ---------------------------------------------------------------------------------------------

/** Anything that can report the store-backed KPIs at scrape time (lib/processes/kpi.ts' KpiRecorder). */
export interface KpiSource {
  exceptionBacklogByOwner(): Promise<Record<string, number>>;
  invoicesBlockedByMasterData(): Promise<number>;
}
interface SharedKpi {
  sources: Set<KpiSource>;
}
const KPI_KEY = Symbol.for('ps-fabric.kpi-sources.v1');
const gk = globalThis as unknown as Record<symbol, SharedKpi | undefined>;
if (!gk[KPI_KEY]) gk[KPI_KEY] = { sources: new Set() };
const kpiShared = gk[KPI_KEY] as SharedKpi;

/** Makes the store-backed KPI gauges read this source at scrape time; returns the undo. */
export function trackKpiSource(source: KpiSource): () => void {
  kpiShared.sources.add(source);
  return () => {
    kpiShared.sources.delete(source);
  };
}

export const kpiQuoteToProjectLeadTime = metric('psfabric_kpi_quote_to_project_lead_time_seconds', () =>
  new Histogram({
    name: 'psfabric_kpi_quote_to_project_lead_time_seconds',
    help: 'Quote-to-project lead time: opportunity closed-won to project active in every system.',
    labelNames: ['billing_entity'] as const,
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600],
    registers: [],
  }),
);

export const kpiTimeEntryPostingLatency = metric('psfabric_kpi_time_entry_posting_latency_seconds', () =>
  new Histogram({
    name: 'psfabric_kpi_time_entry_posting_latency_seconds',
    help: 'Time-entry posting latency: approval of the oldest entry on an invoice to the invoice posted in the ERP.',
    labelNames: ['erp'] as const,
    buckets: [1, 10, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 31 * 24 * 3600],
    registers: [],
  }),
);

export const kpiInvoicesBlocked = metric('psfabric_kpi_invoices_blocked_master_data', () =>
  new Gauge({
    name: 'psfabric_kpi_invoices_blocked_master_data',
    help: 'Open time-to-cash exceptions caused by master data (unknown or closed project, missing customer, rate card mismatch), read from the store at scrape time.',
    registers: [],
    async collect() {
      let total = 0;
      for (const s of kpiShared.sources) {
        try {
          total += await s.invoicesBlockedByMasterData();
        } catch {
          /* a closed store must not break the scrape */
        }
      }
      this.set(total);
    },
  }),
);

export const kpiExceptionBacklog = metric('psfabric_kpi_exception_backlog', () =>
  new Gauge({
    name: 'psfabric_kpi_exception_backlog',
    help: 'Open exceptions per owner team, read from the store at scrape time.',
    labelNames: ['owner_team'] as const,
    registers: [],
    async collect() {
      this.reset();
      const totals: Record<string, number> = {};
      for (const s of kpiShared.sources) {
        try {
          for (const [team, n] of Object.entries(await s.exceptionBacklogByOwner())) totals[team] = (totals[team] ?? 0) + n;
        } catch {
          /* closed store */
        }
      }
      for (const [team, n] of Object.entries(totals)) this.set({ owner_team: team }, n);
    },
  }),
);

export const kpiUnbilledApprovedHours = metric('psfabric_kpi_unbilled_approved_hours', () =>
  new Gauge({ name: 'psfabric_kpi_unbilled_approved_hours', help: 'Approved, billable hours not invoiced yet, per region (from the latest reporting roll-up).', labelNames: ['region'] as const, registers: [] }),
);

export const kpiReconciliationRate = metric('psfabric_kpi_reconciliation_rate', () =>
  new Gauge({ name: 'psfabric_kpi_reconciliation_rate', help: 'Share (0..1) of customers / projects that agree across CRM, ERP and PSA (latest reconciliation run).', labelNames: ['entity'] as const, registers: [] }),
);

export const kpiProcessRuns = metric('psfabric_process_runs_total', () =>
  new Counter({ name: 'psfabric_process_runs_total', help: 'Process template runs by process and outcome (started, completed, failed, duplicate).', labelNames: ['process', 'outcome'] as const, registers: [] }),
);
