/**
 * NetSuite sandbox (SuiteTalk REST web services subset), mounted at `/netsuite`.
 *
 * What it speaks (see shared/contracts/netsuite/netsuite-rest-reference-notes.json):
 *  - `POST /services/rest/auth/oauth2/v1/token`: OAuth 2.0 client credentials (M2M) with a JWT client assertion
 *    (header typ/alg/kid = certificate id; payload iss = client id, aud = this token URL, scope, iat, exp <= iat+3600);
 *    the signature is checked when a public key is configured for the certificate.
 *  - Token-based auth: `Authorization: OAuth realm="<account>", oauth_consumer_key=..., oauth_token=..., oauth_signature_method="HMAC-SHA256", ...`
 *    verified against the configured consumer/token secrets.
 *  - Record API `/services/rest/record/v1/{customer|job|timebill|invoice|...}`: create (204 + Location), upsert
 *    `PUT .../eid:<externalId>` (204 + Location), `PATCH` (204), `GET` by internal id or `eid:`, list with `limit/offset`.
 *    References are `{ id }` objects; GET adds `refName` and `links`. Sublists (invoice `item`) come back as a link
 *    unless `expandSubResources=true`.
 *  - Asynchronous requests (`Prefer: respond-async`): 202 + Location of an async job under `/services/rest/async/v1/job/<id>`;
 *    with `X-NetSuite-Idempotency-Key` a repeated key answers 400 `IDEMPOTENCY_ERROR` with the Location of the first job,
 *    so nothing is created twice. On synchronous requests the key is ignored, as NetSuite documents.
 *  - SuiteQL `POST /services/rest/query/v1/suiteql?limit=&offset=` with `{ q }`: a small SELECT ... FROM ... WHERE subset,
 *    lower-case column names, `links`, `count`, `hasMore`, `offset`, `totalResults`.
 *  - Account concurrency governance: more than `concurrencyLimit` requests in flight get 429 with
 *    `o:errorCode: CONCURRENCY_LIMIT_EXCEEDED`.
 * Error bodies follow the documented shape: `{ type, title, status, o:errorDetails: [{ detail, o:errorCode, ... }] }`.
 */
import crypto from 'node:crypto';
import express from 'express';
import jwt from 'jsonwebtoken';
import { Sandbox, type VendorState } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { ACCOUNTS, BILLING_ENTITIES, CONSULTANTS, OPPORTUNITIES, seedTimeEntries } from '../seed/firm';

export interface NetSuiteM2MClient {
  clientId: string;
  certificateId: string;
  /** PEM public key or certificate; when set the assertion's signature is verified. */
  publicKey?: string;
}

export interface NetSuiteTbaCredential {
  consumerKey: string;
  consumerSecret: string;
  tokenId: string;
  tokenSecret: string;
}

export interface NetSuiteSandboxSettings {
  accountId: string;
  m2mClients: NetSuiteM2MClient[];
  tbaCredentials: NetSuiteTbaCredential[];
  /** Access token lifetime for the client-credentials flow (NetSuite: 3600). */
  tokenTtlSeconds: number;
  /** Account concurrency governance: requests in flight above this get 429. 0 = unlimited. */
  concurrencyLimit: number;
  /** Milliseconds an async job stays `pending` before it runs (0 = runs at once). */
  asyncDelayMs: number;
  /** Milliseconds each authenticated REST call holds its concurrency slot (simulates server work). */
  processingDelayMs: number;
}

/** Demo credentials of the sandbox account (override through the factory or the environment). */
export const NETSUITE_SANDBOX_DEFAULTS: NetSuiteSandboxSettings = {
  accountId: process.env.PSF_NETSUITE_SANDBOX_ACCOUNT ?? '1234567_SB1',
  m2mClients: [{ clientId: 'psf-demo-m2m-client', certificateId: 'psf-demo-certificate' }],
  tbaCredentials: [{ consumerKey: 'psf-demo-consumer-key', consumerSecret: 'psf-demo-consumer-secret', tokenId: 'psf-demo-token-id', tokenSecret: 'psf-demo-token-secret' }],
  tokenTtlSeconds: 3600,
  concurrencyLimit: Number(process.env.PSF_NETSUITE_SANDBOX_CONCURRENCY ?? 5),
  asyncDelayMs: 0,
  processingDelayMs: 0,
};

const TOKEN_PATH = '/services/rest/auth/oauth2/v1/token';
const ALLOWED_ALGS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'RS256'];

interface IssuedToken {
  clientId: string;
  expiresAt: number;
}

export interface NetSuiteSandboxControl {
  settings: NetSuiteSandboxSettings;
  /** Invalidates every issued access token (tests the client's refresh-once-on-401). */
  revokeTokens(): void;
  issuedTokens(): number;
}

const controls = new WeakMap<Sandbox, NetSuiteSandboxControl>();

/** The NetSuite-specific knobs of a running sandbox (credentials, governance, token lifetime). */
export function netsuiteControl(sandbox: Sandbox): NetSuiteSandboxControl {
  const c = controls.get(sandbox);
  if (!c) throw new Error(`${sandbox.name} is not a NetSuite sandbox`);
  return c;
}

// ---------------------------------------------------------------- error bodies

const STATUS_TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

export function netsuiteError(status: number, detail: string, code: string, extra: Record<string, string> = {}): Record<string, unknown> {
  return {
    type: `https://www.rfc-editor.org/rfc/rfc9110.html#status.${status}`,
    title: STATUS_TITLES[status] ?? 'Error',
    status,
    'o:errorDetails': [{ detail, 'o:errorCode': code, ...extra }],
  };
}

function defaultCode(status: number): string {
  if (status === 429) return 'CONCURRENCY_LIMIT_EXCEEDED';
  if (status === 401) return 'INVALID_LOGIN';
  if (status === 404) return 'NONEXISTENT_ID';
  if (status >= 500) return 'UNEXPECTED_ERROR';
  return 'USER_ERROR';
}

// ---------------------------------------------------------------- property names and enum values
/**
 * The standard fields a write may name per record type: those the connector and the demo use, each one a field of the
 * record in NetSuite (test/fixtures/contracts/netsuite-record-fields.json; the contract test keeps this list inside it).
 * A real account has many more; the sandbox is deliberately narrower, so a connector sending a new field is caught here first.
 */
const STANDARD_FIELDS: Record<RecordType, string[]> = {
  customer: ['externalId', 'entityId', 'companyName', 'isPerson', 'firstName', 'lastName', 'subsidiary', 'currency', 'taxable', 'taxItem', 'vatRegNumber', 'email', 'phone', 'terms', 'isInactive', 'addressBook', 'comments'],
  job: ['externalId', 'entityId', 'companyName', 'parent', 'subsidiary', 'currency', 'startDate', 'projectedEndDate', 'projectManager', 'jobBillingType', 'estimatedTimeOverride', 'entityStatus', 'isInactive', 'comments', 'projectExpenseType'],
  timebill: ['externalId', 'employee', 'customer', 'item', 'tranDate', 'hours', 'isBillable', 'rate', 'price', 'memo', 'subsidiary', 'approvalStatus', 'department', 'class', 'location'],
  invoice: ['externalId', 'entity', 'job', 'subsidiary', 'currency', 'tranDate', 'dueDate', 'otherRefNum', 'memo', 'item', 'terms', 'approvalStatus', 'department', 'class', 'location'],
  subsidiary: [], currency: [], employee: [], serviceitem: [], salestaxitem: [],
};
const STANDARD_INVOICE_LINE_FIELDS = ['item', 'quantity', 'rate', 'amount', 'description', 'job', 'taxCode', 'price'];

