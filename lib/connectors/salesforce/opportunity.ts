/**
 * What the closed-won trigger hands to quote-to-project: per opportunity, the opportunity, its account
 * (billing entity, tax registration, currency, address), its lines (workstream, role, hours, rate), its
 * contract and the contract's billing schedule and amendments. Three SOQL reads for any number of ids.
 */
import type { SalesforceClient } from './client';
import { soqlString } from './client';

export const OPPORTUNITY_FIELDS = ['Id', 'Name', 'AccountId', 'StageName', 'CloseDate', 'Amount', 'CurrencyIsoCode', 'Probability', 'IsWon', 'Billing_Model__c', 'Delivery_Manager_Id__c', 'Delivery_Manager_Email__c', 'External_Id__c', 'LastModifiedDate', 'SystemModstamp'];
export const ACCOUNT_FIELDS = ['Id', 'Name', 'External_Id__c', 'Billing_Entity__c', 'Tax_Registration__c', 'CurrencyIsoCode', 'Industry', 'BillingStreet', 'BillingCity', 'BillingPostalCode', 'BillingCountry'];
export const LINE_FIELDS = ['Id', 'Name', 'Workstream__c', 'Role__c', 'Hours__c', 'Rate__c', 'Quantity', 'UnitPrice', 'TotalPrice', 'SortOrder', 'External_Id__c'];
export const CONTRACT_FIELDS = ['Id', 'ContractNumber', 'Status', 'StartDate', 'EndDate', 'ContractTerm', 'CurrencyIsoCode', 'Billing_Frequency__c', 'Billing_Model__c', 'Payment_Terms__c', 'Total_Value__c', 'External_Id__c', 'Opportunity__c'];
export const MILESTONE_FIELDS = ['Id', 'Name', 'Contract__c', 'Milestone_Date__c', 'Amount__c', 'Status__c', 'Description__c', 'External_Id__c'];
export const AMENDMENT_FIELDS = ['Id', 'Name', 'Contract__c', 'Opportunity__c', 'Amendment_Type__c', 'Amount_Change__c', 'Hours_Change__c', 'Effective_Date__c', 'Status__c', 'Description__c', 'External_Id__c'];

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
export async function fetchOpportunityBundles(client: SalesforceClient, ids: string[]): Promise<OpportunityBundle[]> {
  const unique = Array.from(new Set(ids.filter(Boolean)));
  if (unique.length === 0) return [];
  const accountSelect = ACCOUNT_FIELDS.map((f) => `Account.${f}`);
  const opps = await client.query(
    `SELECT ${[...OPPORTUNITY_FIELDS, ...accountSelect].join(', ')}, (SELECT ${LINE_FIELDS.join(', ')} FROM OpportunityLineItems ORDER BY SortOrder), ` +
      `(SELECT ${CONTRACT_FIELDS.join(', ')} FROM Contracts__r ORDER BY StartDate DESC) FROM Opportunity WHERE Id IN (${inList(unique)})`,
  );
  const contractIds = opps.records.map((o) => o.Contracts__r?.records?.[0]?.Id).filter(Boolean) as string[];
  const milestones = contractIds.length ? (await client.query(`SELECT ${MILESTONE_FIELDS.join(', ')} FROM Billing_Milestone__c WHERE Contract__c IN (${inList(contractIds)}) ORDER BY Milestone_Date__c`)).records : [];
  const amendments = contractIds.length ? (await client.query(`SELECT ${AMENDMENT_FIELDS.join(', ')} FROM Contract_Amendment__c WHERE Contract__c IN (${inList(contractIds)}) ORDER BY Effective_Date__c`)).records : [];
  const byId = new Map(opps.records.map((o) => [o.Id as string, o]));
  return unique
    .filter((id) => byId.has(id))
    .map((id) => {
      const o = byId.get(id)!;
      const { Account, OpportunityLineItems, Contracts__r, ...opp } = o;
      const contract = plain(Contracts__r?.records?.[0]);
      return {
        opportunity: plain(opp)!,
        account: plain(Account),
        lines: (OpportunityLineItems?.records ?? []).map((l: Record<string, any>) => plain(l)!),
        contract,
        billingSchedule: contract ? milestones.filter((m) => m.Contract__c === contract.Id).map((m) => plain(m)!) : [],
        amendments: contract ? amendments.filter((a) => a.Contract__c === contract.Id).map((a) => plain(a)!) : [],
      };
    });
}
