/**
 * The operations view's metrics, in the one PS Fabric registry (lib/kpi/metrics.ts): messages in/out per
 * PS Fabric node type, and gauges read from the store at scrape time (open exceptions by owner team and
 * process, outbox backlog via the delivery section's gauge). Also the read side of the circuit-state gauge
 * the delivery engine maintains, for the dashboard.
 *
 * Stores are registered with `trackStore(store)` (the runtime does it for its store, the ops-feed node for
 * the store it names); the same store registered twice counts once.
 */
import { Counter, Gauge } from 'prom-client';
import type { Store } from '../store/store';
import { circuitStateGauge, metric, registry, trackOutboxBacklog } from './metrics';

type ExceptionSource = Pick<Store, 'exceptionList'>;

interface OpsShared {
  exceptionSources: Set<ExceptionSource>;
}
const KEY = Symbol.for('ps-fabric.ops-metrics.v1');
const g = globalThis as unknown as Record<symbol, OpsShared | undefined>;
if (!g[KEY]) g[KEY] = { exceptionSources: new Set() };
const shared = g[KEY] as OpsShared;

export { registry };

/** Messages a PS Fabric node received (`in`) or sent (`out`), by node type. */
export const nodeMessages = metric('psfabric_node_messages_total', () =>
  new Counter({ name: 'psfabric_node_messages_total', help: 'Messages received (direction=in) and sent (direction=out) by PS Fabric nodes, by node type.', labelNames: ['type', 'direction'] as const, registers: [] }),
);

/** The helper nodes call (or the runtime hook, see nodes/ops-feed): count `n` messages of a node type. */
export function countMessages(type: string, direction: 'in' | 'out', n = 1): void {
  if (n > 0) nodeMessages.inc({ type, direction }, n);
}

export const exceptionsOpenGauge = metric('psfabric_exceptions_open', () =>
  new Gauge({
    name: 'psfabric_exceptions_open',
    help: 'Open exceptions by owner team and process, read from the store at scrape time.',
    labelNames: ['owner_team', 'process'] as const,
    registers: [],
    async collect() {
      this.reset();
      const totals = new Map<string, number>();
      for (const source of shared.exceptionSources) {
        try {
          for (let offset = 0; ; offset += 5000) {
            const page = await source.exceptionList({ status: 'open', limit: 5000, offset });
            for (const r of page) {
              const k = JSON.stringify([r.ownerTeam, r.process]);
              totals.set(k, (totals.get(k) ?? 0) + 1);
            }
            if (page.length < 5000) break;
          }
        } catch {
          continue; // a closed store must not break the scrape
        }
      }
      for (const [k, n] of totals) {
        const [owner_team, process] = JSON.parse(k) as [string, string];
        this.set({ owner_team, process }, n);
      }
    },
  }),
);

export const bulkReplayProgress = metric('psfabric_ops_bulk_replay_remaining', () =>
  new Gauge({ name: 'psfabric_ops_bulk_replay_remaining', help: 'Exceptions still to be replayed by the running bulk replay (0 when none runs), per ops-feed node.', labelNames: ['node'] as const, registers: [] }),
);

export const digestsSent = metric('psfabric_ops_digests_total', () =>
  new Counter({ name: 'psfabric_ops_digests_total', help: 'Owner-team exception digests handed to the Teams connection, by team and outcome (sent, failed).', labelNames: ['team', 'outcome'] as const, registers: [] }),
);

/** Makes the exception and outbox gauges read this store at scrape time; returns the undo. */
export function trackStore(store: Pick<Store, 'exceptionList' | 'outboxBacklog'>): () => void {
  shared.exceptionSources.add(store);
  const untrackOutbox = trackOutboxBacklog(store);
  return () => {
    shared.exceptionSources.delete(store);
    untrackOutbox();
  };
}

/** Circuit state per connection as the delivery engine last reported it (from psfabric_circuit_state). */
export async function circuitStates(): Promise<Array<{ connection: string; state: 'closed' | 'half-open' | 'open' }>> {
  const data = await circuitStateGauge.get();
  return data.values
    .filter((v) => typeof v.labels.connection === 'string')
    .map((v) => ({ connection: String(v.labels.connection), state: v.value >= 2 ? ('open' as const) : v.value >= 1 ? ('half-open' as const) : ('closed' as const) }))
    .sort((a, b) => a.connection.localeCompare(b.connection));
}

/** The scrape: Prometheus text format and its content type. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
