/**
 * The Salesforce side of the shared firm (sandbox/seed/firm.ts): accounts with billing entity and tax
 * registration, a billing contact per account, opportunities with their lines (workstream, role, hours,
 * rate), contracts with billing milestones, and a contract amendment. Deterministic ids and dates.
 */
import type { VendorState } from '../core/sandbox';
import { ACCOUNTS, CONSULTANTS, OPPORTUNITIES } from '../seed/firm';
import { OPPORTUNITY_STAGES } from './schema';

/** The sandbox org and its integration user (ids appear in token responses and audit fields). */
export const ORG_ID = '00DHs000000NwAdORG';
export const INTEGRATION_USER_ID = '005Hs000001IntUsrAA';

const SEED_TIME = '2026-10-01T09:00:00.000+0000';

function auditFields(at: string = SEED_TIME) {
  return { IsDeleted: false, OwnerId: INTEGRATION_USER_ID, CreatedDate: at, CreatedById: INTEGRATION_USER_ID, LastModifiedDate: at, LastModifiedById: INTEGRATION_USER_ID, SystemModstamp: at };
}

/** An 18-character id from a key prefix and a readable tail. */
function sfId(prefix: string, tail: string): string {
  return (prefix + 'Hs' + tail.padStart(13, '0')).slice(0, 18);
}

const CONTACTS: Record<string, { first: string; last: string; title: string }> = {
  'ACC-1001': { first: 'Rachel', last: 'Moreno', title: 'VP Finance' },
  'ACC-1002': { first: 'Kevin', last: 'Albright', title: 'Accounts Payable Manager' },
  'ACC-1003': { first: 'Sandra', last: 'Lee', title: 'Controller' },
  'ACC-2001': { first: 'Edward', last: 'Hall', title: 'Head of Procurement' },
  'ACC-2002': { first: 'Fiona', last: 'Grant', title: 'Finance Business Partner' },
  'ACC-3001': { first: 'Katrin', last: 'Vogel', title: 'Leiterin Einkauf' },
  'ACC-3002': { first: 'Stefan', last: 'Krüger', title: 'Kreditorenbuchhaltung' },
  'ACC-4001': { first: 'Sophie', last: 'Bernard', title: 'Directrice financière' },
};

