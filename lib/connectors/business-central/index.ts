/**
 * Business Central connector: template operations on `BusinessCentralClient` and the `ConnectionExecutor`
 * the delivery engine calls for writes. BC has no idempotency header, so every create is lookup-then-create
 * on a stable key (customer/project number, invoice externalDocumentNumber): a retry after a lost response
 * finds the first result instead of creating a second one.
 *
 * Write operations (outbox `operation` names):
 *  - `upsertCustomer`   { account: Account } -> lookup by number; create, or PATCH with If-Match (re-read once on 412)
 *  - `createProject`    { project: Project } -> lookup by number, else create
 *  - `createTimeRegistrationEntries` { entries: TimeEntry[], projectNumber? } -> one entry each, skipping entries that
 *                       already exist with the same employee, project, date and quantity (BC has no external reference field)
 *  - `createSalesInvoice` { invoice: Invoice, customerNumber?, post?: boolean } -> lookup by externalDocumentNumber,
 *                       else deep insert with salesInvoiceLines; optionally posts it
 *  - `postSalesInvoice` { invoiceId } | { externalDocumentNumber } -> Microsoft.NAV.post unless already posted
 * Reads (ConnectionHandle.call): `list`, `get`, `findOne` on the client.
 */
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext, RequestGate } from '../../delivery/types';
import { PermanentError, ValidationError } from '../../delivery/errors';
import axios from 'axios';
import { BusinessCentralClient, odataString, type BusinessCentralClientOptions, type ODataEntity } from './client';
import {
  accountToCustomer,
  customerNumberOf,
  externalDocumentNumberOf,
  invoiceToSalesInvoice,
  projectNumberOf,
  projectToProject,
  timeEntryToRegistration,
  type BusinessCentralMappingTables,
  type CanonicalAccount,
  type CanonicalInvoice,
  type CanonicalProject,
  type CanonicalTimeEntry,
} from './mapping';

export * from './client';
export * from './mapping';

export const BC_WRITE_OPERATIONS = ['upsertCustomer', 'createProject', 'createTimeRegistrationEntries', 'createSalesInvoice', 'postSalesInvoice'] as const;
export type BcWriteOperation = (typeof BC_WRITE_OPERATIONS)[number];

export interface BusinessCentralConnectorOptions extends BusinessCentralClientOptions {
  tables?: Partial<BusinessCentralMappingTables>;
}

const DEFAULT_TABLES: BusinessCentralMappingTables = { localCurrency: '', companyCountry: '', taxAreas: { domestic: 'DOMESTIC', eu: 'EU', export: 'EXPORT' }, items: {} };

function is412(err: unknown): boolean {
  return axios.isAxiosError(err) && err.response?.status === 412;
}

export class BusinessCentralConnector implements ConnectionExecutor {
  readonly client: BusinessCentralClient;
  readonly tables: BusinessCentralMappingTables;
  private readonly taxAreaIds = new Map<string, string>();

  constructor(opts: BusinessCentralConnectorOptions) {
    this.client = new BusinessCentralClient(opts);
    this.tables = { ...DEFAULT_TABLES, ...(opts.tables ?? {}), taxAreas: { ...DEFAULT_TABLES.taxAreas, ...(opts.tables?.taxAreas ?? {}) }, items: { ...(opts.tables?.items ?? {}) } };
  }

  /** One rate-limit token per Business Central request (lookups, writes, company and token reads). */
  attachRequestGate(gate: RequestGate): () => void {
    return this.client.useRequestGate(gate);
  }

  async execute(operation: string, request: Json, _ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as Record<string, any>;
    switch (operation) {
      case 'upsertCustomer':
        return (await this.upsertCustomer(req.account)) as unknown as Json;
      case 'createProject':
        return (await this.createProject(req.project)) as unknown as Json;
      case 'createTimeRegistrationEntries':
        return (await this.createTimeRegistrationEntries(req.entries, req.projectNumber)) as unknown as Json;
      case 'createSalesInvoice':
        return (await this.createSalesInvoice(req.invoice, { customerNumber: req.customerNumber, post: req.post === true })) as unknown as Json;
      case 'postSalesInvoice':
        return (await this.postSalesInvoice(req)) as unknown as Json;
      default:
        throw new PermanentError(`Business Central connector has no operation '${operation}' (known: ${BC_WRITE_OPERATIONS.join(', ')})`, { errorClass: 'validation' });
    }
  }

  private async taxAreaId(code: string): Promise<string | undefined> {
    if (!this.taxAreaIds.has(code)) {
      const row = await this.client.findOne('taxAreas', `code eq ${odataString(code)}`);
      if (row) this.taxAreaIds.set(code, row.id);
    }
    return this.taxAreaIds.get(code);
  }

