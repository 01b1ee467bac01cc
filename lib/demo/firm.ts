/**
 * The demo firm, data only: every sandbox is seeded with it (sandbox/seed/firm.ts), so that the same customer, deal
 * and consultant appear consistently in CRM, ERP, PSA and Jira, and the template builders (templates/) name its people
 * in quote-to-project's demo directory. Here, not in sandbox/, because the templates ship and no shipped file may
 * import a sandbox. Deterministic: no randomness, no clock (dates are fixed), so tests can name records.
 *
 * Northwind Advisory: a 250-person consultancy with four billing entities. US bills from NetSuite,
 * UK and DE from Business Central, FR is still on the legacy on-prem ERP (reached over MQTT).
 */

export type ErpSystem = 'netsuite' | 'businessCentral' | 'legacy';

export interface BillingEntity {
  code: string;
  legalName: string;
  country: string;
  currency: string;
  erp: ErpSystem;
  /** ERP-side subsidiary / company identifier. */
  erpCompany: string;
}

export interface FirmAccount {
  /** Salesforce Account Id (18 chars). */
  sfId: string;
  /** Our external id, carried to every system (Salesforce External_Id__c, NetSuite externalId, BC number). */
  externalId: string;
  name: string;
  country: string;
  currency: string;
  billingEntity: string;
  /** Missing on purpose for some accounts: quote-to-project must route them to sales ops. */
  taxRegistration?: string;
  industry: string;
  street: string;
  city: string;
  postalCode: string;
}

export interface FirmConsultant {
  id: string;
  name: string;
  email: string;
  role: string;
  homeEntity: string;
  costRate: number;
  billRate: number;
}

export interface FirmOpportunityLine {
  workstream: string;
  role: string;
  hours: number;
  rate: number;
}

export interface FirmOpportunity {
  sfId: string;
  name: string;
  accountSfId: string;
  stage: 'Prospecting' | 'Proposal/Price Quote' | 'Negotiation/Review' | 'Closed Won' | 'Closed Lost';
  amount: number;
  currency: string;
  closeDate: string;
  billingModel: 'time-and-materials' | 'fixed-fee' | 'retainer';
  deliveryManagerId: string;
  lines: FirmOpportunityLine[];
  /** Closed-won deals that already have a project everywhere (history). */
  delivered: boolean;
}

export interface FirmTimeEntry {
  id: string;
  opportunitySfId: string;
  consultantId: string;
  date: string;
  hours: number;
  notes: string;
  billable: boolean;
  approved: boolean;
  invoiced: boolean;
}

export const BILLING_ENTITIES: BillingEntity[] = [
  { code: 'NWA-US', legalName: 'Northwind Advisory Inc.', country: 'US', currency: 'USD', erp: 'netsuite', erpCompany: '1' },
  { code: 'NWA-UK', legalName: 'Northwind Advisory Ltd', country: 'GB', currency: 'GBP', erp: 'businessCentral', erpCompany: 'NWA UK' },
  { code: 'NWA-DE', legalName: 'Northwind Advisory GmbH', country: 'DE', currency: 'EUR', erp: 'businessCentral', erpCompany: 'NWA DE' },
  { code: 'NWA-FR', legalName: 'Northwind Advisory SAS', country: 'FR', currency: 'EUR', erp: 'legacy', erpCompany: 'FR01' },
];

