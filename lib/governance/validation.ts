/** The gate's body validator, backed by the canonical model's compiled schemas (lib/model/validator). */
import { getCanonicalModel } from '../model/validator';
import type { BodyValidator } from './api-gate';

export function canonicalValidator(): BodyValidator {
  const model = getCanonicalModel();
  return (entity, schemaVersion, body) => {
    const r = model.validate(entity, body, { version: schemaVersion });
    return r.ok ? [] : r.errors.map((e) => ({ path: e.path || '/', message: e.message }));
  };
}
