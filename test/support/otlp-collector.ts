/**
 * A minimal OTLP/HTTP JSON trace receiver for tests (what an OpenTelemetry Collector's otlp receiver takes on 4318):
 * POST /v1/traces with a JSON body (gzip allowed), answered 200 with an empty partial success; anything else 415.
 * Point the runtime's `OTEL_EXPORTER_OTLP_ENDPOINT` at `url`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  service: string;
}

/** OTLP span kinds (opentelemetry-proto). */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

export interface OtlpCollector {
  url: string;
  spans: CollectedSpan[];
  readonly requests: number;
  close(): Promise<void>;
}

export async function startCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  const state = { requests: 0 };
  const value = (v: Record<string, unknown> | undefined): unknown => (v ? (v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue) : undefined);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (/gzip/i.test(String(req.headers['content-encoding'] ?? ''))) body = zlib.gunzipSync(body);
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/i.test(String(req.headers['content-type'] ?? ''))) {
        res.writeHead(415).end();
        return;
      }
      state.requests++;
      const doc = JSON.parse(body.toString('utf8')) as { resourceSpans?: any[] };
      for (const rs of doc.resourceSpans ?? []) {
        const service = String(value((rs.resource?.attributes ?? []).find((a: any) => a.key === 'service.name')?.value) ?? '');
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            const attributes: Record<string, unknown> = {};
            for (const a of s.attributes ?? []) attributes[a.key] = value(a.value);
            spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind, attributes, service });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
