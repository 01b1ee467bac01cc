/**
 * Ownership enforcement on connector writes. Every connector config node registers its executor through
 * `registerConnection` (lib/connectors/glue.ts), which wraps the returned handle with `guardWrites`: before a write is
 * persisted in the outbox, the fields it would set are checked against the active ownership matrix. A write that
 * would overwrite a field owned by another system is refused: nothing is enqueued, nothing is sent, an exception
 * (errorClass `ownership`) goes to the owner team of the refused fields, and `submit` rejects with the OwnershipError.
 *
 * Which writes are checked (the rule is deliberately narrow, so it never guesses):
 *  - the submit input declares it: `handle.submit({ ..., ownership: { entity, fields, sourceSystem? } })`;
 *  - or the request carries a canonical record under its entity's name: `account`, `contract`, `project`,
 *    `resourceAssignment`, `timeEntry`, `expense`, `invoice`, `revenueEvent` (an object: its top-level keys are the
 *    fields), `entries` (an array of TimeEntry) or `billingSchedule` (Contract.billingSchedule). These are the shapes
 *    of the NetSuite and Business Central operations (upsertCustomer {account}, createProject {project},
 *    createTimeBills / createTimeRegistrationEntries {entries}, createInvoice / createSalesInvoice {invoice},
 *    updateProject {billingSchedule}).
 *  - Raw vendor bodies (Salesforce sobject records, Kantata workspaces, Jira issues, NetSuite createRecord) carry
 *    vendor field names, not canonical ones: they are NOT checked unless the submitter declares `ownership`.
 * The target system is the connection name's prefix (`netsuite:...` -> netsuite, `bc:...` -> businessCentral, ...).
 * A connection whose system the matrix does not know (Teams) is never checked.
 */
import { OwnershipMatrix, type FieldOwnership } from './ownership';
import { OwnershipError } from '../delivery/errors';
import type { ConnectionHandle, SubmitInput } from '../delivery/types';
import type { Json } from '../store/store';
import type { RaisedException } from '../delivery/services';

export interface OwnershipDeclaration {
  entity: string;
  fields: string[];
  /** Where the values come from; a write to a replica must then come from the system of record. */
  sourceSystem?: string;
}

/** What `submit` accepts on a guarded handle: the usual input plus an optional explicit declaration. */
export type GuardedSubmitInput = SubmitInput & { ownership?: OwnershipDeclaration };

const CONNECTION_SYSTEMS: Record<string, string> = {
  salesforce: 'salesforce',
  netsuite: 'netsuite',
  bc: 'businessCentral',
  'business-central': 'businessCentral',
  businesscentral: 'businessCentral',
  kantata: 'kantata',
  jira: 'jira',
  legacy: 'legacy',
  'legacy-erp': 'legacy',
};

/** The matrix system id of a connection name (`netsuite:NWA-US` -> `netsuite`), or undefined (e.g. Teams). */
export function systemOfConnection(connection: string): string | undefined {
  const prefix = String(connection).split(':')[0].toLowerCase();
  return Object.prototype.hasOwnProperty.call(CONNECTION_SYSTEMS, prefix) ? CONNECTION_SYSTEMS[prefix] : undefined;
}

