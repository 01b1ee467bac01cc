/**
 * CloudEvents 1.0 JSON envelope (structured mode) for every PS Fabric event and process message,
 * with the `correlationid` and `idempotencykey` extension attributes, and the distributed tracing extension
 * (`traceparent` / `tracestate`, W3C Trace Context) when the event is produced inside a traced run (lib/telemetry).
 */
import { createHash, randomUUID } from 'node:crypto';
import { CURRENT_VERSION, EntityName, requireEntity } from './entities';
import { requireEventName } from './topics';
import { FieldError, ValidationResult, getCanonicalModel } from './validator';
import { currentTrace } from '../telemetry';

export const ENVELOPE_SCHEMA_ID = 'https://schemas.psfabric.dev/v1/envelope.json';

export interface CloudEvent<T = Record<string, unknown>> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema?: string;
  data: T;
  correlationid: string;
  idempotencykey: string;
  /** Distributed tracing extension: the W3C `traceparent` of the span that produced the event. */
  traceparent?: string;
  tracestate?: string;
}

export interface EnvelopeInput<T = Record<string, unknown>> {
  /** Either `type` (`com.psfabric.timeentry.approved.v1`) or `entity` + `event`. */
  type?: string;
  entity?: string;
  event?: string;
  /** Schema version of `data` (default 1). */
  version?: number;
  /** URI-reference of the producer, e.g. `/psfabric/flows/time-to-cash/canonical`. */
  source: string;
  /** Default: `data.id` when it is a string. */
  subject?: string;
  data: T;
  /** Default: a new UUID (start of a new correlation). */
  correlationid?: string;
  /** Default: `defaultIdempotencyKey(entity, data)`. */
  idempotencykey?: string;
  /** Default: the entity schema `$id`. */
  dataschema?: string;
  /** Default: now. */
  time?: Date | string;
  /** Default: a new UUID. */
  id?: string;
  /** Default: the current span's (lib/telemetry), none when tracing is off. */
  traceparent?: string;
  tracestate?: string;
}

/** `com.psfabric.<entity>.<event>.v<N>`. */
export function eventType(entity: string, event: string, version: number = CURRENT_VERSION): string {
  return `com.psfabric.${requireEntity(entity)}.${requireEventName(event)}.v${version}`;
}

/** `com.psfabric.timeentry.approved.v1` -> parts; undefined if not one of ours. */
export function parseEventType(type: string): { entity: EntityName; event: string; version: number } | undefined {
  const m = /^com\.psfabric\.([a-z]+)\.([a-z][a-z0-9-]*)\.v([1-9][0-9]*)$/.exec(String(type));
  if (!m) return undefined;
  try {
    return { entity: requireEntity(m[1]), event: m[2], version: Number(m[3]) };
  } catch {
    return undefined;
  }
}

