/**
 * The ownership matrix: for each canonical entity and field group, the system of record, the sync
 * direction and targets, the latency class and the team that owns exceptions. It is data
 * (`ownership.default.json`, editable in the `ownership-config` node), validated at load against
 * `ownership.schema.json` plus cross-reference checks, with errors that name the offending path.
 *
 * `systemOfRecord` and `syncTo` name either a system id (`netsuite`) or a role (`erp`): a role matches
 * every system with that role, so one matrix serves a firm whose billing entities use different ERPs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OwnershipError, ValidationError, type FieldError } from '../delivery/errors';
import Ajv2020 from 'ajv/dist/2020';
import { formatAjvErrors } from '../model/validator';
import matrixSchema from './ownership.schema.json';

export type LatencyClass = 'real-time' | 'near-real-time' | 'batch';
export type SyncDirection = 'one-way' | 'two-way' | 'none';

export interface FieldGroup {
  name: string;
  description?: string;
  fields: string[];
  systemOfRecord: string;
  syncDirection: SyncDirection;
  syncTo?: string[];
  latency: LatencyClass;
  ownerTeam: string;
}

export interface EntityOwnership {
  ownerTeam: string;
  fieldGroups: FieldGroup[];
}

export interface OwnershipMatrixData {
  $schema?: string;
  version: 1;
  description?: string;
  systems: Record<string, { label?: string; role: string }>;
  teams: Record<string, { label?: string; contact?: string }>;
  defaultOwnerTeam?: string;
  technicalFields?: string[];
  entities: Record<string, EntityOwnership>;
}

/** Where a field's ownership comes from. */
export interface FieldOwnership {
  entity: string;
  field: string;
  group?: string;
  /** System id or role named in the matrix (e.g. `erp`). */
  systemOfRecord: string;
  /** The concrete systems that satisfy `systemOfRecord`. */
  systems: string[];
  ownerTeam: string;
  latency?: LatencyClass;
  syncDirection?: SyncDirection;
  syncTo?: string[];
  technical?: boolean;
}

export interface WriteCheckOptions {
  /** Where the values come from. When given, a write to a replica must originate from the system of record. */
  sourceSystem?: string;
}

export type WriteCheck = { ok: true } | { ok: false; error: OwnershipError; refused: FieldOwnership[] };

export const DEFAULT_MATRIX_FILE = path.join(__dirname, 'ownership.default.json');

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validateShape = ajv.compile(matrixSchema);

/** `TimeEntry`, `timeentry`, `time-entry` -> the key in the matrix (case and dashes ignored). */
function entityKey(data: OwnershipMatrixData, entity: string): string | undefined {
  const norm = String(entity).toLowerCase().replace(/[-_\s]/g, '');
  return Object.keys(data.entities).find((k) => k.toLowerCase() === norm);
}