const RECORD_KEYS: Record<string, string> = {
  account: 'Account',
  contract: 'Contract',
  project: 'Project',
  resourceAssignment: 'ResourceAssignment',
  timeEntry: 'TimeEntry',
  expense: 'Expense',
  invoice: 'Invoice',
  revenueEvent: 'RevenueEvent',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** The (entity, fields) a write names, per the rule in the file header; [] when it names none. */
export function ownershipOfWrite(request: unknown, declared?: OwnershipDeclaration): OwnershipDeclaration[] {
  if (declared) return [{ entity: declared.entity, fields: [...(declared.fields ?? [])], ...(declared.sourceSystem ? { sourceSystem: declared.sourceSystem } : {}) }];
  if (!isObject(request)) return [];
  const out: OwnershipDeclaration[] = [];
  for (const [key, entity] of Object.entries(RECORD_KEYS)) {
    const rec = request[key];
    if (isObject(rec)) out.push({ entity, fields: Object.keys(rec) });
  }
  if (Array.isArray(request.entries)) {
    const fields = new Set<string>();
    for (const e of request.entries) if (isObject(e)) Object.keys(e).forEach((k) => fields.add(k));
    if (fields.size) out.push({ entity: 'TimeEntry', fields: [...fields] });
  }
  if (request.billingSchedule !== undefined && !isObject(request.contract)) out.push({ entity: 'Contract', fields: ['billingSchedule'] });
  return out;
}

export type ConnectorWriteCheck = { ok: true; checked: boolean } | { ok: false; error: OwnershipError; refused: FieldOwnership[]; ownerTeam: string; entity: string };

/** Checks one write of `connection` against a matrix (see the file header for which writes are checked). */
export function checkConnectorWrite(matrix: OwnershipMatrix, connection: string, request: unknown, declared?: OwnershipDeclaration): ConnectorWriteCheck {
  const system = systemOfConnection(connection);
  if (!system || !Object.prototype.hasOwnProperty.call(matrix.data.systems, system)) return { ok: true, checked: false };
  const named = ownershipOfWrite(request, declared);
  if (!named.length) return { ok: true, checked: false };
  for (const n of named) {
    if (!matrix.entities().some((e) => e.toLowerCase() === n.entity.toLowerCase().replace(/[-_\s]/g, ''))) continue;
    const r = matrix.checkWrite(n.entity, system, n.fields, n.sourceSystem ? { sourceSystem: n.sourceSystem } : {});
    if (!r.ok) return { ok: false, error: r.error, refused: r.refused, ownerTeam: r.refused[0].ownerTeam, entity: n.entity };
  }
  return { ok: true, checked: true };
}

// ---- the active matrix: the shipped default, or the one an ownership-config node deployed ----
const KEY = Symbol.for('ps-fabric.active-ownership-matrix.v1');
const g = globalThis as unknown as Record<symbol, { matrix: OwnershipMatrix; owner?: string } | undefined>;
let defaultMatrix: OwnershipMatrix | undefined;

/** Sets the matrix connector writes are checked against (an ownership-config node on deploy); undefined = default. */
export function setActiveOwnershipMatrix(matrix: OwnershipMatrix | undefined, owner?: string): void {
  g[KEY] = matrix ? { matrix, owner } : undefined;
}
/** Clears the active matrix only if `owner` set it (a closing config node must not clear a newer one's). */
export function clearActiveOwnershipMatrix(owner: string): void {
  if (g[KEY]?.owner === owner) g[KEY] = undefined;
}
export function activeOwnershipMatrix(): OwnershipMatrix {
  const active = g[KEY]?.matrix;
  if (active) return active;
  defaultMatrix ??= OwnershipMatrix.default();
  return defaultMatrix;
}

interface ExceptionAdder {
  add(exception: RaisedException): Promise<unknown>;
}
type InboxMarker = (inbox: { source: string; messageId: string }) => Promise<void>;

/**
 * Wraps a connection handle so every `submit` is checked first. A refusal: no outbox item, an `ownership` exception
 * for the owner team (not replayable: the fix belongs in the system of record), the inbox entry (if any) marked
 * processed (the exception is the durable record of it), and a rejected promise with the OwnershipError.
 */
export function guardWrites(handle: ConnectionHandle, exceptions: ExceptionAdder, opts: { markInbox?: InboxMarker; matrix?: () => OwnershipMatrix } = {}): ConnectionHandle {
  const matrixOf = opts.matrix ?? activeOwnershipMatrix;
  const submit = handle.submit.bind(handle);
  const guardedSubmit = async (input: GuardedSubmitInput) => {
      const { ownership, ...item } = input ?? ({} as GuardedSubmitInput);
      let check: ConnectorWriteCheck;
      try {
        check = checkConnectorWrite(matrixOf(), handle.name, item.request, ownership);
      } catch (err) {
        // an entity the matrix does not cover, or a broken matrix: refuse rather than write unchecked
        check = { ok: false, error: new OwnershipError(`write to ${handle.name} could not be checked against the ownership matrix: ${(err as Error).message}`), refused: [], ownerTeam: 'integration-ops', entity: ownership?.entity ?? 'unknown' };
      }
      if (check.ok) return submit(item as SubmitInput);
      const queued = await exceptions.add({
        process: item.process ?? 'unknown',
        step: item.step ?? `${handle.name}:${item.operation}`,
        errorClass: 'ownership',
        message: check.error.message,
        details: check.error.details as unknown as Json,
        ownerTeam: check.ownerTeam,
        ...(item.correlationId ? { correlationId: item.correlationId } : {}),
        ...(item.recordKey ? { recordKey: item.recordKey } : {}),
        request: { connection: handle.name, operation: item.operation, request: item.request ?? null } as Json,
      });
      if (item.inbox && opts.markInbox) await opts.markInbox(item.inbox);
      // the refusal is in the queue now: a Catch path behind the writing node links to it (FabricError.exceptionId)
      const id = (queued as { id?: unknown } | undefined)?.id;
      if (typeof id === 'number') check.error.exceptionId = id;
      throw check.error;
  };
  // a Proxy, so every other member (close, call, circuitState, ...) runs on the real handle with its own `this`
  return new Proxy(handle, {
    get(target, prop) {
      if (prop === 'submit') return guardedSubmit;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
