/**
 * The canonical model: every JSON Schema under ./schemas compiled once with ajv (draft 2020-12,
 * allErrors, strict, formats), and validation results as field-level errors a person can act on.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { CURRENT_VERSION, ENTITIES, ENTITY_NAMES, EntityName, SCHEMA_BASE, normalizeEntity, requireEntity } from './entities';

import type { FieldError } from '../delivery/errors';
/** One problem with one field (`{ path, message }`, shared with lib/delivery/errors). `path` is a JSON Pointer ('' = the value itself). */
export type { FieldError };

export type ValidationResult = { ok: true } | { ok: false; errors: FieldError[] };

export interface ValidateOptions {
  /** Schema version, default the current one (1). */
  version?: number;
  /** At most this many errors are listed (default 50); the last entry then says how many more there were. */
  maxErrors?: number;
}

/** Directory of the shipped schemas (copied beside the compiled code by scripts/build.js). */
export const SCHEMA_DIR = path.join(__dirname, 'schemas');

const FILE_RE = /^([a-z][a-z-]*)\.v(\d+)\.json$/;

let compileCount = 0;
/** How many times a CanonicalModel compiled its schemas in this process (tests check "compiled once"). */
export function modelCompileCount(): number {
  return compileCount;
}

export class CanonicalModel {
  private readonly ajv: Ajv2020;
  private readonly byId = new Map<string, ValidateFunction>();
  private readonly schemas = new Map<string, Record<string, unknown>>();
  private readonly entityVersions = new Map<EntityName, number[]>();

  constructor(schemaDir: string = SCHEMA_DIR) {
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, verbose: true, discriminator: true });
    addFormats(this.ajv);
    const files = fs.readdirSync(schemaDir).filter((f) => FILE_RE.test(f)).sort();
    for (const file of files) {
      const schema = JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8')) as Record<string, unknown>;
      const id = schema.$id;
      if (typeof id !== 'string' || !id.startsWith(SCHEMA_BASE)) throw new Error(`schema ${file} has no $id under ${SCHEMA_BASE}`);
      this.schemas.set(id, schema);
      this.ajv.addSchema(schema);
    }
    for (const [id, schema] of this.schemas) {
      if (!schema.type) continue; // definitions only (common)
      const fn = this.ajv.getSchema(id);
      if (!fn) throw new Error(`schema ${id} did not compile`);
      this.byId.set(id, fn);
      const m = /\/v(\d+)\/([a-z-]+)\.json$/.exec(id);
      const entity = m ? normalizeEntity(m[2]) : undefined;
      if (m && entity) {
        const list = this.entityVersions.get(entity) ?? [];
        list.push(Number(m[1]));
        this.entityVersions.set(entity, list.sort((a, b) => a - b));
      }
    }
    for (const name of ENTITY_NAMES) {
      if (!this.entityVersions.get(name)?.includes(CURRENT_VERSION)) throw new Error(`missing schema ${ENTITIES[name].file}.v${CURRENT_VERSION}.json`);
    }
    compileCount++;
  }

  /** The entities (topic form, e.g. `timeentry`). */
  entities(): EntityName[] {
    return [...ENTITY_NAMES];
  }

  /** Schema versions available for an entity, ascending. */
  versions(entity: string): number[] {
    return [...(this.entityVersions.get(requireEntity(entity)) ?? [])];
  }

  /** `$id` of an entity's schema at a version (default current). Throws for an unknown entity or version. */
  schemaId(entity: string, version: number = CURRENT_VERSION): string {
    const name = requireEntity(entity);
    const id = `${SCHEMA_BASE}v${version}/${ENTITIES[name].file}.json`;
    if (!this.byId.has(id)) throw new Error(`no schema v${version} for ${ENTITIES[name].title}; versions: ${this.versions(name).join(', ')}`);
    return id;
  }

  /** A deep copy of a loaded schema by `$id` (e.g. to build an OpenAPI document). */
  schema(id: string): Record<string, unknown> {
    const s = this.schemas.get(id);
    if (!s) throw new Error(`unknown schema ${id}`);
    return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
  }

  /** All loaded schemas' `$id`s (entities, common definitions, envelope). */
  schemaIds(): string[] {
    return [...this.schemas.keys()];
  }

  /** Validates `data` as a canonical `entity` (any spelling: `TimeEntry`, `time-entry`, `timeentry`). */
  validate(entity: string, data: unknown, options: ValidateOptions = {}): ValidationResult {
    return this.validateById(this.schemaId(entity, options.version ?? CURRENT_VERSION), data, options.maxErrors);
  }

  /** Validates against any loaded schema by its `$id` (e.g. an envelope's `dataschema`). */
  validateById(id: string, data: unknown, maxErrors = 50): ValidationResult {
    const fn = this.byId.get(id);
    if (!fn) return { ok: false, errors: [{ path: '', message: `unknown schema ${id}` }] };
    if (fn(data)) return { ok: true };
    return { ok: false, errors: formatAjvErrors(fn.errors ?? [], maxErrors) };
  }
}

let shared: CanonicalModel | undefined;
/** The process-wide model, compiled on first use. */
export function getCanonicalModel(): CanonicalModel {
  if (!shared) shared = new CanonicalModel();
  return shared;
}