/** What the sandbox accepts per record type besides the account's custom fields (`DEMO_CUSTOM_FIELDS`, sandbox state). */
export const NETSUITE_SANDBOX_FIELDS = {
  standard: STANDARD_FIELDS,
  invoiceLine: STANDARD_INVOICE_LINE_FIELDS,
};

const KNOWN_FIELDS = STANDARD_FIELDS;
const KNOWN_INVOICE_LINE_FIELDS = STANDARD_INVOICE_LINE_FIELDS;

/**
 * A custom field of the account (Customization > Lists, Records, & Fields): on a record's body, or on the lines of its
 * `item` sublist (transaction line fields). `type` is what the metadata catalog shows: Long Text -> string, Currency -> number.
 */
export interface NetSuiteCustomFieldDef {
  record: RecordType;
  sublist?: 'item';
  id: string;
  label: string;
  type: 'string' | 'number' | 'boolean';
}

/** The demo account's custom fields, as docs/connectors/netsuite.md tells a firm to create them. */
const DEMO_CUSTOM_FIELDS: NetSuiteCustomFieldDef[] = [
  { record: 'job', id: 'custentity_psf_budget_amount', label: 'PSF Budget Amount', type: 'number' },
  { record: 'job', id: 'custentity_psf_billing_schedule', label: 'PSF Billing Schedule', type: 'string' },
  { record: 'job', id: 'custentity_psf_billing_cap', label: 'PSF Billing Cap', type: 'number' },
  { record: 'invoice', sublist: 'item', id: 'custcol_psf_source_refs', label: 'PSF Source Refs', type: 'string' },
];
const customFieldKey = (record: string, id: string) => `${record}.${id}`.toLowerCase();

/**
 * The demo account's customisation as the contract test reads it: the custom body fields per record and the custom
 * columns of invoice lines (Customization > Lists, Records & Fields). A firm's account has its own; docs/connectors/netsuite.md
 * says which PS Fabric needs.
 */
export const NETSUITE_ACCOUNT_CUSTOMISATION: { entityFields: Partial<Record<RecordType, string[]>>; invoiceLineFields: string[] } = {
  entityFields: DEMO_CUSTOM_FIELDS.filter((f) => !f.sublist).reduce<Partial<Record<RecordType, string[]>>>((acc, f) => ({ ...acc, [f.record]: [...(acc[f.record] ?? []), f.id] }), {}),
  invoiceLineFields: DEMO_CUSTOM_FIELDS.filter((f) => f.record === 'invoice' && f.sublist === 'item').map((f) => f.id),
};

/** Property names NetSuite matches case-insensitively. `custom`: the account's custom fields (sandbox state). */
function unknownProperties(type: RecordType, body: Record<string, any>, custom: NetSuiteCustomFieldDef[]): string[] {
  const known = new Set([...KNOWN_FIELDS[type], ...custom.filter((f) => f.record === type && !f.sublist).map((f) => f.id)].map((f) => f.toLowerCase()));
  const out = Object.keys(body).filter((k) => !known.has(k.toLowerCase()) && k !== 'id' && k !== 'links' && k !== 'refName');
  if (type === 'invoice' && Array.isArray(body.item?.items)) {
    const lineKnown = new Set([...KNOWN_INVOICE_LINE_FIELDS, ...custom.filter((f) => f.record === 'invoice' && f.sublist === 'item').map((f) => f.id)].map((f) => f.toLowerCase()));
    (body.item.items as Record<string, unknown>[]).forEach((line, i) => {
      for (const k of Object.keys(line ?? {})) if (!lineKnown.has(k.toLowerCase()) && k !== 'line') out.push(`item.items[${i}].${k}`);
    });
  }
  return out;
}

function withoutProperties(body: Record<string, any>, names: string[]): Record<string, any> {
  const copy: Record<string, any> = { ...body };
  for (const n of names) {
    const m = /^item\.items\[(\d+)\]\.(.+)$/.exec(n);
    if (m) {
      copy.item = { ...copy.item, items: (copy.item.items as Record<string, unknown>[]).map((l, i) => (i === Number(m[1]) ? Object.fromEntries(Object.entries(l).filter(([k]) => k !== m[2])) : l)) };
    } else delete copy[n];
  }
  return copy;
}

/** NetSuite's job billing types (Projects > Project Billing): time and materials, fixed bid milestone / interval, charge-based. */
export const JOB_BILLING_TYPES = ['TM', 'FBM', 'FBI', 'CB'];

function invalidEnumValue(type: RecordType, body: Record<string, any>): { path: string; detail: string } | undefined {
  if (type === 'job' && body.jobBillingType !== undefined && body.jobBillingType !== null) {
    const v = typeof body.jobBillingType === 'object' ? body.jobBillingType.id : body.jobBillingType;
    if (!JOB_BILLING_TYPES.includes(String(v))) return { path: 'jobBillingType', detail: `Invalid value '${String(v)}' for field jobBillingType: expected one of ${JOB_BILLING_TYPES.join(', ')} (Time and Materials, Fixed Bid Milestone, Fixed Bid Interval, Charge-Based).` };
  }
  return undefined;
}

// ---------------------------------------------------------------- seed

/** Record types the sandbox knows, with the NetSuite record id (lower-case) -> collection name. */
const RECORD_TYPES = ['customer', 'job', 'timebill', 'invoice', 'subsidiary', 'currency', 'employee', 'serviceitem', 'salestaxitem'] as const;
type RecordType = (typeof RECORD_TYPES)[number];

const CURRENCIES: Array<{ id: string; symbol: string; name: string }> = [
  { id: '1', symbol: 'USD', name: 'US Dollar' },
  { id: '2', symbol: 'GBP', name: 'British pound' },
  { id: '3', symbol: 'CAD', name: 'Canadian Dollar' },
  { id: '4', symbol: 'EUR', name: 'Euro' },
];

const ROLE_ITEMS: Array<{ id: string; itemId: string; role: string }> = [
  { id: '200', itemId: 'PS-TIME', role: '' },
  { id: '201', itemId: 'PS-EM', role: 'Engagement Manager' },
  { id: '202', itemId: 'PS-ARCH', role: 'Solution Architect' },
  { id: '203', itemId: 'PS-SRCONS', role: 'Senior Consultant' },
  { id: '204', itemId: 'PS-CONS', role: 'Consultant' },
];

function ref(id: string): { id: string } {
  return { id };
}