export const ACCOUNTS: FirmAccount[] = [
  { sfId: '001Hs00001AcmeUSAAA', externalId: 'ACC-1001', name: 'Acme Logistics Corp', country: 'US', currency: 'USD', billingEntity: 'NWA-US', taxRegistration: 'US-EIN-84-1234567', industry: 'Transportation', street: '500 Harbor Blvd', city: 'Long Beach', postalCode: '90802' },
  { sfId: '001Hs00001GlobexAAA', externalId: 'ACC-1002', name: 'Globex Health Systems', country: 'US', currency: 'USD', billingEntity: 'NWA-US', taxRegistration: 'US-EIN-27-7654321', industry: 'Healthcare', street: '1 Globex Way', city: 'Columbus', postalCode: '43215' },
  { sfId: '001Hs00001InitechAA', externalId: 'ACC-1003', name: 'Initech Software LLC', country: 'US', currency: 'USD', billingEntity: 'NWA-US', industry: 'Software', street: '4120 Freidrich Ln', city: 'Austin', postalCode: '78744' },
  { sfId: '001Hs00001BritRailA', externalId: 'ACC-2001', name: 'Britannia Rail plc', country: 'GB', currency: 'GBP', billingEntity: 'NWA-UK', taxRegistration: 'GB123456789', industry: 'Transportation', street: '10 Kings Cross Rd', city: 'London', postalCode: 'N1 9AP' },
  { sfId: '001Hs00001ThamesWAA', externalId: 'ACC-2002', name: 'Thames Water Services Ltd', country: 'GB', currency: 'GBP', billingEntity: 'NWA-UK', taxRegistration: 'GB987654321', industry: 'Utilities', street: 'Clearwater Ct', city: 'Reading', postalCode: 'RG1 8DB' },
  { sfId: '001Hs00001RheinAGAA', externalId: 'ACC-3001', name: 'Rheinmetall Energie AG', country: 'DE', currency: 'EUR', billingEntity: 'NWA-DE', taxRegistration: 'DE811234567', industry: 'Energy', street: 'Rheinallee 12', city: 'Düsseldorf', postalCode: '40476' },
  { sfId: '001Hs00001BavariaAA', externalId: 'ACC-3002', name: 'Bavaria Versicherung GmbH', country: 'DE', currency: 'EUR', billingEntity: 'NWA-DE', taxRegistration: 'DE298765432', industry: 'Insurance', street: 'Leopoldstraße 44', city: 'München', postalCode: '80802' },
  { sfId: '001Hs00001LumiereA', externalId: 'ACC-4001', name: 'Lumière Retail SA', country: 'FR', currency: 'EUR', billingEntity: 'NWA-FR', taxRegistration: 'FR40303265045', industry: 'Retail', street: '25 Rue de Rivoli', city: 'Paris', postalCode: '75004' },
];

export const CONSULTANTS: FirmConsultant[] = [
  { id: 'CON-001', name: 'Maya Patel', email: 'maya.patel@northwind-advisory.example', role: 'Engagement Manager', homeEntity: 'NWA-US', costRate: 95, billRate: 240 },
  { id: 'CON-002', name: 'Daniel Okafor', email: 'daniel.okafor@northwind-advisory.example', role: 'Solution Architect', homeEntity: 'NWA-US', costRate: 85, billRate: 210 },
  { id: 'CON-003', name: 'Grace Kim', email: 'grace.kim@northwind-advisory.example', role: 'Senior Consultant', homeEntity: 'NWA-US', costRate: 70, billRate: 175 },
  { id: 'CON-004', name: 'Luis Romero', email: 'luis.romero@northwind-advisory.example', role: 'Consultant', homeEntity: 'NWA-US', costRate: 55, billRate: 140 },
  { id: 'CON-005', name: 'Oliver Hughes', email: 'oliver.hughes@northwind-advisory.example', role: 'Engagement Manager', homeEntity: 'NWA-UK', costRate: 80, billRate: 195 },
  { id: 'CON-006', name: 'Amelia Clarke', email: 'amelia.clarke@northwind-advisory.example', role: 'Senior Consultant', homeEntity: 'NWA-UK', costRate: 60, billRate: 150 },
  { id: 'CON-007', name: 'Priya Shah', email: 'priya.shah@northwind-advisory.example', role: 'Consultant', homeEntity: 'NWA-UK', costRate: 45, billRate: 115 },
  { id: 'CON-008', name: 'Jonas Weber', email: 'jonas.weber@northwind-advisory.example', role: 'Engagement Manager', homeEntity: 'NWA-DE', costRate: 85, billRate: 210 },
  { id: 'CON-009', name: 'Lena Fischer', email: 'lena.fischer@northwind-advisory.example', role: 'Solution Architect', homeEntity: 'NWA-DE', costRate: 78, billRate: 190 },
  { id: 'CON-010', name: 'Tobias Braun', email: 'tobias.braun@northwind-advisory.example', role: 'Consultant', homeEntity: 'NWA-DE', costRate: 50, billRate: 125 },
  { id: 'CON-011', name: 'Camille Durand', email: 'camille.durand@northwind-advisory.example', role: 'Senior Consultant', homeEntity: 'NWA-FR', costRate: 62, billRate: 155 },
  { id: 'CON-012', name: 'Hugo Martin', email: 'hugo.martin@northwind-advisory.example', role: 'Consultant', homeEntity: 'NWA-FR', costRate: 48, billRate: 120 },
];

