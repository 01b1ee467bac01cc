/**
 * Cross-reference of record ids (master data control, docs/store-and-guarantees.md): each canonical record's id in every
 * system, as the system answered it, kept in the store (table `xref`, shared by every instance on it).
 *
 * - Written by the connectors inside the delivery path: the engine hands every write attempt a `ConnectionXref`
 *   bound to the write's connection (`ExecutionContext.xref`), and a connector records the vendor's id (and number)
 *   as soon as the vendor answered with it. A write that is retried, replayed or repeated after a restart reads it
 *   before any lookup-then-create, and a later process (time-to-cash invoicing a customer that quote-to-project
 *   created) reads the number the vendor assigned instead of deriving one from another system's id.
 * - People: a person's id in a system (Atlassian account, Kantata user, BC employee) is cached under entity `person`,
 *   keyed by the lowercased email.
 * - Read by the admin API (`GET /ps-fabric/xref`), the exception console (the ids of the exception's record) and the
 *   reconciliation run (which records lack an id in a system they are expected in).
 */
import type { Store, XrefEntity, XrefEntry, XrefRecord } from '../store/store';
import { XREF_ENTITIES } from '../store/store';

export type { XrefEntity, XrefEntry, XrefRecord } from '../store/store';
export { XREF_ENTITIES } from '../store/store';

export type XrefStore = Pick<Store, 'xrefPut' | 'xrefOf' | 'xrefFind' | 'xrefList'>;

/** The canonical key of a person: the email, trimmed and lowercased (vendors compare emails case-insensitively). */
export function personKey(email: string): string {
  return email.trim().toLowerCase();
}

/** A bad query to the cross-reference (unknown entity, missing id): the admin API answers 400 with the message. */
export class XrefQueryError extends Error {}

export function parseEntity(value: unknown): XrefEntity {
  if (typeof value !== 'string' || !(XREF_ENTITIES as readonly string[]).includes(value)) {
    throw new XrefQueryError(`entity must be one of ${XREF_ENTITIES.join(', ')}, got ${JSON.stringify(value ?? null)}`);
  }
  return value as XrefEntity;
}

/** Exception record keys (`Account/ACC-1`, `Project/PRJ-1`, `Invoice/INV-1`, `Opportunity/006...`) -> the cross-referenced record. */
const RECORD_KEY_ENTITIES: Record<string, XrefEntity> = {
  Account: 'account', Project: 'project', Resource: 'resource', ResourceAssignment: 'resource', Contract: 'contract', Invoice: 'invoice', Person: 'person',
};
export function xrefKeyOfRecord(recordKey: string | undefined): { entity: XrefEntity; key: string } | undefined {
  if (!recordKey) return undefined;
  const slash = recordKey.indexOf('/');
  if (slash <= 0) return undefined;
  const type = recordKey.slice(0, slash);
  const id = recordKey.slice(slash + 1);
  if (!id) return undefined;
  // quote-to-project's validation exceptions name the opportunity; the project it becomes is PRJ-<opportunity id>
  if (type === 'Opportunity') return { entity: 'project', key: `PRJ-${id}` };
  const entity = RECORD_KEY_ENTITIES[type];
  return entity ? { entity, key: entity === 'person' ? personKey(id) : id } : undefined;
}

/** What a connector sees of the cross-reference during a write: its own connection's rows. */
export interface ConnectionXref {
  readonly connection: string;
  /** The record's id in `system` on this connection, if one was recorded. */
  get(entity: XrefEntity, key: string, system: string): Promise<XrefRecord | undefined>;
  /** Records the id (and number) the vendor answered for the record on this connection. */
  record(entity: XrefEntity, key: string, system: string, vendor: { id: string; number?: string }): Promise<void>;
}

export interface XrefLookup {
  entity: XrefEntity;
  /** Each canonical record that matched, with its id in every system it has one in. */
  records: Array<{ key: string; ids: XrefRecord[] }>;
}

/**
 * Systems a record is expected in: each element is one system, or several separated by `|` when any one of them
 * suffices (the ERP that bills an account is NetSuite, Business Central or the legacy ERP, depending on its entity).
 */
export type ExpectedSystems = string[][];

export function parseExpectedSystems(value: unknown): ExpectedSystems | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = Array.isArray(value) ? value.join(',') : String(value);
  const groups = text.split(',').map((g) => g.split('|').map((s) => s.trim()).filter(Boolean)).filter((g) => g.length > 0);
  if (!groups.length) throw new XrefQueryError('systems must name at least one system, e.g. systems=kantata,jira,businessCentral|netsuite|legacy');
  return groups;
}

export interface ReconciliationReport {
  entity: XrefEntity;
  /** The expected systems, `|` joining alternatives. */
  expected: string[];
  /** Canonical records read from the table. */
  checked: number;
  /** Records with an id in every expected system (one alternative of each group). */
  complete: number;
  missing: Array<{ key: string; missingIn: string[]; presentIn: Array<{ system: string; connection: string; vendorId: string; vendorNumber?: string }> }>;
  /** True when more records were missing than the report lists (`maxMissing`). */
  truncated: boolean;
  at: number;
}

const PAGE = 500;

export class CrossReference {
  constructor(private readonly store: XrefStore, private readonly now: () => number = Date.now) {}

