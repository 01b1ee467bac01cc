/**
 * The ajv instance used by lib/governance for its own schemas (ownership matrix) and, until the
 * canonical model's validator is used everywhere, for the canonical schemas (see schemas.ts).
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ErrorObject } from 'ajv';
import type { FieldError } from '../delivery/errors';

export function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv;
}

/** ajv errors -> `[{path: '/lines/3/hours', message: 'must be >= 0'}]`, one per field, readable. */
export function toFieldErrors(errors: ErrorObject[] | null | undefined): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    // if/then wrappers and allOf are noise: the concrete error beside them says what is wrong.
    if (e.keyword === 'if' || e.keyword === 'allOf') continue;
    let path = e.instancePath || '';
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      path = `${path}/${String((e.params as { missingProperty: string }).missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      path = `${path}/${String((e.params as { additionalProperty: string }).additionalProperty)}`;
      message = 'is not an allowed property';
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      message = allowed.length <= 12 ? `must be one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}` : 'is not an allowed value';
    } else if (e.keyword === 'propertyNames') {
      message = `has an invalid property name "${String((e.params as { propertyName?: string }).propertyName)}"`;
    }
    const p = path || '/';
    const key = `${p}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: p, message });
  }
  return out;
}