/** `getCanonicalModel().validate(...)`. */
export function validate(entity: string, data: unknown, options?: ValidateOptions): ValidationResult {
  return getCanonicalModel().validate(entity, data, options);
}

// ---------------------------------------------------------------------------------------------
// Error messages

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

const ARTICLE: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number (integer)',
  boolean: 'true or false (boolean)',
  null: 'null',
};

function list(values: unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

function describeError(e: ErrorObject): FieldError | undefined {
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const hint = typeof parent.description === 'string' ? parent.description : undefined;
  const p = e.params as Record<string, unknown>;
  const at = e.instancePath;
  const got = ` (got ${preview(e.data)})`;
  switch (e.keyword) {
    case 'required': {
      const prop = String(p.missingProperty);
      return { path: `${at}/${escapePointer(prop)}`, message: `is required (missing property "${prop}"${hint ? `; ${hint}` : ''})` };
    }
    case 'additionalProperties': {
      const prop = String(p.additionalProperty);
      const allowed = Object.keys((parent.properties ?? {}) as Record<string, unknown>);
      return {
        path: `${at}/${escapePointer(prop)}`,
        message: `is not allowed (unknown property "${prop}")${allowed.length ? `; allowed here: ${allowed.join(', ')}` : ''}`,
      };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]) ?? [];
      if (allowed.length <= 12) return { path: at, message: `must be one of: ${list(allowed)}${got}` };
      return { path: at, message: `must be ${hint ?? `one of ${allowed.length} allowed values`}${got}` };
    }
    case 'const':
      return { path: at, message: `must be ${JSON.stringify(p.allowedValue)}${got}` };
    case 'type': {
      const types = String(p.type).split(',');
      return { path: at, message: `must be ${types.map((t) => ARTICLE[t] ?? t).join(' or ')} (got ${kind(e.data)}${typeof e.data === 'object' ? '' : ' ' + preview(e.data)})` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: at, message: `must be ${String(p.comparison)} ${String(p.limit)}${got}` };
    case 'multipleOf':
      return { path: at, message: `must be a multiple of ${String(p.multipleOf)}${got}` };
    case 'format':
      return { path: at, message: `must be ${hint ?? `a valid ${String(p.format)}`}${got}` };
    case 'pattern':
      return { path: at, message: `must be ${hint ?? `text matching ${String(p.pattern)}`}${got}` };
    case 'minLength':
      return { path: at, message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters${got}` };
    case 'maxLength':
      return { path: at, message: `must be at most ${String(p.limit)} characters (got ${typeof e.data === 'string' ? e.data.length : '?'})` };
    case 'minItems':
      return { path: at, message: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'} (got ${Array.isArray(e.data) ? e.data.length : '?'})` };
    case 'maxItems':
      return { path: at, message: `must have at most ${String(p.limit)} items (got ${Array.isArray(e.data) ? e.data.length : '?'})` };
    case 'minProperties':
      return { path: at, message: `must have at least ${String(p.limit)} properties` };
    case 'maxProperties':
      return { path: at, message: `must have at most ${String(p.limit)} properties` };
    case 'uniqueItems':
      return { path: at, message: `must not contain duplicates (items ${String(p.j)} and ${String(p.i)} are equal)` };
    case 'discriminator': {
      const tag = String(p.tag);
      const options = ((parent.oneOf ?? []) as Array<{ properties?: Record<string, { const?: unknown }> }>)
        .map((s) => s.properties?.[tag]?.const)
        .filter((v) => v !== undefined);
      const value = (e.data as Record<string, unknown> | null)?.[tag];
      if (p.error === 'tag' && value === undefined) {
        return { path: `${at}/${escapePointer(tag)}`, message: `is required (missing property "${tag}"; one of: ${list(options)})` };
      }
      return { path: `${at}/${escapePointer(tag)}`, message: `must be one of: ${list(options)} (got ${preview(value)})` };
    }
    case 'if':
    case 'oneOf':
    case 'anyOf':
    case 'allOf':
    case 'not':
      return undefined; // the errors of the sub-schemas say what is wrong
    default:
      return { path: at, message: e.message ?? `fails ${e.keyword}` };
  }
}

/** Turns ajv errors into de-duplicated field errors with messages a person can act on. */
export function formatAjvErrors(errors: readonly ErrorObject[], maxErrors = 50): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const fe = describeError(e);
    if (!fe) continue;
    const key = `${fe.path}\u0000${fe.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fe);
  }
  if (out.length === 0 && errors.length > 0) {
    const e = errors[0];
    out.push({ path: e.instancePath, message: e.message ?? 'is not valid' });
  }
  if (out.length > maxErrors) {
    const more = out.length - maxErrors;
    out.length = maxErrors;
    out.push({ path: '', message: `... and ${more} more error${more === 1 ? '' : 's'}` });
  }
  return out;
}

/** One line for logs and `msg.error.message`: `2 problems: /hours: must be <= 24 (got 25); /date: is required ...`. */
export function summarizeErrors(errors: readonly FieldError[], max = 5): string {
  const parts = errors.slice(0, max).map((e) => `${e.path || '(record)'}: ${e.message}`);
  const rest = errors.length > max ? `; and ${errors.length - max} more` : '';
  return `${errors.length} problem${errors.length === 1 ? '' : 's'}: ${parts.join('; ')}${rest}`;
}
