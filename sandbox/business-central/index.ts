/**
 * Dynamics 365 Business Central sandbox (API v2.0 subset), mounted at `/bc`.
 *
 *  - Entra ID token endpoint `POST /bc/oauth/<tenant>/oauth2/v2.0/token` (client credentials, scope
 *    `https://api.businesscentral.dynamics.com/.default`); AADSTS-style error bodies.
 *  - `/bc/v2.0/<tenant>/<environment>/api/v2.0/companies`, `companies(<id>)/customers|projects|employees|items|
 *    taxAreas|currencies|timeRegistrationEntries|salesInvoices|salesInvoiceLines`, `salesInvoices(<id>)/salesInvoiceLines`,
 *    bound action `salesInvoices(<id>)/Microsoft.NAV.post` (204; status Draft -> Open, number becomes the posted number).
 *  - OData: `$filter` (`field eq value` joined by `and`), `$top`, `$skip`, `$select`, `$expand=salesInvoiceLines`,
 *    server-driven paging with `@odata.nextLink`, `@odata.context`, `@odata.etag` on every entity.
 *  - Deep insert of `salesInvoiceLines` on `POST salesInvoices`.
 *  - `PATCH`/`DELETE` need `If-Match` (`*` or the entity's etag): missing -> 400 `BadRequest_InvalidToken`, stale -> 412 `Request_EntityChanged`.
 *  - Errors are OData JSON `{ "error": { "code", "message" } }`; throttling (fault injection) answers 429 with Retry-After.
 *  - Number series: customers (series CUST) and projects (series JOB) get the next number when the body has none; a
 *    typed number is refused unless the series allows Manual Nos. (`settings.manualNos`, default off, as a new
 *    company's series are) with BC's dialog error.
 *  - Pages published as web services (`/bc/v2.0/<tenant>/<env>/ODataV4/Company('<name>')/<service>`): page 88
 *    Project Card (`No`, `Description`, `Bill_to_Customer_No`; GET, PATCH with If-Match) and page 1002 Project Task
 *    Lines (`Job_No`, `Job_Task_No`, `Description`, `Job_Task_Type`; GET, POST), under `settings.webServices` names.
 *    The bill-to customer must exist; a task needs an existing project.
 *  - Time registration entries on a project need an existing task of that project (`jobTaskNumber`).
 * Shapes follow shared/contracts/business-central (v2.0 resource docs; BCOAS1.0.yaml for the OpenAPI schemas).
 */
import crypto from 'node:crypto';
import express from 'express';
import { Sandbox, type VendorState } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { ACCOUNTS, BILLING_ENTITIES, CONSULTANTS, OPPORTUNITIES, seedTimeEntries } from '../seed/firm';

export interface BcSandboxSettings {
  tenantId: string;
  environment: string;
  clients: Array<{ clientId: string; clientSecret: string }>;
  tokenTtlSeconds: number;
  /** Server-driven page size (Business Central: 20,000). */
  pageSize: number;
  /** Whether the customer (CUST) and project (JOB) number series take a typed number (Manual Nos.). */
  manualNos: { customers: boolean; projects: boolean };
  /** Service names under which pages 88 (Project Card) and 1002 (Project Task Lines) are published. */
  webServices: { projects: string; projectTasks: string };
}

export const BC_SANDBOX_DEFAULTS: BcSandboxSettings = {
  tenantId: process.env.PSF_BC_SANDBOX_TENANT ?? 'northwind.onmicrosoft.com',
  environment: process.env.PSF_BC_SANDBOX_ENVIRONMENT ?? 'sandbox',
  clients: [{ clientId: '5e0c2b7a-0d1e-4c8f-9a51-6f1d2c3b4a50', clientSecret: 'psf-demo-bc-secret' }],
  tokenTtlSeconds: 3599,
  pageSize: 20000,
  manualNos: { customers: false, projects: false },
  webServices: { projects: 'PSF_Projects', projectTasks: 'PSF_ProjectTasks' },
};

export const BC_SCOPE = 'https://api.businesscentral.dynamics.com/.default';
/** Page 456 No. Series, published as a web service in the sandbox under this name. */
export const BC_NO_SERIES_SERVICE = 'NoSeries';

export interface BcSandboxControl {
  settings: BcSandboxSettings;
  revokeTokens(): void;
}
const controls = new WeakMap<Sandbox, BcSandboxControl>();
export function businessCentralControl(sandbox: Sandbox): BcSandboxControl {
  const c = controls.get(sandbox);
  if (!c) throw new Error(`${sandbox.name} is not a Business Central sandbox`);
  return c;
}

const ERROR_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Authentication_InvalidCredentials',
  403: 'Authorization_Forbidden',
  404: 'BadRequest_NotFound',
  405: 'BadRequest_MethodNotAllowed',
  409: 'Request_EntityChanged',
  412: 'Request_EntityChanged',
  429: 'Application_TooManyRequests',
  500: 'Internal_ServerError',
  503: 'Application_ServiceUnavailable',
  504: 'Application_GatewayTimeout',
};

export function odataError(status: number, message: string, code?: string): { error: { code: string; message: string } } {
  return { error: { code: code ?? ERROR_CODES[status] ?? 'BadRequest', message: `${message}  CorrelationId:  ${crypto.randomUUID()}.` } };
}

// ---------------------------------------------------------------- seed