export const OPPORTUNITIES: FirmOpportunity[] = [
  { sfId: '006Hs00000AcmeWMS01', name: 'Acme - Warehouse Mgmt Rollout', accountSfId: '001Hs00001AcmeUSAAA', stage: 'Closed Won', amount: 184000, currency: 'USD', closeDate: '2026-09-15', billingModel: 'time-and-materials', deliveryManagerId: 'CON-001', delivered: true,
    lines: [{ workstream: 'Discovery', role: 'Solution Architect', hours: 160, rate: 210 }, { workstream: 'Build', role: 'Consultant', hours: 800, rate: 140 }, { workstream: 'Go-live', role: 'Senior Consultant', hours: 120, rate: 175 }] },
  { sfId: '006Hs00000GlobexEHR', name: 'Globex - EHR Integration Phase 2', accountSfId: '001Hs00001GlobexAAA', stage: 'Negotiation/Review', amount: 96000, currency: 'USD', closeDate: '2026-12-10', billingModel: 'fixed-fee', deliveryManagerId: 'CON-001', delivered: false,
    lines: [{ workstream: 'Interfaces', role: 'Solution Architect', hours: 200, rate: 210 }, { workstream: 'Testing', role: 'Consultant', hours: 240, rate: 140 }] },
  { sfId: '006Hs00000InitechQA', name: 'Initech - QA Automation', accountSfId: '001Hs00001InitechAA', stage: 'Proposal/Price Quote', amount: 42000, currency: 'USD', closeDate: '2026-12-20', billingModel: 'time-and-materials', deliveryManagerId: 'CON-002', delivered: false,
    lines: [{ workstream: 'Automation', role: 'Consultant', hours: 300, rate: 140 }] },
  { sfId: '006Hs00000BritRailS', name: 'Britannia Rail - Signalling Data Platform', accountSfId: '001Hs00001BritRailA', stage: 'Closed Won', amount: 210000, currency: 'GBP', closeDate: '2026-08-30', billingModel: 'time-and-materials', deliveryManagerId: 'CON-005', delivered: true,
    lines: [{ workstream: 'Data platform', role: 'Senior Consultant', hours: 900, rate: 150 }, { workstream: 'Reporting', role: 'Consultant', hours: 400, rate: 115 }] },
  { sfId: '006Hs00000ThamesCRM', name: 'Thames Water - Field Service CRM', accountSfId: '001Hs00001ThamesWAA', stage: 'Negotiation/Review', amount: 128000, currency: 'GBP', closeDate: '2026-12-05', billingModel: 'time-and-materials', deliveryManagerId: 'CON-005', delivered: false,
    lines: [{ workstream: 'Design', role: 'Senior Consultant', hours: 240, rate: 150 }, { workstream: 'Build', role: 'Consultant', hours: 600, rate: 115 }] },
  { sfId: '006Hs00000RheinSAP1', name: 'Rheinmetall Energie - S/4 Finance Assessment', accountSfId: '001Hs00001RheinAGAA', stage: 'Closed Won', amount: 155000, currency: 'EUR', closeDate: '2026-10-01', billingModel: 'time-and-materials', deliveryManagerId: 'CON-008', delivered: true,
    lines: [{ workstream: 'Assessment', role: 'Solution Architect', hours: 400, rate: 190 }, { workstream: 'Roadmap', role: 'Consultant', hours: 300, rate: 125 }] },
  { sfId: '006Hs00000BavariaCL', name: 'Bavaria Versicherung - Claims Portal', accountSfId: '001Hs00001BavariaAA', stage: 'Proposal/Price Quote', amount: 88000, currency: 'EUR', closeDate: '2026-12-15', billingModel: 'retainer', deliveryManagerId: 'CON-008', delivered: false,
    lines: [{ workstream: 'Portal', role: 'Consultant', hours: 500, rate: 125 }] },
  { sfId: '006Hs00000LumiereOM', name: 'Lumière Retail - Omnichannel Order Mgmt', accountSfId: '001Hs00001LumiereA', stage: 'Negotiation/Review', amount: 134000, currency: 'EUR', closeDate: '2026-12-18', billingModel: 'time-and-materials', deliveryManagerId: 'CON-011', delivered: false,
    lines: [{ workstream: 'Order management', role: 'Senior Consultant', hours: 500, rate: 155 }, { workstream: 'Integration', role: 'Consultant', hours: 350, rate: 120 }] },
];
