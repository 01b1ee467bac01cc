/**
 * GET /metrics on the runtime's HTTP server: the PS Fabric Prometheus registry (lib/kpi) in text format,
 * including default process metrics. The launcher mounts it and registers its store so the exception and
 * outbox backlog gauges read it at scrape time. (In a plain Node-RED the same text is served by the ops-feed
 * module at <httpAdminRoot>/ps-fabric/metrics.)
 */
import type { Express } from 'express';
import { scrape, trackStore } from '../lib/kpi/ops-metrics';
import type { Store } from '../lib/store/store';

export function mountMetrics(app: Pick<Express, 'get'>, store?: Pick<Store, 'exceptionList' | 'outboxBacklog'>, path = '/metrics'): () => void {
  app.get(path, (_req, res) => {
    scrape().then(
      ({ contentType, body }) => {
        res.set('Content-Type', contentType);
        res.end(body);
      },
      (err: unknown) => {
        res.status(500).type('text/plain').end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  return store ? trackStore(store) : () => undefined;
}
