/**
 * NetSuite connector: the operations the process templates need, on top of `NetSuiteClient`, and the
 * `ConnectionExecutor` the delivery engine calls for writes.
 *
 * Write operations (outbox `operation` names; `request` shapes below):
 *  - `upsertCustomer`   { account: Account } | { externalId, customer: <raw customer body> }
 *                       -> PUT customer/eid:<externalId> (subsidiary, currency and tax item mapped)
 *  - `createProject`    { project: Project, customerExternalId?, managerExternalId? } | { externalId, job: <raw> }
 *                       -> job (looked up by eid first, else created asynchronously with X-NetSuite-Idempotency-Key)
 *  - `updateProject`    { projectExternalId, billingSchedule?: Contract.billingSchedule, fields?: <raw job fields> } -> PATCH job
 *  - `createTimeBills`  { entries: TimeEntry[], projectExternalId? } -> one timeBill per entry (externalId = entry id)
 *  - `createInvoice`    { invoice: Invoice, customerExternalId?, projectExternalId? } -> invoice with item.items[] lines,
 *                       each carrying the ids it bills in the source refs column (setting `customFields.sourceRefs`)
 *  - `createRecord` / `upsertRecord` { type, body, externalId? } for anything else.
 * Reads (through ConnectionHandle.call): `suiteql`, `getRecord`, `findRecord`.
 */
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext, RequestGate } from '../../delivery/types';
import { PermanentError, ValidationError } from '../../delivery/errors';
import { resolvePerson, type ConnectionXref } from '../../xref';
import { NetSuiteClient, sqlString, type NetSuiteClientOptions } from './client';
import {
  accountToCustomer,
  billingScheduleToJob,
  checkNetSuiteCustomFields,
  NETSUITE_CUSTOM_FIELD_KINDS,
  invoiceToInvoice,
  projectToJob,
  timeEntryToTimeBill,
  toExternalId,
  type CanonicalAccount,
  type CanonicalBillingSchedule,
  type CanonicalInvoice,
  type CanonicalProject,
  type CanonicalTimeEntry,
  type NetSuiteCustomFields,
  type NetSuiteMappingTables,
} from './mapping';

export * from './client';
export * from './mapping';

/** The system name of NetSuite in the cross-reference and the ownership matrix. */
export const NETSUITE_SYSTEM = 'netsuite';

export const NETSUITE_WRITE_OPERATIONS = ['upsertCustomer', 'createProject', 'updateProject', 'createTimeBills', 'createInvoice', 'createRecord', 'upsertRecord'] as const;
export type NetSuiteWriteOperation = (typeof NETSUITE_WRITE_OPERATIONS)[number];
export const NETSUITE_READ_OPERATIONS = ['suiteql', 'getRecord'] as const;

/** Mapping tables that match the sandbox seed (sandbox/netsuite); a real account configures its own. */
export const NETSUITE_DEMO_TABLES: NetSuiteMappingTables = {
  subsidiaries: { 'NWA-US': '1' },
  currencies: {},
  taxItems: { US: '301', '*': '-7' },
  serviceItems: { '*': '200', 'Engagement Manager': '201', 'Solution Architect': '202', 'Senior Consultant': '203', Consultant: '204' },
};

export interface NetSuiteConnectorOptions extends NetSuiteClientOptions {
  tables?: Partial<NetSuiteMappingTables>;
  /** The account's custom field script ids (checked by checkNetSuiteCustomFields; default DEFAULT_NETSUITE_CUSTOM_FIELDS). */
  customFields?: Partial<NetSuiteCustomFields>;
}

export class NetSuiteConnector implements ConnectionExecutor {
  readonly client: NetSuiteClient;
  readonly customFields: NetSuiteCustomFields;
  private tables: NetSuiteMappingTables;
  private currenciesLoaded = false;
  private presentFields?: Promise<NetSuiteCustomFields>;
  private readonly employeeIds = new Map<string, string>();

  constructor(opts: NetSuiteConnectorOptions) {
    this.client = new NetSuiteClient(opts);
    this.customFields = checkNetSuiteCustomFields({ ...(opts.tables?.customFields ?? {}), ...(opts.customFields ?? {}) });
    this.tables = {
      subsidiaries: opts.tables?.subsidiaries ?? {},
      currencies: opts.tables?.currencies ?? {},
      taxItems: opts.tables?.taxItems,
      serviceItems: opts.tables?.serviceItems ?? {},
      terms: opts.tables?.terms,
      jobBillingTypes: opts.tables?.jobBillingTypes,
      customFields: this.customFields,
    };
    this.currenciesLoaded = Object.keys(this.tables.currencies).length > 0;
  }

  // ------------------------------------------------------------ ConnectionExecutor
  /** One rate-limit token per NetSuite request: a write is 2-6 of them (lookup, upsert / async create, job polls). */
  attachRequestGate(gate: RequestGate): () => void {
    return this.client.useRequestGate(gate);
  }

