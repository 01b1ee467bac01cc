/**
 * The sObject types the Salesforce sandbox knows, with just enough metadata (field types, references,
 * external-id fields, required fields, relationships) for the REST API, the SOQL subset and describe.
 */

export type FieldType = 'id' | 'string' | 'textarea' | 'email' | 'picklist' | 'reference' | 'double' | 'currency' | 'int' | 'percent' | 'boolean' | 'date' | 'datetime';

export interface FieldDef {
  name: string;
  type: FieldType;
  /** For references: the target sObject type. */
  referenceTo?: string;
  /** For references: the parent relationship name used in SOQL (`Account.Name`) and in bodies. */
  relationshipName?: string;
  externalId?: boolean;
  required?: boolean;
  /** System or formula fields: rejected in a create/update body. */
  readOnly?: boolean;
  picklist?: string[];
}

export interface ChildRelationship {
  name: string;
  childType: string;
  field: string;
}

export interface SObjectDef {
  name: string;
  keyPrefix: string;
  label: string;
  fields: FieldDef[];
  children: ChildRelationship[];
  /** Autonumber name format for custom objects, e.g. `CA-{0000}`. */
  autoName?: string;
}

export const OPPORTUNITY_STAGES: Record<string, { probability: number; closed: boolean; won: boolean }> = {
  Prospecting: { probability: 10, closed: false, won: false },
  Qualification: { probability: 20, closed: false, won: false },
  'Needs Analysis': { probability: 30, closed: false, won: false },
  'Proposal/Price Quote': { probability: 60, closed: false, won: false },
  'Negotiation/Review': { probability: 80, closed: false, won: false },
  'Closed Won': { probability: 100, closed: true, won: true },
  'Closed Lost': { probability: 0, closed: true, won: false },
};

const audit = (): FieldDef[] => [
  { name: 'Id', type: 'id', readOnly: true },
  { name: 'IsDeleted', type: 'boolean', readOnly: true },
  { name: 'OwnerId', type: 'reference', referenceTo: 'User' },
  { name: 'CreatedDate', type: 'datetime', readOnly: true },
  { name: 'CreatedById', type: 'reference', referenceTo: 'User', readOnly: true },
  { name: 'LastModifiedDate', type: 'datetime', readOnly: true },
  { name: 'LastModifiedById', type: 'reference', referenceTo: 'User', readOnly: true },
  { name: 'SystemModstamp', type: 'datetime', readOnly: true },
];

const ref = (name: string, referenceTo: string, relationshipName: string, required = false): FieldDef => ({ name, type: 'reference', referenceTo, relationshipName, required });

