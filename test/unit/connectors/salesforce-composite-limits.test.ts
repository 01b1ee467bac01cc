/**
 * Salesforce composite limits as Salesforce documents them (issue 16, Deliver 3): of at most 25 subrequests, at most 5
 * may be query operations (Query, QueryAll) or sObject Collections. The sandbox used to run any number of queries.
 */
import assert from 'node:assert/strict';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { salesforceSandbox } from '../../../sandbox/salesforce';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../../sandbox/salesforce/auth';
import { SalesforceClient } from '../../../lib/connectors/salesforce';
import { FabricError } from '../../../lib/delivery/errors';

describe('Salesforce sandbox: composite limits', function () {
  this.timeout(30000);
  let sb: RunningSandboxes;
  let c: SalesforceClient;
  before(async () => {
    sb = await startSandboxes({ vendors: [salesforceSandbox] });
    c = new SalesforceClient({ loginUrl: `${sb.url}/salesforce`, apiVersion: '62.0', auth: { type: 'client-credentials', clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } });
  });
  after(async () => {
    await c.close();
    await sb.close();
  });

  const query = (i: number) => ({ method: 'GET' as const, url: `/services/data/v62.0/query?q=${encodeURIComponent('SELECT Id FROM Account LIMIT 1')}`, referenceId: `q${i}` });

  it('runs 5 queries beside other subrequests', async () => {
    const r = await c.composite({ compositeRequest: [...[1, 2, 3, 4, 5].map(query), { method: 'GET' as const, url: '/services/data/v62.0/sobjects/Account/001Hs00001AcmeUSAAA', referenceId: 'acc' }] });
    assert.deepEqual(r.compositeResponse.map((x) => x.httpStatusCode), [200, 200, 200, 200, 200, 200]);
  });

  it('refuses a sixth query or sObject Collections subrequest with 400 LIMIT_EXCEEDED, a permanent error', async () => {
    const sixth = [{ ...query(6), url: `/services/data/v62.0/queryAll?q=${encodeURIComponent('SELECT Id FROM Account')}` }, { method: 'PATCH' as const, url: '/services/data/v62.0/composite/sobjects', referenceId: 'coll', body: { records: [] } }];
    for (const extra of sixth) {
      await assert.rejects(c.composite({ compositeRequest: [...[1, 2, 3, 4, 5].map(query), extra] }), (e: FabricError) => e.status === 400 && e.retry === 'permanent' && /LIMIT_EXCEEDED/.test(e.message) && /at most 5/.test(e.message));
    }
  });
});
