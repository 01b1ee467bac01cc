/**
 * What the closed-won trigger hands to quote-to-project: per opportunity, the opportunity, its account
 * (billing entity, tax registration, currency, address), its lines (workstream, role, hours, rate), its
 * contract and the contract's billing schedule and amendments. Three SOQL reads for any number of ids.
 *
 * A standard org has none of the custom fields and objects below, and `CurrencyIsoCode` only with multi-currency.
 * So the queries are built from the org's describe results (cached per client): a field or child relationship the
 * org lacks is left out of the SOQL (the bundle has no such key), an object it lacks is not queried (empty list),
 * and without `CurrencyIsoCode` every record gets the org's `DefaultCurrencyIsoCode`. The org's names for the
 * custom fields and objects are settings (`names`, keyed by the names below, which are the defaults); the bundle
 * always uses the default names as keys, so the processes read one shape whatever the org calls them.
 */
import type { SalesforceClient } from './client';
import { soqlString } from './client';

export const OPPORTUNITY_FIELDS = ['Id', 'Name', 'AccountId', 'StageName', 'CloseDate', 'Amount', 'CurrencyIsoCode', 'Probability', 'IsWon', 'Billing_Model__c', 'Delivery_Manager_Id__c', 'Delivery_Manager_Email__c', 'External_Id__c', 'LastModifiedDate', 'SystemModstamp'];
export const ACCOUNT_FIELDS = ['Id', 'Name', 'External_Id__c', 'Billing_Entity__c', 'Tax_Registration__c', 'CurrencyIsoCode', 'Industry', 'BillingStreet', 'BillingCity', 'BillingPostalCode', 'BillingCountry'];
export const LINE_FIELDS = ['Id', 'Name', 'Workstream__c', 'Role__c', 'Hours__c', 'Rate__c', 'Quantity', 'UnitPrice', 'TotalPrice', 'SortOrder', 'External_Id__c'];
export const CONTRACT_FIELDS = ['Id', 'ContractNumber', 'Status', 'StartDate', 'EndDate', 'ContractTerm', 'CurrencyIsoCode', 'Billing_Frequency__c', 'Billing_Model__c', 'Payment_Terms__c', 'Total_Value__c', 'External_Id__c', 'Opportunity__c'];
export const MILESTONE_FIELDS = ['Id', 'Name', 'Contract__c', 'Milestone_Date__c', 'Amount__c', 'Status__c', 'Description__c', 'External_Id__c'];
export const AMENDMENT_FIELDS = ['Id', 'Name', 'Contract__c', 'Opportunity__c', 'Amendment_Type__c', 'Amount_Change__c', 'Hours_Change__c', 'Effective_Date__c', 'Status__c', 'Description__c', 'External_Id__c'];
/** The custom objects and the opportunity's contracts relationship, by their default names. */
export const CUSTOM_OBJECTS = { contracts: 'Contracts__r', milestones: 'Billing_Milestone__c', amendments: 'Contract_Amendment__c' } as const;

/** Default name -> the org's name for a custom field, the contracts relationship or a custom object. */
export type SalesforceNames = Record<string, string>;

/** Every default name a firm may map, for the config node's check. */
export const MAPPABLE_NAMES: string[] = Array.from(new Set([...OPPORTUNITY_FIELDS, ...ACCOUNT_FIELDS, ...LINE_FIELDS, ...CONTRACT_FIELDS, ...MILESTONE_FIELDS, ...AMENDMENT_FIELDS].filter((f) => f.endsWith('__c')).concat(Object.values(CUSTOM_OBJECTS))));

/** Refuses a mapping of names that are not mappable or not valid API names. */
export function checkSalesforceNames(names: unknown): SalesforceNames {
  if (names === undefined || names === null) return {};
  if (typeof names !== 'object' || Array.isArray(names)) throw new Error('the Salesforce field mapping must be a JSON object of default name -> org name');
  for (const [k, v] of Object.entries(names as Record<string, unknown>)) {
    if (!MAPPABLE_NAMES.includes(k)) throw new Error(`the Salesforce field mapping names '${k}', which is not one of ${MAPPABLE_NAMES.join(', ')}`);
    if (typeof v !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(v)) throw new Error(`the Salesforce field mapping gives '${k}' the name ${JSON.stringify(v)}, which is not a Salesforce API name`);
  }
  return names as SalesforceNames;
}

type Describe = NonNullable<Awaited<ReturnType<SalesforceClient['describe']>>>;
const describes = new WeakMap<SalesforceClient, Map<string, Promise<Describe | undefined>>>();
const orgCurrencies = new WeakMap<SalesforceClient, Promise<string | null>>();

/** Describe of an sObject, once per client (an org's schema changes rarely; a redeploy builds a new client). */
function describeOnce(client: SalesforceClient, sobject: string): Promise<Describe | undefined> {
  let m = describes.get(client);
  if (!m) describes.set(client, (m = new Map()));
  let d = m.get(sobject);
  if (!d) {
    d = client.describe(sobject);
    d.catch(() => m!.delete(sobject));
    m.set(sobject, d);
  }
  return d;
}

function orgCurrency(client: SalesforceClient): Promise<string | null> {
  let c = orgCurrencies.get(client);
  if (!c) {
    c = client.query<{ DefaultCurrencyIsoCode?: string }>('SELECT DefaultCurrencyIsoCode FROM Organization').then((r) => r.records[0]?.DefaultCurrencyIsoCode ?? null);
    c.catch(() => orgCurrencies.delete(client));
    orgCurrencies.set(client, c);
  }
  return c;
}