export const SOBJECTS: Record<string, SObjectDef> = {
  // The org itself (read-only): SOQL `SELECT DefaultCurrencyIsoCode FROM Organization`.
  Organization: {
    name: 'Organization',
    keyPrefix: '00D',
    label: 'Organization',
    fields: [
      { name: 'Id', type: 'id', readOnly: true },
      { name: 'Name', type: 'string', readOnly: true },
      { name: 'DefaultCurrencyIsoCode', type: 'picklist', readOnly: true },
      { name: 'IsSandbox', type: 'boolean', readOnly: true },
    ],
    children: [],
  },
  Account: {
    name: 'Account',
    keyPrefix: '001',
    label: 'Account',
    fields: [
      ...audit(),
      { name: 'Name', type: 'string', required: true },
      { name: 'External_Id__c', type: 'string', externalId: true },
      { name: 'Type', type: 'picklist' },
      { name: 'Industry', type: 'picklist' },
      { name: 'Phone', type: 'string' },
      { name: 'Website', type: 'string' },
      { name: 'BillingStreet', type: 'textarea' },
      { name: 'BillingCity', type: 'string' },
      { name: 'BillingPostalCode', type: 'string' },
      { name: 'BillingCountry', type: 'string' },
      { name: 'CurrencyIsoCode', type: 'picklist' },
      { name: 'Billing_Entity__c', type: 'picklist' },
      { name: 'Tax_Registration__c', type: 'string' },
      { name: 'Description', type: 'textarea' },
    ],
    children: [
      { name: 'Contacts', childType: 'Contact', field: 'AccountId' },
      { name: 'Opportunities', childType: 'Opportunity', field: 'AccountId' },
      { name: 'Contracts', childType: 'Contract', field: 'AccountId' },
    ],
  },
  Contact: {
    name: 'Contact',
    keyPrefix: '003',
    label: 'Contact',
    fields: [
      ...audit(),
      ref('AccountId', 'Account', 'Account'),
      { name: 'FirstName', type: 'string' },
      { name: 'LastName', type: 'string', required: true },
      { name: 'Name', type: 'string', readOnly: true },
      { name: 'Email', type: 'email' },
      { name: 'Title', type: 'string' },
      { name: 'Phone', type: 'string' },
      { name: 'External_Id__c', type: 'string', externalId: true },
      { name: 'Is_Billing_Contact__c', type: 'boolean' },
    ],
    children: [],
  },
  Opportunity: {
    name: 'Opportunity',
    keyPrefix: '006',
    label: 'Opportunity',
    fields: [
      ...audit(),
      { name: 'Name', type: 'string', required: true },
      ref('AccountId', 'Account', 'Account'),
      { name: 'StageName', type: 'picklist', required: true, picklist: Object.keys(OPPORTUNITY_STAGES) },
      { name: 'CloseDate', type: 'date', required: true },
      { name: 'Amount', type: 'currency' },
      { name: 'Probability', type: 'percent' },
      { name: 'IsClosed', type: 'boolean', readOnly: true },
      { name: 'IsWon', type: 'boolean', readOnly: true },
      { name: 'Type', type: 'picklist' },
      { name: 'CurrencyIsoCode', type: 'picklist' },
      { name: 'Description', type: 'textarea' },
      { name: 'External_Id__c', type: 'string', externalId: true },
      { name: 'Billing_Model__c', type: 'picklist', picklist: ['time-and-materials', 'fixed-fee', 'retainer'] },
      { name: 'Delivery_Manager_Id__c', type: 'string' },
      { name: 'Delivery_Manager_Email__c', type: 'email' },
    ],
    children: [
      { name: 'OpportunityLineItems', childType: 'OpportunityLineItem', field: 'OpportunityId' },
      { name: 'Contracts__r', childType: 'Contract', field: 'Opportunity__c' },
      { name: 'Contract_Amendments__r', childType: 'Contract_Amendment__c', field: 'Opportunity__c' },
    ],
  },
  OpportunityLineItem: {
    name: 'OpportunityLineItem',
    keyPrefix: '00k',
    label: 'Opportunity Product',
    fields: [
      ...audit().filter((f) => f.name !== 'OwnerId'),
      ref('OpportunityId', 'Opportunity', 'Opportunity', true),
      { name: 'Name', type: 'string' },
      { name: 'Description', type: 'textarea' },
      { name: 'Quantity', type: 'double' },
      { name: 'UnitPrice', type: 'currency' },
      { name: 'TotalPrice', type: 'currency', readOnly: true },
      { name: 'SortOrder', type: 'int' },
      { name: 'Workstream__c', type: 'string' },
      { name: 'Role__c', type: 'string' },
      { name: 'Hours__c', type: 'double' },
      { name: 'Rate__c', type: 'currency' },
      { name: 'External_Id__c', type: 'string', externalId: true },
    ],
    children: [],
  },
  Contract: {
    name: 'Contract',
    keyPrefix: '800',
    label: 'Contract',
    fields: [
      ...audit(),
      ref('AccountId', 'Account', 'Account', true),
      ref('Opportunity__c', 'Opportunity', 'Opportunity__r'),
      { name: 'ContractNumber', type: 'string', readOnly: true },
      { name: 'Status', type: 'picklist', picklist: ['Draft', 'In Approval Process', 'Activated'] },
      { name: 'StartDate', type: 'date' },
      { name: 'EndDate', type: 'date' },
      { name: 'ContractTerm', type: 'int' },
      { name: 'CurrencyIsoCode', type: 'picklist' },
      { name: 'Billing_Frequency__c', type: 'picklist', picklist: ['Monthly', 'Quarterly', 'Milestone'] },
      { name: 'Billing_Model__c', type: 'picklist', picklist: ['time-and-materials', 'fixed-fee', 'retainer'] },
      { name: 'Payment_Terms__c', type: 'picklist' },
      { name: 'Total_Value__c', type: 'currency' },
      { name: 'External_Id__c', type: 'string', externalId: true },
      { name: 'Description', type: 'textarea' },
    ],
    children: [
      { name: 'Billing_Milestones__r', childType: 'Billing_Milestone__c', field: 'Contract__c' },
      { name: 'Contract_Amendments__r', childType: 'Contract_Amendment__c', field: 'Contract__c' },
    ],
  },
  Billing_Milestone__c: {
    name: 'Billing_Milestone__c',
    keyPrefix: 'a0B',
    label: 'Billing Milestone',
    autoName: 'BM-',
    fields: [
      ...audit(),
      { name: 'Name', type: 'string', readOnly: true },
      ref('Contract__c', 'Contract', 'Contract__r', true),
      { name: 'Milestone_Date__c', type: 'date' },
      { name: 'Amount__c', type: 'currency' },
      { name: 'Status__c', type: 'picklist', picklist: ['Planned', 'Invoiced'] },
      { name: 'Description__c', type: 'string' },
      { name: 'External_Id__c', type: 'string', externalId: true },
    ],
    children: [],
  },
  Contract_Amendment__c: {
    name: 'Contract_Amendment__c',
    keyPrefix: 'a0A',
    label: 'Contract Amendment',
    autoName: 'CA-',
    fields: [
      ...audit(),
      { name: 'Name', type: 'string', readOnly: true },
      ref('Contract__c', 'Contract', 'Contract__r', true),
      ref('Opportunity__c', 'Opportunity', 'Opportunity__r'),
      { name: 'Amendment_Type__c', type: 'picklist', picklist: ['Scope Change', 'Rate Change', 'Extension'] },
      { name: 'Amount_Change__c', type: 'currency' },
      { name: 'Hours_Change__c', type: 'double' },
      { name: 'Effective_Date__c', type: 'date' },
      { name: 'Status__c', type: 'picklist', picklist: ['Draft', 'Approved', 'Applied'] },
      { name: 'Description__c', type: 'textarea' },
      { name: 'External_Id__c', type: 'string', externalId: true },
    ],
    children: [],
  },
};