/** Deterministic GUIDs so tests and demos can name records. */
export function bcGuid(...parts: string[]): string {
  const h = crypto.createHash('sha1').update(parts.join('|')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const ENTITY_SETS = ['customers', 'projects', 'employees', 'items', 'taxAreas', 'currencies', 'timeRegistrationEntries', 'salesInvoices', 'salesInvoiceLines'] as const;
type EntitySet = (typeof ENTITY_SETS)[number];

/** Writable properties per entity set (API v2.0 resource docs); anything else in a body is a 400. */
const PROPERTIES: Record<string, string[]> = {
  customers: ['id', 'number', 'displayName', 'type', 'addressLine1', 'addressLine2', 'city', 'state', 'country', 'postalCode', 'phoneNumber', 'email', 'website', 'salespersonCode', 'balanceDue', 'creditLimit', 'taxLiable', 'taxAreaId', 'taxAreaDisplayName', 'taxRegistrationNumber', 'currencyId', 'currencyCode', 'paymentTermsId', 'shipmentMethodId', 'paymentMethodId', 'blocked', 'lastModifiedDateTime'],
  projects: ['id', 'number', 'displayName', 'lastModifiedDateTime'],
  timeRegistrationEntries: ['id', 'employeeId', 'employeeNumber', 'jobId', 'jobNumber', 'jobTaskNumber', 'absence', 'lineNumber', 'date', 'quantity', 'status', 'unitOfMeasureId', 'unitOfMeasureCode', 'lastModfiedDateTime'],
  salesInvoices: ['id', 'number', 'externalDocumentNumber', 'invoiceDate', 'postingDate', 'dueDate', 'promisedPayDate', 'customerPurchaseOrderReference', 'customerId', 'customerNumber', 'customerName', 'billToName', 'billToCustomerId', 'billToCustomerNumber', 'shipToName', 'shipToContact', 'sellToAddressLine1', 'sellToAddressLine2', 'sellToCity', 'sellToCountry', 'sellToState', 'sellToPostCode', 'billToAddressLine1', 'billToAddressLine2', 'billToCity', 'billToCountry', 'billToState', 'billToPostCode', 'shipToAddressLine1', 'shipToAddressLine2', 'shipToCity', 'shipToCountry', 'shipToState', 'shipToPostCode', 'currencyId', 'shortcutDimension1Code', 'shortcutDimension2Code', 'currencyCode', 'orderId', 'orderNumber', 'paymentTermsId', 'shipmentMethodId', 'salesperson', 'disputeStatusId', 'disputeStatus', 'pricesIncludeTax', 'remainingAmount', 'discountAmount', 'discountAppliedBeforeTax', 'totalAmountExcludingTax', 'totalTaxAmount', 'totalAmountIncludingTax', 'status', 'lastModifiedDateTime', 'phoneNumber', 'email', 'salesInvoiceLines'],
  salesInvoiceLines: ['id', 'documentId', 'sequence', 'itemId', 'accountId', 'lineType', 'lineObjectNumber', 'description', 'description2', 'unitOfMeasureId', 'unitOfMeasureCode', 'quantity', 'unitPrice', 'discountAmount', 'discountPercent', 'discountAppliedBeforeTax', 'amountExcludingTax', 'taxCode', 'taxPercent', 'totalTaxAmount', 'amountIncludingTax', 'invoiceDiscountAllocation', 'netAmount', 'netTaxAmount', 'netAmountIncludingTax', 'shipmentDate', 'itemVariantId', 'locationId'],
};
const READ_ONLY = new Set(['id', 'lastModifiedDateTime', 'lastModfiedDateTime', 'balanceDue', 'taxAreaDisplayName', 'status', 'remainingAmount', 'totalAmountExcludingTax', 'totalTaxAmount', 'totalAmountIncludingTax', 'documentId', 'amountExcludingTax', 'totalTaxAmount', 'amountIncludingTax', 'netAmount', 'netTaxAmount', 'netAmountIncludingTax', 'lineNumber', 'customerName']);
const MAX_LENGTH: Record<string, number> = { number: 20, displayName: 100, externalDocumentNumber: 35, description: 100, description2: 50, taxRegistrationNumber: 20, jobNumber: 20, employeeNumber: 20, jobTaskNumber: 20, customerNumber: 20, addressLine1: 100, city: 30, postalCode: 20 };

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

interface BcCompanySeed {
  entity: string;
  name: string;
  displayName: string;
  lcy: string;
  vatRate: number;
}

export function seedBusinessCentral(): VendorState {
  const state: VendorState = { companies: {} };
  const companies: BcCompanySeed[] = BILLING_ENTITIES.filter((b) => b.erp === 'businessCentral').map((b) => ({ entity: b.code, name: b.erpCompany, displayName: b.legalName, lcy: b.currency, vatRate: b.country === 'GB' ? 20 : 19 }));
  const at = '2026-11-01T09:00:00Z';
  for (const c of companies) {
    const cid = bcGuid('company', c.name);
    state.companies[cid] = { id: cid, systemVersion: '25.1.23456.0', timestamp: 1, name: c.name, displayName: c.displayName, businessProfileId: '', systemCreatedAt: at, systemCreatedBy: ZERO_GUID, systemModifiedAt: at, systemModifiedBy: ZERO_GUID, _lcy: c.lcy, _vatRate: c.vatRate, _seq: { customers: 10000, projects: 0, invoices: 103000, posted: 104000 } };
    const put = (set: EntitySet, rec: Record<string, any>) => {
      const key = `${set}`;
      if (!state[key]) state[key] = {};
      // The v2.0 docs spell the time registration timestamp `lastModfiedDateTime` (sic); keep the vendor's spelling.
      state[key][rec.id] = { ...rec, _companyId: cid, _version: 1, [set === 'timeRegistrationEntries' ? 'lastModfiedDateTime' : 'lastModifiedDateTime']: at };
    };
    for (const code of ['USD', 'GBP', 'EUR', 'CHF'].filter((x) => x !== c.lcy)) put('currencies', { id: bcGuid('currency', c.name, code), code, displayName: code, symbol: code, amountDecimalPlaces: '2:2', amountRoundingPrecision: 0.01 });
    for (const [code, name] of [['DOMESTIC', 'Domestic customers'], ['EU', 'Customers in EU'], ['EXPORT', 'Other customers']]) put('taxAreas', { id: bcGuid('taxArea', c.name, code), code, displayName: name, taxType: 'VAT' });
    for (const [num, name, price] of [['SRV-ARCH', 'Solution Architect services', 190], ['SRV-EM', 'Engagement Manager services', 200], ['SRV-SRCONS', 'Senior Consultant services', 150], ['SRV-CONS', 'Consultant services', 120], ['SRV-TIME', 'Professional services (time)', 140]] as const)
      put('items', { id: bcGuid('item', c.name, num), number: num, displayName: name, displayName2: '', type: 'Service', itemCategoryId: ZERO_GUID, itemCategoryCode: '', blocked: false, gtin: '', inventory: 0, unitPrice: price, priceIncludesTax: false, unitCost: 0, taxGroupId: ZERO_GUID, taxGroupCode: '', baseUnitOfMeasureId: bcGuid('uom', c.name, 'HOUR'), baseUnitOfMeasureCode: 'HOUR', generalProductPostingGroupId: ZERO_GUID, generalProductPostingGroupCode: 'SERVICES', inventoryPostingGroupId: ZERO_GUID, inventoryPostingGroupCode: '' });
    for (const con of CONSULTANTS.filter((x) => x.homeEntity === c.entity)) {
      const [givenName, ...rest] = con.name.split(' ');
      put('employees', { id: bcGuid('employee', c.name, con.id), number: con.id, displayName: con.name, givenName, middleName: '', surname: rest.join(' '), jobTitle: con.role, addressLine1: '', addressLine2: '', city: '', state: '', country: c.entity.slice(4, 6) === 'UK' ? 'GB' : 'DE', postalCode: '', phoneNumber: '', mobilePhone: '', email: con.email, personalEmail: '', employmentDate: '2020-01-01', terminationDate: '0001-01-01', status: 'Active', birthDate: '0001-01-01', statisticsGroupCode: '', bankBranchNumber: '', bankAccountNumber: '', iban: '' });
    }
    // Customers and projects that already exist: accounts of this entity with a delivered deal.
    for (const opp of OPPORTUNITIES.filter((o) => o.delivered)) {
      const acct = ACCOUNTS.find((a) => a.sfId === opp.accountSfId)!;
      if (acct.billingEntity !== c.entity) continue;
      const custId = bcGuid('customer', c.name, acct.externalId);
      put('customers', { id: custId, number: acct.externalId, displayName: acct.name, type: 'Company', addressLine1: acct.street, addressLine2: '', city: acct.city, state: '', country: acct.country, postalCode: acct.postalCode, phoneNumber: '', email: '', website: '', salespersonCode: '', balanceDue: 0, creditLimit: 0, taxLiable: true, taxAreaId: bcGuid('taxArea', c.name, 'DOMESTIC'), taxAreaDisplayName: 'Domestic customers', taxRegistrationNumber: acct.taxRegistration ?? '', currencyId: ZERO_GUID, currencyCode: '', paymentTermsId: ZERO_GUID, shipmentMethodId: ZERO_GUID, paymentMethodId: ZERO_GUID, blocked: ' ' });
      const projId = bcGuid('project', c.name, opp.sfId);
      put('projects', { id: projId, number: opp.sfId, displayName: opp.name.slice(0, 100), _billToCustomerNo: acct.externalId });
      if (!state.projectTasks) state.projectTasks = {};
      const taskId = bcGuid('projectTask', c.name, opp.sfId, '1000');
      state.projectTasks[taskId] = { id: taskId, _companyId: cid, _version: 1, Job_No: opp.sfId, Job_Task_No: '1000', Description: 'Delivery', Job_Task_Type: 'Posting' };
      let line = 0;
      for (const te of seedTimeEntries().filter((t) => t.opportunitySfId === opp.sfId && t.invoiced)) {
        line += 10000;
        put('timeRegistrationEntries', { id: bcGuid('tre', c.name, te.id), employeeId: bcGuid('employee', c.name, te.consultantId), employeeNumber: te.consultantId, jobId: projId, jobNumber: opp.sfId, jobTaskNumber: '1000', absence: '', lineNumber: line, date: te.date, quantity: te.hours, status: 'Approved', unitOfMeasureId: bcGuid('uom', c.name, 'HOUR'), unitOfMeasureCode: 'HOUR' });
      }
    }
  }
  return state;
}

// ---------------------------------------------------------------- OData helpers

interface Segment {
  name: string;
  key?: string;
}

function parseSegments(path: string): Segment[] | undefined {
  const out: Segment[] = [];
  for (const raw of path.split('/').filter(Boolean)) {
    const s = decodeURIComponent(raw);
    const m = /^([A-Za-z][\w.]*)(?:\((.*)\))?$/.exec(s);
    if (!m) return undefined;
    let key = m[2];
    if (key !== undefined) {
      key = key.trim();
      const named = /^id=(.*)$/.exec(key);
      if (named) key = named[1];
      key = key.replace(/^'(.*)'$/, '$1');
    }
    out.push({ name: m[1], key });
  }
  return out;
}

type FilterClause = { field: string; value: string | number | boolean | null };

function parseFilter(filter: string): FilterClause[] | string {
  const clauses: FilterClause[] = [];
  for (const part of filter.split(/\s+and\s+/i)) {
    const m = /^\s*\(?\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(\d{4}-\d{2}-\d{2})|(-?\d+(?:\.\d+)?)|(true|false|null)|([0-9a-fA-F-]{36}))\s*\)?\s*$/.exec(part);
    if (!m) return `The sandbox supports $filter expressions of the form "field eq value [and ...]"; got: ${part}`;
    const value = m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3] !== undefined ? m[3] : m[4] !== undefined ? Number(m[4]) : m[5] !== undefined ? (m[5] === 'null' ? null : m[5] === 'true') : m[6];
    clauses.push({ field: m[1], value });
  }
  return clauses;
}

