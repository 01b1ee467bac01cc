/**
 * Microsoft Graph channel messages and the Entra token endpoint, as strict as Microsoft answers them, mounted by the
 * Teams sandbox at `/teams/graph` (Graph, its own frame: faults, request log, records at `/teams/graph/_sandbox/...`)
 * and `/teams/login` (the Entra authority host, never faulted, like every sandbox's token endpoint).
 *
 * Entra: `POST /teams/login/<tenant>/oauth2/v2.0/token`, form-encoded. `refresh_token` (delegated: the user's consent
 * gave the refresh token; a new one comes back each time, the old one stays valid) and `client_credentials` (an app-only
 * token). Errors `{error, error_description: "AADSTS...", error_codes}`: unknown tenant 400 invalid_request (AADSTS90002),
 * unknown app 400 unauthorized_client (AADSTS700016), wrong secret 401 invalid_client (AADSTS7000215), unknown refresh
 * token 400 invalid_grant (AADSTS70000), missing parameter 400 invalid_request (AADSTS900144).
 *
 * Graph: `POST /teams/graph/v1.0/teams/<team-id>/channels/<channel-id>/messages`. 401 `InvalidAuthenticationToken`
 * without a valid bearer; 401 `Unauthorized` for an app-only token (Graph allows application permissions here only to
 * import messages in migration mode); 403 when the delegated token lacks `ChannelMessage.Send` or the user is not a
 * member of the team; 404 `NotFound` for an unknown team or channel; 400 `BadRequest` for a body Graph refuses: a
 * property chatMessage does not have, `body.contentType` other than text/html, an attachment without id, an Adaptive
 * Card whose `content` is not a JSON string of an AdaptiveCard, an attachment the html body does not reference with
 * `<attachment id="...">` or a reference without its attachment. 201 with the chatMessage. Limits: the frame's faults,
 * 429 `TooManyRequests` with Retry-After as Graph throttles. Received messages: `GET /teams/graph/_sandbox/records/messages`.
 */
import crypto from 'node:crypto';
import express from 'express';
import { Sandbox } from '../core/sandbox';

export const GRAPH_TENANT_ID = '5f1c2b9e-0d7a-4c52-9a3e-7b1f0c6d2a11';
export const GRAPH_TENANT_DOMAIN = 'psfabric.onmicrosoft.com';
export const GRAPH_CLIENT_ID = 'a3c9e2f4-6b1d-4e8a-9c07-2d5f8b1e4c90';
export const GRAPH_CLIENT_SECRET = 'teams-graph-sandbox-secret';
/** The posting user's refresh token, as the one-time consent would have produced it. */
export const GRAPH_REFRESH_TOKEN = 'psf-sandbox-graph-refresh-token';
export const GRAPH_USER_ID = '8d2e6f1a-3b5c-4d7e-9f0a-1b2c3d4e5f60';
export const GRAPH_TEAM_ID = '2b7e4c1a-9f3d-4e6b-8a15-c0d9e7f3b2a4';
/** A team whose members do not include the posting user. */
export const GRAPH_OTHER_TEAM_ID = '7c1d3e5f-2a4b-4c6d-8e0f-9a1b2c3d4e5f';
export const GRAPH_CHANNELS: Record<string, string> = {
  delivery: '19:3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e@thread.tacv2',
  finance: '19:8b0d2f4a6c8e0a2c4e6a8c0e2a4c6e8a@thread.tacv2',
  salesops: '19:1e3a5c7e9a1c3e5a7c9e1a3c5e7a9c1e@thread.tacv2',
};
export const ADAPTIVE_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** chatMessage properties a client may set when posting (everything else is read-only or not on the type). */
const POSTABLE = new Set(['body', 'attachments', 'mentions', 'subject', 'importance', 'hostedContents', 'summary']);
const ATTACHMENT_PROPS = new Set(['id', 'contentType', 'contentUrl', 'content', 'name', 'thumbnailUrl', 'teamsAppId']);
const ACCESS_TOKEN_SECONDS = 3599;

type Rec = Record<string, any>;