export function seedNetSuite(): VendorState {
  const now = '2026-11-01T09:00:00Z';
  const state: VendorState = Object.fromEntries(RECORD_TYPES.map((t) => [t, {}]));
  state._customFields = Object.fromEntries(DEMO_CUSTOM_FIELDS.map((f) => [customFieldKey(f.record, f.id), { ...f }]));
  state._revokedPermissions = {};
  for (const e of BILLING_ENTITIES.filter((b) => b.erp === 'netsuite')) {
    state.subsidiary[e.erpCompany] = { id: e.erpCompany, name: e.legalName, country: e.country, currency: ref(CURRENCIES.find((c) => c.symbol === e.currency)!.id), isInactive: false };
  }
  for (const c of CURRENCIES) state.currency[c.id] = { id: c.id, symbol: c.symbol, name: c.name, isBaseCurrency: c.symbol === 'USD' };
  for (const i of ROLE_ITEMS) state.serviceitem[i.id] = { id: i.id, itemId: i.itemId, displayName: i.role ? `Professional services - ${i.role}` : 'Professional services - time', subsidiary: ref('1'), isInactive: false };
  state.salestaxitem['-7'] = { id: '-7', itemId: '-Not Taxable-', rate: 0 };
  state.salestaxitem['301'] = { id: '301', itemId: 'CA-LONG BEACH', rate: 10.25 };
  state.salestaxitem['302'] = { id: '302', itemId: 'OH-COLUMBUS', rate: 7.5 };
  let empId = 100;
  const employeeIds: Record<string, string> = {};
  for (const c of CONSULTANTS.filter((x) => x.homeEntity === 'NWA-US')) {
    empId += 1;
    employeeIds[c.id] = String(empId);
    const [firstName, ...rest] = c.name.split(' ');
    state.employee[String(empId)] = { id: String(empId), externalId: c.id, entityId: c.name, firstName, lastName: rest.join(' '), email: c.email, title: c.role, subsidiary: ref('1'), laborCost: c.costRate, isInactive: false };
  }
  // Customers that already exist in NetSuite: every US account with a delivered (closed-won) deal.
  let custId = 1000;
  const customerIds: Record<string, string> = {};
  for (const opp of OPPORTUNITIES.filter((o) => o.delivered)) {
    const acct = ACCOUNTS.find((a) => a.sfId === opp.accountSfId)!;
    if (acct.billingEntity !== 'NWA-US') continue;
    if (!customerIds[acct.sfId]) {
      custId += 1;
      customerIds[acct.sfId] = String(custId);
      state.customer[String(custId)] = {
        id: String(custId), externalId: acct.externalId, entityId: acct.externalId, companyName: acct.name, isPerson: false,
        subsidiary: ref('1'), currency: ref('1'), taxable: true, taxItem: ref('301'), vatRegNumber: acct.taxRegistration ?? null,
        defaultAddress: `${acct.street}\n${acct.city} ${acct.postalCode}\n${acct.country}`,
        addressBook: { items: [{ defaultBilling: true, addressBookAddress: { addr1: acct.street, city: acct.city, zip: acct.postalCode, country: acct.country } }] },
        dateCreated: now, lastModifiedDate: now,
      };
    }
    const jobId = String(5000 + Object.keys(state.job).length + 1);
    state.job[jobId] = { id: jobId, externalId: opp.sfId, entityId: opp.name, companyName: opp.name, parent: ref(customerIds[acct.sfId]), subsidiary: ref('1'), currency: ref('1'), projectManager: employeeIds[opp.deliveryManagerId] ? ref(employeeIds[opp.deliveryManagerId]) : null, startDate: opp.closeDate, entityStatus: ref('2'), jobBillingType: 'TM', dateCreated: now, lastModifiedDate: now };
    // Time already billed on the delivered project (history): one time bill per invoiced entry.
    for (const te of seedTimeEntries().filter((t) => t.opportunitySfId === opp.sfId && t.invoiced)) {
      const id = String(70000 + Object.keys(state.timebill).length + 1);
      state.timebill[id] = { id, externalId: te.id, employee: ref(employeeIds[te.consultantId] ?? '101'), customer: ref(jobId), item: ref('200'), tranDate: te.date, hours: te.hours, memo: te.notes, isBillable: te.billable, approvalStatus: ref('3'), subsidiary: ref('1'), dateCreated: now, lastModifiedDate: now };
    }
  }
  return state;
}

// ---------------------------------------------------------------- helpers

function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function parseOAuthHeader(header: string): Record<string, string> | undefined {
  if (!/^OAuth\s/i.test(header)) return undefined;
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_]+)="([^"]*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header.slice(6))) !== null) out[m[1]] = decodeURIComponent(m[2]);
  return out;
}

function formParams(body: unknown): URLSearchParams {
  if (typeof body === 'string') return new URLSearchParams(body);
  if (body && typeof body === 'object') return new URLSearchParams(body as Record<string, string>);
  return new URLSearchParams();
}

function normaliseType(type: string): RecordType | undefined {
  const t = type.toLowerCase();
  return (RECORD_TYPES as readonly string[]).includes(t) ? (t as RecordType) : undefined;
}

/** NetSuite duration fields accept `8`, `7.5` or `7:30`. */
function hoursValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const m = /^(\d+):(\d{2})$/.exec(v.trim());
    if (m) return Number(m[1]) + Number(m[2]) / 60;
    if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  }
  return undefined;
}

// ---------------------------------------------------------------- the sandbox