/** Validates a parsed matrix: schema first, then cross references. Throws ValidationError listing every problem. */
export function validateMatrix(data: unknown, source = 'ownership matrix'): OwnershipMatrixData {
  if (!validateShape(data)) {
    const details = formatAjvErrors(validateShape.errors ?? []);
    throw new ValidationError(`${source} is invalid: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
  }
  const m = data as unknown as OwnershipMatrixData;
  const details: FieldError[] = [];
  const roles = new Set(Object.values(m.systems).map((s) => s.role));
  const knownSystem = (name: string) => Object.prototype.hasOwnProperty.call(m.systems, name) || roles.has(name);
  const knownTeam = (name: string) => Object.prototype.hasOwnProperty.call(m.teams, name);
  if (m.defaultOwnerTeam !== undefined && !knownTeam(m.defaultOwnerTeam)) {
    details.push({ path: '/defaultOwnerTeam', message: `names unknown team "${m.defaultOwnerTeam}" (teams: ${Object.keys(m.teams).join(', ')})` });
  }
  const technical = new Set(m.technicalFields ?? []);
  for (const [entity, own] of Object.entries(m.entities)) {
    const base = `/entities/${entity}`;
    if (!knownTeam(own.ownerTeam)) details.push({ path: `${base}/ownerTeam`, message: `names unknown team "${own.ownerTeam}"` });
    const seenFields = new Map<string, string>();
    const seenGroups = new Set<string>();
    own.fieldGroups.forEach((g, i) => {
      const gp = `${base}/fieldGroups/${i}`;
      if (seenGroups.has(g.name)) details.push({ path: `${gp}/name`, message: `duplicate field group "${g.name}"` });
      seenGroups.add(g.name);
      if (!knownSystem(g.systemOfRecord)) {
        details.push({ path: `${gp}/systemOfRecord`, message: `names unknown system or role "${g.systemOfRecord}" (systems: ${Object.keys(m.systems).join(', ')}; roles: ${[...roles].join(', ')})` });
      }
      (g.syncTo ?? []).forEach((s, j) => {
        if (!knownSystem(s)) details.push({ path: `${gp}/syncTo/${j}`, message: `names unknown system or role "${s}"` });
      });
      if (!knownTeam(g.ownerTeam)) details.push({ path: `${gp}/ownerTeam`, message: `names unknown team "${g.ownerTeam}" (teams: ${Object.keys(m.teams).join(', ')})` });
      g.fields.forEach((f, j) => {
        const prev = seenFields.get(f);
        if (prev !== undefined) details.push({ path: `${gp}/fields/${j}`, message: `field "${f}" is already owned by group "${prev}"` });
        else if (technical.has(f)) details.push({ path: `${gp}/fields/${j}`, message: `field "${f}" is a technical field (technicalFields) and cannot be owned` });
        seenFields.set(f, g.name);
      });
    });
  }
  if (details.length) {
    throw new ValidationError(`${source} is invalid: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
  }
  return m;
}

/** Parses JSON text (e.g. from the editor) into a validated matrix; JSON syntax errors are reported too. */
export function parseMatrix(text: string, source = 'ownership matrix'): OwnershipMatrixData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${source} is not valid JSON: ${(err as Error).message}`, [{ path: '/', message: 'is not valid JSON' }]);
  }
  return validateMatrix(parsed, source);
}

export class OwnershipMatrix {
  readonly data: OwnershipMatrixData;

  constructor(data: unknown, source?: string) {
    this.data = validateMatrix(data, source);
  }

  static default(): OwnershipMatrix {
    return OwnershipMatrix.fromFile(DEFAULT_MATRIX_FILE);
  }

  static fromFile(file: string): OwnershipMatrix {
    return new OwnershipMatrix(parseMatrix(fs.readFileSync(file, 'utf8'), file), file);
  }

  static fromText(text: string, source?: string): OwnershipMatrix {
    return new OwnershipMatrix(parseMatrix(text, source), source);
  }

  entities(): string[] {
    return Object.keys(this.data.entities);
  }

  /** The matrix entry of an entity; throws for an entity the matrix does not cover. */
  entity(entity: string): EntityOwnership & { name: string } {
    const key = entityKey(this.data, entity);
    if (!key) throw new ValidationError(`ownership matrix has no entity "${entity}" (entities: ${this.entities().join(', ')})`, [{ path: '/entity', message: 'unknown entity' }]);
    return { name: key, ...this.data.entities[key] };
  }

  /** Concrete system ids matching a system id or role. */
  systemsFor(systemOrRole: string): string[] {
    if (Object.prototype.hasOwnProperty.call(this.data.systems, systemOrRole)) return [systemOrRole];
    return Object.entries(this.data.systems).filter(([, s]) => s.role === systemOrRole).map(([id]) => id);
  }

  /** True when `system` (an id) is or plays `systemOrRole`. */
  matches(system: string, systemOrRole: string): boolean {
    if (system === systemOrRole) return true;
    const s = Object.prototype.hasOwnProperty.call(this.data.systems, system) ? this.data.systems[system] : undefined;
    return s?.role === systemOrRole;
  }

  /** The team owning exceptions of an entity, or of one of its field groups. */
  ownerTeam(entity: string, fieldGroup?: string): string {
    const e = this.entity(entity);
    if (fieldGroup === undefined) return e.ownerTeam;
    const g = e.fieldGroups.find((x) => x.name === fieldGroup);
    if (!g) throw new ValidationError(`ownership matrix has no field group "${fieldGroup}" for ${e.name} (groups: ${e.fieldGroups.map((x) => x.name).join(', ')})`);
    return g.ownerTeam;
  }

  /** Ownership of one field (a top-level property, or a JSON pointer / dotted path whose first segment is used). */
  field(entity: string, field: string): FieldOwnership {
    const e = this.entity(entity);
    const top = topSegment(field);
    if ((this.data.technicalFields ?? []).includes(top)) {
      return { entity: e.name, field: top, systemOfRecord: 'fabric', systems: this.systemsFor('fabric'), ownerTeam: this.data.defaultOwnerTeam ?? e.ownerTeam, technical: true };
    }
    const g = e.fieldGroups.find((x) => x.fields.includes(top));
    if (!g) {
      // A field the matrix does not list: owned by nobody in particular, its exceptions go to the entity's team.
      // The first group's system of record is the entity's primary system.
      const primary = e.fieldGroups[0];
      return { entity: e.name, field: top, systemOfRecord: primary.systemOfRecord, systems: this.systemsFor(primary.systemOfRecord), ownerTeam: e.ownerTeam };
    }
    return {
      entity: e.name,
      field: top,
      group: g.name,
      systemOfRecord: g.systemOfRecord,
      systems: this.systemsFor(g.systemOfRecord),
      ownerTeam: g.ownerTeam,
      latency: g.latency,
      syncDirection: g.syncDirection,
      syncTo: g.syncTo ?? [],
    };
  }

  /** The system of record (system id or role, as the matrix names it) of a field. */
  systemOfRecord(entity: string, field: string): string {
    return this.field(entity, field).systemOfRecord;
  }

  /**
   * May `targetSystem` be written these fields of `entity`? Allowed: technical fields; fields whose system of
   * record is the target; fields the target holds as a declared sync replica (`syncTo`, or either side of a
   * two-way sync) as long as the values come from the system of record (when `sourceSystem` is given).
   * Anything else would overwrite data another system owns: refused with an OwnershipError naming each field,
   * its owner system and owner team.
   */
  checkWrite(entity: string, targetSystem: string, fields: string[], opts: WriteCheckOptions = {}): WriteCheck {
    const refused: FieldOwnership[] = [];
    const seen = new Set<string>();
    for (const f of fields) {
      const own = this.field(entity, f);
      if (seen.has(own.field)) continue;
      seen.add(own.field);
      if (own.technical) continue;
      if (this.matches(targetSystem, own.systemOfRecord)) continue;
      const replica = (own.syncTo ?? []).some((s) => this.matches(targetSystem, s));
      const fromOwner = opts.sourceSystem === undefined || this.matches(opts.sourceSystem, own.systemOfRecord);
      if (own.syncDirection === 'two-way' && own.syncTo?.some((s) => this.matches(targetSystem, s))) continue;
      if (replica && fromOwner) continue;
      refused.push(own);
    }
    if (!refused.length) return { ok: true };
    const e = this.entity(entity);
    const details: FieldError[] = refused.map((r) => ({
      path: `/${r.field}`,
      message: `owned by ${r.systemOfRecord}${r.group ? ` (field group ${r.group})` : ''}, owner team ${r.ownerTeam}`,
    }));
    const teams = [...new Set(refused.map((r) => r.ownerTeam))];
    const from = opts.sourceSystem ? ` from ${opts.sourceSystem}` : '';
    const error = new OwnershipError(
      `write of ${e.name} to ${targetSystem}${from} refused: ${refused.map((r) => `${r.field} is owned by ${r.systemOfRecord} (owner team ${r.ownerTeam})`).join('; ')}`,
      details,
    );
    (error as OwnershipError & { ownerTeams?: string[] }).ownerTeams = teams;
    return { ok: false, error, refused };
  }

  /** Like checkWrite, but throws the OwnershipError. */
  assertWrite(entity: string, targetSystem: string, fields: string[], opts: WriteCheckOptions = {}): void {
    const r = this.checkWrite(entity, targetSystem, fields, opts);
    if (!r.ok) throw r.error;
  }

  /** Flat rows for a dashboard table: entity, group, fields, system of record, sync, latency, owner team. */
  rows(): Array<{ entity: string; group: string; fields: string; systemOfRecord: string; sync: string; latency: string; ownerTeam: string }> {
    return Object.entries(this.data.entities).flatMap(([entity, e]) =>
      e.fieldGroups.map((g) => ({
        entity,
        group: g.name,
        fields: g.fields.join(', '),
        systemOfRecord: g.systemOfRecord,
        sync: g.syncDirection === 'none' ? 'none' : `${g.syncDirection} -> ${(g.syncTo ?? []).join(', ') || '(none)'}`,
        latency: g.latency,
        ownerTeam: g.ownerTeam,
      })),
    );
  }
}

function topSegment(field: string): string {
  const s = String(field).replace(/^\//, '');
  return s.split(/[/.[]/)[0];
}
