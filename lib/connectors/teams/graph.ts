/**
 * Microsoft Graph path to a Teams channel (axios, no Node-RED): `POST /v1.0/teams/{team-id}/channels/{channel-id}/messages`.
 *
 * Graph lets an application post a channel message only with a *delegated* token (permission `ChannelMessage.Send`,
 * a signed-in user who is a member of the team); the application permission (`Teamwork.Migrate.All`) is for importing
 * messages into a team in migration mode, and an app-only token is refused with 401. So this client is a confidential
 * Entra app acting for one user (a service account): the user consents once (docs/connectors/teams.md), the refresh
 * token it yields is kept in the config node's credentials, and access tokens come from
 * `<authority>/<tenant>/oauth2/v2.0/token` with `grant_type=refresh_token`. A plain token request is used instead of
 * MSAL: MSAL's refresh-token API is meant for migrating into its own token cache, which would need a persistence plugin,
 * while this is one form post.
 *
 * Entra rotates refresh tokens: each refresh answers a new one, used next; the old one is not revoked but keeps its own
 * lifetime (90 days), so a runtime restarted long after the consent must get a new refresh token (the error says so).
 *
 * Write (operation for `ConnectionHandle.submit`): `postCard` {card} (the Workflows-shaped message with Adaptive Card
 * attachments, as `toWebhookPayload` builds it), turned into a Graph chatMessage whose html body references each card.
 */
import crypto from 'node:crypto';
import axios from 'axios';
import { clientSpan } from '../../telemetry';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { classify, PermanentError, ValidationError } from '../../delivery/errors';
import { ADAPTIVE_CARD, toWebhookPayload } from './client';

export const ENTRA_AUTHORITY = 'https://login.microsoftonline.com';
export const GRAPH_URL = 'https://graph.microsoft.com';

export interface TeamsGraphConfig {
  /** Directory (tenant) id or a verified domain. */
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** From the one-time consent of the posting user (authorization code flow with `offline_access`). */
  refreshToken: string;
  teamId: string;
  /** e.g. `19:...@thread.tacv2`. */
  channelId: string;
  /** Default `https://login.microsoftonline.com` (a national cloud has its own). */
  authorityHost?: string;
  /** Default `https://graph.microsoft.com`; the token's scope is `<graphUrl>/.default`. */
  graphUrl?: string;
  timeoutMs?: number;
}

type Rec = Record<string, any>;

/** A Graph chatMessage (html body referencing each Adaptive Card attachment) from a Workflows-shaped message. */
export function toGraphChatMessage(message: Rec, newId: () => string = () => crypto.randomUUID().replace(/-/g, '')): Rec {
  const atts = Array.isArray(message.attachments) ? (message.attachments as Rec[]) : [];
  if (!atts.length) throw new ValidationError('a Teams message needs an Adaptive Card attachment', [{ path: '/card/attachments', message: 'required' }]);
  const attachments = atts.map((a, i) => {
    if (a?.contentType !== ADAPTIVE_CARD) throw new ValidationError(`attachments[${i}] is not an Adaptive Card`, [{ path: `/card/attachments/${i}/contentType`, message: `must be ${ADAPTIVE_CARD}` }]);
    // Graph carries the card as a JSON string, not as an object as the Workflows webhook does
    return { id: newId(), contentType: ADAPTIVE_CARD, contentUrl: null, content: typeof a.content === 'string' ? a.content : JSON.stringify(a.content) };
  });
  // summary: what a channel notification and the activity feed show instead of the card
  return { body: { contentType: 'html', content: attachments.map((a) => `<attachment id="${a.id}"></attachment>`).join('') }, attachments, ...(typeof message.summary === 'string' && message.summary ? { summary: message.summary } : {}) };
}

interface Token {
  value: string;
  expiresAt: number;
}

export class TeamsGraphClient {
  private token?: Token;
  private tokenPromise?: Promise<string>;
  /** The refresh token to use next: the configured one until Entra answers a new one. */
  private refreshToken: string;
  readonly authorityHost: string;
  readonly graphUrl: string;