function seed(): Record<string, Record<string, any>> {
  return {
    tenants: { [GRAPH_TENANT_ID]: { id: GRAPH_TENANT_ID, domains: [GRAPH_TENANT_DOMAIN] } },
    apps: { [GRAPH_CLIENT_ID]: { clientId: GRAPH_CLIENT_ID, tenantId: GRAPH_TENANT_ID, secret: GRAPH_CLIENT_SECRET, consented: ['ChannelMessage.Send'] } },
    users: { [GRAPH_USER_ID]: { id: GRAPH_USER_ID, displayName: 'PS Fabric notifications', userPrincipalName: `psfabric-notify@${GRAPH_TENANT_DOMAIN}` } },
    teams: {
      [GRAPH_TEAM_ID]: { id: GRAPH_TEAM_ID, displayName: 'PS Fabric', members: [GRAPH_USER_ID], channels: Object.fromEntries(Object.entries(GRAPH_CHANNELS).map(([name, id]) => [id, { id, displayName: name }])) },
      [GRAPH_OTHER_TEAM_ID]: { id: GRAPH_OTHER_TEAM_ID, displayName: 'Leadership', members: [], channels: { '19:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a@thread.tacv2': { id: '19:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a@thread.tacv2', displayName: 'General' } } },
    },
    refreshTokens: { [GRAPH_REFRESH_TOKEN]: { clientId: GRAPH_CLIENT_ID, userId: GRAPH_USER_ID, tenantId: GRAPH_TENANT_ID } },
    accessTokens: {},
    messages: {},
  };
}

const graphError = (code: string, message: string) => ({
  error: { code, message, innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ''), 'request-id': crypto.randomUUID(), 'client-request-id': crypto.randomUUID() } },
});

function graphCodeFor(status: number): string {
  return ({ 429: 'TooManyRequests', 503: 'ServiceNotAvailable', 504: 'GatewayTimeout', 500: 'InternalServerError' } as Record<number, string>)[status] ?? 'UnknownError';
}