  record(entry: XrefEntry): Promise<void> {
    if (!entry.key || !entry.system || !entry.connection || !entry.vendorId) {
      return Promise.reject(new Error(`a cross-reference needs entity, key, system, connection and vendor id (got ${JSON.stringify(entry)})`));
    }
    return this.store.xrefPut(entry, this.now());
  }

  of(entity: XrefEntity, key: string): Promise<XrefRecord[]> {
    return this.store.xrefOf(entity, entity === 'person' ? personKey(key) : key);
  }

  async get(entity: XrefEntity, key: string, system: string, connection: string): Promise<XrefRecord | undefined> {
    return (await this.of(entity, key)).find((r) => r.system === system && r.connection === connection);
  }

  /** A view bound to one connection, for the connector writing through it. */
  forConnection(connection: string): ConnectionXref {
    return {
      connection,
      get: (entity, key, system) => this.get(entity, key, system, connection),
      record: (entity, key, system, vendor) => this.record({ entity, key: entity === 'person' ? personKey(key) : key, system, connection, vendorId: vendor.id, ...(vendor.number ? { vendorNumber: vendor.number } : {}) }),
    };
  }

  /**
   * `id` is the canonical key, or with `system` the vendor's id or number there (which canonical record is BC
   * customer C00012?). Answers every system's ids of each record found.
   */
  async lookup(query: { entity: unknown; system?: unknown; id: unknown }): Promise<XrefLookup> {
    const entity = parseEntity(query.entity);
    if (typeof query.id !== 'string' || !query.id.trim()) throw new XrefQueryError('id is required: the canonical id, or with system= the id or number in that system');
    const id = query.id.trim();
    const system = typeof query.system === 'string' && query.system.trim() ? query.system.trim() : undefined;
    const keys = system ? [...new Set((await this.store.xrefFind(entity, system, id)).map((r) => r.key))] : [entity === 'person' ? personKey(id) : id];
    const records: XrefLookup['records'] = [];
    for (const key of keys) {
      const ids = await this.store.xrefOf(entity, key);
      if (ids.length) records.push({ key, ids });
    }
    return { entity, records };
  }

  /**
   * Which records of `entity` lack an id in an expected system, according to the table. Default expectation: every
   * system any record of the entity has an id in (name alternatives with `|` when records live in one of several).
   */
  async reconcile(options: { entity: unknown; systems?: ExpectedSystems; maxMissing?: number }): Promise<ReconciliationReport> {
    const entity = parseEntity(options.entity);
    const maxMissing = Math.max(1, options.maxMissing ?? 1000);
    let expected = options.systems;
    if (!expected) {
      const seen = new Set<string>();
      await this.eachRecord(entity, (_key, ids) => {
        for (const r of ids) seen.add(r.system);
      });
      expected = [...seen].sort().map((s) => [s]);
    }
    const report: ReconciliationReport = { entity, expected: expected.map((g) => g.join('|')), checked: 0, complete: 0, missing: [], truncated: false, at: this.now() };
    await this.eachRecord(entity, (key, ids) => {
      report.checked += 1;
      const present = new Set(ids.map((r) => r.system));
      const missingIn = expected!.filter((group) => !group.some((s) => present.has(s))).map((g) => g.join('|'));
      if (!missingIn.length) {
        report.complete += 1;
        return;
      }
      if (report.missing.length >= maxMissing) {
        report.truncated = true;
        return;
      }
      report.missing.push({ key, missingIn, presentIn: ids.map((r) => ({ system: r.system, connection: r.connection, vendorId: r.vendorId, ...(r.vendorNumber ? { vendorNumber: r.vendorNumber } : {}) })) });
    });
    return report;
  }

  /** Every canonical record of the entity with its rows, in key order, one page of rows at a time. */
  private async eachRecord(entity: XrefEntity, fn: (key: string, ids: XrefRecord[]) => void): Promise<void> {
    let after: string | undefined;
    let pending: { key: string; ids: XrefRecord[] } | undefined;
    for (;;) {
      const rows = await this.store.xrefList(entity, after, PAGE);
      for (const r of rows) {
        if (pending && pending.key !== r.key) {
          fn(pending.key, pending.ids);
          pending = undefined;
        }
        pending = pending ?? { key: r.key, ids: [] };
        pending.ids.push(r);
      }
      if (rows.length < PAGE) break;
      // a key's rows may straddle the page end: read its rows whole, then continue after it
      const last = rows[rows.length - 1].key;
      pending = { key: last, ids: await this.store.xrefOf(entity, last) };
      after = last;
    }
    if (pending) fn(pending.key, pending.ids);
  }
}

/**
 * A person's id in a system: the one cached in the cross-reference (entity `person`, key the lowercased email), else
 * what `find` gets from the vendor's user API, recorded for the next run. Undefined when the vendor has nobody with
 * that email: the caller raises the exception that names the person and the system (never an invented id).
 */
export async function resolvePerson(
  xref: ConnectionXref | undefined,
  system: string,
  email: string,
  find: () => Promise<{ id: string; number?: string } | undefined>,
): Promise<{ id: string; number?: string } | undefined> {
  const cached = await xref?.get('person', personKey(email), system);
  if (cached) return { id: cached.vendorId, ...(cached.vendorNumber ? { number: cached.vendorNumber } : {}) };
  const found = await find();
  if (found) await xref?.record('person', personKey(email), system, found);
  return found;
}
