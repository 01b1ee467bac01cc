import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { teamsSandbox } from '../../../sandbox/teams';
import { TeamsWebhookClient, adaptiveCardMessage, messageCard, toWebhookPayload } from '../../../lib/connectors/teams/client';
import { FabricError, TransientError } from '../../../lib/delivery/errors';

const ctx = { idempotencyKey: 'k', attempt: 1 };

describe('Teams webhook connector against the Teams sandbox', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  let base: string;
  before(async () => {
    sb = await startSandboxes({ vendors: [teamsSandbox] });
    base = `${sb.url}/teams`;
  });
  after(async () => sb.close());
  beforeEach(async () => axios.post(`${base}/_sandbox/reset`));

  it('posts an Adaptive Card message; Teams answers 200 with body 1 and the card is inspectable', async () => {
    const client = new TeamsWebhookClient(`${base}/webhook/psfabric-delivery`);
    const out = (await client.executor().execute('postCard', { title: 'Project created: Globex EHR', text: 'PSA, Jira and ERP are ready.', facts: { Customer: 'Globex Health Systems', Budget: 'USD 96,000' }, link: { url: 'https://example.atlassian.net/browse/GLOBX' }, style: 'good' }, ctx)) as any;
    assert.deepEqual(out, { status: 200, body: '1' });
    const msgs = (await axios.get(`${base}/_sandbox/records/messages`)).data;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].kind, 'AdaptiveCard');
    assert.equal(msgs[0].webhookId, 'psfabric-delivery');
    assert.equal(msgs[0].card.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(msgs[0].card.attachments[0].content.body[2].type, 'FactSet');
    assert.equal(msgs[0].title, 'Project created: Globex EHR');
  });

  it('posts a MessageCard', async () => {
    const client = new TeamsWebhookClient(`${base}/webhook/psfabric-finance`, { format: 'messagecard' });
    await client.executor().execute('postCard', { title: 'Invoice posted', facts: { Total: 'EUR 12,400.00' } }, ctx);
    const msgs = (await axios.get(`${base}/_sandbox/records/messages`)).data;
    assert.equal(msgs[0].kind, 'MessageCard');
    assert.equal(msgs[0].card.sections[0].facts[0].name, 'Total');
  });

  it('gets 400 with a text reason for a bad card, 404 for an unknown webhook, both permanent', async () => {
    const client = new TeamsWebhookClient(`${base}/webhook/psfabric-delivery`);
    await assert.rejects(client.post({ type: 'message', attachments: [{ contentType: 'text/plain', content: {} }] }), (e: FabricError) => e.errorClass === 'validation' && /contentType must be application\/vnd.microsoft.card.adaptive/.test(e.message));
    await assert.rejects(client.post({ '@type': 'MessageCard' }), (e: FabricError) => e.status === 400 && /Summary or Text is required/.test(e.message));
    await assert.rejects(new TeamsWebhookClient(`${base}/webhook/nope`).post(adaptiveCardMessage({ title: 'x' })), (e: FabricError) => e.errorClass === 'not-found');
    assert.throws(() => toWebhookPayload({}), (e: FabricError) => e.errorClass === 'validation');
  });

  it('surfaces 429 with Retry-After and 5xx as transient', async () => {
    const client = new TeamsWebhookClient(`${base}/webhook/psfabric-delivery`);
    await axios.put(`${base}/_sandbox/faults`, { rate429: 1, retryAfterSeconds: 2 });
    await assert.rejects(client.post(messageCard({ title: 'x' })), (e: FabricError) => e instanceof TransientError && e.retryAfterMs === 2000);
    await axios.put(`${base}/_sandbox/faults`, { errorRate: 1, errorStatus: 503 });
    await assert.rejects(client.post(messageCard({ title: 'x' })), (e: FabricError) => e instanceof TransientError && e.status === 503);
    await axios.put(`${base}/_sandbox/faults`, {});
  });
});