  async execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as Record<string, any>;
    switch (operation) {
      case 'upsertCustomer': {
        const customer = await this.upsertCustomer(req);
        if (req.account?.id) await ctx.xref?.record('account', req.account.id, NETSUITE_SYSTEM, { id: customer.id, number: customer.externalId });
        return customer as unknown as Json;
      }
      case 'createProject': {
        const job = await this.createProject(req, ctx.idempotencyKey, ctx.xref);
        if (req.project?.id) await ctx.xref?.record('project', req.project.id, NETSUITE_SYSTEM, { id: job.id, number: job.externalId });
        return job as unknown as Json;
      }
      case 'updateProject':
        return (await this.updateProject(req)) as unknown as Json;
      case 'createTimeBills':
        return (await this.createTimeBills(req, ctx.idempotencyKey)) as unknown as Json;
      case 'createInvoice': {
        const invoice = await this.createInvoice(req, ctx.idempotencyKey);
        // the invoice's internal id, and its document number (tranId) once NetSuite assigned one
        if (req.invoice?.id) await ctx.xref?.record('invoice', req.invoice.id, NETSUITE_SYSTEM, { id: String(invoice.id), ...(invoice.tranId ? { number: String(invoice.tranId) } : {}) });
        return invoice as unknown as Json;
      }
      case 'createRecord': {
        if (typeof req.type !== 'string' || typeof req.body !== 'object') throw new ValidationError('createRecord needs { type, body }', [{ path: '/type', message: 'required' }]);
        const existing = req.body.externalId ? await this.client.findRecord(req.type, `eid:${req.body.externalId}`, { fields: ['id'] }) : undefined;
        if (existing) return { id: String(existing.id), created: false };
        const ref = await this.client.create(req.type, req.body, ctx.idempotencyKey);
        return { id: ref.id, created: !ref.replayed };
      }
      case 'upsertRecord': {
        if (typeof req.type !== 'string' || typeof req.externalId !== 'string' || typeof req.body !== 'object') throw new ValidationError('upsertRecord needs { type, externalId, body }', [{ path: '/externalId', message: 'required' }]);
        const ref = await this.client.upsert(req.type, req.externalId, req.body);
        return { id: ref.id, externalId: req.externalId };
      }
      default:
        throw new PermanentError(`NetSuite connector has no operation '${operation}' (known: ${NETSUITE_WRITE_OPERATIONS.join(', ')})`, { errorClass: 'validation' });
    }
  }

  // ------------------------------------------------------------ lookups
  async mappingTables(): Promise<NetSuiteMappingTables> {
    if (!this.currenciesLoaded) {
      const rows = await this.client.suiteql<{ id: string; symbol: string }>('SELECT id, symbol FROM currency');
      for (const r of rows) if (r.symbol && !this.tables.currencies[r.symbol]) this.tables.currencies[r.symbol] = String(r.id);
      this.currenciesLoaded = true;
    }
    return this.tables;
  }

  /**
   * The custom fields of the setting that this account has: a field its metadata catalog does not list is treated as
   * absent (the documented degrade of docs/connectors/netsuite.md, instead of a write NetSuite refuses). Read once per
   * deploy; when the catalog cannot be read the setting is taken as it is (a field it names but the account lacks then
   * fails the write loudly, property name validation Error).
   */
  async accountCustomFields(): Promise<NetSuiteCustomFields> {
    if (!this.presentFields) {
      this.presentFields = (async () => {
        const out: NetSuiteCustomFields = { ...this.customFields };
        const schemas = new Map<string, Record<string, any>>();
        for (const [key, kind] of Object.entries(NETSUITE_CUSTOM_FIELD_KINDS) as Array<[keyof NetSuiteCustomFields, (typeof NETSUITE_CUSTOM_FIELD_KINDS)[keyof NetSuiteCustomFields]]>) {
          const id = out[key];
          if (!id) continue;
          if (!schemas.has(kind.record)) schemas.set(kind.record, (await this.client.request('GET', `/record/v1/metadata-catalog/${kind.record}`, { headers: { Accept: 'application/schema+json' } })).data as Record<string, any>);
          const schema = schemas.get(kind.record)!;
          const props: Record<string, unknown> = kind.sublist ? (schema.definitions?.[`${kind.record}-${kind.sublist}Element`]?.properties ?? {}) : (schema.properties ?? {});
          if (!Object.keys(props).some((p) => p.toLowerCase() === id.toLowerCase())) out[key] = null;
        }
        return out;
      })();
      this.presentFields.catch(() => (this.presentFields = undefined));
    }
    try {
      return await this.presentFields;
    } catch {
      return this.customFields;
    }
  }

  /** Mapping tables with the custom fields this account has. */
  private async tablesWithFields(): Promise<NetSuiteMappingTables> {
    return { ...(await this.mappingTables()), customFields: await this.accountCustomFields() };
  }

  async internalIdOf(type: string, externalId: string): Promise<string | undefined> {
    const rec = await this.client.findRecord(type, `eid:${toExternalId(externalId)}`, { fields: ['id'] });
    return rec ? String(rec.id) : undefined;
  }

  /**
   * The NetSuite employee with this email (SuiteQL on `employee.email`), cached in the cross-reference (entity person).
   * Undefined when the account has no such employee.
   */
  async employeeIdByEmail(email: string, xref?: ConnectionXref): Promise<string | undefined> {
    return (await resolvePerson(xref, NETSUITE_SYSTEM, email, async () => {
      const rows = await this.client.suiteql<{ id: string }>(`SELECT id FROM employee WHERE email = ${sqlString(email.trim())}`);
      return rows[0]?.id !== undefined ? { id: String(rows[0].id) } : undefined;
    }))?.id;
  }

  async employeeIdOf(personId: string): Promise<string | undefined> {
    if (this.employeeIds.has(personId)) return this.employeeIds.get(personId);
    const rows = await this.client.suiteql<{ id: string }>(`SELECT id FROM employee WHERE externalid = ${sqlString(personId)}`);
    const id = rows[0]?.id !== undefined ? String(rows[0].id) : undefined;
    if (id) this.employeeIds.set(personId, id);
    return id;
  }

  private async requireId(type: string, externalId: string | undefined, path: string, what: string): Promise<string> {
    if (!externalId) throw new ValidationError(`${what}: missing ${path}`, [{ path, message: 'required' }]);
    const id = await this.internalIdOf(type, externalId);
    if (!id) throw new ValidationError(`${what}: no NetSuite ${type} with external id ${externalId}`, [{ path, message: `no ${type} with external id ${externalId} in NetSuite` }]);
    return id;
  }

  // ------------------------------------------------------------ operations
  async upsertCustomer(req: { account?: CanonicalAccount; externalId?: string; customer?: Record<string, unknown> }): Promise<{ id: string; externalId: string }> {
    if (req.account) {
      const { externalId, body } = accountToCustomer(req.account, await this.mappingTables());
      const ref = await this.client.upsert('customer', externalId, body, { replace: body.addressBook ? ['addressBook'] : undefined });
      return { id: ref.id, externalId };
    }
    if (req.externalId && req.customer) {
      const ref = await this.client.upsert('customer', req.externalId, req.customer);
      return { id: ref.id, externalId: req.externalId };
    }
    throw new ValidationError('upsertCustomer needs { account } or { externalId, customer }', [{ path: '/account', message: 'required' }]);
  }

  async createProject(req: { project?: CanonicalProject; customerExternalId?: string; managerExternalId?: string; externalId?: string; job?: Record<string, unknown> }, idempotencyKey: string, xref?: ConnectionXref): Promise<{ id: string; externalId: string; created: boolean }> {
    let externalId: string;
    let body: Record<string, unknown>;
    if (req.project) {
      const p = req.project;
      externalId = toExternalId(p.externalIds?.netsuite && !/^\d+$/.test(p.externalIds.netsuite) ? p.externalIds.netsuite : p.id);
      const existing = await this.internalIdOf('job', externalId);
      if (existing) return { id: existing, externalId, created: false };
      const customerId = await this.requireId('customer', req.customerExternalId ?? p.accountId, '/project/accountId', `Project ${p.id}`);
      // the project manager is the employee with the delivery manager's email; without an email, the employee whose
      // external id the firm set to the CRM's person id
      const dm = p.deliveryManager;
      const managerId = dm.email ? await this.employeeIdByEmail(dm.email, xref) : await this.employeeIdOf(req.managerExternalId ?? dm.id);
      if (dm.email && !managerId) throw new ValidationError(`Project ${p.id}: the delivery manager ${dm.name ? `${dm.name} <${dm.email}>` : dm.email} is not a NetSuite employee (no employee with that email in this account). Create the employee in NetSuite (Lists > Employees, with the email), then replay.`, [{ path: '/project/deliveryManager/email', message: 'no NetSuite employee has this email' }]);
      ({ externalId, body } = projectToJob(p, await this.tablesWithFields(), { customerId, managerId }));
    } else if (req.externalId && req.job) {
      externalId = toExternalId(req.externalId);
      const existing = await this.internalIdOf('job', externalId);
      if (existing) return { id: existing, externalId, created: false };
      body = { ...req.job, externalId };
    } else throw new ValidationError('createProject needs { project } or { externalId, job }', [{ path: '/project', message: 'required' }]);
    const ref = await this.client.create('job', body, idempotencyKey);
    return { id: ref.id, externalId, created: !ref.replayed };
  }

  /** Change orders: the billing schedule (and any other job fields) of an existing project. */
  async updateProject(req: { projectExternalId?: string; billingSchedule?: CanonicalBillingSchedule; endDate?: string; fields?: Record<string, unknown> }): Promise<{ id: string; externalId: string }> {
    const id = await this.requireId('job', req.projectExternalId, '/projectExternalId', 'updateProject');
    // the canonical end date is the job's projected end date, as createProject sets it
    const body = { ...(req.billingSchedule ? billingScheduleToJob(req.billingSchedule, { ...this.tables, customFields: await this.accountCustomFields() }) : {}), ...(req.endDate ? { projectedEndDate: req.endDate } : {}), ...(req.fields ?? {}) };
    if (Object.keys(body).length === 0) throw new ValidationError('updateProject needs billingSchedule or fields', [{ path: '/billingSchedule', message: 'required' }]);
    await this.client.update('job', id, body);
    return { id, externalId: req.projectExternalId! };
  }

  async createTimeBills(req: { entries?: CanonicalTimeEntry[]; projectExternalId?: string }, idempotencyKey: string): Promise<{ timeBills: Array<{ entryId: string; id: string; created: boolean }> }> {
    if (!Array.isArray(req.entries) || req.entries.length === 0) throw new ValidationError('createTimeBills needs { entries: TimeEntry[] }', [{ path: '/entries', message: 'must be a non-empty array' }]);
    const tables = await this.mappingTables();
    const jobIds = new Map<string, string>();
    const out: Array<{ entryId: string; id: string; created: boolean }> = [];
    for (const [i, entry] of req.entries.entries()) {
      const existing = await this.internalIdOf('timebill', entry.id);
      if (existing) {
        out.push({ entryId: entry.id, id: existing, created: false });
        continue;
      }
      const projectKey = req.projectExternalId ?? entry.projectId;
      if (!jobIds.has(projectKey)) jobIds.set(projectKey, await this.requireId('job', projectKey, `/entries/${i}/projectId`, `Time entry ${entry.id}`));
      const employeeId = await this.employeeIdOf(entry.person.id);
      if (!employeeId) throw new ValidationError(`Time entry ${entry.id}: no NetSuite employee with external id ${entry.person.id}`, [{ path: `/entries/${i}/person/id`, message: `no employee with external id ${entry.person.id} in NetSuite` }]);
      const { body } = timeEntryToTimeBill(entry, tables, { employeeId, jobId: jobIds.get(projectKey)! });
      const ref = await this.client.create('timebill', body, `${idempotencyKey}#${entry.id}`);
      out.push({ entryId: entry.id, id: ref.id, created: !ref.replayed });
    }
    return { timeBills: out };
  }

  async createInvoice(req: { invoice?: CanonicalInvoice; customerExternalId?: string; projectExternalId?: string }, idempotencyKey: string): Promise<Record<string, unknown>> {
    const inv = req.invoice;
    if (!inv) throw new ValidationError('createInvoice needs { invoice }', [{ path: '/invoice', message: 'required' }]);
    const externalId = toExternalId(inv.id);
    let id = await this.internalIdOf('invoice', externalId);
    let created = false;
    if (!id) {
      const customerId = await this.requireId('customer', req.customerExternalId ?? inv.accountId, '/invoice/accountId', `Invoice ${inv.id}`);
      const projectKey = req.projectExternalId ?? inv.projectId;
      const jobId = projectKey ? await this.requireId('job', projectKey, '/invoice/projectId', `Invoice ${inv.id}`) : undefined;
      const { body } = invoiceToInvoice(inv, await this.tablesWithFields(), { customerId, jobId });
      const ref = await this.client.create('invoice', body, idempotencyKey);
      id = ref.id;
      created = !ref.replayed;
    }
    const rec = await this.client.getRecord('invoice', id, { expandSubResources: true });
    return {
      id,
      externalId,
      created,
      tranId: rec.tranId ?? null,
      status: rec.status ?? null,
      total: rec.total ?? null,
      lines: ((rec.item?.items ?? []) as Array<Record<string, any>>).map((l) => ({ line: l.line ?? null, amount: l.amount ?? null, sourceRefs: this.customFields.sourceRefs ? String(l[this.customFields.sourceRefs] ?? '').split(',').filter(Boolean) : [] })),
    };
  }

  // ------------------------------------------------------------ reads
  suiteql<T = Record<string, string>>(q: string, opts?: { pageSize?: number; maxRows?: number }): Promise<T[]> {
    return this.client.suiteql<T>(q, opts);
  }

  getRecord(type: string, id: string, opts?: { expandSubResources?: boolean }): Promise<Record<string, any>> {
    return this.client.getRecord(type, id, opts);
  }
}