/** The default names of `wanted` the org has, with the org's name of each. */
function present(d: Describe | undefined, wanted: string[], names: SalesforceNames): Array<[string, string]> {
  if (!d) return [];
  const have = new Set(d.fields.map((f) => f.name.toLowerCase()));
  return wanted.map((w): [string, string] => [w, names[w] ?? w]).filter(([, org]) => have.has(org.toLowerCase()));
}

/** Renames the org's keys of a record back to the default names. */
function rename(r: Record<string, any>, fields: Array<[string, string]>): Record<string, any> {
  const out: Record<string, any> = { ...r };
  for (const [def, org] of fields) {
    if (def === org) continue;
    out[def] = r[org];
    delete out[org];
  }
  return out;
}

export interface OpportunityBundle {
  opportunity: Record<string, any>;
  account: Record<string, any> | null;
  lines: Record<string, any>[];
  contract: Record<string, any> | null;
  billingSchedule: Record<string, any>[];
  amendments: Record<string, any>[];
}

const plain = (r: Record<string, any> | null | undefined): Record<string, any> | null => {
  if (!r) return null;
  const { attributes: _a, ...rest } = r;
  return rest;
};

const inList = (ids: string[]) => ids.map(soqlString).join(', ');

/** Bundles for the given opportunity ids, in the order given (ids that do not exist are left out). */
export async function fetchOpportunityBundles(client: SalesforceClient, ids: string[], names: SalesforceNames = {}): Promise<OpportunityBundle[]> {
  const unique = Array.from(new Set(ids.filter(Boolean)));
  if (unique.length === 0) return [];
  const obj = (def: string) => names[def] ?? def;
  const [oppD, accD, lineD, conD, msD, amD] = await Promise.all(['Opportunity', 'Account', 'OpportunityLineItem', 'Contract', obj(CUSTOM_OBJECTS.milestones), obj(CUSTOM_OBJECTS.amendments)].map((o) => describeOnce(client, o)));
  const oppF = present(oppD, OPPORTUNITY_FIELDS, names);
  const accF = present(accD, ACCOUNT_FIELDS, names);
  const lineF = present(lineD, LINE_FIELDS, names);
  const conF = present(conD, CONTRACT_FIELDS, names);
  const contractsRel = obj(CUSTOM_OBJECTS.contracts);
  const hasContracts = !!oppD?.childRelationships.some((c) => c.relationshipName?.toLowerCase() === contractsRel.toLowerCase());
  const sel = (f: Array<[string, string]>, prefix = '') => f.map(([, org]) => prefix + org).join(', ');
  const lacksCurrency = (f: Array<[string, string]>) => !f.some(([d]) => d === 'CurrencyIsoCode');
  const currency = lacksCurrency(oppF) || lacksCurrency(accF) || lacksCurrency(conF) ? await orgCurrency(client) : null;
  const withCurrency = (r: Record<string, any>, f: Array<[string, string]>) => (lacksCurrency(f) ? { ...r, CurrencyIsoCode: currency } : r);
  const opps = await client.query(
    `SELECT ${sel(oppF)}${accF.length ? ', ' + sel(accF, 'Account.') : ''}${lineD ? `, (SELECT ${sel(lineF)} FROM OpportunityLineItems ORDER BY SortOrder)` : ''}` +
      `${hasContracts && conF.length ? `, (SELECT ${sel(conF)} FROM ${contractsRel} ORDER BY StartDate DESC)` : ''} FROM Opportunity WHERE Id IN (${inList(unique)})`,
  );
  const contractsOf = (o: Record<string, any>) => o[contractsRel] ?? o[Object.keys(o).find((k) => k.toLowerCase() === contractsRel.toLowerCase()) ?? ''];
  const contractIds = opps.records.map((o) => contractsOf(o)?.records?.[0]?.Id).filter(Boolean) as string[];
  const msF = present(msD, MILESTONE_FIELDS, names);
  const amF = present(amD, AMENDMENT_FIELDS, names);
  const orgName = (f: Array<[string, string]>, def: string) => f.find(([d]) => d === def)?.[1];
  const childRead = async (f: Array<[string, string]>, object: string, order: string) => {
    const link = orgName(f, 'Contract__c');
    if (!contractIds.length || !link) return [];
    const by = orgName(f, order);
    return (await client.query(`SELECT ${sel(f)} FROM ${object} WHERE ${link} IN (${inList(contractIds)})${by ? ` ORDER BY ${by}` : ''}`)).records.map((r) => rename(r, f));
  };
  const milestones = await childRead(msF, obj(CUSTOM_OBJECTS.milestones), 'Milestone_Date__c');
  const amendments = await childRead(amF, obj(CUSTOM_OBJECTS.amendments), 'Effective_Date__c');
  const byId = new Map(opps.records.map((o) => [o.Id as string, o]));
  return unique
    .filter((id) => byId.has(id))
    .map((id) => {
      const o = byId.get(id)!;
      const { Account, OpportunityLineItems } = o;
      const rawContracts = contractsOf(o);
      const opp = Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'Account' && k !== 'OpportunityLineItems' && k.toLowerCase() !== contractsRel.toLowerCase()));
      const contractRec = plain(rawContracts?.records?.[0]);
      const contract = contractRec ? withCurrency(rename(contractRec, conF), conF) : null;
      const account = plain(Account);
      return {
        opportunity: withCurrency(rename(plain(opp)!, oppF), oppF),
        account: account ? withCurrency(rename(account, accF), accF) : null,
        lines: (OpportunityLineItems?.records ?? []).map((l: Record<string, any>) => rename(plain(l)!, lineF)),
        contract,
        billingSchedule: contract ? milestones.filter((m) => m.Contract__c === contract.Id).map((m) => plain(m)!) : [],
        amendments: contract ? amendments.filter((a) => a.Contract__c === contract.Id).map((a) => plain(a)!) : [],
      };
    });
}