export function createNetSuiteSandbox(opts: { statePath?: string; baseUrl: () => string; settings?: Partial<NetSuiteSandboxSettings> }): Sandbox {
  const settings: NetSuiteSandboxSettings = { ...NETSUITE_SANDBOX_DEFAULTS, ...(opts.settings ?? {}) };
  const sandbox = new Sandbox({
    name: 'netsuite',
    seed: seedNetSuite,
    statePath: opts.statePath,
    errorBody: (status, message) => netsuiteError(status, message, defaultCode(status)),
    // NetSuite's governance answers 429 with its error body and documents no Retry-After: clients must not rely on one
    limitExceeded: (kind) => ({ status: 429, body: netsuiteError(429, kind === 'concurrency' ? 'Concurrent request limit exceeded. Request blocked.' : 'Request limit exceeded. Request blocked.', 'CONCURRENCY_LIMIT_EXCEEDED') }),
    faultExempt: [/^\/services\/rest\/auth\//],
  });
  const tokens = new Map<string, IssuedToken>();
  const nonces = new Map<string, number>();
  let inFlight = 0;
  controls.set(sandbox, {
    settings,
    revokeTokens: () => tokens.clear(),
    issuedTokens: () => tokens.size,
  });
  const r = sandbox.router;
  const restUrl = () => `${opts.baseUrl()}/services/rest`;
  const recordUrl = (type: string, id: string) => `${restUrl()}/record/v1/${type}/${id}`;
  const fail = (res: express.Response, status: number, detail: string, code: string, extra?: Record<string, string>) => {
    res.status(status).type('application/vnd.oracle.resource+json; type=error').send(JSON.stringify(netsuiteError(status, detail, code, extra)));
  };

  // ---------- OAuth 2.0 client credentials (M2M)
  r.post(TOKEN_PATH, (req, res) => {
    const p = formParams(req.body);
    const oauthError = (error: string, description?: string) => res.status(400).json(description ? { error, error_description: description } : { error });
    if (p.get('grant_type') !== 'client_credentials') return oauthError('unsupported_grant_type');
    if (p.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return oauthError('invalid_request', 'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const assertion = p.get('client_assertion') ?? '';
    const decoded = jwt.decode(assertion, { complete: true });
    if (!decoded || typeof decoded.payload !== 'object') return oauthError('invalid_request', 'client_assertion is not a well-formed JWT');
    const header = decoded.header as jwt.JwtHeader;
    const payload = decoded.payload as jwt.JwtPayload & { scope?: string | string[] };
    if (header.typ !== undefined && header.typ !== 'JWT') return oauthError('invalid_request', 'JWT header typ must be JWT');
    if (!ALLOWED_ALGS.includes(header.alg)) return oauthError('invalid_request', `JWT alg ${header.alg} is not accepted`);
    const client = settings.m2mClients.find((c) => c.clientId === payload.iss && c.certificateId === header.kid);
    if (!client) return oauthError('invalid_client');
    const tokenUrl = `${opts.baseUrl()}${TOKEN_PATH}`;
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!aud.includes(tokenUrl)) return oauthError('invalid_request', `aud must be ${tokenUrl}`);
    const scopes = (Array.isArray(payload.scope) ? payload.scope : String(payload.scope ?? '').split(/[ ,]+/)).filter(Boolean);
    if (!scopes.includes('rest_webservices')) return oauthError('invalid_scope', 'scope must include rest_webservices');
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') return oauthError('invalid_request', 'iat and exp are required');
    if (payload.exp <= now - 5 || payload.exp - payload.iat > 3600 || payload.iat > now + 300) return oauthError('invalid_grant', 'the assertion is expired or its lifetime exceeds 60 minutes');
    if (client.publicKey) {
      try {
        jwt.verify(assertion, client.publicKey, { algorithms: [header.alg as jwt.Algorithm], clockTolerance: 5 });
      } catch {
        return oauthError('invalid_grant', 'the assertion signature does not verify with the certificate on file');
      }
    }
    const accessToken = crypto.randomBytes(32).toString('base64url');
    tokens.set(accessToken, { clientId: client.clientId, expiresAt: Date.now() + settings.tokenTtlSeconds * 1000 });
    res.json({ access_token: accessToken, expires_in: String(settings.tokenTtlSeconds), token_type: 'bearer' });
  });

  // ---------- authentication of every REST call (Bearer or OAuth 1.0a TBA)
  const authenticate = (req: express.Request): string | undefined => {
    const auth = req.headers.authorization ?? '';
    if (/^Bearer\s+/i.test(auth)) {
      const t = tokens.get(auth.replace(/^Bearer\s+/i, '').trim());
      if (!t) return 'unknown or revoked access token';
      if (t.expiresAt <= Date.now()) return 'access token expired';
      return undefined;
    }
    const o = parseOAuthHeader(auth);
    if (!o) return 'missing Authorization header';
    if (o.realm !== settings.accountId) return `realm must be the account id ${settings.accountId}`;
    if (o.oauth_signature_method !== 'HMAC-SHA256') return 'oauth_signature_method must be HMAC-SHA256';
    const cred = settings.tbaCredentials.find((c) => c.consumerKey === o.oauth_consumer_key && c.tokenId === o.oauth_token);
    if (!cred) return 'unknown consumer key or token';
    const ts = Number(o.oauth_timestamp);
    if (!Number.isFinite(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return 'oauth_timestamp out of range';
    const nonceKey = `${o.oauth_consumer_key}:${o.oauth_nonce}:${o.oauth_timestamp}`;
    if (!o.oauth_nonce || nonces.has(nonceKey)) return 'oauth_nonce reused';
    const params: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(o)) if (k.startsWith('oauth_') && k !== 'oauth_signature') params.push([k, v]);
    const url = new URL(req.originalUrl, `${req.protocol}://${req.headers.host}`);
    url.searchParams.forEach((v, k) => params.push([k, v]));
    const norm = params.map(([k, v]) => [percentEncode(k), percentEncode(v)]).sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
    const baseString = [req.method.toUpperCase(), percentEncode(`${url.protocol}//${url.host}${url.pathname}`), percentEncode(norm.map(([k, v]) => `${k}=${v}`).join('&'))].join('&');
    const key = `${percentEncode(cred.consumerSecret)}&${percentEncode(cred.tokenSecret)}`;
    const expected = crypto.createHmac('sha256', key).update(baseString).digest('base64');
    const given = o.oauth_signature ?? '';
    if (expected.length !== given.length || !crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(given))) return 'signature mismatch';
    nonces.set(nonceKey, Date.now());
    if (nonces.size > 10000) for (const [k, at] of nonces) if (Date.now() - at > 600000) nonces.delete(k);
    return undefined;
  };

  r.use('/services/rest', (req, res, next) => {
    if (req.path.startsWith('/auth/')) return next();
    const why = authenticate(req);
    if (why) {
      res.setHeader('WWW-Authenticate', 'Bearer, OAuth');
      return fail(res, 401, `Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail. (sandbox: ${why})`, 'INVALID_LOGIN');
    }
    // Account concurrency governance.
    if (settings.concurrencyLimit > 0 && inFlight >= settings.concurrencyLimit) {
      const entry = (res.locals as { sandboxEntry?: { fault?: string } }).sandboxEntry;
      if (entry) entry.fault = 'netsuite-concurrency';
      return fail(res, 429, `Concurrent request limit exceeded. The account allows ${settings.concurrencyLimit} requests at a time.`, 'CONCURRENCY_LIMIT_EXCEEDED');
    }
    inFlight += 1;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        inFlight -= 1;
      }
    };
    res.on('finish', release);
    res.on('close', release);
    if (settings.processingDelayMs > 0) setTimeout(next, settings.processingDelayMs);
    else next();
  });

  // ---------- custom fields, permissions, metadata catalog
  const customFields = () => Object.values(sandbox.collection<NetSuiteCustomFieldDef>('_customFields'));
  /** Record types the integration role lost its permission on (`DELETE /_sandbox/permissions/<record>`). */
  const revoked = () => sandbox.collection<boolean>('_revokedPermissions');
  // An account without a custom field (or with one of another name), and a role without a permission; reset restores both.
  r.delete('/_sandbox/schema/:record/fields/:field', (req, res) => {
    const key = customFieldKey(req.params.record, req.params.field);
    if (!sandbox.collection('_customFields')[key]) return res.status(404).json({ error: `no custom field ${req.params.field} on ${req.params.record}` });
    delete sandbox.collection('_customFields')[key];
    sandbox.changed();
    res.status(204).end();
  });
  r.put('/_sandbox/schema/:record/fields/:field', express.json(), (req, res) => {
    const type = normaliseType(req.params.record);
    const b = (req.body ?? {}) as Partial<NetSuiteCustomFieldDef>;
    if (!type || !/^cust(entity|col|body)[a-z0-9_]+$/i.test(req.params.field)) return res.status(400).json({ error: 'PUT /_sandbox/schema/<record>/fields/<custentity_...|custcol_...> { type: string|number|boolean, label? }' });
    if (!['string', 'number', 'boolean'].includes(String(b.type))) return res.status(400).json({ error: 'type must be string, number or boolean' });
    const def: NetSuiteCustomFieldDef = { record: type, id: req.params.field.toLowerCase(), label: String(b.label ?? req.params.field), type: b.type as NetSuiteCustomFieldDef['type'], ...(/^custcol/i.test(req.params.field) ? { sublist: 'item' as const } : {}) };
    sandbox.collection('_customFields')[customFieldKey(type, def.id)] = def;
    sandbox.changed();
    res.json(def);
  });
  r.delete('/_sandbox/permissions/:record', (req, res) => {
    const type = normaliseType(req.params.record);
    if (!type) return res.status(404).json({ error: `no record type ${req.params.record}` });
    revoked()[type] = true;
    sandbox.changed();
    res.status(204).end();
  });
  r.use('/services/rest/record/v1/:type', (req, res, next) => {
    const type = normaliseType(req.params.type);
    if (type && revoked()[type]) return fail(res, 403, `Permission Violation: You need a higher level of the '${type}' permission to access this page. Please contact your account administrator.`, 'INSUFFICIENT_PERMISSION');
    next();
  });

  /** JSON Schema of a record as the metadata catalog serves it (standard fields the sandbox knows + the account's custom fields). */
  const STANDARD_TYPES: Record<string, string> = { hours: 'string', isBillable: 'boolean', isInactive: 'boolean', isPerson: 'boolean', taxable: 'boolean', estimatedLaborHours: 'number', rate: 'number', quantity: 'number', amount: 'number' };
  const prop = (name: string) => (REF_TYPES[name] && name !== 'item' ? { title: name, type: 'object', $ref: `/services/rest/record/v1/metadata-catalog/${REF_TYPES[name]}`, nullable: true } : { title: name, type: STANDARD_TYPES[name] ?? 'string', nullable: true });
  const customProp = (f: NetSuiteCustomFieldDef) => ({ title: f.label, type: f.type, ...(f.type === 'number' ? { format: 'double' } : {}), nullable: true, 'x-ns-custom-field': true });
  const recordSchema = (type: RecordType): Record<string, unknown> => {
    const properties: Record<string, unknown> = { id: { title: 'Internal ID', type: 'string', nullable: true } };
    for (const f of KNOWN_FIELDS[type]) properties[f] = prop(f);
    for (const f of customFields()) if (f.record === type && !f.sublist) properties[f.id] = customProp(f);
    const schema: Record<string, unknown> = { type: 'object', properties };
    if (type === 'invoice') {
      const line: Record<string, unknown> = {};
      for (const f of KNOWN_INVOICE_LINE_FIELDS) line[f] = f === 'item' ? { title: 'Item', type: 'object', $ref: '/services/rest/record/v1/metadata-catalog/serviceitem', nullable: true } : prop(f);
      for (const f of customFields()) if (f.record === 'invoice' && f.sublist === 'item') line[f.id] = customProp(f);
      properties.item = { title: 'Items', $ref: '#/definitions/invoice-itemCollection' };
      schema.definitions = {
        'invoice-itemCollection': { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/definitions/invoice-itemElement' } }, totalResults: { type: 'integer' } } },
        'invoice-itemElement': { type: 'object', properties: line },
      };
    }
    return schema;
  };
  r.get('/services/rest/record/v1/metadata-catalog', (_req, res) => {
    res.json({ items: RECORD_TYPES.map((t) => ({ name: t, links: [{ rel: 'canonical', href: `${restUrl()}/record/v1/${t}`, mediaType: 'application/json' }, { rel: 'alternate', href: `${restUrl()}/record/v1/metadata-catalog/${t}`, mediaType: 'application/schema+json' }] })) });
  });
  r.get('/services/rest/record/v1/metadata-catalog/:type', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    if (!/application\/schema\+json/i.test(String(req.headers.accept ?? ''))) return fail(res, 400, 'The metadata catalog of a record is served as JSON Schema: send Accept: application/schema+json.', 'INVALID_HEADER');
    res.type('application/schema+json').send(JSON.stringify(recordSchema(type)));
  });

  // ---------- records
  const col = (type: RecordType) => sandbox.collection<Record<string, any>>(type);
  const findByRef = (type: RecordType, key: string): Record<string, any> | undefined => {
    if (key.startsWith('eid:')) {
      const eid = key.slice(4);
      return Object.values(col(type)).find((rec) => rec.externalId === eid);
    }
    return col(type)[key];
  };
  const nextInternalId = (type: RecordType): string => {
    const base: Record<string, number> = { customer: 1000, job: 5000, timebill: 70000, invoice: 90000, employee: 100, serviceitem: 200, subsidiary: 1, currency: 1, salestaxitem: 300 };
    const ids = Object.keys(col(type)).map(Number).filter(Number.isFinite);
    return String(Math.max(base[type] ?? 1, ...ids) + 1);
  };
  const REF_TYPES: Record<string, RecordType> = { subsidiary: 'subsidiary', currency: 'currency', parent: 'customer', entity: 'customer', employee: 'employee', item: 'serviceitem', taxItem: 'salestaxitem', projectManager: 'employee', job: 'job' };
  const refName = (type: RecordType, id: string): string | undefined => {
    const rec = col(type)[id] ?? (type === 'customer' ? col('job')[id] : undefined);
    if (!rec) return undefined;
    return rec.companyName ?? rec.entityId ?? rec.name ?? rec.itemId ?? rec.symbol ?? rec.displayName;
  };

  type Validation = { status: number; detail: string; code: string; path?: string } | undefined;
  const resolveRefs = (body: Record<string, any>): Validation => {
    for (const [field, type] of Object.entries(REF_TYPES)) {
      const v = body[field];
      if (v === undefined || v === null || (typeof v === 'object' && Array.isArray(v.items))) continue;
      if (typeof v !== 'object' || (v.id === undefined && v.externalId === undefined)) return { status: 400, detail: `Invalid value for the resource or sub-resource field '${field}'. Provide a valid reference object with id or externalId.`, code: 'INVALID_CONTENT', path: field };
      const target = v.id !== undefined ? findByRef(type, String(v.id)) ?? (type === 'customer' ? col('job')[String(v.id)] : undefined) : findByRef(type, `eid:${v.externalId}`);
      if (!target) return { status: 400, detail: `Invalid reference key ${JSON.stringify(v.id ?? v.externalId)} for field '${field}'.`, code: 'USER_ERROR', path: field };
      body[field] = { id: String(target.id) };
    }
    return undefined;
  };

  const validate = (type: RecordType, rec: Record<string, any>, creating: boolean): Validation => {
    if (rec.externalId !== undefined && rec.externalId !== null && !/^[A-Za-z0-9_-]+$/.test(String(rec.externalId)))
      return { status: 400, detail: `Invalid externalId ${JSON.stringify(rec.externalId)}: use letters, digits, _ and -.`, code: 'INVALID_CONTENT', path: 'externalId' };
    const required: Record<string, string[]> = { customer: ['companyName', 'subsidiary'], job: ['companyName', 'parent', 'subsidiary'], timebill: ['employee', 'tranDate', 'hours'], invoice: ['entity', 'item'] };
    if (creating) for (const f of required[type] ?? []) if (rec[f] === undefined || rec[f] === null || rec[f] === '') return { status: 400, detail: `Please enter value(s) for: ${f}`, code: 'USER_ERROR', path: f };
    if (type === 'timebill' && rec.hours !== undefined) {
      const h = hoursValue(rec.hours);
      if (h === undefined || h < 0 || h > 24) return { status: 400, detail: `Invalid value for field hours: ${JSON.stringify(rec.hours)}.`, code: 'INVALID_CONTENT', path: 'hours' };
      rec.hours = h;
    }
    if (type === 'invoice' && rec.item !== undefined) {
      const lines = rec.item?.items;
      if (!Array.isArray(lines) || lines.length === 0) return { status: 400, detail: 'You must enter at least one line item for this transaction.', code: 'USER_ERROR', path: 'item' };
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        const bad = resolveRefs(line);
        if (bad) return { ...bad, path: `item.items[${i}].${bad.path}` };
        if (!line.item) return { status: 400, detail: `Please enter value(s) for: Item (line ${i + 1})`, code: 'USER_ERROR', path: `item.items[${i}].item` };
        const qty = Number(line.quantity ?? 1);
        const rate = Number(line.rate ?? 0);
        if (!Number.isFinite(qty) || !Number.isFinite(rate)) return { status: 400, detail: `Invalid quantity or rate on line ${i + 1}.`, code: 'INVALID_CONTENT', path: `item.items[${i}]` };
        line.quantity = qty;
        line.rate = rate;
        line.amount = Math.round(qty * rate * 100) / 100;
        line.line = i + 1;
      }
    }
    if (type === 'job' && rec.parent && !col('customer')[rec.parent.id]) return { status: 400, detail: 'The parent of a project must be a customer.', code: 'USER_ERROR', path: 'parent' };
    return undefined;
  };

  const derive = (type: RecordType, rec: Record<string, any>) => {
    if (type === 'invoice') {
      const lines: any[] = rec.item?.items ?? [];
      const subtotal = Math.round(lines.reduce((s, l) => s + Number(l.amount ?? 0), 0) * 100) / 100;
      const customer = col('customer')[rec.entity?.id];
      const taxRate = customer?.taxable && customer?.taxItem ? Number(col('salestaxitem')[customer.taxItem.id]?.rate ?? 0) : 0;
      rec.subtotal = subtotal;
      rec.taxTotal = Math.round(subtotal * taxRate) / 100;
      rec.total = Math.round((rec.subtotal + rec.taxTotal) * 100) / 100;
      rec.status = rec.status ?? 'Open';
      rec.tranId = rec.tranId ?? `INV${rec.id}`;
      rec.currency = rec.currency ?? customer?.currency;
      rec.subsidiary = rec.subsidiary ?? customer?.subsidiary;
    }
    if (type === 'customer') rec.entityId = rec.entityId ?? rec.externalId ?? `CUST${rec.id}`;
    if (type === 'job') rec.entityId = rec.entityId ?? rec.companyName;
  };

  /** Create (or upsert-create) a record; returns the created record or a validation failure. */
  const createRecord = (type: RecordType, body: Record<string, any>): { rec?: Record<string, any>; bad?: Validation } => {
    const rec: Record<string, any> = JSON.parse(JSON.stringify(body ?? {}));
    delete rec.id;
    delete rec.links;
    const bad = resolveRefs(rec) ?? validate(type, rec, true);
    if (bad) return { bad };
    if (rec.externalId && findByRef(type, `eid:${rec.externalId}`)) return { bad: { status: 400, detail: `A record with external ID ${rec.externalId} already exists.`, code: 'DUP_RCRD', path: 'externalId' } };
    rec.id = nextInternalId(type);
    const now = new Date().toISOString();
    rec.dateCreated = now;
    rec.lastModifiedDate = now;
    derive(type, rec);
    col(type)[rec.id] = rec;
    sandbox.changed();
    return { rec };
  };

  const updateRecord = (type: RecordType, existing: Record<string, any>, body: Record<string, any>, replaceSublists: string[]): Validation => {
    const patch: Record<string, any> = JSON.parse(JSON.stringify(body ?? {}));
    delete patch.id;
    delete patch.links;
    const bad = resolveRefs(patch) ?? validate(type, patch, false);
    if (bad) return bad;
    if (patch.externalId && patch.externalId !== existing.externalId && findByRef(type, `eid:${patch.externalId}`)) return { status: 400, detail: `A record with external ID ${patch.externalId} already exists.`, code: 'DUP_RCRD' };
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'item' && type === 'invoice' && !replaceSublists.includes('item') && Array.isArray(existing.item?.items)) {
        existing.item.items = [...existing.item.items, ...(v.items ?? [])].map((l: any, i: number) => ({ ...l, line: i + 1 }));
      } else existing[k] = v;
    }
    existing.lastModifiedDate = new Date().toISOString();
    derive(type, existing);
    sandbox.changed();
    return undefined;
  };

  const present = (type: string, rec: Record<string, any>, query: express.Request['query']): Record<string, unknown> => {
    const t = normaliseType(type)!;
    const out: Record<string, unknown> = { links: [{ rel: 'self', href: recordUrl(t, rec.id) }] };
    const fields = typeof query.fields === 'string' ? query.fields.split(',') : undefined;
    for (const [k, v] of Object.entries(rec)) {
      if (fields && !fields.includes(k) && k !== 'id') continue;
      if (v && typeof v === 'object' && !Array.isArray(v) && 'id' in v && Object.keys(v).length === 1 && REF_TYPES[k]) {
        const rt = REF_TYPES[k];
        out[k] = { links: [{ rel: 'self', href: recordUrl(rt, v.id) }], id: v.id, refName: refName(rt, v.id) };
      } else if (v && typeof v === 'object' && Array.isArray((v as any).items)) {
        const sub = `${recordUrl(t, rec.id)}/${k}`;
        out[k] = query.expandSubResources === 'true'
          ? { links: [{ rel: 'self', href: sub }], items: (v as any).items.map((l: any) => ({ links: [], ...l, ...(l.item ? { item: { links: [{ rel: 'self', href: recordUrl('serviceitem', l.item.id) }], id: l.item.id, refName: refName('serviceitem', l.item.id) } } : {}) })), totalResults: (v as any).items.length }
          : { links: [{ rel: 'self', href: sub }] };
      } else out[k] = v;
    }
    return out;
  };

  /** Runs a record write and answers like NetSuite; used directly (sync) and by the async job runner. */
  type Outcome = { status: number; location?: string; body?: unknown; recordId?: string };
  const runWrite = (method: string, type: RecordType, key: string | undefined, body: Record<string, any>, query: express.Request['query']): Outcome => {
    const replace = typeof query.replace === 'string' ? query.replace.split(',') : [];
    const bad = (v: NonNullable<Validation>): Outcome => ({ status: v.status, body: netsuiteError(v.status, v.detail, v.code, v.path ? { 'o:errorPath': v.path } : {}) });
    if (method === 'POST' && key === undefined) {
      const { rec, bad: b } = createRecord(type, body);
      if (b) return bad(b);
      return { status: 204, location: recordUrl(type, rec!.id), recordId: rec!.id };
    }
    if (method === 'PUT') {
      if (!key || !key.startsWith('eid:')) return bad({ status: 405, detail: 'PUT is only supported with an external ID (eid:).', code: 'INVALID_REQUEST' });
      const existing = findByRef(type, key);
      if (existing) {
        const b = updateRecord(type, existing, { ...body, externalId: key.slice(4) }, replace.length ? replace : ['item']);
        if (b) return bad(b);
        return { status: 204, location: recordUrl(type, existing.id), recordId: existing.id };
      }
      const { rec, bad: b } = createRecord(type, { ...body, externalId: key.slice(4) });
      if (b) return bad(b);
      return { status: 204, location: recordUrl(type, rec!.id), recordId: rec!.id };
    }
    if (method === 'PATCH' && key) {
      const existing = findByRef(type, key);
      if (!existing) return bad({ status: 404, detail: `The record instance does not exist. Provide a valid record instance ID.`, code: 'NONEXISTENT_ID' });
      const b = updateRecord(type, existing, body, replace);
      if (b) return bad(b);
      return { status: 204, location: recordUrl(type, existing.id), recordId: existing.id };
    }
    return bad({ status: 405, detail: `${method} is not supported here.`, code: 'INVALID_REQUEST' });
  };

  const sendOutcome = (res: express.Response, o: Outcome) => {
    if (o.location) res.setHeader('Location', o.location);
    if (o.body === undefined) res.status(o.status).end();
    else res.status(o.status).type('application/vnd.oracle.resource+json; type=error').send(JSON.stringify(o.body));
  };

  // ---------- async jobs (Prefer: respond-async) and idempotency keys
  const jobs = () => sandbox.collection<{ id: string; key?: string; createdAt: number; runAt: number; request: { method: string; type: RecordType; key?: string; body: any; query: any }; outcome?: Outcome }>('_asyncJob');
  const jobUrl = (id: string) => `${restUrl()}/async/v1/job/${id}`;
  const runDueJob = (job: ReturnType<typeof jobs>[string]) => {
    if (!job.outcome && Date.now() >= job.runAt) {
      job.outcome = runWrite(job.request.method, job.request.type, job.request.key, job.request.body, job.request.query);
      sandbox.changed();
    }
    return job;
  };

  const handleWrite = (req: express.Request, res: express.Response, type: RecordType, key: string | undefined) => {
    const given = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, any>;
    // Property names: NetSuite's default (no header) is Warning, which drops an unknown field silently; the sandbox
    // treats a missing header as Error, stricter, so a field the account lacks is never lost unnoticed.
    const nameValidation = String(req.headers['x-netsuite-propertynamevalidation'] ?? 'Error');
    const unknown = unknownProperties(type, given, customFields());
    if (unknown.length && !/^(warning|ignore)$/i.test(nameValidation)) {
      return fail(res, 400, `Invalid property name(s) for record type ${type}: ${unknown.join(', ')}. The field does not exist on the record or its form in this account (custom fields must be created and applied to the form).`, 'INVALID_CONTENT', { 'o:errorPath': unknown[0] });
    }
    const body = unknown.length ? withoutProperties(given, unknown) : given;
    const badValue = invalidEnumValue(type, body);
    if (badValue) return fail(res, 400, badValue.detail, 'INVALID_CONTENT', { 'o:errorPath': badValue.path });
    const prefer = String(req.headers.prefer ?? '').toLowerCase();
    if (!prefer.includes('respond-async')) return sendOutcome(res, runWrite(req.method, type, key, body, req.query));
    const idemKey = req.headers['x-netsuite-idempotency-key'];
    if (typeof idemKey === 'string' && idemKey !== '') {
      const previous = Object.values(jobs()).find((j) => j.key === idemKey);
      if (previous) {
        res.setHeader('Preference-Applied', 'respond-async');
        res.setHeader('Location', jobUrl(previous.id));
        return fail(res, 400, 'A request with the same idempotency key is already submitted. See the "Location" header for a link to the previously submitted job.', 'IDEMPOTENCY_ERROR');
      }
    }
    const id = String(Object.keys(jobs()).length + 1);
    const job = { id, key: typeof idemKey === 'string' && idemKey !== '' ? idemKey : undefined, createdAt: Date.now(), runAt: Date.now() + settings.asyncDelayMs, request: { method: req.method, type, key, body, query: { ...req.query } } };
    jobs()[id] = job;
    sandbox.changed();
    if (settings.asyncDelayMs === 0) runDueJob(job);
    res.setHeader('Preference-Applied', 'respond-async');
    res.setHeader('Location', jobUrl(id));
    res.status(202).end();
  };

  r.get('/services/rest/async/v1/job/:id', (req, res) => {
    const job = jobs()[req.params.id];
    if (!job) return fail(res, 404, 'The async job does not exist.', 'NONEXISTENT_ID');
    runDueJob(job);
    res.json({ links: [{ rel: 'self', href: jobUrl(job.id) }], completed: !!job.outcome, id: job.id, progress: job.outcome ? (job.outcome.status < 400 ? 'succeeded' : 'failed') : 'pending', task: { links: [{ rel: 'self', href: `${jobUrl(job.id)}/task` }] } });
  });
  r.get('/services/rest/async/v1/job/:id/task', (req, res) => {
    const job = jobs()[req.params.id];
    if (!job) return fail(res, 404, 'The async job does not exist.', 'NONEXISTENT_ID');
    res.json({ links: [{ rel: 'self', href: `${jobUrl(job.id)}/task` }], count: 1, hasMore: false, items: [{ links: [{ rel: 'self', href: `${jobUrl(job.id)}/task/${job.id}` }], id: job.id }], offset: 0, totalResults: 1 });
  });
  r.get('/services/rest/async/v1/job/:id/task/:taskId', (req, res) => {
    const job = jobs()[req.params.id];
    if (!job || req.params.taskId !== job.id) return fail(res, 404, 'The async task does not exist.', 'NONEXISTENT_ID');
    runDueJob(job);
    res.json({ links: [{ rel: 'self', href: `${jobUrl(job.id)}/task/${job.id}` }, { rel: 'related', href: `${jobUrl(job.id)}/task/${job.id}/result` }], completed: !!job.outcome, id: job.id, progress: job.outcome ? (job.outcome.status < 400 ? 'succeeded' : 'failed') : 'pending' });
  });
  r.get('/services/rest/async/v1/job/:id/task/:taskId/result', (req, res) => {
    const job = jobs()[req.params.id];
    if (!job || req.params.taskId !== job.id) return fail(res, 404, 'The async task does not exist.', 'NONEXISTENT_ID');
    runDueJob(job);
    if (!job.outcome) return fail(res, 400, 'The task has not completed yet.', 'INVALID_REQUEST');
    sendOutcome(res, job.outcome);
  });

  // ---------- record routes
  r.get('/services/rest/record/v1/:type', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 1000)));
    const offset = Math.max(0, Number(req.query.offset ?? 0));
    let all = Object.values(col(type));
    const q = typeof req.query.q === 'string' ? req.query.q : '';
    const m = /^\s*(\w+)\s+(IS|ANY_OF|START_WITH|EQUAL)\s+"?([^"]*)"?\s*$/i.exec(q);
    if (q && !m) return fail(res, 400, `Invalid search query: ${q}`, 'INVALID_PARAMETER', { 'o:errorQueryParam': 'q' });
    if (m) all = all.filter((rec) => { const v = rec[m[1]]; const s = v && typeof v === 'object' ? v.id : v; return m[2].toUpperCase() === 'START_WITH' ? String(s ?? '').startsWith(m[3]) : String(s ?? '') === m[3]; });
    const page = all.slice(offset, offset + limit);
    const self = `${restUrl()}/record/v1/${type}`;
    const links = [{ rel: 'self', href: `${self}?limit=${limit}&offset=${offset}` }];
    if (offset + limit < all.length) links.push({ rel: 'next', href: `${self}?limit=${limit}&offset=${offset + limit}` });
    res.json({ links, count: page.length, hasMore: offset + limit < all.length, items: page.map((rec) => ({ links: [{ rel: 'self', href: recordUrl(type, rec.id) }], id: rec.id })), offset, totalResults: all.length });
  });
  r.get('/services/rest/record/v1/:type/:key', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    const rec = findByRef(type, req.params.key);
    if (!rec) return fail(res, 404, 'The record instance does not exist. Provide a valid record instance ID.', 'NONEXISTENT_ID', { 'o:errorUrl': req.originalUrl });
    res.json(present(type, rec, req.query));
  });
  r.get('/services/rest/record/v1/:type/:key/:sublist', (req, res) => {
    const type = normaliseType(req.params.type);
    const rec = type ? findByRef(type, req.params.key) : undefined;
    const sub = rec?.[req.params.sublist];
    if (!rec || !sub || !Array.isArray(sub.items)) return fail(res, 404, 'The sub-resource does not exist.', 'NONEXISTENT_ID');
    res.json({ links: [{ rel: 'self', href: `${recordUrl(type!, rec.id)}/${req.params.sublist}` }], items: sub.items, totalResults: sub.items.length, count: sub.items.length, hasMore: false, offset: 0 });
  });
  r.post('/services/rest/record/v1/:type', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    handleWrite(req, res, type, undefined);
  });
  r.put('/services/rest/record/v1/:type/:key', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    handleWrite(req, res, type, req.params.key);
  });
  r.patch('/services/rest/record/v1/:type/:key', (req, res) => {
    const type = normaliseType(req.params.type);
    if (!type) return fail(res, 404, `Record type '${req.params.type}' does not exist.`, 'NONEXISTENT_ID');
    handleWrite(req, res, type, req.params.key);
  });

  // ---------- SuiteQL
  r.post('/services/rest/query/v1/suiteql', (req, res) => {
    const q = typeof req.body?.q === 'string' ? req.body.q : '';
    const parsed = parseSuiteQl(q);
    if ('error' in parsed) return fail(res, 400, `Invalid search query. Detailed unprocessed description follows. ${parsed.error}`, 'INVALID_PARAMETER', { 'o:errorQueryParam': 'q' });
    const type = normaliseType(parsed.table);
    if (!type) return fail(res, 400, `Invalid search query. Detailed unprocessed description follows. Search error occurred: Record '${parsed.table}' was not found.`, 'INVALID_PARAMETER');
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 1000)));
    const offset = Math.max(0, Number(req.query.offset ?? 0));
    const flat = Object.values(col(type)).map((rec) => {
      const row: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(rec)) {
        if (v && typeof v === 'object') {
          if ('id' in v) row[k.toLowerCase()] = String((v as { id: unknown }).id);
          continue;
        }
        row[k.toLowerCase()] = v === null || v === undefined ? null : typeof v === 'boolean' ? (v ? 'T' : 'F') : String(v);
      }
      return row;
    });
    let rows = flat.filter((row) => parsed.where.every((c) => (c.op === '=' ? row[c.column] === c.value : row[c.column] !== c.value)));
    if (parsed.orderBy) {
      const { column, desc } = parsed.orderBy;
      rows = rows.sort((a, b) => {
        const x = a[column] ?? '';
        const y = b[column] ?? '';
        const nx = Number(x);
        const ny = Number(y);
        const cmp = Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
        return desc ? -cmp : cmp;
      });
    }
    if (rows.length > 100000) rows = rows.slice(0, 100000);
    const page = rows.slice(offset, offset + limit).map((row) => {
      const out: Record<string, unknown> = { links: [] };
      const cols = parsed.columns[0] === '*' ? Object.keys(row) : parsed.columns;
      for (const c of cols) if (row[c] !== undefined && row[c] !== null) out[c] = row[c];
      return out;
    });
    const self = `${restUrl()}/query/v1/suiteql`;
    const links = [{ rel: 'self', href: `${self}?limit=${limit}&offset=${offset}` }];
    if (offset > 0) links.push({ rel: 'previous', href: `${self}?limit=${limit}&offset=${Math.max(0, offset - limit)}` });
    if (offset + limit < rows.length) links.push({ rel: 'next', href: `${self}?limit=${limit}&offset=${offset + limit}` });
    if (rows.length > 0) links.push({ rel: 'last', href: `${self}?limit=${limit}&offset=${Math.floor((rows.length - 1) / limit) * limit}` });
    res.json({ links, count: page.length, hasMore: offset + limit < rows.length, items: page, offset, totalResults: rows.length });
  });

  r.use('/services/rest', (req, res) => fail(res, 404, `No resource at ${req.method} ${req.originalUrl}.`, 'INVALID_REQUEST'));
  return sandbox;
}