/** Canonical JSON (sorted keys) for hashing. */
function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .filter((k) => obj[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`)
    .join(',')}}`;
}

/**
 * Default idempotency key of a canonical record: `<entity>:<id>:v<version>` (or `:<updatedAt>` when no version);
 * without an id, `<entity>:sha256:<hash of the record>`. The same record state always gives the same key.
 */
export function defaultIdempotencyKey(entity: string, data: unknown): string {
  const name = requireEntity(entity);
  const rec = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (typeof rec.id === 'string' && rec.id) {
    if (typeof rec.version === 'number') return `${name}:${rec.id}:v${rec.version}`;
    if (typeof rec.updatedAt === 'string') return `${name}:${rec.id}:${rec.updatedAt}`;
  }
  return `${name}:sha256:${createHash('sha256').update(stableStringify(data)).digest('hex')}`;
}

/**
 * The CloudEvent id of one business effect: a UUID (RFC 9562 version 8, name-based) of source, type and idempotency
 * key. An event published again after a crash, a replay or a re-run is then the same event to every subscriber,
 * whose inbox de-duplicates on source + id (lib/broker/message-id.ts); a random id made each re-publish a new message.
 */
export function eventIdFor(source: string, type: string, idempotencykey: string): string {
  const b = createHash('sha256').update(`${source}\n${type}\n${idempotencykey}`).digest();
  b[6] = (b[6] & 0x0f) | 0x80;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Builds an envelope. Throws on an unknown entity, a bad event name or a missing source (programming errors). */
export function toEnvelope<T = Record<string, unknown>>(input: EnvelopeInput<T>): CloudEvent<T> {
  let type = input.type;
  let entity = input.entity ? requireEntity(input.entity) : undefined;
  const version = input.version ?? CURRENT_VERSION;
  if (!type) {
    if (!entity || !input.event) throw new Error('toEnvelope needs either type or entity and event');
    type = eventType(entity, input.event, version);
  } else {
    const parsed = parseEventType(type);
    if (!parsed) throw new Error(`invalid event type ${JSON.stringify(type)}: expected com.psfabric.<entity>.<event>.v<N>`);
    entity = entity ?? parsed.entity;
  }
  if (!input.source) throw new Error('toEnvelope needs a source');
  const data = input.data;
  const rec = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const subject = input.subject ?? (typeof rec.id === 'string' && rec.id ? rec.id : undefined);
  const time = input.time instanceof Date ? input.time.toISOString() : (input.time ?? new Date().toISOString());
  const idempotencykey = input.idempotencykey || defaultIdempotencyKey(entity as EntityName, data);
  const env: CloudEvent<T> = {
    specversion: '1.0',
    id: input.id ?? eventIdFor(input.source, type, idempotencykey),
    source: input.source,
    type,
    ...(subject ? { subject } : {}),
    time,
    datacontenttype: 'application/json',
    dataschema: input.dataschema ?? getCanonicalModel().schemaId(entity as EntityName, parseEventType(type)?.version ?? version),
    data,
    correlationid: input.correlationid || randomUUID(),
    idempotencykey,
  };
  const trace = input.traceparent ? { traceparent: input.traceparent, tracestate: input.tracestate } : currentTrace();
  if (trace) {
    env.traceparent = trace.traceparent;
    if (trace.tracestate) env.tracestate = trace.tracestate;
  }
  return env;
}

export interface EnvelopeValidateOptions {
  /** Also validate `data` against `dataschema` (default true). Errors then have paths like `/data/hours`. */
  data?: boolean;
}

/** Validates an envelope (and by default its data against its `dataschema`). */
export function validateEnvelope(envelope: unknown, options: EnvelopeValidateOptions = {}): ValidationResult {
  const model = getCanonicalModel();
  const res = model.validateById(ENVELOPE_SCHEMA_ID, envelope);
  const errors: FieldError[] = res.ok ? [] : [...res.errors];
  const env = envelope as Partial<CloudEvent> | null;
  if (env && typeof env === 'object' && typeof env.type === 'string') {
    const parsed = parseEventType(env.type);
    if (!parsed && res.ok) errors.push({ path: '/type', message: `names no known entity (got ${JSON.stringify(env.type)})` });
    if (parsed && options.data !== false && env.data && typeof env.data === 'object') {
      let schemaId = env.dataschema;
      if (!schemaId) {
        try {
          schemaId = model.schemaId(parsed.entity, parsed.version);
        } catch (err) {
          errors.push({ path: '/type', message: (err as Error).message });
        }
      }
      if (schemaId) {
        if (!model.schemaIds().includes(schemaId)) {
          errors.push({ path: '/dataschema', message: `is not a known schema (got ${JSON.stringify(schemaId)})` });
        } else {
          const dres = model.validateById(schemaId, env.data);
          if (!dres.ok) for (const e of dres.errors) errors.push({ path: `/data${e.path}`, message: e.message });
        }
      }
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true };
}

/**
 * The correlation id a message carries: `correlationId` (set by the process steps), else `correlationid` (the envelope
 * attribute's name, as the canonical node and fabric-mqtt-in copy it onto the msg). Undefined when neither is a
 * non-empty string.
 */
export function correlationIdOf(msg: unknown): string | undefined {
  const m = (msg ?? {}) as { correlationId?: unknown; correlationid?: unknown };
  const id = m.correlationId ?? m.correlationid;
  return typeof id === 'string' && id ? id : undefined;
}
