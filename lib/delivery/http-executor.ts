/**
 * A small JSON-over-HTTP ConnectionExecutor on Node's fetch, for sandboxes, tests, benchmarks and the
 * reliability suite (and simple vendors). Failures are thrown in the shape `classify` understands
 * (`{ response: { status, data, headers } }`, network errors with their `code`), so the outbox
 * decides transient vs permanent in one place. Connectors with their own clients (axios, jsforce)
 * implement ConnectionExecutor directly.
 */
import type { Json } from '../store/store';
import type { ConnectionExecutor, ExecutionContext } from './types';
import { clientSpan } from '../telemetry';

export interface HttpRequestSpec {
  method?: string;
  /** Path appended to baseUrl (or an absolute URL). */
  path: string;
  body?: Json;
  headers?: Record<string, string>;
}

export interface HttpExecutorOptions {
  baseUrl: string;
  /** Turns (operation, request) into an HTTP request. Default: POST `/<operation>` with the request as JSON body. */
  route?: (operation: string, request: Json, ctx: ExecutionContext) => HttpRequestSpec;
  /** Headers on every request (credentials come from the config node, never from the flow). */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** Header carrying the idempotency key; '' to send none. */
  idempotencyHeader?: string;
  /** Names the vendor in the CLIENT span of each call (lib/telemetry); default `http`. */
  name?: string;
}

export interface HttpFailure extends Error {
  code?: string;
  response?: { status: number; data: unknown; headers: Record<string, string> };
}

export function httpExecutor(options: HttpExecutorOptions): ConnectionExecutor {
  const idemHeader = options.idempotencyHeader ?? 'Idempotency-Key';
  return {
    async execute(operation, request, ctx) {
      const spec = options.route ? options.route(operation, request, ctx) : { method: 'POST', path: '/' + encodeURIComponent(operation), body: request };
      const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ? await options.headers() : {}), ...(spec.headers ?? {}) };
      if (idemHeader) headers[idemHeader] = ctx.idempotencyKey;
      if (ctx.correlationId) headers['X-Correlation-Id'] = ctx.correlationId;
      const hasBody = spec.body !== undefined && (spec.method ?? 'POST').toUpperCase() !== 'GET';
      if (hasBody) headers['content-type'] = 'application/json';
      const url = /^https?:\/\//.test(spec.path) ? spec.path : options.baseUrl.replace(/\/$/, '') + spec.path;
      let res: Response;
      try {
        res = await clientSpan(options.name ?? 'http', spec.method ?? 'POST', url, (trace) => fetch(url, { method: spec.method ?? 'POST', headers: { ...headers, ...trace }, body: hasBody ? JSON.stringify(spec.body) : undefined }), (r) => r.status);
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const e: HttpFailure = new Error(`${cause?.message ?? (err as Error).message}`);
        e.code = cause?.code ?? 'ECONNRESET';
        throw e;
      }
      const text = await res.text();
      let data: unknown = text;
      if (text && /json/i.test(res.headers.get('content-type') ?? '')) {
        try {
          data = JSON.parse(text);
        } catch {
          /* keep text */
        }
      }
      if (!res.ok) {
        const e: HttpFailure = new Error(`HTTP ${res.status}`);
        const h: Record<string, string> = {};
        res.headers.forEach((v, k) => (h[k] = v));
        e.response = { status: res.status, data: data === '' ? undefined : data, headers: h };
        throw e;
      }
      return (data === '' ? null : data) as Json;
    },
  };
}