interface SuiteQl {
  columns: string[];
  table: string;
  where: Array<{ column: string; op: '=' | '<>'; value: string }>;
  orderBy?: { column: string; desc: boolean };
}

/** `SELECT a, b | * FROM t [WHERE c = 'v' [AND d <> 3]...] [ORDER BY c [ASC|DESC]]`: enough for lookups and paging tests. */
export function parseSuiteQl(q: string): SuiteQl | { error: string } {
  const m = /^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+(\w+)(?:\s+(ASC|DESC))?)?\s*;?\s*$/is.exec(q);
  if (!m) return { error: 'The sandbox understands SELECT <columns> FROM <table> [WHERE col = value [AND ...]] [ORDER BY col].' };
  const columns = m[1].trim() === '*' ? ['*'] : m[1].split(',').map((c) => c.trim().toLowerCase());
  if (columns.some((c) => !/^\*$|^\w+$/.test(c))) return { error: `Unsupported column list: ${m[1]}` };
  const where: SuiteQl['where'] = [];
  if (m[3]) {
    for (const part of m[3].split(/\s+AND\s+/i)) {
      const c = /^\s*(\w+)\s*(=|<>|!=)\s*(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))\s*$/.exec(part);
      if (!c) return { error: `Unsupported condition: ${part}` };
      where.push({ column: c[1].toLowerCase(), op: c[2] === '=' ? '=' : '<>', value: c[3] !== undefined ? c[3].replace(/''/g, "'") : c[4] });
    }
  }
  return { columns, table: m[2].toLowerCase(), where, orderBy: m[4] ? { column: m[4].toLowerCase(), desc: (m[5] ?? '').toUpperCase() === 'DESC' } : undefined };
}

export const netsuiteSandbox: VendorSandboxFactory = {
  name: 'netsuite',
  create: (opts) => createNetSuiteSandbox(opts),
};
