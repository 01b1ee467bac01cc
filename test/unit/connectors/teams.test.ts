import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { teamsSandbox, teamsWorkflowUrl } from '../../../sandbox/teams';
import { TeamsWebhookClient, adaptiveCardMessage, retiredWebhookProblem, toWebhookPayload } from '../../../lib/connectors/teams/client';
import { FabricError, TransientError } from '../../../lib/delivery/errors';

const ctx = { idempotencyKey: 'k', attempt: 1 };
const MESSAGE_CARD = { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: 'x', text: 'x' };

describe('Teams Workflows webhook connector against the Teams sandbox', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  let base: string;
  let flowUrl: string;
  before(async () => {
    sb = await startSandboxes({ vendors: [teamsSandbox] });
    base = `${sb.url}/teams`;
    flowUrl = teamsWorkflowUrl(sb.url, 'psfabric-delivery');
  });
  after(async () => sb.close());
  beforeEach(async () => axios.post(`${base}/_sandbox/reset`));

  it('posts an Adaptive Card message to a Workflows URL; the flow answers 202 (queued) and the card is inspectable', async () => {
    const client = new TeamsWebhookClient(flowUrl);
    const out = (await client.executor().execute('postCard', { title: 'Project created: Globex EHR', text: 'PSA, Jira and ERP are ready.', facts: { Customer: 'Globex Health Systems', Budget: 'USD 96,000' }, link: { url: 'https://example.atlassian.net/browse/GLOBX' }, style: 'good' }, ctx)) as any;
    assert.deepEqual(out, { status: 202, body: '' });
    const msgs = (await axios.get(`${base}/_sandbox/records/messages`)).data;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].kind, 'AdaptiveCard');
    assert.equal(msgs[0].webhookId, 'psfabric-delivery');
    assert.equal(msgs[0].card.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(msgs[0].card.attachments[0].content.body[2].type, 'FactSet');
    assert.equal(msgs[0].title, 'Project created: Globex EHR');
    // the Power Platform host shape of the same flow
    const pp = flowUrl.replace('/teams/workflows/', '/teams/powerautomate/automations/direct/workflows/');
    assert.equal((await new TeamsWebhookClient(pp).post(adaptiveCardMessage({ title: 'pp' }))).status, 202);
  });

  it('MessageCard and retired incoming-webhook URLs are refused before sending; the sandbox answers the retired shapes 410', async () => {
    assert.throws(() => toWebhookPayload({ card: MESSAGE_CARD }), (e: FabricError) => e.errorClass === 'validation' && /Adaptive Cards only/.test(e.message));
    assert.throws(() => toWebhookPayload(MESSAGE_CARD), (e: FabricError) => e.errorClass === 'validation');
    for (const url of ['https://contoso.webhook.office.com/webhookb2/1a2b@3c4d/IncomingWebhook/5e6f/7a8b', 'https://outlook.office.com/webhook/1a2b@3c4d/IncomingWebhook/5e6f/7a8b', `${base}/webhook/psfabric-delivery`]) {
      assert.ok(retiredWebhookProblem(url), url);
      assert.throws(() => new TeamsWebhookClient(url), (e: FabricError) => e.errorClass === 'validation' && /retired/.test(e.message) && /Workflows/.test(e.message));
    }
    assert.equal(retiredWebhookProblem('https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x'), undefined);
    for (const path of ['/webhook/psfabric-delivery', '/webhookb2/a@b/IncomingWebhook/c/d']) {
      const res = await axios.post(`${base}${path}`, adaptiveCardMessage({ title: 'x' }), { validateStatus: () => true });
      assert.equal(res.status, 410, path);
      assert.match(String(res.data), /retired/);
    }
    // a Workflows flow posts Adaptive Cards only: the sandbox refuses a MessageCard (stricter than the trigger)
    const res = await axios.post(flowUrl, MESSAGE_CARD, { validateStatus: () => true });
    assert.equal(res.status, 400);
    assert.equal(res.data.error.code, 'InvalidRequestContent');
  });

  it('400 for a bad card, 401 for a wrong signature, 404 for an unknown flow: permanent', async () => {
    const client = new TeamsWebhookClient(flowUrl);
    await assert.rejects(client.post({ type: 'message', attachments: [{ contentType: 'text/plain', content: {} }] }), (e: FabricError) => e.errorClass === 'validation' && /contentType must be application\/vnd.microsoft.card.adaptive/.test(e.message));
    await assert.rejects(new TeamsWebhookClient(flowUrl.replace(/sig=[^&]+/, 'sig=wrong')).post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e.errorClass === 'auth' && /signature/.test(e.message));
    await assert.rejects(new TeamsWebhookClient(flowUrl.replace(/sig=[^&]+$/, '')).post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e.errorClass === 'auth');
    await assert.rejects(new TeamsWebhookClient(teamsWorkflowUrl(sb.url, 'nope')).post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e.errorClass === 'not-found');
    assert.throws(() => toWebhookPayload({}), (e: FabricError) => e.errorClass === 'validation');
  });

  it('refuses a message above the Teams size limit before sending, saying how big it is', async () => {
    const client = new TeamsWebhookClient(flowUrl);
    const big = { title: 'Month-end', text: 'x'.repeat(30 * 1024) };
    assert.throws(() => toWebhookPayload(big), (e: FabricError) => e.errorClass === 'validation' && /31 KB; Teams accepts about 28 KB/.test(e.message));
    await assert.rejects(client.executor().execute('postCard', big, ctx), (e: FabricError) => e.errorClass === 'validation');
    assert.equal(sb.sandboxes.teams.requests().filter((r) => r.method === 'POST').length, 0, 'nothing was sent');
    assert.ok(toWebhookPayload({ title: 'Month-end', text: 'x'.repeat(20 * 1024) }));
  });

  it('surfaces 429 with Retry-After and 5xx as transient', async () => {
    const client = new TeamsWebhookClient(flowUrl);
    await axios.put(`${base}/_sandbox/faults`, { rate429: 1, retryAfterSeconds: 2 });
    await assert.rejects(client.post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e instanceof TransientError && e.retryAfterMs === 2000);
    await axios.put(`${base}/_sandbox/faults`, { errorRate: 1, errorStatus: 503 });
    await assert.rejects(client.post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e instanceof TransientError && e.status === 503);
    await axios.put(`${base}/_sandbox/faults`, {});
  });
});
