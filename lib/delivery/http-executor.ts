/**
 * A small JSON-over-HTTP ConnectionExecutor for sandboxes, tests, benchmarks and the reliability suite (and simple
 * vendors), on axios like the connectors, so the product has one HTTP client (and one keep-alive pool: Node's global
 * agent). Failures are thrown in the shape `classify` understands (`{ response: { status, data, headers } }`, network
 * errors with their `code`), so the outbox decides transient vs permanent in one place. Connectors with their own
 * clients (axios, jsforce) implement ConnectionExecutor directly.
 */
import axios, { type AxiosResponse } from 'axios';
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
      let res: AxiosResponse<string>;
      try {
        res = await clientSpan(options.name ?? 'http', spec.method ?? 'POST', url, (trace) => axios.request<string>({
          url,
          method: spec.method ?? 'POST',
          headers: { ...headers, ...trace },
          data: hasBody ? JSON.stringify(spec.body) : undefined,
          // the status decides below, the body is parsed below: axios neither throws on a status nor guesses a type
          validateStatus: () => true,
          responseType: 'text',
          transformResponse: (x: string) => x,
          maxRedirects: 0,
        }), (r) => r.status);
      } catch (err) {
        const e: HttpFailure = new Error((err as Error).message);
        e.code = (err as { code?: string }).code ?? 'ECONNRESET';
        throw e;
      }
      const text = typeof res.data === 'string' ? res.data : String(res.data ?? '');
      const contentType = String(res.headers['content-type'] ?? '');
      let data: unknown = text;
      if (text && /json/i.test(contentType)) {
        try {
          data = JSON.parse(text);
        } catch {
          /* keep text */
        }
      }
      if (res.status < 200 || res.status >= 300) {
        const e: HttpFailure = new Error(`HTTP ${res.status}`);
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && v !== null) h[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
        e.response = { status: res.status, data: data === '' ? undefined : data, headers: h };
        throw e;
      }
      return (data === '' ? null : data) as Json;
    },
  };
}
