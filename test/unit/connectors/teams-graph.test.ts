import assert from 'node:assert/strict';
import axios from 'axios';
import { startSandboxes, RunningSandboxes } from '../../../sandbox/server';
import { teamsSandbox } from '../../../sandbox/teams';
import { GRAPH_CHANNELS, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_OTHER_TEAM_ID, GRAPH_REFRESH_TOKEN, GRAPH_TEAM_ID, GRAPH_TENANT_DOMAIN, GRAPH_TENANT_ID, chatMessageProblem } from '../../../sandbox/teams/graph';
import { TeamsGraphClient, toGraphChatMessage, type TeamsGraphConfig } from '../../../lib/connectors/teams/graph';
import { adaptiveCardMessage } from '../../../lib/connectors/teams/client';
import { FabricError, TransientError } from '../../../lib/delivery/errors';

const ctx = { idempotencyKey: 'k', attempt: 1 };
const ADAPTIVE = 'application/vnd.microsoft.card.adaptive';

describe('Teams through Microsoft Graph (delegated user) against the Graph and Entra sandbox', function () {
  this.timeout(20000);
  let sb: RunningSandboxes;
  let cfg: TeamsGraphConfig;
  let graph: string;
  let login: string;
  const token = async (form: Record<string, string>, tenant = GRAPH_TENANT_DOMAIN) =>
    axios.post(`${login}/${tenant}/oauth2/v2.0/token`, new URLSearchParams(form).toString(), { headers: { 'content-type': 'application/x-www-form-urlencoded' }, validateStatus: () => true });
  const messagesUrl = (team = GRAPH_TEAM_ID, channel = GRAPH_CHANNELS.delivery) => `${graph}/v1.0/teams/${team}/channels/${encodeURIComponent(channel)}/messages`;
  const delegated = async () => (await token({ grant_type: 'refresh_token', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, refresh_token: GRAPH_REFRESH_TOKEN, scope: 'https://graph.microsoft.com/.default' })).data.access_token as string;

  before(async () => {
    sb = await startSandboxes({ vendors: [teamsSandbox] });
    graph = `${sb.url}/teams/graph`;
    login = `${sb.url}/teams/login`;
    cfg = { tenantId: GRAPH_TENANT_ID, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET, refreshToken: GRAPH_REFRESH_TOKEN, teamId: GRAPH_TEAM_ID, channelId: GRAPH_CHANNELS.delivery, authorityHost: login, graphUrl: graph };
  });
  after(async () => sb.close());
  beforeEach(async () => axios.post(`${sb.url}/teams/_sandbox/reset`));

  it('posts the card as a chatMessage: html body referencing the attachment, card as a JSON string; 201 with id and webUrl', async () => {
    const out = (await new TeamsGraphClient(cfg).executor().execute('postCard', { title: 'Project created: Globex EHR', facts: { Customer: 'Globex' }, style: 'good' }, ctx)) as any;
    assert.equal(out.status, 201);
    assert.match(out.webUrl, /^https:\/\/teams\.microsoft\.com\/l\/message\//);
    const msgs = (await axios.get(`${graph}/_sandbox/records/messages`)).data;
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].id, out.id);
    assert.equal(msgs[0].title, 'Project created: Globex EHR');
    assert.equal(msgs[0].channelName, 'delivery');
    assert.equal(msgs[0].body.contentType, 'html');
    assert.equal(msgs[0].body.content, `<attachment id="${msgs[0].attachments[0].id}"></attachment>`);
    assert.equal(typeof msgs[0].attachments[0].content, 'string');
    assert.equal(msgs[0].summary, 'Project created: Globex EHR');
    // the token came from the refresh-token grant, and the request log keeps no secret
    const tokenReq = sb.sandboxes.teams.requests().find((r) => /oauth2\/v2.0\/token$/.test(r.path))!;
    assert.equal((tokenReq.body as any).grant_type, 'refresh_token');
    assert.equal((tokenReq.body as any).client_secret, '[redacted]');
    assert.equal((tokenReq.body as any).refresh_token, '[redacted]');
    assert.ok(!JSON.stringify(sb.sandboxes.teams.requests()).includes(GRAPH_CLIENT_SECRET));
  });

  it('the sandbox refuses what Graph refuses in a chatMessage body', () => {
    const good = toGraphChatMessage(adaptiveCardMessage({ title: 'x' }), () => 'a1');
    assert.equal(chatMessageProblem(good), undefined);
    assert.match(chatMessageProblem({ ...good, foo: 1 })!, /'foo' does not exist on type 'microsoft.graph.chatMessage'/);
    assert.match(chatMessageProblem({ ...good, body: { contentType: 'markdown', content: good.body.content } })!, /text or html/);
    assert.match(chatMessageProblem({ ...good, body: { contentType: 'html', content: 'no reference' } })!, /Attachment with id 'a1' is not referenced/);
    assert.match(chatMessageProblem({ ...good, body: { contentType: 'text', content: good.body.content } })!, /not referenced/);
    assert.match(chatMessageProblem({ ...good, body: { contentType: 'html', content: good.body.content + '<attachment id="zz"></attachment>' } })!, /references attachment 'zz'/);
    assert.match(chatMessageProblem({ ...good, attachments: [{ ...good.attachments[0], content: JSON.parse(good.attachments[0].content) }] })!, /JSON string/);
    assert.match(chatMessageProblem({ ...good, attachments: [{ ...good.attachments[0], id: undefined }] })!, /id is required/);
    assert.match(chatMessageProblem({ ...good, attachments: [{ ...good.attachments[0], content: '{"type":"MessageCard"}' }] })!, /AdaptiveCard/);
    assert.match(chatMessageProblem({ attachments: [] })!, /body.content is required/);
  });

  it('401 without a bearer or with an app-only token (application permission is for migration only), 403 outside the team, 404 for an unknown team or channel', async () => {
    const body = toGraphChatMessage(adaptiveCardMessage({ title: 'x' }));
    const post = (url: string, headers: Record<string, string> = {}) => axios.post(url, body, { headers, validateStatus: () => true });
    let res = await post(messagesUrl());
    assert.equal(res.status, 401);
    assert.equal(res.data.error.code, 'InvalidAuthenticationToken');
    const app = await token({ grant_type: 'client_credentials', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default' });
    assert.equal(app.status, 200);
    res = await post(messagesUrl(), { authorization: `Bearer ${app.data.access_token}` });
    assert.equal(res.status, 401);
    assert.match(res.data.error.message, /application-only context only for import/);
    const user = await delegated();
    res = await post(messagesUrl('00000000-0000-0000-0000-000000000000'), { authorization: `Bearer ${user}` });
    assert.equal(res.status, 404);
    assert.equal(res.data.error.code, 'NotFound');
    assert.match(res.data.error.message, /No team found/);
    res = await post(messagesUrl(GRAPH_TEAM_ID, '19:ffffffffffffffffffffffffffffffff@thread.tacv2'), { authorization: `Bearer ${user}` });
    assert.equal(res.status, 404);
    res = await post(messagesUrl(GRAPH_OTHER_TEAM_ID, '19:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a@thread.tacv2'), { authorization: `Bearer ${user}` });
    assert.equal(res.status, 403);
    // through the client: permanent, classified
    await assert.rejects(new TeamsGraphClient({ ...cfg, teamId: '00000000-0000-0000-0000-000000000000' }).executor().execute('postCard', { title: 'x' }, ctx), (e: FabricError) => e.errorClass === 'not-found' && /No team found/.test(e.message));
  });

  it('Entra token endpoint errors: unknown tenant, wrong secret, unknown refresh token are permanent auth errors that say what to do', async () => {
    assert.equal((await token({ grant_type: 'refresh_token', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, refresh_token: GRAPH_REFRESH_TOKEN, scope: 'https://graph.microsoft.com/.default' }, 'nope.onmicrosoft.com')).data.error_codes[0], 90002);
    const noScope = await token({ grant_type: 'refresh_token', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, refresh_token: GRAPH_REFRESH_TOKEN });
    assert.equal(noScope.status, 400);
    assert.match(noScope.data.error_description, /'scope'/);
    const json = await axios.post(`${login}/${GRAPH_TENANT_ID}/oauth2/v2.0/token`, { grant_type: 'refresh_token' }, { validateStatus: () => true });
    assert.equal(json.status, 400, 'a JSON body is not a token request');
    await assert.rejects(new TeamsGraphClient({ ...cfg, clientSecret: 'wrong' }).accessToken(), (e: FabricError) => e.errorClass === 'auth' && e.retry === 'permanent' && /AADSTS7000215/.test(e.message) && /client secret/.test(e.message) && !e.message.includes('wrong'));
    await assert.rejects(new TeamsGraphClient({ ...cfg, refreshToken: 'expired' }).accessToken(), (e: FabricError) => e.errorClass === 'auth' && /invalid_grant/.test(e.message) && /consent again/.test(e.message));
    assert.throws(() => new TeamsGraphClient({ ...cfg, channelId: '' }), (e: FabricError) => e.errorClass === 'validation' && /channelId missing/.test(e.message));
  });

  it('uses the rotated refresh token, and gets a new access token once when Graph says the cached one expired', async () => {
    const client = new TeamsGraphClient(cfg);
    await client.executor().execute('postCard', { title: 'one' }, ctx);
    await axios.post(`${graph}/_sandbox/tokens/expire`);
    await client.executor().execute('postCard', { title: 'two' }, ctx);
    const tokenCalls = sb.sandboxes.teams.requests().filter((r) => /oauth2\/v2.0\/token$/.test(r.path));
    assert.equal(tokenCalls.length, 2, 'one token for the first post, one after the 401');
    const refreshTokens = (await axios.get(`${graph}/_sandbox/records/refreshTokens`)).data as any[];
    assert.ok(refreshTokens.some((r) => r.issuedFrom && r.issuedFrom !== GRAPH_REFRESH_TOKEN), 'the second refresh used the token the first one answered');
    const graphPosts = sb.sandboxes.teams.requests().filter((r) => /\/messages$/.test(r.path)).map((r) => r.status);
    assert.deepEqual(graphPosts, [201, 401, 201]);
  });

  it('throttled: 429 TooManyRequests with Retry-After is transient and keeps the wait; 503 transient', async () => {
    const client = new TeamsGraphClient(cfg);
    await axios.put(`${graph}/_sandbox/faults`, { rate429: 1, retryAfterSeconds: 3 });
    await assert.rejects(client.executor().execute('postCard', { title: 'x' }, ctx), (e: FabricError) => e instanceof TransientError && e.retryAfterMs === 3000 && (e.response as any).error.code === 'TooManyRequests');
    await axios.put(`${graph}/_sandbox/faults`, { errorRate: 1, errorStatus: 503 });
    await assert.rejects(client.executor().execute('postCard', { title: 'x' }, ctx), (e: FabricError) => e instanceof TransientError && e.status === 503);
    // the Workflows side is not affected by Graph's faults
    assert.equal((await axios.get(`${sb.url}/teams/_sandbox/faults`)).data.rate429, 0);
  });

  it('an Adaptive Card attachment in Graph carries the card as a JSON string', () => {
    const m = toGraphChatMessage(adaptiveCardMessage({ title: 'T', text: 'x' }), () => 'id1');
    assert.deepEqual(Object.keys(m).sort(), ['attachments', 'body', 'summary']);
    assert.equal(m.summary, 'T', 'the notification text is the card title');
    assert.equal(m.attachments[0].contentType, ADAPTIVE);
    assert.equal(JSON.parse(m.attachments[0].content).type, 'AdaptiveCard');
  });
});