/**
 * Objects, fields and child relationships removed from the org (`DELETE /_sandbox/schema/...`), as lower-case
 * `object` or `object.name`, so a test can play an org without a custom field, a custom object or multi-currency.
 * Shared by the sandboxes of one process; the Salesforce sandbox's reset restores them.
 */
const removed = new Set<string>();
export function removeFromSchema(sobject: string, name?: string): boolean {
  const def = sobjectDef(sobject);
  if (!def) return false;
  if (name === undefined) {
    removed.add(def.name.toLowerCase());
    return true;
  }
  if (!fieldDef(def, name) && !childRelationship(def, name)) return false;
  removed.add(`${def.name}.${name}`.toLowerCase());
  return true;
}
export function restoreSchema(): void {
  removed.clear();
  objectAccess.clear();
  fieldAccess.clear();
}

/**
 * The integration user's object permissions (Read, Create, Edit) and field-level security (Read, Edit), as a
 * permission set grants them (`PUT /_sandbox/access/...`); everything is granted unless a test takes it away.
 * A field without Read is invisible to the user, as in Salesforce: absent from describe, `No such column` in SOQL.
 */
export interface ObjectAccess {
  read: boolean;
  create: boolean;
  edit: boolean;
}
const objectAccess = new Map<string, Partial<ObjectAccess>>();
const fieldAccess = new Map<string, { read?: boolean; edit?: boolean }>();
export function setAccess(sobject: string, field: string | undefined, access: Record<string, unknown>): boolean {
  const def = sobjectDef(sobject);
  if (!def) return false;
  const pick = (keys: string[]) => Object.fromEntries(keys.filter((k) => typeof access[k] === 'boolean').map((k) => [k, access[k] as boolean]));
  if (field === undefined) {
    objectAccess.set(def.name.toLowerCase(), { ...objectAccess.get(def.name.toLowerCase()), ...pick(['read', 'create', 'edit']) });
    return true;
  }
  const f = fieldDef(def, field);
  if (!f) return false;
  const key = `${def.name}.${f.name}`.toLowerCase();
  fieldAccess.set(key, { ...fieldAccess.get(key), ...pick(['read', 'edit']) });
  return true;
}
export function accessOf(def: SObjectDef): ObjectAccess {
  return { read: true, create: true, edit: true, ...objectAccess.get(def.name.toLowerCase()) };
}
/** Whether the user may set the field (field-level security Edit); read-only system fields are separate. */
export function fieldEditable(def: SObjectDef, name: string): boolean {
  return fieldAccess.get(`${def.name}.${name}`.toLowerCase())?.edit !== false;
}
const isRemoved = (def: SObjectDef, name: string) => removed.has(`${def.name}.${name}`.toLowerCase()) || fieldAccess.get(`${def.name}.${name}`.toLowerCase())?.read === false;

/** Case-insensitive sObject type lookup (SOQL and URLs accept any case). */
export function sobjectDef(name: string): SObjectDef | undefined {
  const lower = name.toLowerCase();
  if (removed.has(lower)) return undefined;
  if (SOBJECTS[name]) return SOBJECTS[name];
  return Object.values(SOBJECTS).find((d) => d.name.toLowerCase() === lower);
}

/** The fields the org has now. */
export function fieldsOf(def: SObjectDef): FieldDef[] {
  return def.fields.filter((f) => !isRemoved(def, f.name));
}

export function fieldDef(def: SObjectDef, name: string): FieldDef | undefined {
  const lower = name.toLowerCase();
  return fieldsOf(def).find((f) => f.name.toLowerCase() === lower);
}

export function parentRelationship(def: SObjectDef, name: string): FieldDef | undefined {
  const lower = name.toLowerCase();
  return fieldsOf(def).find((f) => f.relationshipName?.toLowerCase() === lower);
}

export function childRelationship(def: SObjectDef, name: string): ChildRelationship | undefined {
  const lower = name.toLowerCase();
  return def.children.find((c) => c.name.toLowerCase() === lower && !isRemoved(def, c.name) && !removed.has(c.childType.toLowerCase()));
}

/** Salesforce's datetime wire format: `2026-11-25T10:00:00.000+0000`. */
export function sfDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** Epoch ms of a Salesforce datetime (`...+0000`, `...Z`, `...+01:00`) or a date; NaN when unreadable. */
export function parseSfDateTime(value: string): number {
  const normalised = value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  return Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(normalised) ? normalised + 'T00:00:00Z' : normalised);
}