  private strip(e: ODataEntity): Record<string, unknown> {
    return Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith('@odata.context')));
  }

  async upsertCustomer(account: CanonicalAccount | undefined): Promise<Record<string, unknown>> {
    if (!account) throw new ValidationError('upsertCustomer needs { account }', [{ path: '/account', message: 'required' }]);
    const { number, taxAreaCode, body } = accountToCustomer(account, this.tables);
    const taxAreaId = await this.taxAreaId(taxAreaCode);
    const full = { ...body, ...(taxAreaId ? { taxAreaId } : {}) };
    const filter = `number eq ${odataString(number)}`;
    let existing = await this.client.findOne('customers', filter);
    if (!existing) {
      const created = await this.client.create('customers', full);
      return { ...this.strip(created), created: true };
    }
    const changes = Object.fromEntries(Object.entries(full).filter(([k, v]) => k !== 'number' && existing![k] !== v));
    if (Object.keys(changes).length === 0) return { ...this.strip(existing), created: false, updated: false };
    try {
      return { ...this.strip(await this.client.patch('customers', existing.id, changes, existing['@odata.etag']!)), created: false, updated: true };
    } catch (err) {
      if (!is412(err)) throw err;
      // Someone changed the customer between our read and our write: read it again and apply our fields once more.
      const fresh = await this.client.get('customers', existing.id);
      return { ...this.strip(await this.client.patch('customers', fresh.id, changes, fresh['@odata.etag']!)), created: false, updated: true };
    }
  }

  async createProject(project: CanonicalProject | undefined): Promise<Record<string, unknown>> {
    if (!project) throw new ValidationError('createProject needs { project }', [{ path: '/project', message: 'required' }]);
    const { number, body } = projectToProject(project);
    const existing = await this.client.findOne('projects', `number eq ${odataString(number)}`);
    if (existing) return { ...this.strip(existing), created: false };
    return { ...this.strip(await this.client.create('projects', body)), created: true };
  }

  async createTimeRegistrationEntries(entries: CanonicalTimeEntry[] | undefined, projectNumber?: string): Promise<{ entries: Array<{ entryId: string; id: string; created: boolean }> }> {
    if (!Array.isArray(entries) || entries.length === 0) throw new ValidationError('createTimeRegistrationEntries needs { entries: TimeEntry[] }', [{ path: '/entries', message: 'must be a non-empty array' }]);
    const out: Array<{ entryId: string; id: string; created: boolean }> = [];
    const claimed = new Set<string>();
    for (const entry of entries) {
      const jobNumber = projectNumber ?? projectNumberOf({ id: entry.projectId, code: entry.projectId, externalIds: undefined });
      const body = timeEntryToRegistration(entry, { jobNumber });
      const same = await this.client.listIn('timeRegistrationEntries', { filter: `employeeNumber eq ${odataString(String(body.employeeNumber))} and jobNumber eq ${odataString(jobNumber)} and date eq ${entry.date}` });
      const match = same.find((e) => Number(e.quantity) === entry.hours && !claimed.has(e.id));
      if (match) {
        claimed.add(match.id);
        out.push({ entryId: entry.id, id: match.id, created: false });
        continue;
      }
      const created = await this.client.create('timeRegistrationEntries', body);
      claimed.add(created.id);
      out.push({ entryId: entry.id, id: created.id, created: true });
    }
    return { entries: out };
  }

  async createSalesInvoice(invoice: CanonicalInvoice | undefined, opts: { customerNumber?: string; post?: boolean } = {}): Promise<Record<string, unknown>> {
    if (!invoice) throw new ValidationError('createSalesInvoice needs { invoice }', [{ path: '/invoice', message: 'required' }]);
    const customerNumber = opts.customerNumber ?? customerNumberOf({ id: invoice.accountId });
    const { externalDocumentNumber, body } = invoiceToSalesInvoice(invoice, this.tables, { customerNumber });
    const found = await this.client.findOne('salesInvoices', `externalDocumentNumber eq ${odataString(externalDocumentNumber)}`, ['salesInvoiceLines']);
    const created = !found;
    let inv: ODataEntity = found ?? (await this.client.create('salesInvoices', body, ['salesInvoiceLines']));
    if (opts.post && inv.status === 'Draft') {
      await this.client.action('salesInvoices', inv.id, 'post');
      inv = await this.client.get('salesInvoices', inv.id, ['salesInvoiceLines']);
    }
    return { ...this.strip(inv), created };
  }

  async postSalesInvoice(req: { invoiceId?: string; externalDocumentNumber?: string; invoice?: CanonicalInvoice }): Promise<Record<string, unknown>> {
    let inv: ODataEntity;
    if (req.invoiceId) inv = await this.client.get('salesInvoices', req.invoiceId);
    else {
      const edn = req.externalDocumentNumber ?? (req.invoice ? externalDocumentNumberOf(req.invoice.id) : undefined);
      if (!edn) throw new ValidationError('postSalesInvoice needs { invoiceId } or { externalDocumentNumber }', [{ path: '/invoiceId', message: 'required' }]);
      const found = await this.client.findOne('salesInvoices', `externalDocumentNumber eq ${odataString(edn)}`);
      if (!found) throw new PermanentError(`Business Central: no sales invoice with externalDocumentNumber ${edn}`, { errorClass: 'not-found' });
      inv = found;
    }
    // Posting is not repeatable: a retry after a lost 204 finds the invoice already Open and stops there.
    if (inv.status === 'Draft') {
      await this.client.action('salesInvoices', inv.id, 'post');
      inv = await this.client.get('salesInvoices', inv.id);
      return { ...this.strip(inv), posted: true };
    }
    return { ...this.strip(inv), posted: false };
  }
}
