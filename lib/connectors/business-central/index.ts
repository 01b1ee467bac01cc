/**
 * Business Central connector: template operations on `BusinessCentralClient` and the `ConnectionExecutor`
 * the delivery engine calls for writes. BC has no idempotency header, so every create is lookup-then-create
 * on a stable key: a retry after a lost response finds the first result instead of creating a second one.
 * With `numbering: 'series'` (default) BC assigns customer and project numbers; the connector records each number
 * BC answers in the cross-reference (lib/xref: entity account / project / invoice, system `businessCentral`, this
 * connection) and reads it back before any lookup, so a retry, a replay or a later process (time-to-cash invoicing a
 * customer quote-to-project created) uses the number BC gave, never one derived from another system's id. Without a
 * recorded number the stable keys are the customer's tax registration number or name, and the project's name with
 * its code in it.
 *
 * Write operations (outbox `operation` names):
 *  - `upsertCustomer`   { account: Account } -> lookup (see above); create, or PATCH with If-Match (re-read once on 412)
 *  - `createProject`    { project: Project, account?: Account, customerNumber? } -> lookup, else create; then the
 *                       bill-to customer (the account's BC customer) and the project task on the published Project
 *                       Card / Project Task Lines pages (API v2.0 projects carry number and name only)
 *  - `createTimeRegistrationEntries` { entries: TimeEntry[], projectNumber?, jobTaskNumber? } -> one entry each on the
 *                       project's task, skipping entries that already exist with the same employee, project, date
 *                       and quantity (BC has no external reference field)
 *  - `createSalesInvoice` { invoice: Invoice, customerNumber?, post?: boolean } -> lookup by externalDocumentNumber,
 *                       else deep insert with salesInvoiceLines; optionally posts it
 *  - `postSalesInvoice` { invoiceId } | { externalDocumentNumber } -> Microsoft.NAV.post unless already posted
 * Reads (ConnectionHandle.call): `list`, `get`, `findOne` on the client.
 */
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext, RequestGate } from '../../delivery/types';
import { PermanentError, ValidationError } from '../../delivery/errors';
import { resolvePerson, type ConnectionXref } from '../../xref';
import axios from 'axios';
import { BusinessCentralClient, odataString, type BusinessCentralClientOptions, type ODataEntity } from './client';
import {
  accountToCustomer,
  bcTaxRegistrationNumber,
  customerNumberOf,
  knownBcNumber,
  type BcNumbering,
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

/** The system name of Business Central in the cross-reference and the ownership matrix. */
export const BC_SYSTEM = 'businessCentral';

export const BC_WRITE_OPERATIONS = ['upsertCustomer', 'createProject', 'createTimeRegistrationEntries', 'createSalesInvoice', 'postSalesInvoice'] as const;
export type BcWriteOperation = (typeof BC_WRITE_OPERATIONS)[number];

/** Pages 88 (Project Card) and 1002 (Project Task Lines), as the firm published them in Web Services. */
export interface BcWebServices {
  projects: string;
  projectTasks: string;
}
export const BC_DEFAULT_WEB_SERVICES: BcWebServices = { projects: 'PSF_Projects', projectTasks: 'PSF_ProjectTasks' };

/** The task every project gets and time is registered on (a project takes time only on a posting task). */
export interface BcProjectTask {
  number: string;
  description: string;
}
export const BC_DEFAULT_PROJECT_TASK: BcProjectTask = { number: '1000', description: 'Delivery' };

export interface BusinessCentralConnectorOptions extends BusinessCentralClientOptions {
  tables?: Partial<BusinessCentralMappingTables>;
  /** Default `series`: BC assigns customer and project numbers. */
  numbering?: BcNumbering;
  webServices?: Partial<BcWebServices>;
  projectTask?: Partial<BcProjectTask>;
}

const DEFAULT_TABLES: BusinessCentralMappingTables = { localCurrency: '', companyCountry: '', taxAreas: { domestic: 'DOMESTIC', eu: 'EU', export: 'EXPORT' }, items: {} };

function is412(err: unknown): boolean {
  return axios.isAxiosError(err) && err.response?.status === 412;
}

export class BusinessCentralConnector implements ConnectionExecutor {
  readonly client: BusinessCentralClient;
  readonly tables: BusinessCentralMappingTables;
  readonly numbering: BcNumbering;
  readonly webServices: BcWebServices;
  readonly projectTask: BcProjectTask;
  private readonly taxAreaIds = new Map<string, string>();

  constructor(opts: BusinessCentralConnectorOptions) {
    this.client = new BusinessCentralClient(opts);
    this.numbering = opts.numbering ?? 'series';
    if (this.numbering !== 'series' && this.numbering !== 'manual') throw new Error(`Business Central numbering must be 'series' or 'manual', got '${String(opts.numbering)}'`);
    this.webServices = { ...BC_DEFAULT_WEB_SERVICES, ...(opts.webServices ?? {}) };
    this.projectTask = { ...BC_DEFAULT_PROJECT_TASK, ...(opts.projectTask ?? {}) };
    this.tables = { ...DEFAULT_TABLES, ...(opts.tables ?? {}), taxAreas: { ...DEFAULT_TABLES.taxAreas, ...(opts.tables?.taxAreas ?? {}) }, items: { ...(opts.tables?.items ?? {}) } };
  }

  /** One rate-limit token per Business Central request (lookups, writes, company and token reads). */
  attachRequestGate(gate: RequestGate): () => void {
    return this.client.useRequestGate(gate);
  }

  async execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as Record<string, any>;
    switch (operation) {
      case 'upsertCustomer':
        return (await this.upsertCustomer(req.account, ctx.xref)) as unknown as Json;
      case 'createProject':
        return (await this.createProject(req.project, { account: req.account, customerNumber: req.customerNumber }, ctx.xref)) as unknown as Json;
      case 'createTimeRegistrationEntries':
        return (await this.createTimeRegistrationEntries(req.entries, req.projectNumber, req.jobTaskNumber, ctx.xref)) as unknown as Json;
      case 'createSalesInvoice':
        return (await this.createSalesInvoice(req.invoice, { customerNumber: req.customerNumber, post: req.post === true }, ctx.xref)) as unknown as Json;
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

  /** The number BC gave the record on this connection, as the cross-reference recorded it. */
  private async recordedNumber(xref: ConnectionXref | undefined, entity: 'account' | 'project', key: string): Promise<string | undefined> {
    return (await xref?.get(entity, key, BC_SYSTEM))?.vendorNumber;
  }

  private async remember(xref: ConnectionXref | undefined, entity: 'account' | 'project' | 'invoice', key: string, rec: ODataEntity): Promise<void> {
    if (rec.id) await xref?.record(entity, key, BC_SYSTEM, { id: String(rec.id), ...(rec.number !== undefined && rec.number !== '' ? { number: String(rec.number) } : {}) });
  }

  async upsertCustomer(account: CanonicalAccount | undefined, xref?: ConnectionXref): Promise<Record<string, unknown>> {
    if (!account) throw new ValidationError('upsertCustomer needs { account }', [{ path: '/account', message: 'required' }]);
    const { taxAreaCode, body } = accountToCustomer(account, this.tables, this.numbering);
    const taxAreaId = await this.taxAreaId(taxAreaCode);
    const full = { ...body, ...(taxAreaId ? { taxAreaId } : {}) };
    const existing = await this.findCustomer(account, await this.recordedNumber(xref, 'account', account.id));
    if (!existing) {
      const created = await this.client.create('customers', full);
      await this.remember(xref, 'account', account.id, created);
      return { ...this.strip(created), created: true };
    }
    await this.remember(xref, 'account', account.id, existing);
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

  /**
   * The account's BC customer: by the number recorded for it (cross-reference) or carried on it; with manual numbering
   * by the number it would be typed as; with series numbering by tax registration number, else by name (BC customers
   * have no external reference field).
   */
  async findCustomer(account: Pick<CanonicalAccount, 'id' | 'externalIds' | 'legalName' | 'country' | 'taxRegistrations'>, recordedNumber?: string): Promise<ODataEntity | undefined> {
    const known = recordedNumber ?? knownBcNumber(account.externalIds) ?? (this.numbering === 'manual' ? customerNumberOf(account) : undefined);
    if (known) {
      const byNumber = await this.client.findOne('customers', `number eq ${odataString(known)}`);
      if (byNumber || this.numbering === 'manual') return byNumber;
    }
    const tax = bcTaxRegistrationNumber(account);
    if (tax) {
      const byTax = await this.client.findOne('customers', `taxRegistrationNumber eq ${odataString(tax)}`);
      if (byTax) return byTax;
    }
    return this.client.findOne('customers', `displayName eq ${odataString(account.legalName.slice(0, 100))}`);
  }

  async createProject(project: CanonicalProject | undefined, refs: { account?: CanonicalAccount; customerNumber?: string } = {}, xref?: ConnectionXref): Promise<Record<string, unknown>> {
    if (!project) throw new ValidationError('createProject needs { project }', [{ path: '/project', message: 'required' }]);
    const { number, displayName, body } = projectToProject(project, this.numbering);
    let billTo = refs.customerNumber ?? (refs.account ? await this.recordedNumber(xref, 'account', refs.account.id) : undefined);
    if (!billTo) {
      if (!refs.account) throw new ValidationError(`Project ${project.id} needs its bill-to customer: give { account } (the account upsertCustomer sent) or { customerNumber }`, [{ path: '/account', message: 'required' }]);
      const customer = await this.findCustomer(refs.account);
      if (!customer) throw new PermanentError(`Business Central: project ${project.id} cannot be created before its bill-to customer; account ${refs.account.id} (${refs.account.legalName}) has no customer in this company yet (upsertCustomer first)`, { errorClass: 'not-found' });
      await this.remember(xref, 'account', refs.account.id, customer);
      billTo = String(customer.number);
    }
    const known = (await this.recordedNumber(xref, 'project', project.id)) ?? knownBcNumber(project.externalIds) ?? number;
    const byNumber = known ? await this.client.findOne('projects', `number eq ${odataString(known)}`) : undefined;
    const existing = byNumber ?? (this.numbering === 'series' ? await this.client.findOne('projects', `displayName eq ${odataString(displayName)}`) : undefined);
    const rec: ODataEntity = existing ?? (await this.client.create<ODataEntity>('projects', body));
    await this.remember(xref, 'project', project.id, rec);
    const no = String(rec.number);
    // The bill-to customer and the task live on the published pages; both are set only if not already so.
    const [card] = await this.client.pageFind(this.webServices.projects, `No eq ${odataString(no)}`);
    if (!card) throw new PermanentError(`Business Central: project ${no} is not on the ${this.webServices.projects} web service (publish page 88 Project Card under that name)`, { errorClass: 'not-found' });
    if (card.Bill_to_Customer_No !== billTo) await this.client.pagePatch(this.webServices.projects, odataString(no), { Bill_to_Customer_No: billTo }, String(card['@odata.etag'] ?? '*'));
    const task = this.projectTask.number;
    const tasks = await this.client.pageFind(this.webServices.projectTasks, `Job_No eq ${odataString(no)} and Job_Task_No eq ${odataString(task)}`);
    if (tasks.length === 0) await this.client.pageCreate(this.webServices.projectTasks, { Job_No: no, Job_Task_No: task, Description: this.projectTask.description, Job_Task_Type: 'Posting' });
    return { ...this.strip(rec), billToCustomerNumber: billTo, jobTaskNumber: task, created: !existing };
  }

  /**
   * The BC employee of a person, found by email (`employees?$filter=email eq '...'`) and cached in the cross-reference
   * (entity person). Undefined when the company has no employee with that email.
   */
  async employeeByEmail(email: string, xref?: ConnectionXref): Promise<{ id: string; number?: string } | undefined> {
    return resolvePerson(xref, BC_SYSTEM, email, async () => {
      const emp = await this.client.findOne('employees', `email eq ${odataString(email.trim())}`);
      return emp ? { id: String(emp.id), number: String(emp.number) } : undefined;
    });
  }

  async createTimeRegistrationEntries(entries: CanonicalTimeEntry[] | undefined, projectNumber?: string, jobTaskNumber?: string, xref?: ConnectionXref): Promise<{ entries: Array<{ entryId: string; id: string; created: boolean }> }> {
    if (!Array.isArray(entries) || entries.length === 0) throw new ValidationError('createTimeRegistrationEntries needs { entries: TimeEntry[] }', [{ path: '/entries', message: 'must be a non-empty array' }]);
    const out: Array<{ entryId: string; id: string; created: boolean }> = [];
    const claimed = new Set<string>();
    for (const entry of entries) {
      const jobNumber = projectNumber ?? (await this.recordedNumber(xref, 'project', entry.projectId)) ?? projectNumberOf({ id: entry.projectId, code: entry.projectId, externalIds: undefined });
      // the consultant is the BC employee with their email; without an email, the person id is the employee number
      let employeeNumber: string | undefined;
      if (entry.person.email) {
        const emp = await this.employeeByEmail(entry.person.email, xref);
        if (!emp?.number) throw new PermanentError(`Business Central: time entry ${entry.id} is by ${entry.person.name ? `${entry.person.name} <${entry.person.email}>` : entry.person.email}, who is not an employee of this company (no employee with that email). Create the employee in Business Central (Employees, with the email), then replay.`, { errorClass: 'not-found' });
        employeeNumber = emp.number;
      }
      const body = timeEntryToRegistration(entry, { jobNumber, jobTaskNumber: jobTaskNumber ?? this.projectTask.number, employeeNumber });
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

  /**
   * The BC customer number of the account an invoice bills: given, else the number the cross-reference recorded when
   * the customer was created or found on this connection; with manual numbering the canonical id (the number it was
   * typed as). With series numbering and nothing recorded (a customer PS Fabric did not create: migrated, set up by
   * hand) a customer numbered with the canonical id is used when BC has one, and recorded; otherwise the invoice
   * waits in the exception queue naming the account (the customer's number cannot be guessed).
   */
  async invoiceCustomerNumber(invoice: CanonicalInvoice, given: string | undefined, xref: ConnectionXref | undefined): Promise<string> {
    if (given) return given;
    const recorded = await this.recordedNumber(xref, 'account', invoice.accountId);
    if (recorded) return recorded;
    if (this.numbering === 'manual') return customerNumberOf({ id: invoice.accountId });
    const byId = await this.client.findOne('customers', `number eq ${odataString(invoice.accountId)}`);
    if (byId) {
      await this.remember(xref, 'account', invoice.accountId, byId);
      return String(byId.number);
    }
    throw new PermanentError(
      `Business Central: invoice ${invoice.id} bills account ${invoice.accountId}, whose customer number in this company is not known: the cross-reference has none (quote-to-project records the number BC assigns when it creates the customer) and no customer is numbered ${invoice.accountId}. Run quote-to-project for the account (or its upsertCustomer) and replay.`,
      { errorClass: 'not-found' },
    );
  }

  async createSalesInvoice(invoice: CanonicalInvoice | undefined, opts: { customerNumber?: string; post?: boolean } = {}, xref?: ConnectionXref): Promise<Record<string, unknown>> {
    if (!invoice) throw new ValidationError('createSalesInvoice needs { invoice }', [{ path: '/invoice', message: 'required' }]);
    const externalDocumentNumber = externalDocumentNumberOf(invoice.id);
    const found = await this.client.findOne('salesInvoices', `externalDocumentNumber eq ${odataString(externalDocumentNumber)}`, ['salesInvoiceLines']);
    const created = !found;
    let inv: ODataEntity;
    if (found) inv = found;
    else {
      const customerNumber = await this.invoiceCustomerNumber(invoice, opts.customerNumber, xref);
      inv = await this.client.create('salesInvoices', invoiceToSalesInvoice(invoice, this.tables, { customerNumber }).body, ['salesInvoiceLines']);
    }
    await this.remember(xref, 'invoice', invoice.id, inv);
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
