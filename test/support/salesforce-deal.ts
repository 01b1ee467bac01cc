/** A seed opportunity (sandbox/seed/firm) as the Salesforce sandbox returns it, closed won: the q2p-plan step's input. */
import { ACCOUNTS, OPPORTUNITIES } from '../../sandbox/seed/firm';

export interface SalesforceDeal {
  opportunity: Record<string, unknown>;
  account: Record<string, unknown>;
}

export function salesforceDeal(oppId: string, changes: { account?: Record<string, unknown>; opp?: Record<string, unknown> } = {}): SalesforceDeal {
  const o = OPPORTUNITIES.find((x) => x.sfId === oppId);
  if (!o) throw new Error(`no seed opportunity ${oppId}`);
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  const account = { Id: a.sfId, Name: a.name, External_Id__c: a.externalId, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: a.taxRegistration ?? null, Industry: a.industry, ...changes.account };
  const opportunity = {
    Id: o.sfId, Name: o.name, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel,
    Delivery_Manager_Id__c: o.deliveryManagerId, Delivery_Manager_Email__c: `${o.deliveryManagerId.toLowerCase()}@firm.example`, LastModifiedDate: '2026-11-20T10:00:00.000+0000',
    OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) },
    ...changes.opp,
  };
  return { opportunity, account };
}
