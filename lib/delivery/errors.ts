/**
 * The typed errors of PS Fabric, and the one place that decides whether a failure is worth retrying.
 * Every connector throws (or lets axios throw) and `classify` turns it into a FabricError;
 * the outbox retries `transient` ones and sends `permanent` ones to the exception queue.
 */
import type { ErrorClass, Json } from '../store/store';

export type Retryability = 'transient' | 'permanent';

export interface FieldError {
  /** JSON Pointer into the offending document, e.g. `/lines/3/hours`. */
  path: string;
  message: string;
}

export class FabricError extends Error {
  readonly retry: Retryability;
  readonly errorClass: ErrorClass;
  /** HTTP status when the failure came from a vendor call. */
  readonly status?: number;
  /** Vendor error body, kept so a person can read what the vendor said. Redact before persisting. */
  readonly response?: Json;
  /** Milliseconds the vendor asked us to wait (Retry-After). */
  readonly retryAfterMs?: number;
  readonly details?: FieldError[];
  /**
   * The team that fixes it, when the connector knows better than the ownership resolver (e.g. an ERP rejecting an
   * invoice: finance-ops). The outbox puts it on the exception it raises; unset = the exception queue decides.
   */
  ownerTeam?: string;
  /**
   * The exception-queue entry that already records this failure (the outbox sets it when it queues a failed write):
   * whoever catches the error links to that entry instead of recording the same failure a second time.
   */
  exceptionId?: number;

  constructor(
    message: string,
    opts: { retry: Retryability; errorClass: ErrorClass; status?: number; response?: Json; retryAfterMs?: number; details?: FieldError[]; cause?: unknown },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retry = opts.retry;
    this.errorClass = opts.errorClass;
    this.status = opts.status;
    this.response = opts.response;
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
  }
}

export class ValidationError extends FabricError {
  constructor(message: string, details: FieldError[] = [], response?: Json) {
    super(message, { retry: 'permanent', errorClass: 'validation', details, response });
  }
}

export class OwnershipError extends FabricError {
  constructor(message: string, details: FieldError[] = []) {
    super(message, { retry: 'permanent', errorClass: 'ownership', details });
  }
}

export class TransientError extends FabricError {
  constructor(message: string, opts: { status?: number; response?: Json; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { retry: 'transient', errorClass: 'transient-exhausted', ...opts });
  }
}

export class PermanentError extends FabricError {
  constructor(message: string, opts: { errorClass?: ErrorClass; status?: number; response?: Json; cause?: unknown } = {}) {
    super(message, { retry: 'permanent', errorClass: opts.errorClass ?? 'permanent', status: opts.status, response: opts.response, cause: opts.cause });
  }
}

/** Transient: network failures, 5xx, 408, 429. Everything else from a vendor is permanent, except a vendor limit (below). */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * A vendor's API limit answered with a status that otherwise means "refused": Salesforce answers an exceeded daily or
 * concurrent request limit with 403 and `errorCode: REQUEST_LIMIT_EXCEEDED` (no Retry-After). Waiting is the fix, so it
 * is transient, while any other 403 stays a permanent auth failure.
 */
export function isVendorLimit(status: number, body: unknown): boolean {
  if (status !== 403) return false;
  const items = Array.isArray(body) ? body : [body];
  return items.some((b) => !!b && typeof b === 'object' && (b as Record<string, unknown>).errorCode === 'REQUEST_LIMIT_EXCEEDED');
}

export function errorClassForStatus(status: number): ErrorClass {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 409 || status === 412) return 'conflict';
  if (status === 400 || status === 422) return 'validation';
  return isTransientStatus(status) ? 'transient-exhausted' : 'permanent';
}

/** Parses `Retry-After` as delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined | null, now: number = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = (Array.isArray(value) ? value[0] : value).trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET']);

interface HttpLikeError {
  code?: string;
  message?: string;
  response?: { status?: number; data?: unknown; headers?: Record<string, unknown> };
  isAxiosError?: boolean;
}

/** Turns anything thrown by a connector into a FabricError. */
export function classify(err: unknown): FabricError {
  if (err instanceof FabricError) return err;
  const e = (err ?? {}) as HttpLikeError;
  const status = e.response?.status;
  if (typeof status === 'number') {
    const headers = e.response?.headers ?? {};
    const retryAfterMs = parseRetryAfter((headers['retry-after'] ?? headers['Retry-After']) as string | undefined);
    const response = toJson(e.response?.data);
    const message = `HTTP ${status}: ${summariseVendorBody(e.response?.data) || e.message || 'request failed'}`;
    if (isTransientStatus(status) || isVendorLimit(status, e.response?.data)) return new TransientError(message, { status, response, retryAfterMs, cause: err });
    return new PermanentError(message, { errorClass: errorClassForStatus(status), status, response, cause: err });
  }
  if (e.code && NETWORK_CODES.has(e.code)) return new TransientError(`network: ${e.code} ${e.message ?? ''}`.trim(), { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new PermanentError(message || 'unknown error', { errorClass: 'internal', cause: err });
}

function toJson(value: unknown): Json | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.length > 4000 ? value.slice(0, 4000) + '…' : value;
  try {
    return JSON.parse(JSON.stringify(value)) as Json;
  } catch {
    return String(value);
  }
}

/** Pulls a readable sentence out of the vendors' error shapes (Salesforce array, NetSuite o:errorDetails, OData error, Jira errorMessages). */
export function summariseVendorBody(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body.slice(0, 300);
  if (Array.isArray(body)) return body.map((b) => summariseVendorBody(b)).filter(Boolean).join('; ');
  const o = body as Record<string, unknown>;
  if (typeof o.message === 'string') return (typeof o.errorCode === 'string' ? o.errorCode + ': ' : '') + o.message;
  if (Array.isArray(o['o:errorDetails'])) return summariseVendorBody((o['o:errorDetails'] as unknown[]).map((d) => ({ message: (d as Record<string, unknown>).detail })));
  if (o.error && typeof o.error === 'object') return summariseVendorBody(o.error);
  if (typeof o.error === 'string') return o.error + (typeof o.error_description === 'string' ? ': ' + o.error_description : '');
  if (Array.isArray(o.errorMessages) && o.errorMessages.length) return (o.errorMessages as string[]).join('; ');
  // Kantata: errors: [{ type, message }]
  if (Array.isArray(o.errors)) return (o.errors as Record<string, unknown>[]).map((e) => (typeof e.type === 'string' ? `${e.type}: ` : '') + summariseVendorBody(e.message ?? e)).join('; ');
  if (o.errors && typeof o.errors === 'object') return Object.entries(o.errors as Record<string, unknown>).map(([k, v]) => `${k}: ${String(v)}`).join('; ');
  if (typeof o.title === 'string') return o.title;
  return JSON.stringify(o).slice(0, 300);
}
