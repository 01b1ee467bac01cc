/**
 * Traces keyed to business records (W3C trace context), on the OpenTelemetry API only: the SDK and its exporter are
 * started by the launcher (runtime/telemetry.ts) when the `OTEL_*` environment asks for it. Until then nothing here
 * creates a span or reads a clock: every entry point first checks `tracingEnabled()`, so the cost when off is one
 * property read (the @opentelemetry/api no-op tracer is never even asked).
 *
 * The context travels as a carrier `{ traceparent, tracestate? }` (W3C Trace Context):
 *  - in the CloudEvents envelope (distributed tracing extension attributes `traceparent` / `tracestate`),
 *  - in MQTT v5 user properties of the same names,
 *  - on a Node-RED msg as `msg._fabricTrace` (set by the onSend hook of nodes/trace-hooks.ts),
 *  - with an outbox item in its `context` JSON (`context.trace`), so a retry after a restart stays in the record's trace,
 *  - in the `traceparent` header of every vendor HTTP call (a CLIENT span each).
 * Spans carry the business keys (`psfabric.record_key`, `psfabric.opportunity_id` ..., `psfabric.correlation_id`,
 * `psfabric.process`); exception and audit entries store the trace id (`details.traceId`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, createTraceState, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

export { SpanKind };

/** W3C Trace Context as carried in envelopes, MQTT user properties, msgs and outbox items. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** The msg property that carries the trace context between Node-RED nodes. */
export const TRACE_PROPERTY = '_fabricTrace';

const TRACER_NAME = 'ps-fabric';
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

interface TelemetryState {
  enabled: boolean;
  /** The trace context of the msg a Node-RED node is handling (entered by the onReceive hook). */
  msg: AsyncLocalStorage<Context>;
}

// One state per process, even if this module is loaded twice (Node-RED's node loader and the launcher).
const STATE_KEY = Symbol.for('psfabric.telemetry');
const state: TelemetryState = ((globalThis as Record<symbol, unknown>)[STATE_KEY] as TelemetryState | undefined) ??
  ((globalThis as Record<symbol, unknown>)[STATE_KEY] = { enabled: false, msg: new AsyncLocalStorage<Context>() } as TelemetryState);

/** Whether spans are recorded (the launcher started the SDK). */
export function tracingEnabled(): boolean {
  return state.enabled;
}

/** Called by the SDK start-up (runtime/telemetry.ts) once its tracer provider is registered, and on shutdown. */
export function setTracingEnabled(on: boolean): void {
  state.enabled = on;
}

/** Parses a `traceparent` (version 00 layout; an all-zero trace or span id is invalid); undefined when not valid. */
export function parseTraceparent(value: unknown): { traceId: string; spanId: string; traceFlags: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16) & 0xff };
}

/** A carrier from anything that may hold one (an envelope, MQTT user properties, a msg's `_fabricTrace`). */
export function carrierFrom(source: unknown): TraceCarrier | undefined {
  if (!source || typeof source !== 'object') return undefined;
  const s = source as Record<string, unknown>;
  const tp = Array.isArray(s.traceparent) ? s.traceparent[0] : s.traceparent;
  if (!parseTraceparent(tp)) return undefined;
  const ts = Array.isArray(s.tracestate) ? s.tracestate.join(',') : s.tracestate;
  return { traceparent: (tp as string).trim(), ...(typeof ts === 'string' && ts ? { tracestate: ts } : {}) };
}

/** The carrier of a msg (`msg._fabricTrace`, else the traceparent of its CloudEvent payload). */
export function traceOfMsg(msg: unknown): TraceCarrier | undefined {
  if (!msg || typeof msg !== 'object') return undefined;
  const m = msg as Record<string, unknown>;
  return carrierFrom(m[TRACE_PROPERTY]) ?? carrierFrom(m.payload);
}

/** An API context whose parent is the carrier's (remote) span; ROOT_CONTEXT without one. */
export function contextFromCarrier(carrier: TraceCarrier | undefined): Context {
  const p = parseTraceparent(carrier?.traceparent);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { ...p, isRemote: true, ...(carrier?.tracestate ? { traceState: createTraceState(carrier.tracestate) } : {}) });
}