function etagOf(rec: Record<string, any>): string {
  const token = Buffer.from(`JzE5OzE${rec.id.replace(/-/g, '').slice(0, 12)}${rec._version}MTsw`).toString('base64');
  return `W/"${token}"`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

// ---------------------------------------------------------------- the sandbox

export function createBusinessCentralSandbox(opts: { statePath?: string; baseUrl: () => string; settings?: Partial<BcSandboxSettings> }): Sandbox {
  const settings: BcSandboxSettings = { ...BC_SANDBOX_DEFAULTS, ...(opts.settings ?? {}) };
  settings.manualNos = { ...settings.manualNos };
  settings.webServices = { ...settings.webServices };
  const sandbox = new Sandbox({
    name: 'bc',
    seed: seedBusinessCentral,
    statePath: opts.statePath,
    errorBody: (status, message) => odataError(status, message),
    faultExempt: [/^\/oauth\//],
  });
  const tokens = new Map<string, { tenant: string; expiresAt: number }>();
  controls.set(sandbox, { settings, revokeTokens: () => tokens.clear() });
  const r = sandbox.router;

  // ---------- Entra ID token endpoint
  r.post('/oauth/:tenant/oauth2/v2.0/token', (req, res) => {
    const p = typeof req.body === 'string' ? new URLSearchParams(req.body) : new URLSearchParams((req.body ?? {}) as Record<string, string>);
    const aad = (status: number, error: string, code: number, description: string) =>
      res.status(status).json({ error, error_description: `AADSTS${code}: ${description} Trace ID: ${crypto.randomUUID()} Correlation ID: ${crypto.randomUUID()} Timestamp: ${new Date().toISOString()}`, error_codes: [code], timestamp: new Date().toISOString(), trace_id: crypto.randomUUID(), correlation_id: crypto.randomUUID() });
    if (req.params.tenant !== settings.tenantId) return aad(400, 'invalid_request', 90002, `Tenant '${req.params.tenant}' not found.`);
    if (p.get('grant_type') !== 'client_credentials') return aad(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const client = settings.clients.find((c) => c.clientId === p.get('client_id'));
    if (!client) return aad(400, 'unauthorized_client', 700016, `Application with identifier '${p.get('client_id')}' was not found in the directory.`);
    if (client.clientSecret !== p.get('client_secret')) return aad(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    if (p.get('scope') !== BC_SCOPE) return aad(400, 'invalid_scope', 1002012, `The provided value for scope ${p.get('scope')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`);
    const accessToken = 'eyJ0eXAiOiJKV1QifQ.' + crypto.randomBytes(24).toString('base64url') + '.' + crypto.randomBytes(16).toString('base64url');
    tokens.set(accessToken, { tenant: settings.tenantId, expiresAt: Date.now() + settings.tokenTtlSeconds * 1000 });
    res.json({ token_type: 'Bearer', expires_in: settings.tokenTtlSeconds, ext_expires_in: settings.tokenTtlSeconds, access_token: accessToken });
  });

  const apiRoot = (tenant: string, env: string) => `${opts.baseUrl()}/v2.0/${tenant}/${env}/api/v2.0`;
  const send = (res: express.Response, status: number, body?: unknown) => {
    res.setHeader('OData-Version', '4.0');
    if (body === undefined) res.status(status).end();
    else res.status(status).type('application/json; odata.metadata=minimal; odata.streaming=true').send(JSON.stringify(body));
  };
  const fail = (res: express.Response, status: number, message: string, code?: string) => send(res, status, odataError(status, message, code));

  const all = (set: EntitySet, companyId: string) => Object.values(sandbox.collection<Record<string, any>>(set)).filter((x) => x._companyId === companyId);
  const bySet = (set: EntitySet) => sandbox.collection<Record<string, any>>(set);

  const present = (set: string, rec: Record<string, any>, ctx: string, select?: string[], expand?: string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = { '@odata.etag': etagOf(rec) };
    if (ctx) out['@odata.context'] = ctx;
    for (const [k, v] of Object.entries(rec)) {
      if (k.startsWith('_')) continue;
      if (select && !select.includes(k) && k !== 'id') continue;
      out[k] = v;
    }
    if (set === 'salesInvoices' && expand?.includes('salesInvoiceLines')) {
      out.salesInvoiceLines = Object.values(bySet('salesInvoiceLines')).filter((l) => l.documentId === rec.id).sort((a, b) => a.sequence - b.sequence).map((l) => present('salesInvoiceLines', l, ''));
    }
    return out;
  };

  const recompute = (inv: Record<string, any>, company: Record<string, any>) => {
    const lines = Object.values(bySet('salesInvoiceLines')).filter((l) => l.documentId === inv.id);
    inv.totalAmountExcludingTax = round2(lines.reduce((s, l) => s + l.amountExcludingTax, 0));
    inv.totalTaxAmount = round2(lines.reduce((s, l) => s + l.totalTaxAmount, 0));
    inv.totalAmountIncludingTax = round2(inv.totalAmountExcludingTax + inv.totalTaxAmount);
    inv.remainingAmount = inv.status === 'Draft' ? 0 : inv.totalAmountIncludingTax;
    void company;
  };

  type Bad = { status: number; message: string; code?: string };
  const manualNosRefused = (series: string): Bad => ({ status: 400, message: `You may not enter numbers manually. If you want to enter numbers manually, please activate Manual Nos. in No. Series ${series}.`, code: 'Application_DialogException' });
  const tasks = () => sandbox.collection<Record<string, any>>('projectTasks');
  const taskOf = (companyId: string, jobNo: string, taskNo: string) => Object.values(tasks()).find((t) => t._companyId === companyId && t.Job_No === jobNo && t.Job_Task_No === taskNo);
  const checkBody = (set: string, body: Record<string, any>, creating: boolean): Bad | undefined => {
    const allowed = PROPERTIES[set];
    for (const [k, v] of Object.entries(body)) {
      if (k.startsWith('@odata')) continue;
      if (!allowed.includes(k)) return { status: 400, message: `The property '${k}' does not exist on type 'Microsoft.NAV.${set.replace(/s$/, '').replace(/ie$/, 'y')}'. Make sure to only use property names that are defined by the type.`, code: 'BadRequest_PropertyNotFound' };
      if (READ_ONLY.has(k) && !(creating && k === 'id')) return { status: 400, message: `The property '${k}' is read-only.`, code: 'BadRequest' };
      if (typeof v === 'string' && MAX_LENGTH[k] && v.length > MAX_LENGTH[k]) return { status: 400, message: `The length of the string is ${v.length}, but it must be less than or equal to ${MAX_LENGTH[k]} characters. Value: ${v}`, code: 'Internal_StringLengthExceeded' };
    }
    return undefined;
  };

  const createLine = (company: Record<string, any>, inv: Record<string, any>, body: Record<string, any>, seq: number): Bad | undefined => {
    const bad = checkBody('salesInvoiceLines', body, true);
    if (bad) return bad;
    const lineType = body.lineType ?? (body.itemId || body.lineObjectNumber ? 'Item' : 'Comment');
    let item: Record<string, any> | undefined;
    if (lineType === 'Item') {
      item = body.itemId ? bySet('items')[body.itemId] : all('items', company.id).find((i) => i.number === body.lineObjectNumber);
      if (!item || item._companyId !== company.id) return { status: 400, message: `The field No. of table Sales Line contains a value (${body.lineObjectNumber ?? body.itemId}) that cannot be found in the related table (Item).`, code: 'Internal_InvalidTableRelation' };
    }
    const quantity = Number(body.quantity ?? 0);
    const unitPrice = Number(body.unitPrice ?? item?.unitPrice ?? 0);
    if (!Number.isFinite(quantity) || quantity < 0) return { status: 400, message: 'Quantity must not be negative.', code: 'BadRequest' };
    const customer = bySet('customers')[inv.customerId];
    const taxPercent = customer?.taxLiable === false ? 0 : customer?.taxAreaId === bcGuid('taxArea', company.name, 'DOMESTIC') ? company._vatRate : 0;
    const amount = round2(quantity * unitPrice - Number(body.discountAmount ?? 0));
    const tax = lineType === 'Comment' ? 0 : round2((amount * taxPercent) / 100);
    const id = crypto.randomUUID();
    bySet('salesInvoiceLines')[id] = {
      id, documentId: inv.id, sequence: seq, itemId: item?.id ?? ZERO_GUID, accountId: ZERO_GUID, lineType, lineObjectNumber: item?.number ?? '',
      description: body.description ?? item?.displayName ?? '', description2: body.description2 ?? '', unitOfMeasureId: item?.baseUnitOfMeasureId ?? ZERO_GUID, unitOfMeasureCode: item?.baseUnitOfMeasureCode ?? '',
      quantity, unitPrice, discountAmount: Number(body.discountAmount ?? 0), discountPercent: 0, discountAppliedBeforeTax: false, amountExcludingTax: lineType === 'Comment' ? 0 : amount, taxCode: taxPercent ? 'VAT' + taxPercent : '', taxPercent,
      totalTaxAmount: tax, amountIncludingTax: round2(amount + tax), invoiceDiscountAllocation: 0, netAmount: amount, netTaxAmount: tax, netAmountIncludingTax: round2(amount + tax),
      shipmentDate: body.shipmentDate ?? inv.invoiceDate, itemVariantId: ZERO_GUID, locationId: ZERO_GUID, _companyId: company.id, _version: 1,
    };
    return undefined;
  };

  /** Creates an entity of `set` in `company`; returns it or an error. */
  const create = (set: EntitySet, company: Record<string, any>, body: Record<string, any>): { rec?: Record<string, any>; bad?: Bad } => {
    const bad = checkBody(set, body, true);
    if (bad) return { bad };
    const now = new Date().toISOString();
    const base: Record<string, any> = { id: typeof body.id === 'string' ? body.id : crypto.randomUUID(), _companyId: company.id, _version: 1, lastModifiedDateTime: now };
    if (set === 'customers') {
      if (!body.displayName) return { bad: { status: 400, message: 'The field Name of table Customer must have a value.', code: 'Internal_FieldMustHaveAValue' } };
      if (body.number !== undefined && !settings.manualNos.customers) return { bad: manualNosRefused('CUST') };
      const number = body.number ?? `C${++company._seq.customers}`;
      if (all('customers', company.id).some((c) => c.number === number)) return { bad: { status: 400, message: `The record in table Customer already exists. Identification fields and values: No.='${number}'`, code: 'Internal_EntityWithSameKeyExists' } };
      let currencyCode = body.currencyCode ?? '';
      if (currencyCode && !all('currencies', company.id).some((c) => c.code === currencyCode)) return { bad: { status: 400, message: `The field Currency Code of table Customer contains a value (${currencyCode}) that cannot be found in the related table (Currency).`, code: 'Internal_InvalidTableRelation' } };
      if (currencyCode === company._lcy) currencyCode = '';
      const taxArea = body.taxAreaId ? bySet('taxAreas')[body.taxAreaId] : undefined;
      if (body.taxAreaId && body.taxAreaId !== ZERO_GUID && (!taxArea || taxArea._companyId !== company.id)) return { bad: { status: 400, message: `The tax area ${body.taxAreaId} does not exist.`, code: 'Internal_InvalidTableRelation' } };
      const rec: Record<string, any> = { ...base, number, displayName: body.displayName, type: body.type ?? 'Company', addressLine1: body.addressLine1 ?? '', addressLine2: body.addressLine2 ?? '', city: body.city ?? '', state: body.state ?? '', country: body.country ?? '', postalCode: body.postalCode ?? '', phoneNumber: body.phoneNumber ?? '', email: body.email ?? '', website: body.website ?? '', salespersonCode: body.salespersonCode ?? '', balanceDue: 0, creditLimit: body.creditLimit ?? 0, taxLiable: body.taxLiable ?? false, taxAreaId: taxArea?.id ?? ZERO_GUID, taxAreaDisplayName: taxArea?.displayName ?? '', taxRegistrationNumber: body.taxRegistrationNumber ?? '', currencyId: currencyCode ? all('currencies', company.id).find((c) => c.code === currencyCode)!.id : ZERO_GUID, currencyCode, paymentTermsId: body.paymentTermsId ?? ZERO_GUID, shipmentMethodId: ZERO_GUID, paymentMethodId: ZERO_GUID, blocked: body.blocked ?? ' ' };
      bySet('customers')[rec.id] = rec;
      return { rec };
    }
    if (set === 'projects') {
      if (body.number !== undefined && !settings.manualNos.projects) return { bad: manualNosRefused('JOB') };
      const number = body.number ?? `J${String(++company._seq.projects).padStart(5, '0')}`;
      if (all('projects', company.id).some((p) => p.number === number)) return { bad: { status: 400, message: `The record in table Job already exists. Identification fields and values: No.='${number}'`, code: 'Internal_EntityWithSameKeyExists' } };
      const rec: Record<string, any> = { ...base, number, displayName: body.displayName ?? '' };
      bySet('projects')[rec.id] = rec;
      return { rec };
    }
    if (set === 'timeRegistrationEntries') {
      const emp = body.employeeId ? bySet('employees')[body.employeeId] : all('employees', company.id).find((e) => e.number === body.employeeNumber);
      if (!emp || emp._companyId !== company.id) return { bad: { status: 400, message: `The employee ${body.employeeNumber ?? body.employeeId} does not exist.`, code: 'Internal_RecordNotFound' } };
      const job = body.jobId && body.jobId !== ZERO_GUID ? bySet('projects')[body.jobId] : body.jobNumber ? all('projects', company.id).find((p) => p.number === body.jobNumber) : undefined;
      if ((body.jobId && body.jobId !== ZERO_GUID) || body.jobNumber) if (!job || job._companyId !== company.id) return { bad: { status: 400, message: `The job ${body.jobNumber ?? body.jobId} does not exist.`, code: 'Internal_RecordNotFound' } };
      if (job && !taskOf(company.id, job.number, body.jobTaskNumber ?? '')) return { bad: { status: 400, message: `The Project Task does not exist. Identification fields and values: Project No.='${job.number}',Project Task No.='${body.jobTaskNumber ?? ''}'`, code: 'Internal_RecordNotFound' } };
      if (!body.date || !/^\d{4}-\d{2}-\d{2}$/.test(body.date)) return { bad: { status: 400, message: 'The field Date must have a value in the form YYYY-MM-DD.', code: 'BadRequest' } };
      const q = Number(body.quantity);
      if (!Number.isFinite(q) || q <= 0 || q > 24) return { bad: { status: 400, message: `Quantity ${body.quantity} is not valid.`, code: 'BadRequest' } };
      const lineNumber = (all('timeRegistrationEntries', company.id).filter((t) => t.employeeId === emp.id).reduce((m, t) => Math.max(m, t.lineNumber), 0)) + 10000;
      const rec: Record<string, any> = { ...base, employeeId: emp.id, employeeNumber: emp.number, jobId: job?.id ?? ZERO_GUID, jobNumber: job?.number ?? '', jobTaskNumber: body.jobTaskNumber ?? '', absence: body.absence ?? '', lineNumber, date: body.date, quantity: q, status: 'Open', unitOfMeasureId: bcGuid('uom', company.name, 'HOUR'), unitOfMeasureCode: body.unitOfMeasureCode ?? 'HOUR', lastModfiedDateTime: now };
      delete rec.lastModifiedDateTime;
      bySet('timeRegistrationEntries')[rec.id] = rec;
      return { rec };
    }
    if (set === 'salesInvoices') {
      const cust = body.customerId ? bySet('customers')[body.customerId] : all('customers', company.id).find((c) => c.number === body.customerNumber);
      if (!cust || cust._companyId !== company.id) return { bad: { status: 400, message: `The customer ${body.customerNumber ?? body.customerId ?? '(none)'} does not exist.`, code: 'Internal_RecordNotFound' } };
      let currencyCode = body.currencyCode ?? cust.currencyCode ?? '';
      if (currencyCode === company._lcy) currencyCode = '';
      if (currencyCode && !all('currencies', company.id).some((c) => c.code === currencyCode)) return { bad: { status: 400, message: `The field Currency Code of table Sales Header contains a value (${currencyCode}) that cannot be found in the related table (Currency).`, code: 'Internal_InvalidTableRelation' } };
      const invoiceDate = body.invoiceDate ?? now.slice(0, 10);
      const rec: Record<string, any> = {
        ...base, number: `S-INV${++company._seq.invoices}`, externalDocumentNumber: body.externalDocumentNumber ?? '', invoiceDate, postingDate: body.postingDate ?? invoiceDate, dueDate: body.dueDate ?? invoiceDate, promisedPayDate: '0001-01-01',
        customerPurchaseOrderReference: body.customerPurchaseOrderReference ?? '', customerId: cust.id, customerNumber: cust.number, customerName: cust.displayName, billToName: cust.displayName, billToCustomerId: cust.id, billToCustomerNumber: cust.number,
        shipToName: cust.displayName, shipToContact: '', sellToAddressLine1: cust.addressLine1, sellToAddressLine2: cust.addressLine2, sellToCity: cust.city, sellToCountry: cust.country, sellToState: cust.state, sellToPostCode: cust.postalCode,
        billToAddressLine1: cust.addressLine1, billToAddressLine2: cust.addressLine2, billToCity: cust.city, billToCountry: cust.country, billToState: cust.state, billToPostCode: cust.postalCode,
        shipToAddressLine1: cust.addressLine1, shipToAddressLine2: cust.addressLine2, shipToCity: cust.city, shipToCountry: cust.country, shipToState: cust.state, shipToPostCode: cust.postalCode,
        currencyId: currencyCode ? all('currencies', company.id).find((c) => c.code === currencyCode)!.id : ZERO_GUID, shortcutDimension1Code: body.shortcutDimension1Code ?? '', shortcutDimension2Code: body.shortcutDimension2Code ?? '', currencyCode: currencyCode || company._lcy,
        orderId: ZERO_GUID, orderNumber: '', paymentTermsId: ZERO_GUID, shipmentMethodId: ZERO_GUID, salesperson: '', disputeStatusId: ZERO_GUID, disputeStatus: '', pricesIncludeTax: false, remainingAmount: 0, discountAmount: 0, discountAppliedBeforeTax: false,
        totalAmountExcludingTax: 0, totalTaxAmount: 0, totalAmountIncludingTax: 0, status: 'Draft', phoneNumber: '', email: '',
      };
      bySet('salesInvoices')[rec.id] = rec;
      const lines = Array.isArray(body.salesInvoiceLines) ? body.salesInvoiceLines : [];
      for (let i = 0; i < lines.length; i++) {
        const b = createLine(company, rec, lines[i], (i + 1) * 10000);
        if (b) {
          // A deep insert is one transaction: nothing of it stays.
          delete bySet('salesInvoices')[rec.id];
          for (const [id, l] of Object.entries(bySet('salesInvoiceLines'))) if (l.documentId === rec.id) delete bySet('salesInvoiceLines')[id];
          company._seq.invoices -= 1;
          return { bad: { ...b, message: `salesInvoiceLines[${i}]: ${b.message}` } };
        }
      }
      recompute(rec, company);
      return { rec };
    }
    return { bad: { status: 405, message: `Creating ${set} is not supported by the sandbox.`, code: 'BadRequest_MethodNotAllowed' } };
  };

  const update = (set: EntitySet, company: Record<string, any>, rec: Record<string, any>, body: Record<string, any>): Bad | undefined => {
    const bad = checkBody(set, body, false);
    if (bad) return bad;
    if (set === 'salesInvoices' && rec.status !== 'Draft') return { status: 400, message: 'You cannot modify a posted invoice.', code: 'BadRequest_MethodNotAllowed' };
    if (set === 'customers') {
      if (body.number && body.number !== rec.number && all('customers', company.id).some((c) => c.number === body.number)) return { status: 400, message: `The record in table Customer already exists. Identification fields and values: No.='${body.number}'`, code: 'Internal_EntityWithSameKeyExists' };
      if (body.currencyCode !== undefined) {
        let code = body.currencyCode;
        if (code === company._lcy) code = '';
        if (code && !all('currencies', company.id).some((c) => c.code === code)) return { status: 400, message: `The field Currency Code of table Customer contains a value (${code}) that cannot be found in the related table (Currency).`, code: 'Internal_InvalidTableRelation' };
        body = { ...body, currencyCode: code, currencyId: code ? all('currencies', company.id).find((c) => c.code === code)!.id : ZERO_GUID };
      }
      if (body.taxAreaId !== undefined && body.taxAreaId !== ZERO_GUID) {
        const ta = bySet('taxAreas')[body.taxAreaId];
        if (!ta || ta._companyId !== company.id) return { status: 400, message: `The tax area ${body.taxAreaId} does not exist.`, code: 'Internal_InvalidTableRelation' };
        body = { ...body, taxAreaDisplayName: ta.displayName };
      }
    }
    for (const [k, v] of Object.entries(body)) if (!k.startsWith('@odata') && k !== 'salesInvoiceLines') rec[k] = v;
    rec._version += 1;
    if ('lastModfiedDateTime' in rec) rec.lastModfiedDateTime = new Date().toISOString();
    else rec.lastModifiedDateTime = new Date().toISOString();
    return undefined;
  };

  const checkIfMatch = (req: express.Request, rec: Record<string, any>): Bad | undefined => {
    const header = req.headers['if-match'];
    if (header === undefined || header === '') return { status: 400, message: 'Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.', code: 'BadRequest_InvalidToken' };
    if (header.trim() === '*') return undefined;
    if (header.trim() !== etagOf(rec)) return { status: 412, message: 'Another user has already changed the record.', code: 'Request_EntityChanged' };
    return undefined;
  };

  /** Bearer token of this tenant and the configured environment; answers the failure itself when not. */
  const authorized = (req: express.Request, res: express.Response): boolean => {
    const { tenant, env } = req.params as Record<string, string>;
    const auth = req.headers.authorization ?? '';
    const token = tokens.get(auth.replace(/^Bearer\s+/i, '').trim());
    if (!/^Bearer\s+/i.test(auth) || !token || token.expiresAt <= Date.now()) {
      res.setHeader('WWW-Authenticate', `Bearer authorization_uri="${opts.baseUrl()}/oauth/${settings.tenantId}/oauth2/v2.0/authorize"`);
      fail(res, 401, 'The server has rejected the client credentials.', 'Authentication_InvalidCredentials');
      return false;
    }
    if (tenant !== token.tenant || tenant !== settings.tenantId) {
      fail(res, 401, `The token is not valid for tenant ${tenant}.`, 'Authentication_InvalidCredentials');
      return false;
    }
    if (env !== settings.environment) {
      fail(res, 404, `Environment '${env}' does not exist.`, 'NoEnvironment');
      return false;
    }
    return true;
  };

  // ---------- pages published as web services (OData v4): Project Card and Project Task Lines
  const ALL_PAGE_FIELDS: Record<string, string[]> = { projects: ['No', 'Description', 'Bill_to_Customer_No'], projectTasks: ['Job_No', 'Job_Task_No', 'Description', 'Job_Task_Type'], noSeries: ['Code', 'Description', 'Default_Nos', 'Manual_Nos'] };
  /** The published services by kind (pages 88, 1002 under the settings' names; page 456 No. Series as `NoSeries`), minus the unpublished ones. */
  const published = (): Record<string, string> => {
    const gone = sandbox.collection<boolean>('_unpublished');
    return Object.fromEntries(Object.entries({ ...settings.webServices, noSeries: BC_NO_SERIES_SERVICE }).filter(([, name]) => !gone[name.toLowerCase()]));
  };
  /** A page's fields as published: a firm may publish a customised page that lacks one (`DELETE /_sandbox/web-services/<name>/fields/<field>`). */
  const pageFields = (kind: string, service: string) => ALL_PAGE_FIELDS[kind].filter((f) => !sandbox.collection<boolean>('_removedPageFields')[`${service}.${f}`.toLowerCase()]);
  const withoutRemoved = (kind: string, service: string, row: Record<string, any>) => {
    const keep = new Set(['@odata.etag', ...pageFields(kind, service)]);
    return Object.fromEntries(Object.entries(row).filter(([k]) => keep.has(k)));
  };
  const edmType = (field: string) => (/_Nos$/.test(field) ? 'Edm.Boolean' : 'Edm.String');
  /** `$metadata` of the published pages (CSDL), as Business Central serves it under ODataV4. */
  const webServicesMetadata = () => {
    const types = Object.entries(published()).map(([kind, name]) => `<EntityType Name="${name}"><Key><PropertyRef Name="${pageFields(kind, name)[0]}"/></Key>${pageFields(kind, name).map((f) => `<Property Name="${f}" Type="${edmType(f)}"/>`).join('')}</EntityType>`);
    const sets = Object.values(published()).map((name) => `<EntitySet Name="${name}" EntityType="NAV.${name}"/>`);
    return `<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">${types.join('')}<EntityContainer Name="NAV">${sets.join('')}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`;
  };
  /** `$metadata` of API v2.0 (CSDL): the entity sets and properties the sandbox serves. */
  const apiMetadata = () => {
    const types = ENTITY_SETS.map((set) => `<EntityType Name="${set.replace(/s$/, '')}"><Key><PropertyRef Name="id"/></Key>${(PROPERTIES[set] ?? ['id', 'code', 'displayName']).map((f) => `<Property Name="${f}" Type="Edm.String"/>`).join('')}</EntityType>`);
    const sets = ['companies', ...ENTITY_SETS].map((set) => `<EntitySet Name="${set}" EntityType="Microsoft.NAV.${set === 'companies' ? 'company' : set.replace(/s$/, '')}"/>`);
    return `<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="Microsoft.NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="company"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="name" Type="Edm.String"/><Property Name="displayName" Type="Edm.String"/></EntityType>${types.join('')}<EntityContainer Name="default">${sets.join('')}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`;
  };
  const sendXml = (res: express.Response, xml: string) => {
    res.setHeader('OData-Version', '4.0');
    res.status(200).type('application/xml').send(xml);
  };
  // A page not published as a web service, or published without one of its fields (Web Services page); reset restores both.
  r.delete('/_sandbox/web-services/:name', (req, res) => {
    if (!Object.values(published()).some((n) => n.toLowerCase() === req.params.name.toLowerCase())) return res.status(404).json({ error: `no web service ${req.params.name} is published` });
    sandbox.collection('_unpublished')[req.params.name.toLowerCase()] = true;
    sandbox.changed();
    res.status(204).end();
  });
  r.delete('/_sandbox/web-services/:name/fields/:field', (req, res) => {
    const kind = Object.entries(published()).find(([, n]) => n.toLowerCase() === req.params.name.toLowerCase())?.[0];
    if (!kind || !ALL_PAGE_FIELDS[kind].includes(req.params.field)) return res.status(404).json({ error: `no field ${req.params.field} on web service ${req.params.name}` });
    sandbox.collection('_removedPageFields')[`${Object.values(published()).find((n) => n.toLowerCase() === req.params.name.toLowerCase())}.${req.params.field}`.toLowerCase()] = true;
    sandbox.changed();
    res.status(204).end();
  });
  const pageEtag = (rec: Record<string, any>) => `W/"JzQ0O${Buffer.from(`${rec.id}:${rec._version}`).toString('base64').slice(0, 24)}"`;
  const cardOf = (p: Record<string, any>) => ({ '@odata.etag': pageEtag(p), No: p.number, Description: p.displayName, Bill_to_Customer_No: p._billToCustomerNo ?? '' });
  const taskRow = (t: Record<string, any>) => ({ '@odata.etag': pageEtag(t), Job_No: t.Job_No, Job_Task_No: t.Job_Task_No, Description: t.Description, Job_Task_Type: t.Job_Task_Type });
  r.all('/v2.0/:tenant/:env/ODataV4/*', (req, res) => {
    if (!authorized(req, res)) return;
    if ((req.params as Record<string, string>)[0] === '$metadata') return sendXml(res, webServicesMetadata());
    const m = /^Company\('((?:[^']|'')*)'\)\/(\w+)(?:\((.*)\))?$/.exec(decodeURIComponent((req.params as Record<string, string>)[0] ?? ''));
    if (!m) return fail(res, 404, 'The request URL is not valid.', 'BadRequest_NotFound');
    const company = Object.values(sandbox.collection<Record<string, any>>('companies')).find((c) => c.name === m[1].replace(/''/g, "'"));
    if (!company) return fail(res, 404, `Cannot process the request because the default company '${m[1]}' cannot be found.`, 'Internal_CompanyNotFound');
    const kind = Object.entries(published()).find(([, name]) => name === m[2])?.[0];
    if (!kind) return fail(res, 404, `No HTTP resource was found that matches the request URI '${req.originalUrl}'.`, 'BadRequest_NotFound');
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, any>;
    for (const k of Object.keys(body)) if (!k.startsWith('@odata') && !pageFields(kind, m[2]).includes(k)) return fail(res, 400, `The property '${k}' does not exist on type 'NAV.${m[2]}'. Make sure to only use property names that are defined by the type.`, 'BadRequest_PropertyNotFound');
    const filterText = (req.query as Record<string, string | undefined>).$filter;
    const filter = filterText ? parseFilter(filterText) : [];
    if (typeof filter === 'string') return fail(res, 400, filter, 'BadRequest');
    const projectsOf = () => all('projects', company.id);
    if (kind === 'noSeries') {
      if (req.method !== 'GET' || m[3] !== undefined) return fail(res, 405, `${req.method} on ${m[2]} is not supported by the sandbox.`, 'BadRequest_MethodNotAllowed');
      const rows = [
        { Code: 'CUST', Description: 'Customer', Default_Nos: true, Manual_Nos: settings.manualNos.customers },
        { Code: 'JOB', Description: 'Projects', Default_Nos: true, Manual_Nos: settings.manualNos.projects },
      ];
      return send(res, 200, { value: rows.filter((row) => filter.every((c) => (row as Record<string, unknown>)[c.field] === c.value)).map((row) => withoutRemoved(kind, m[2], row)) });
    }
    if (kind === 'projects') {
      if (m[3] === undefined) {
        if (req.method !== 'GET') return fail(res, 405, `${req.method} on ${m[2]} is not supported by the sandbox.`, 'BadRequest_MethodNotAllowed');
        return send(res, 200, { value: projectsOf().map((p) => withoutRemoved(kind, m[2], cardOf(p))).filter((row) => filter.every((c) => (row as Record<string, unknown>)[c.field] === c.value)) });
      }
      const no = m[3].trim().replace(/^No=/, '').replace(/^'(.*)'$/, '$1').replace(/''/g, "'");
      const p = projectsOf().find((x) => x.number === no);
      if (!p) return fail(res, 404, `The Project does not exist. Identification fields and values: No.='${no}'`, 'Internal_RecordNotFound');
      if (req.method === 'GET') return send(res, 200, withoutRemoved(kind, m[2], cardOf(p)));
      if (req.method !== 'PATCH') return fail(res, 405, `${req.method} on a ${m[2]} entity is not supported by the sandbox.`, 'BadRequest_MethodNotAllowed');
      const ifMatch = req.headers['if-match'];
      if (!ifMatch) return fail(res, 400, 'Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.', 'BadRequest_InvalidToken');
      if (ifMatch.trim() !== '*' && ifMatch.trim() !== pageEtag(p)) return fail(res, 412, 'Another user has already changed the record.', 'Request_EntityChanged');
      if (body.No !== undefined && body.No !== p.number) return fail(res, 400, 'The No. of a project cannot be changed here.', 'BadRequest');
      if (body.Bill_to_Customer_No !== undefined && body.Bill_to_Customer_No !== '' && !all('customers', company.id).some((c) => c.number === body.Bill_to_Customer_No))
        return fail(res, 400, `The field Bill-to Customer No. of table Project contains a value (${body.Bill_to_Customer_No}) that cannot be found in the related table (Customer).`, 'Internal_InvalidTableRelation');
      if (body.Bill_to_Customer_No !== undefined) p._billToCustomerNo = body.Bill_to_Customer_No;
      if (body.Description !== undefined) p.displayName = String(body.Description).slice(0, 100);
      p._version += 1;
      sandbox.changed();
      return send(res, 200, withoutRemoved(kind, m[2], cardOf(p)));
    }
    // projectTasks
    const rows = () => Object.values(tasks()).filter((t) => t._companyId === company.id);
    if (m[3] !== undefined) return fail(res, 405, 'The sandbox serves project task lines as a collection only.', 'BadRequest_MethodNotAllowed');
    if (req.method === 'GET') return send(res, 200, { value: rows().filter((t) => filter.every((c) => t[c.field] === c.value)).map((t) => withoutRemoved(kind, m[2], taskRow(t))) });
    if (req.method !== 'POST') return fail(res, 405, `${req.method} on ${m[2]} is not supported by the sandbox.`, 'BadRequest_MethodNotAllowed');
    const job = projectsOf().find((x) => x.number === body.Job_No);
    if (!job) return fail(res, 400, `The field Project No. of table Project Task contains a value (${body.Job_No ?? ''}) that cannot be found in the related table (Project).`, 'Internal_InvalidTableRelation');
    if (typeof body.Job_Task_No !== 'string' || !body.Job_Task_No || body.Job_Task_No.length > 20) return fail(res, 400, 'The field Project Task No. of table Project Task must have a value (at most 20 characters).', 'Internal_FieldMustHaveAValue');
    if (taskOf(company.id, job.number, body.Job_Task_No)) return fail(res, 400, `The record in table Project Task already exists. Identification fields and values: Project No.='${job.number}',Project Task No.='${body.Job_Task_No}'`, 'Internal_EntityWithSameKeyExists');
    const type = body.Job_Task_Type ?? 'Posting';
    if (!['Posting', 'Heading', 'Total', 'Begin-Total', 'End-Total'].includes(type)) return fail(res, 400, `Job_Task_Type '${type}' is not a valid option.`, 'BadRequest');
    const id = crypto.randomUUID();
    tasks()[id] = { id, _companyId: company.id, _version: 1, Job_No: job.number, Job_Task_No: body.Job_Task_No, Description: String(body.Description ?? '').slice(0, 100), Job_Task_Type: type };
    sandbox.changed();
    return send(res, 201, withoutRemoved(kind, m[2], taskRow(tasks()[id])));
  });

  // ---------- the API
  r.all('/v2.0/:tenant/:env/api/v2.0/*', (req, res) => {
    const { tenant, env } = req.params as Record<string, string>;
    if (!authorized(req, res)) return;
    if ((req.params as Record<string, string>)[0] === '$metadata') return sendXml(res, apiMetadata());
    const segs = parseSegments((req.params as Record<string, string>)[0] ?? '');
    const root = apiRoot(tenant, env);
    if (!segs || segs.length === 0) return fail(res, 404, 'The request URL is not valid.', 'BadRequest_NotFound');
    if (segs[0].name !== 'companies') return fail(res, 404, `No HTTP resource was found that matches the request URI '${req.originalUrl}'.`, 'BadRequest_NotFound');
    const companies = sandbox.collection<Record<string, any>>('companies');
    const q = req.query as Record<string, string | undefined>;
    const select = q.$select ? q.$select.split(',').map((s) => s.trim()) : undefined;
    const expand = q.$expand ? q.$expand.split(',').map((s) => s.trim()) : undefined;
    const filter = q.$filter ? parseFilter(q.$filter) : [];
    if (typeof filter === 'string') return fail(res, 400, filter, 'BadRequest');

    const listResponse = (items: Record<string, any>[], set: string, ctxPath: string) => {
      let rows = items.filter((x) => (filter as FilterClause[]).every((c) => x[c.field] === c.value || (typeof x[c.field] === 'string' && typeof c.value === 'string' && x[c.field].toLowerCase() === c.value.toLowerCase() && /^[0-9a-f-]{36}$/i.test(c.value))));
      if ((filter as FilterClause[]).some((c) => !(PROPERTIES[set] ?? Object.keys(items[0] ?? {})).includes(c.field) && !(c.field in (items[0] ?? {}))))
        return fail(res, 400, `Could not find a property named '${(filter as FilterClause[])[0].field}' on type 'Microsoft.NAV.${set}'.`, 'BadRequest');
      const skipToken = q.$skiptoken !== undefined ? Number(q.$skiptoken) : 0;
      const skip = Number(q.$skip ?? 0) + skipToken;
      rows = rows.slice(skip);
      const top = q.$top !== undefined ? Number(q.$top) : undefined;
      if (top !== undefined) rows = rows.slice(0, top);
      const page = rows.slice(0, settings.pageSize);
      const body: Record<string, unknown> = { '@odata.context': `${root}/$metadata#${ctxPath}`, value: page.map((x) => present(set, x, '', select, expand)) };
      if (rows.length > settings.pageSize) {
        const u = new URL(req.originalUrl, `${req.protocol}://${req.headers.host}`);
        u.searchParams.delete('$skip');
        u.searchParams.set('$skiptoken', String(skip + settings.pageSize));
        if (top !== undefined) u.searchParams.set('$top', String(top - settings.pageSize));
        body['@odata.nextLink'] = `${opts.baseUrl()}${u.pathname.replace(/^\/bc/, '')}${u.search}`.replace(/%24/g, '$');
      }
      send(res, 200, body);
    };

    if (segs.length === 1) {
      if (segs[0].key === undefined) {
        if (req.method !== 'GET') return fail(res, 405, 'Companies are read-only.', 'BadRequest_MethodNotAllowed');
        return listResponse(Object.values(companies), 'company', 'companies');
      }
      const c = companies[segs[0].key];
      if (!c) return fail(res, 404, `The company ${segs[0].key} does not exist.`, 'Internal_CompanyNotFound');
      if (req.method !== 'GET') return fail(res, 405, 'Companies are read-only.', 'BadRequest_MethodNotAllowed');
      return send(res, 200, present('company', c, `${root}/$metadata#companies/$entity`, select));
    }
    const company = segs[0].key !== undefined ? companies[segs[0].key] : undefined;
    if (!company) return fail(res, 404, `The company ${segs[0].key ?? ''} does not exist.`, 'Internal_CompanyNotFound');
    const set = segs[1].name as EntitySet;
    if (!(ENTITY_SETS as readonly string[]).includes(set)) return fail(res, 404, `Resource not found for the segment '${segs[1].name}'.`, 'BadRequest_NotFound');
    const ctxBase = `companies(${company.id})/${set}`;
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, any>;

    // collection
    if (segs.length === 2 && segs[1].key === undefined) {
      if (req.method === 'GET') return listResponse(all(set, company.id), set, ctxBase);
      if (req.method === 'POST') {
        const { rec, bad } = create(set, company, body);
        if (bad) return fail(res, bad.status, bad.message, bad.code);
        sandbox.changed();
        res.setHeader('Location', `${root}/companies(${company.id})/${set}(${rec!.id})`);
        return send(res, 201, present(set, rec!, `${root}/$metadata#${ctxBase}/$entity`, select, expand));
      }
      return fail(res, 405, `${req.method} is not allowed on ${set}.`, 'BadRequest_MethodNotAllowed');
    }
    const rec = segs[1].key !== undefined ? bySet(set)[segs[1].key] : undefined;
    if (!rec || rec._companyId !== company.id) return fail(res, 404, `The ${set.replace(/s$/, '')} with id ${segs[1].key} does not exist.`, 'Internal_RecordNotFound');

    // single entity
    if (segs.length === 2) {
      if (req.method === 'GET') return send(res, 200, present(set, rec, `${root}/$metadata#${ctxBase}/$entity`, select, expand));
      if (req.method === 'PATCH') {
        const pre = checkIfMatch(req, rec);
        if (pre) return fail(res, pre.status, pre.message, pre.code);
        const bad = update(set, company, rec, body);
        if (bad) return fail(res, bad.status, bad.message, bad.code);
        sandbox.changed();
        return send(res, 200, present(set, rec, `${root}/$metadata#${ctxBase}/$entity`));
      }
      if (req.method === 'DELETE') {
        const pre = checkIfMatch(req, rec);
        if (pre) return fail(res, pre.status, pre.message, pre.code);
        if (set === 'salesInvoices' && rec.status !== 'Draft') return fail(res, 400, 'You cannot delete a posted invoice.', 'BadRequest_MethodNotAllowed');
        delete bySet(set)[rec.id];
        sandbox.changed();
        return send(res, 204);
      }
      return fail(res, 405, `${req.method} is not allowed on a ${set} entity.`, 'BadRequest_MethodNotAllowed');
    }

    // navigation and bound actions on a sales invoice
    if (set === 'salesInvoices' && segs.length === 3) {
      const nav = segs[2];
      if (nav.name === 'Microsoft.NAV.post') {
        if (req.method !== 'POST') return fail(res, 405, 'Bound actions are invoked with POST.', 'BadRequest_MethodNotAllowed');
        if (rec.status !== 'Draft') return fail(res, 400, `The invoice ${rec.number} is already posted.`, 'Internal_DocumentAlreadyPosted');
        const lines = Object.values(bySet('salesInvoiceLines')).filter((l) => l.documentId === rec.id && l.lineType !== 'Comment');
        if (lines.length === 0) return fail(res, 400, 'There is nothing to post.', 'Internal_NothingToPost');
        rec.status = 'Open';
        rec.number = `PS-INV${++company._seq.posted}`;
        rec._version += 1;
        recompute(rec, company);
        rec.lastModifiedDateTime = new Date().toISOString();
        sandbox.changed();
        return send(res, 204);
      }
      if (nav.name === 'salesInvoiceLines') {
        const linesCtx = `${ctxBase}(${rec.id})/salesInvoiceLines`;
        if (nav.key === undefined) {
          if (req.method === 'GET') return listResponse(Object.values(bySet('salesInvoiceLines')).filter((l) => l.documentId === rec.id).sort((a, b) => a.sequence - b.sequence), 'salesInvoiceLines', linesCtx);
          if (req.method === 'POST') {
            if (rec.status !== 'Draft') return fail(res, 400, 'You cannot add lines to a posted invoice.', 'BadRequest_MethodNotAllowed');
            const seq = Object.values(bySet('salesInvoiceLines')).filter((l) => l.documentId === rec.id).reduce((m, l) => Math.max(m, l.sequence), 0) + 10000;
            const bad = createLine(company, rec, body, seq);
            if (bad) return fail(res, bad.status, bad.message, bad.code);
            recompute(rec, company);
            rec._version += 1;
            sandbox.changed();
            const line = Object.values(bySet('salesInvoiceLines')).find((l) => l.documentId === rec.id && l.sequence === seq)!;
            return send(res, 201, present('salesInvoiceLines', line, `${root}/$metadata#${linesCtx}/$entity`));
          }
        } else {
          const line = bySet('salesInvoiceLines')[nav.key];
          if (!line || line.documentId !== rec.id) return fail(res, 404, `The salesInvoiceLine ${nav.key} does not exist.`, 'Internal_RecordNotFound');
          if (req.method === 'GET') return send(res, 200, present('salesInvoiceLines', line, `${root}/$metadata#${linesCtx}/$entity`));
        }
        return fail(res, 405, `${req.method} is not supported on salesInvoiceLines by the sandbox.`, 'BadRequest_MethodNotAllowed');
      }
    }
    return fail(res, 404, `Resource not found for the segment '${segs[segs.length - 1].name}'.`, 'BadRequest_NotFound');
  });

  return sandbox;
}

export const businessCentralSandbox: VendorSandboxFactory = {
  name: 'bc',
  create: (opts) => createBusinessCentralSandbox(opts),
};