export function seedSalesforce(): VendorState {
  const Account: Record<string, any> = {};
  const Contact: Record<string, any> = {};
  const Opportunity: Record<string, any> = {};
  const OpportunityLineItem: Record<string, any> = {};
  const Contract: Record<string, any> = {};
  const Billing_Milestone__c: Record<string, any> = {};
  const Contract_Amendment__c: Record<string, any> = {};

  for (const a of ACCOUNTS) {
    Account[a.sfId] = {
      Id: a.sfId,
      Name: a.name,
      External_Id__c: a.externalId,
      Type: 'Customer',
      Industry: a.industry,
      BillingStreet: a.street,
      BillingCity: a.city,
      BillingPostalCode: a.postalCode,
      BillingCountry: a.country,
      CurrencyIsoCode: a.currency,
      Billing_Entity__c: a.billingEntity,
      Tax_Registration__c: a.taxRegistration ?? null,
      Phone: null,
      Website: null,
      Description: null,
      ...auditFields(),
    };
    const c = CONTACTS[a.externalId];
    if (c) {
      const id = sfId('003', a.externalId.replace('-', ''));
      Contact[id] = {
        Id: id,
        AccountId: a.sfId,
        FirstName: c.first,
        LastName: c.last,
        Name: `${c.first} ${c.last}`,
        Email: `${ascii(`${c.first}.${c.last}`)}@${ascii(a.name.split(' ')[0])}.example`,
        Title: c.title,
        Phone: null,
        External_Id__c: `CON-${a.externalId}`,
        Is_Billing_Contact__c: true,
        ...auditFields(),
      };
    }
  }

  let contractNo = 100;
  let milestoneNo = 0;
  OPPORTUNITIES.forEach((o, index) => {
    const stage = OPPORTUNITY_STAGES[o.stage];
    const dm = CONSULTANTS.find((c) => c.id === o.deliveryManagerId);
    const oppExt = `OPP-${String(5001 + index)}`;
    Opportunity[o.sfId] = {
      Id: o.sfId,
      Name: o.name,
      AccountId: o.accountSfId,
      StageName: o.stage,
      CloseDate: o.closeDate,
      Amount: o.amount,
      Probability: stage.probability,
      IsClosed: stage.closed,
      IsWon: stage.won,
      Type: 'New Business',
      CurrencyIsoCode: o.currency,
      Description: null,
      External_Id__c: oppExt,
      Billing_Model__c: o.billingModel,
      Delivery_Manager_Id__c: o.deliveryManagerId,
      Delivery_Manager_Email__c: dm?.email ?? null,
      ...auditFields(),
    };
    o.lines.forEach((line, i) => {
      const id = sfId('00k', `${o.sfId.slice(8, 15)}${i + 1}`);
      OpportunityLineItem[id] = {
        Id: id,
        OpportunityId: o.sfId,
        Name: `${o.name} - ${line.workstream}`,
        Description: `${line.workstream}: ${line.role}, ${line.hours} h at ${line.rate} ${o.currency}`,
        Quantity: line.hours,
        UnitPrice: line.rate,
        TotalPrice: line.hours * line.rate,
        SortOrder: i + 1,
        Workstream__c: line.workstream,
        Role__c: line.role,
        Hours__c: line.hours,
        Rate__c: line.rate,
        External_Id__c: `${oppExt}-L${i + 1}`,
        ...auditFields(),
      };
    });
    // Contracts exist once a deal is in negotiation (drafted) or won (activated).
    if (o.stage === 'Closed Won' || o.stage === 'Negotiation/Review') {
      contractNo += 1;
      const contractId = sfId('800', `${o.sfId.slice(8, 15)}C`);
      const start = o.stage === 'Closed Won' ? o.closeDate : addDays(o.closeDate, 14);
      const term = o.billingModel === 'retainer' ? 12 : 6;
      Contract[contractId] = {
        Id: contractId,
        AccountId: o.accountSfId,
        Opportunity__c: o.sfId,
        ContractNumber: String(contractNo).padStart(8, '0'),
        Status: o.stage === 'Closed Won' ? 'Activated' : 'Draft',
        StartDate: start,
        EndDate: addMonths(start, term),
        ContractTerm: term,
        CurrencyIsoCode: o.currency,
        Billing_Frequency__c: o.billingModel === 'fixed-fee' ? 'Milestone' : 'Monthly',
        Billing_Model__c: o.billingModel,
        Payment_Terms__c: o.currency === 'USD' ? 'Net 30' : 'Net 45',
        Total_Value__c: o.amount,
        External_Id__c: `CTR-${oppExt.slice(4)}`,
        Description: null,
        ...auditFields(),
      };
      // Billing schedule: fixed-fee in three milestones, otherwise monthly in equal parts over the term.
      const parts = o.billingModel === 'fixed-fee' ? [0.3, 0.4, 0.3] : Array.from({ length: term }, () => 1 / term);
      let allocated = 0;
      parts.forEach((share, i) => {
        milestoneNo += 1;
        const id = sfId('a0B', `${o.sfId.slice(8, 15)}M${i + 1}`);
        const amount = i === parts.length - 1 ? Math.round((o.amount - allocated) * 100) / 100 : Math.round(o.amount * share * 100) / 100;
        allocated += amount;
        Billing_Milestone__c[id] = {
          Id: id,
          Name: `BM-${String(milestoneNo).padStart(4, '0')}`,
          Contract__c: contractId,
          Milestone_Date__c: o.billingModel === 'fixed-fee' ? addMonths(start, Math.round(((i + 1) * term) / parts.length)) : addMonths(start, i + 1),
          Amount__c: amount,
          Status__c: o.delivered && i === 0 ? 'Invoiced' : 'Planned',
          Description__c: o.billingModel === 'fixed-fee' ? ['Kick-off', 'Mid-point acceptance', 'Final acceptance'][i] : `Month ${i + 1}`,
          External_Id__c: `${`CTR-${oppExt.slice(4)}`}-M${i + 1}`,
          ...auditFields(),
        };
      });
    }
  });

  // One approved change order on the Acme warehouse rollout (change-order-to-billing has something to show).
  const acme = OPPORTUNITIES.find((o) => o.sfId === '006Hs00000AcmeWMS01');
  if (acme) {
    const contractId = sfId('800', `${acme.sfId.slice(8, 15)}C`);
    const id = sfId('a0A', 'AcmeWMS01A1');
    Contract_Amendment__c[id] = {
      Id: id,
      Name: 'CA-0001',
      Contract__c: contractId,
      Opportunity__c: acme.sfId,
      Amendment_Type__c: 'Scope Change',
      Amount_Change__c: 22400,
      Hours_Change__c: 160,
      Effective_Date__c: '2026-11-01',
      Status__c: 'Approved',
      Description__c: 'Second distribution centre added to the Build workstream (160 h at 140 USD).',
      External_Id__c: 'CTR-5001-A1',
      ...auditFields('2026-10-28T14:30:00.000+0000'),
    };
  }

  return {
    Organization: { [ORG_ID]: { Id: ORG_ID, Name: 'Northwind Advisory', DefaultCurrencyIsoCode: 'USD', IsSandbox: true } },
    Account,
    Contact,
    Opportunity,
    OpportunityLineItem,
    Contract,
    Billing_Milestone__c,
    Contract_Amendment__c,
    _tokens: {},
    _cdc: {},
    _meta: { counters: { replayId: 0, contractNumber: contractNo, autoName: 100 } },
  };
}

function ascii(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z.]/g, '');
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function addMonths(date: string, months: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + months);
  return d.toISOString().slice(0, 10);
}