/** The carrier of a context's span; undefined without a valid one. */
export function carrierOf(ctx: Context): TraceCarrier | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !parseTraceparent(`00-${sc.traceId}-${sc.spanId}-00`)) return undefined;
  const tracestate = sc.traceState?.serialize();
  return { traceparent: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`, ...(tracestate ? { tracestate } : {}) };
}

/**
 * The context work is being done in: the innermost PS Fabric span or the msg the current node is handling (both kept
 * in `state.msg`: withSpan runs in it, the onReceive hook enters the msg's), else the API's active context (which
 * Node-RED's asynchronous delivery carries from the sender when the msg itself has none).
 */
function activeContext(): Context {
  const own = state.msg.getStore();
  if (own && trace.getSpanContext(own)) return own;
  return context.active();
}

/** The carrier of the current span (or msg); undefined when tracing is off or nothing is being traced. */
export function currentTrace(): TraceCarrier | undefined {
  return state.enabled ? carrierOf(activeContext()) : undefined;
}

/** The trace id of the current span (for exception and audit entries); undefined when off. */
export function currentTraceId(): string | undefined {
  return parseTraceparent(currentTrace()?.traceparent)?.traceId;
}

/**
 * Enters the trace context of a msg for the rest of the current synchronous run and everything it schedules
 * (the Node-RED onReceive hook: the node's input handler runs right after, in the same turn).
 */
export function enterMsgTrace(msg: unknown): void {
  if (!state.enabled) return;
  const carrier = traceOfMsg(msg);
  state.msg.enterWith(carrier ? contextFromCarrier(carrier) : ROOT_CONTEXT);
}

/** Leaves the msg's trace context (postReceive): whatever the handler started keeps the context it captured. */
export function leaveMsgTrace(): void {
  if (state.enabled) state.msg.enterWith(ROOT_CONTEXT);
}

const ENTITY_ATTRIBUTE: Record<string, string> = {
  opportunity: 'psfabric.opportunity_id',
  project: 'psfabric.project_id',
  invoice: 'psfabric.invoice_id',
  timeentry: 'psfabric.time_entry_id',
  expense: 'psfabric.expense_id',
  account: 'psfabric.account_id',
  contract: 'psfabric.contract_id',
};

/** What a span says about the business record it works on. */
export interface BusinessKeys {
  /** `<Entity>/<id>` (e.g. `Opportunity/006Hs00000GlobexEHR`): also set as `psfabric.<entity>_id`. */
  recordKey?: string;
  correlationId?: string;
  process?: string;
  step?: string;
  /** The record this one is part of (`Invoice/<id>` for a time entry on it): `psfabric.part_of` and its `psfabric.<entity>_id`. */
  partOf?: string;
}

/** `psfabric.<entity>_id` of a record key (`Invoice/INV-1` -> `psfabric.invoice_id`), for the entities listed above. */
function entityAttribute(recordKey: string, a: Attributes): void {
  const slash = recordKey.indexOf('/');
  const attr = slash > 0 ? ENTITY_ATTRIBUTE[recordKey.slice(0, slash).toLowerCase().replace(/[^a-z]/g, '')] : undefined;
  if (attr) a[attr] = recordKey.slice(slash + 1);
}

/** Span attributes of the business keys: `psfabric.record_key`, `psfabric.opportunity_id` ..., correlation id, process. */
export function businessAttributes(keys: BusinessKeys): Attributes {
  const a: Attributes = {};
  if (keys.partOf) {
    a['psfabric.part_of'] = keys.partOf;
    entityAttribute(keys.partOf, a);
  }
  if (keys.recordKey) {
    a['psfabric.record_key'] = keys.recordKey;
    entityAttribute(keys.recordKey, a);
  }
  if (keys.correlationId) a['psfabric.correlation_id'] = keys.correlationId;
  if (keys.process) a['psfabric.process'] = keys.process;
  if (keys.step) a['psfabric.step'] = keys.step;
  return a;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent: a carrier (an outbox item's, a msg's); default the current span or msg; `null` starts a new trace. */
  parent?: TraceCarrier | null;
}

/**
 * Runs `fn` in a new span (ended when `fn` settles; an error is recorded on it and rethrown). `fn` gets the span
 * (undefined when tracing is off: `fn` then runs as is, no span, no context switch, `spanOptions` not even read).
 */
export function withSpan<T>(name: string, spanOptions: SpanOptions | (() => SpanOptions), fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!state.enabled) return fn(undefined);
  // options may be a function, so that a hot path builds its attributes only when tracing is on
  const options = typeof spanOptions === 'function' ? spanOptions() : spanOptions;
  const parent = options.parent === null ? ROOT_CONTEXT : options.parent ? contextFromCarrier(options.parent) : activeContext();
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  return context.with(ctx, () => state.msg.run(ctx, async () => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  }));
}

/** A vendor HTTP call in flight as a CLIENT span: the headers to send with it, and `end` once it is answered. */
export interface ClientSpan {
  /** `traceparent` / `tracestate` of the span (empty when tracing is off). */
  headers: Record<string, string>;
  /** Ends the span with the response status (>= 400 marks it failed) or the error. */
  end(status?: number, error?: unknown): void;
}

const NO_CLIENT_SPAN: ClientSpan = { headers: {}, end: () => undefined };

/** Starts the CLIENT span of one vendor HTTP call, below the current span (or msg); for hooks that cannot wrap the call. */
export function startClientSpan(connection: string, method: string, url: string): ClientSpan {
  if (!state.enabled) return NO_CLIENT_SPAN;
  const m = String(method || 'GET').toUpperCase();
  const span = trace.getTracer(TRACER_NAME).startSpan(`${connection} ${m}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': m, 'url.full': redactUrl(url), 'psfabric.connection': connection } }, activeContext());
  const carrier = carrierOf(trace.setSpan(ROOT_CONTEXT, span));
  let ended = false;
  return {
    headers: carrier ? { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) } : {},
    end(status?: number, error?: unknown) {
      if (ended) return;
      ended = true;
      if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      } else if (typeof status === 'number' && status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${status}` });
      span.end();
    },
  };
}

/**
 * One vendor HTTP call as a CLIENT span: `send` gets the headers to add (`traceparent` / `tracestate`; none when
 * tracing is off) and returns the response, whose status `statusOf` reads.
 */
export async function clientSpan<T>(connection: string, method: string, url: string, send: (headers: Record<string, string>) => Promise<T>, statusOf: (result: T) => number | undefined = () => undefined): Promise<T> {
  const span = startClientSpan(connection, method, url);
  try {
    const result = await send(span.headers);
    span.end(statusOf(result));
    return result;
  } catch (err) {
    const status = (err as { response?: { status?: unknown } }).response?.status;
    span.end(typeof status === 'number' ? status : undefined, err);
    throw err;
  }
}

/** A URL without its query string and user info (tokens and signatures travel there; spans leave the process). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.split('?')[0];
  }
}

/**
 * A span that marks a moment (a message received from the bus): started and ended at once, returning its carrier for
 * what follows. When tracing is off the parent is passed through unchanged, so a context from upstream survives.
 */
export function markSpan(name: string, options: SpanOptions): TraceCarrier | undefined {
  if (!state.enabled) return options.parent ?? undefined;
  const parent = options.parent === null ? ROOT_CONTEXT : options.parent ? contextFromCarrier(options.parent) : activeContext();
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  span.end();
  return carrierOf(trace.setSpan(parent, span));
}

/** The trace id in a carrier (for exception and audit details). */
export function traceIdOf(carrier: TraceCarrier | undefined): string | undefined {
  return parseTraceparent(carrier?.traceparent)?.traceId;
}

/** Runs `fn` (synchronously) in the context of a carrier, so the msgs it sends carry it on (nodes/trace-hooks.ts). */
export function withTrace<T>(carrier: TraceCarrier | undefined, fn: () => T): T {
  if (!state.enabled || !carrier) return fn();
  const ctx = contextFromCarrier(carrier);
  return context.with(ctx, () => state.msg.run(ctx, fn));
}

/** The carrier kept in an outbox item's `context` JSON (`context.trace`). */
export function traceOfContext(itemContext: unknown): TraceCarrier | undefined {
  return itemContext && typeof itemContext === 'object' && !Array.isArray(itemContext) ? carrierFrom((itemContext as Record<string, unknown>).trace) : undefined;
}

/**
 * An outbox item's `context` with the current trace added (`context.trace`), so its attempts, also after a restart or
 * on another instance, are spans of the run that wrote it. Unchanged when nothing is traced or the context is not an
 * object (then there is no room for it).
 */
export function contextWithTrace<C>(itemContext: C): C | { trace: TraceCarrier } {
  const carrier = currentTrace();
  if (!carrier || traceOfContext(itemContext)) return itemContext;
  if (itemContext === undefined || itemContext === null) return { trace: carrier };
  if (typeof itemContext !== 'object' || Array.isArray(itemContext)) return itemContext;
  return { ...(itemContext as object), trace: carrier } as C;
}