export function createGraphSandbox(opts: { statePath?: string } = {}): Sandbox {
  const sb = new Sandbox({ name: 'teams-graph', seed, statePath: opts.statePath, errorBody: (status, message) => graphError(graphCodeFor(status), message), faultExempt: [/^\/_sandbox\//] });
  sb.router.post('/_sandbox/tokens/expire', (_req, res) => {
    for (const t of Object.values(sb.collection<Rec>('accessTokens'))) t.expiresAt = 0;
    sb.changed();
    res.status(204).end();
  });
  sb.router.post('/v1.0/teams/:teamId/channels/:channelId/messages', (req, res) => {
    const fail = (status: number, code: string, message: string) => res.status(status).json(graphError(code, message));
    const auth = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!bearer) return fail(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const token = sb.collection<Rec>('accessTokens')[bearer];
    if (!token) return fail(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
    if (token.expiresAt <= Date.now()) return fail(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
    if (token.kind === 'app') return fail(401, 'Unauthorized', 'Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details.');
    if (!token.scopes.includes('ChannelMessage.Send') && !token.scopes.includes('Group.ReadWrite.All')) {
      return fail(403, 'Forbidden', `Missing scope permissions on the request. API requires one of 'ChannelMessage.Send, Group.ReadWrite.All'. Scopes on the request '${token.scopes.join(', ')}'`);
    }
    const team = sb.collection<Rec>('teams')[req.params.teamId];
    if (!team) return fail(404, 'NotFound', `No team found with Group Id ${req.params.teamId}`);
    if (!team.members.includes(token.userId)) return fail(403, 'Forbidden', 'Forbidden: the signed-in user is not a member of this team.');
    const channel = team.channels[req.params.channelId];
    if (!channel) return fail(404, 'NotFound', `Channel ${req.params.channelId} not found in team ${req.params.teamId}.`);
    const problem = chatMessageProblem(req.body);
    if (problem) return fail(400, 'BadRequest', problem);
    const b = req.body as Rec;
    const id = String(Date.now() * 1000 + (Object.keys(sb.collection('messages')).length % 1000));
    const now = new Date().toISOString();
    const user = sb.collection<Rec>('users')[token.userId];
    const message = {
      id, replyToId: null, etag: id, messageType: 'message', createdDateTime: now, lastModifiedDateTime: now, lastEditedDateTime: null, deletedDateTime: null,
      subject: b.subject ?? null, summary: b.summary ?? null, chatId: null, importance: b.importance ?? 'normal', locale: 'en-us',
      webUrl: `https://teams.microsoft.com/l/message/${encodeURIComponent(channel.id)}/${id}?groupId=${team.id}&tenantId=${token.tenantId}&createdTime=${id}&parentMessageId=${id}`,
      policyViolation: null, eventDetail: null,
      from: { application: null, device: null, user: { '@odata.type': '#microsoft.graph.teamworkUserIdentity', id: user.id, displayName: user.displayName, userIdentityType: 'aadUser', tenantId: token.tenantId } },
      body: { contentType: b.body.contentType ?? 'text', content: b.body.content },
      channelIdentity: { teamId: team.id, channelId: channel.id },
      attachments: (b.attachments ?? []).map((a: Rec) => ({ id: a.id, contentType: a.contentType, contentUrl: a.contentUrl ?? null, content: a.content ?? null, name: a.name ?? null, thumbnailUrl: a.thumbnailUrl ?? null, teamsAppId: a.teamsAppId ?? null })),
      mentions: b.mentions ?? [], reactions: [],
    };
    sb.collection('messages')[id] = { ...message, teamName: team.displayName, channelName: channel.displayName, title: cardTitle(message.attachments) };
    sb.changed();
    res.status(201).json({ '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#teams('${team.id}')/channels('${encodeURIComponent(channel.id)}')/messages/$entity`, ...message });
  });
  return sb;
}

/** Why Graph refuses `body` as a new channel message; undefined when it would accept it. */
export function chatMessageProblem(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Invalid request body was sent: a chatMessage JSON object is required.';
  const m = body as Rec;
  for (const k of Object.keys(m)) {
    if (!POSTABLE.has(k) && !k.startsWith('@odata.')) return `The property '${k}' does not exist on type 'microsoft.graph.chatMessage' or cannot be set when posting. Make sure to only use property names that are defined by the type.`;
  }
  if (!m.body || typeof m.body !== 'object' || typeof m.body.content !== 'string') return 'Missing body content: body.content is required.';
  const contentType = m.body.contentType ?? 'text';
  if (contentType !== 'text' && contentType !== 'html') return `Cannot convert the literal '${contentType}' to the expected type 'microsoft.graph.bodyType' (text or html).`;
  const atts = m.attachments ?? [];
  if (!Array.isArray(atts)) return "The property 'attachments' must be an array of chatMessageAttachment.";
  const referenced = contentType === 'html' ? [...String(m.body.content).matchAll(/<attachment\s+id="([^"]*)"\s*>\s*<\/attachment>/gi)].map((x) => x[1]) : [];
  const ids = new Set<string>();
  for (const [i, a] of (atts as Rec[]).entries()) {
    if (!a || typeof a !== 'object') return `attachments[${i}] must be an object.`;
    for (const k of Object.keys(a)) if (!ATTACHMENT_PROPS.has(k)) return `The property '${k}' does not exist on type 'microsoft.graph.chatMessageAttachment'.`;
    if (typeof a.id !== 'string' || !a.id) return `attachments[${i}].id is required.`;
    ids.add(a.id);
    if (a.contentType === ADAPTIVE_CONTENT_TYPE) {
      if (typeof a.content !== 'string') return `attachments[${i}].content must be the Adaptive Card as a JSON string (Edm.String), not an object.`;
      let card: Rec;
      try {
        card = JSON.parse(a.content);
      } catch {
        return `attachments[${i}].content is not valid JSON.`;
      }
      if (card?.type !== 'AdaptiveCard' || typeof card.version !== 'string' || !Array.isArray(card.body)) return `attachments[${i}].content must be an AdaptiveCard with a version and a body array.`;
    } else if (typeof a.contentType !== 'string' || !a.contentType) return `attachments[${i}].contentType is required.`;
    if (!referenced.includes(a.id)) return `Attachment with id '${a.id}' is not referenced in the message body: an html body must contain <attachment id="${a.id}"></attachment>.`;
  }
  for (const r of referenced) if (!ids.has(r)) return `The message body references attachment '${r}', which is not in attachments.`;
  return undefined;
}

function cardTitle(atts: Rec[]): string | undefined {
  for (const a of atts) {
    try {
      const first = (JSON.parse(a.content) as Rec).body?.find((e: Rec) => e.type === 'TextBlock');
      if (first?.text) return first.text;
    } catch {
      // not a card: no title
    }
  }
  return undefined;
}

const entraError = (status: number, error: string, code: number, description: string) => ({
  status,
  body: { error, error_description: `AADSTS${code}: ${description} Trace ID: ${crypto.randomUUID()} Correlation ID: ${crypto.randomUUID()} Timestamp: ${new Date().toISOString()}`, error_codes: [code], timestamp: new Date().toISOString(), trace_id: crypto.randomUUID(), correlation_id: crypto.randomUUID(), error_uri: 'https://login.microsoftonline.com/error?code=' + code },
});

/**
 * The Entra v2 token endpoint over the Graph sandbox's state. `graphResource` is the sandbox's own Graph URL, accepted
 * as a scope resource beside `https://graph.microsoft.com`.
 */
export function entraTokenHandler(graph: Sandbox, graphResource: () => string) {
  return (req: express.Request, res: express.Response) => {
    const answer = (a: { status: number; body: unknown }) => res.status(a.status).json(a.body);
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    // the request log keeps the form without its secrets
    const entry = (res.locals as { sandboxEntry?: { body: unknown } }).sandboxEntry;
    if (entry) entry.body = Object.fromEntries([...form.entries()].map(([k, v]) => [k, /secret|token|assertion|code/i.test(k) && k !== 'grant_type' ? '[redacted]' : v]));
    if (typeof req.body !== 'string' || !/application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? ''))) {
      return answer(entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'."));
    }
    const tenantKey = req.params.tenant;
    const tenant = Object.values(graph.collection<Rec>('tenants')).find((t) => t.id === tenantKey || t.domains.includes(tenantKey));
    if (!tenant) return answer(entraError(400, 'invalid_request', 90002, `Tenant '${tenantKey}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`));
    const grant = form.get('grant_type');
    if (!grant) return answer(entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'."));
    const clientId = form.get('client_id') ?? '';
    if (!clientId) return answer(entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'."));
    const app = graph.collection<Rec>('apps')[clientId];
    if (!app || app.tenantId !== tenant.id) return answer(entraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantKey}'.`));
    if (!form.get('client_secret')) return answer(entraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    if (form.get('client_secret') !== app.secret) return answer(entraError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.'));
    const scope = form.get('scope');
    if (!scope) return answer(entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'."));
    const resources = ['https://graph.microsoft.com', graphResource().replace(/\/$/, '')];
    const scopes = scope.split(/\s+/).filter(Boolean);
    const graphScopes = scopes.filter((s) => s !== 'offline_access' && s !== 'openid' && s !== 'profile');
    for (const s of graphScopes) {
      const res1 = resources.find((r) => s.startsWith(r + '/'));
      if (!res1 && s.includes('/')) return answer(entraError(400, 'invalid_resource', 500011, `The resource principal named ${s.replace(/\/[^/]*$/, '')} was not found in the tenant named ${tenantKey}.`));
    }
    const names = graphScopes.map((s) => s.replace(/^.*\//, ''));
    const tokens = graph.collection<Rec>('accessTokens');
    const issue = (t: Rec) => {
      const value = `psf-graph-at-${crypto.randomBytes(18).toString('base64url')}`;
      tokens[value] = { ...t, expiresAt: Date.now() + ACCESS_TOKEN_SECONDS * 1000 };
      return value;
    };
    if (grant === 'client_credentials') {
      if (names.length !== 1 || names[0] !== '.default') return answer(entraError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`));
      const access = issue({ kind: 'app', clientId, tenantId: tenant.id, scopes: [] });
      graph.changed();
      return res.json({ token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS, ext_expires_in: ACCESS_TOKEN_SECONDS, access_token: access });
    }
    if (grant === 'refresh_token') {
      const refresh = form.get('refresh_token') ?? '';
      if (!refresh) return answer(entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'refresh_token'."));
      const r = graph.collection<Rec>('refreshTokens')[refresh];
      if (!r || r.clientId !== clientId || r.tenantId !== tenant.id) return answer(entraError(400, 'invalid_grant', 70000, "The provided value for the 'refresh_token' is not valid. The refresh token was issued to a different client, has expired, or has been revoked."));
      const granted = names.includes('.default') ? [...app.consented] : names.filter((n) => app.consented.includes(n));
      const missing = names.filter((n) => n !== '.default' && !app.consented.includes(n));
      if (missing.length) return answer(entraError(400, 'invalid_grant', 65001, `The user or administrator has not consented to use the application with ID '${clientId}'. Send an interactive authorization request for this user and resource (${missing.join(', ')}).`));
      const access = issue({ kind: 'delegated', clientId, tenantId: tenant.id, userId: r.userId, scopes: granted });
      const body: Rec = { token_type: 'Bearer', scope: granted.map((g) => `https://graph.microsoft.com/${g}`).join(' '), expires_in: ACCESS_TOKEN_SECONDS, ext_expires_in: ACCESS_TOKEN_SECONDS, access_token: access };
      if (scopes.includes('offline_access')) {
        // a new refresh token each time; the one used stays valid (Entra does not revoke it)
        const next = `psf-graph-rt-${crypto.randomBytes(18).toString('base64url')}`;
        graph.collection<Rec>('refreshTokens')[next] = { ...r, issuedFrom: refresh };
        body.refresh_token = next;
      }
      graph.changed();
      return res.json(body);
    }
    return answer(entraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`));
  };
}