  constructor(readonly config: TeamsGraphConfig) {
    const missing = (['tenantId', 'clientId', 'clientSecret', 'refreshToken', 'teamId', 'channelId'] as const).filter((k) => !config[k]);
    if (missing.length) throw new ValidationError(`Teams Graph: ${missing.join(', ')} missing (docs/connectors/teams.md: app registration and consent)`, missing.map((k) => ({ path: `/${k}`, message: 'required' })));
    this.refreshToken = config.refreshToken;
    this.authorityHost = (config.authorityHost || ENTRA_AUTHORITY).replace(/\/$/, '');
    this.graphUrl = (config.graphUrl || GRAPH_URL).replace(/\/$/, '');
  }

  get tokenUrl(): string {
    return `${this.authorityHost}/${encodeURIComponent(this.config.tenantId)}/oauth2/v2.0/token`;
  }

  get messagesUrl(): string {
    return `${this.graphUrl}/v1.0/teams/${encodeURIComponent(this.config.teamId)}/channels/${encodeURIComponent(this.config.channelId)}/messages`;
  }

  /** A delegated access token, cached until five minutes before it expires. */
  async accessToken(force = false): Promise<string> {
    if (!force && this.token && this.token.expiresAt - 5 * 60_000 > Date.now()) return this.token.value;
    if (!this.tokenPromise) {
      this.tokenPromise = this.refresh().finally(() => {
        this.tokenPromise = undefined;
      });
    }
    return this.tokenPromise;
  }

  private async refresh(): Promise<string> {
    const form = {
      grant_type: 'refresh_token',
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      refresh_token: this.refreshToken,
      scope: `${this.graphUrl}/.default offline_access`,
    };
    let body: { access_token?: string; refresh_token?: string; expires_in?: number | string };
    try {
      const res = await axios.post(this.tokenUrl, new URLSearchParams(form).toString(), { headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, timeout: this.config.timeoutMs ?? 30000 });
      body = res.data;
    } catch (err) {
      const e = classify(err);
      // invalid_grant (expired or revoked refresh token, consent withdrawn) and invalid_client (secret expired): a person must act
      if (e.status === 400 || e.status === 401) {
        throw new PermanentError(`Teams Graph token: ${e.message.replace(/^HTTP \d+: /, '')} (renew the client secret, or have the posting user consent again and store the new refresh token: docs/connectors/teams.md)`, { errorClass: 'auth', status: e.status, response: e.response, cause: err });
      }
      throw e;
    }
    if (!body?.access_token) throw new PermanentError('Teams Graph token endpoint answered without access_token', { errorClass: 'auth' });
    if (body.refresh_token) this.refreshToken = body.refresh_token;
    this.token = { value: body.access_token, expiresAt: Date.now() + (Number(body.expires_in) || 3600) * 1000 };
    return body.access_token;
  }

  /** Posts the chatMessage; a 401 on a cached token gets one fresh token (expiry or revocation), not a retry policy. */
  async postMessage(chatMessage: Rec): Promise<{ status: number; message: Rec }> {
    const send = async (token: string) =>
      clientSpan('teams', 'POST', this.graphUrl, (trace) => axios.post(this.messagesUrl, chatMessage, { timeout: this.config.timeoutMs ?? 30000, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json', ...trace } }), (r) => r.status);
    let res;
    try {
      res = await send(await this.accessToken());
    } catch (err) {
      if ((err as { response?: { status?: number } }).response?.status !== 401) throw classify(err);
      try {
        res = await send(await this.accessToken(true));
      } catch (err2) {
        throw classify(err2);
      }
    }
    return { status: res.status, message: res.data as Rec };
  }

  executor(): ConnectionExecutor {
    return {
      execute: async (operation: string, request: Json, _ctx: ExecutionContext): Promise<Json> => {
        if (operation !== 'postCard') throw new PermanentError(`unknown Teams operation "${operation}" (expected postCard)`, { errorClass: 'validation' });
        const r = await this.postMessage(toGraphChatMessage(toWebhookPayload((request ?? {}) as Rec)));
        return { status: r.status, id: r.message?.id ?? null, webUrl: r.message?.webUrl ?? null };
      },
    };
  }
}
