/**
 * The closed-won bundle against orgs that are not the demo firm's: the query is built from the org's describe, so a
 * standard org (no custom fields or objects, no multi-currency) answers instead of INVALID_FIELD (issue 16 row 4).
 */
import assert from 'node:assert/strict';
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { salesforceSandbox, SalesforceSandbox } from '../../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../../sandbox/salesforce/auth';
import { SalesforceClient, fetchOpportunityBundles, checkSalesforceNames, OPPORTUNITY_FIELDS } from '../../../lib/connectors/salesforce';

describe('Salesforce closed-won bundle: custom names are settings, missing ones degrade', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let sandbox: SalesforceSandbox;
  const clients: SalesforceClient[] = [];
  const client = () => {
    const c = new SalesforceClient({ loginUrl: `${sb.url}/salesforce`, apiVersion: '62.0', auth: { type: 'client-credentials', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } });
    clients.push(c);
    return c;
  };
  const remove = async (path: string) => {
    const res = await fetch(`${sb.url}/salesforce/_sandbox/schema/${path}`, { method: 'DELETE' });
    assert.equal(res.status, 204, path);
  };
  let oppWithContract: string;

  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox] });
    sandbox = sb.sandboxes.salesforce as SalesforceSandbox;
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sb.close();
  });
  beforeEach(async () => {
    sandbox.reset();
    const c = client();
    oppWithContract = (await c.query<{ Opportunity__c: string }>('SELECT Opportunity__c FROM Contract')).records.find((r) => r.Opportunity__c)!.Opportunity__c;
  });

  it('the demo org: every custom field, the contract, its schedule and the opportunity currency', async () => {
    const [b] = await fetchOpportunityBundles(client(), [oppWithContract]);
    assert.ok('Billing_Model__c' in b.opportunity);
    assert.ok(b.opportunity.CurrencyIsoCode);
    assert.ok(b.contract, 'contract through Contracts__r');
    assert.ok(b.billingSchedule.length > 0 || b.amendments.length >= 0);
    assert.equal(sandbox.requests().filter((r) => /FROM\+Organization|FROM%20Organization/i.test(r.path)).length, 0, 'no org read when the records carry their currency');
  });

  it('a standard single-currency org without the custom fields and objects: the old SOQL is INVALID_FIELD, the bundle is built from describe with the org default currency', async () => {
    await remove('Opportunity/fields/CurrencyIsoCode');
    await remove('Account/fields/CurrencyIsoCode');
    await remove('Contract/fields/CurrencyIsoCode');
    await remove('Opportunity/fields/Billing_Model__c');
    await remove('Opportunity/fields/Delivery_Manager_Email__c');
    await remove('Opportunity/fields/Contracts__r');
    await remove('Billing_Milestone__c');
    await remove('Contract_Amendment__c');
    const c = client();
    await assert.rejects(c.query(`SELECT ${OPPORTUNITY_FIELDS.join(', ')} FROM Opportunity WHERE Id = '${oppWithContract}'`), (err: unknown) => /INVALID_FIELD/.test(JSON.stringify((err as { response?: unknown }).response)) || /No such column/.test(String((err as Error).message)));
    const [b] = await fetchOpportunityBundles(c, [oppWithContract]);
    assert.equal(b.opportunity.Id, oppWithContract);
    assert.equal(b.opportunity.CurrencyIsoCode, 'USD', 'the org default currency (Organization.DefaultCurrencyIsoCode)');
    assert.equal(b.account!.CurrencyIsoCode, 'USD');
    assert.ok(!('Billing_Model__c' in b.opportunity) && !('Delivery_Manager_Email__c' in b.opportunity), 'a field the org lacks is absent from the bundle');
    assert.ok('Delivery_Manager_Id__c' in b.opportunity, 'fields the org has are still read');
    assert.equal(b.contract, null);
    assert.deepEqual([b.billingSchedule, b.amendments], [[], []]);
    // describe is cached per client: a second bundle reads no describe again
    const describes = () => sandbox.requests().filter((r) => /\/describe/.test(r.path)).length;
    const before = describes();
    await fetchOpportunityBundles(c, [oppWithContract]);
    assert.equal(describes(), before);
  });

  it('the org names a custom field differently: the mapping reads it and the bundle keeps the default name', async () => {
    const c = client();
    const [raw] = (await c.query<{ Description: string }>(`SELECT Description FROM Opportunity WHERE Id = '${oppWithContract}'`)).records;
    await remove('Opportunity/fields/Billing_Model__c');
    const [b] = await fetchOpportunityBundles(c, [oppWithContract], { Billing_Model__c: 'Description' });
    assert.ok('Billing_Model__c' in b.opportunity && !('Description' in b.opportunity));
    assert.equal(b.opportunity.Billing_Model__c, raw.Description);
    assert.throws(() => checkSalesforceNames({ Not_A_Field__c: 'X__c' }), /not one of/);
    assert.throws(() => checkSalesforceNames({ Billing_Model__c: 'bad name;' }), /not a Salesforce API name/);
    assert.deepEqual(checkSalesforceNames({ Contracts__r: 'Engagement_Contracts__r' }), { Contracts__r: 'Engagement_Contracts__r' });
  });
});
