/**
 * Microsoft Teams Workflows webhook client (axios, no Node-RED) and the Adaptive Card builder.
 * Office 365 connectors (incoming webhooks, MessageCard) are retired in Teams: a channel takes posts through a
 * Workflows (Power Automate) flow, "When a Teams webhook request is received", which posts Adaptive Cards only.
 * The flow's URL is the credential (its `sig` is the secret): keep it in Node-RED credentials only.
 *
 * Write (operation for `ConnectionHandle.submit`): `postCard` {card} where card is a message with an Adaptive Card
 * attachment, or {title, text, facts?, link?, style?} to build one. The flow answers 202 (queued); anything not 2xx is
 * thrown for `classify`. A retired connector URL or a MessageCard is refused before anything is sent.
 */
import axios from 'axios';
import { clientSpan } from '../../telemetry';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { classify, PermanentError, ValidationError } from '../../delivery/errors';

/** The operations the Teams executors (webhook and Graph) write (through the outbox); the teams-notify node's write list. */
export const TEAMS_WRITE_OPERATIONS = ['postCard'] as const;

export const ADAPTIVE_CARD = 'application/vnd.microsoft.card.adaptive';

export interface NotificationSpec {
  title: string;
  text?: string;
  facts?: Record<string, string | number | boolean | null | undefined> | { title: string; value: string }[];
  link?: { title?: string; url: string };
  /** Adaptive Card container style of the title: good, attention, warning, accent, default. */
  style?: 'default' | 'good' | 'attention' | 'warning' | 'accent';
}

type Rec = Record<string, any>;

/** A Teams webhook message carrying one Adaptive Card (schema 1.4). */
export function adaptiveCardMessage(spec: NotificationSpec): Rec {
  const body: Rec[] = [{ type: 'TextBlock', text: spec.title, weight: 'Bolder', size: 'Medium', wrap: true, ...(spec.style && spec.style !== 'default' ? { color: colorFor(spec.style) } : {}) }];
  if (spec.text) body.push({ type: 'TextBlock', text: spec.text, wrap: true });
  const facts = Array.isArray(spec.facts)
    ? spec.facts
    : Object.entries(spec.facts ?? {}).filter(([, v]) => v !== undefined && v !== null).map(([title, value]) => ({ title, value: String(value) }));
  if (facts.length) body.push({ type: 'FactSet', facts });
  const content: Rec = { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body, msteams: { width: 'Full' } };
  if (spec.link) content.actions = [{ type: 'Action.OpenUrl', title: spec.link.title ?? 'Open', url: spec.link.url }];
  return { type: 'message', summary: spec.title, attachments: [{ contentType: ADAPTIVE_CARD, contentUrl: null, content }] };
}

function colorFor(style: string): string {
  return ({ good: 'Good', attention: 'Attention', warning: 'Warning', accent: 'Accent' } as Record<string, string>)[style] ?? 'Default';
}

const MESSAGECARD_RETIRED = 'MessageCard belongs to the retired Office 365 connectors: Workflows webhooks post Adaptive Cards only (send {title, text, facts, link, style} or a message with an Adaptive Card attachment)';

/** Teams refuses a message above about 28 KB (webhooks, bots and Graph alike); the card is most of it. */
export const TEAMS_MESSAGE_LIMIT_BYTES = 28 * 1024;

/** A message with an Adaptive Card the Workflows flow posts, or throws ValidationError with what is wrong. */
export function toWebhookPayload(request: Rec): Rec {
  const given = request.card && typeof request.card === 'object' ? (request.card as Rec) : request.type === 'message' || request['@type'] === 'MessageCard' ? request : undefined;
  if (given) {
    if (given['@type'] === 'MessageCard' || given.type === 'MessageCard') throw new ValidationError(MESSAGECARD_RETIRED, [{ path: '/card/@type', message: 'MessageCard is not supported' }]);
    return withinTeamsLimit(given);
  }
  if (typeof request.title !== 'string' || !request.title.trim()) throw new ValidationError('a Teams notification needs a title (or a full card in request.card)', [{ path: '/title', message: 'required' }]);
  return withinTeamsLimit(adaptiveCardMessage(request as NotificationSpec));
}

// refused here rather than by Teams: a Workflows flow would answer 202 and fail its run later, unseen
function withinTeamsLimit(message: Rec): Rec {
  const bytes = Buffer.byteLength(JSON.stringify(message), 'utf8');
  if (bytes > TEAMS_MESSAGE_LIMIT_BYTES) {
    throw new ValidationError(`the Teams message is ${Math.ceil(bytes / 1024)} KB; Teams accepts about ${TEAMS_MESSAGE_LIMIT_BYTES / 1024} KB: shorten the text or facts, or link to the details`, [{ path: '/card', message: `${bytes} bytes > ${TEAMS_MESSAGE_LIMIT_BYTES}` }]);
  }
  return message;
}

/**
 * Why a URL cannot take posts: an Office 365 connector URL (`*.webhook.office.com/webhookb2/...`,
 * `outlook.office.com/webhook/...`, `/IncomingWebhook/`), retired by Microsoft; undefined for a Workflows URL.
 */
export function retiredWebhookProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'the webhook URL is not a URL';
  }
  if (/(^|\.)webhook\.office\.com$/i.test(u.hostname) || /^outlook\.office(365)?\.com$/i.test(u.hostname) || /\/(webhookb2|IncomingWebhook)\//i.test(u.pathname) || /^\/(teams\/)?webhook\//.test(u.pathname)) {
    return 'this is an Office 365 connector (incoming webhook) URL, which Microsoft has retired in Teams: create a Workflows webhook for the channel ("When a Teams webhook request is received") and use its URL';
  }
  return undefined;
}

export class TeamsWebhookClient {
  constructor(readonly webhookUrl: string, readonly opts: { timeoutMs?: number } = {}) {
    const retired = retiredWebhookProblem(webhookUrl);
    if (retired) throw new ValidationError(`Teams: ${retired}`, [{ path: '/webhookUrl', message: retired }]);
  }

  async post(payload: Rec): Promise<{ status: number; body: string }> {
    let res;
    try {
      res = await clientSpan('teams', 'POST', this.webhookUrl.replace(/^(https?:\/\/[^/]+).*$/i, '$1'), (trace) => axios.post(this.webhookUrl, payload, { timeout: this.opts.timeoutMs ?? 30000, headers: { 'content-type': 'application/json', ...trace }, responseType: 'text', transformResponse: (x) => x }), (r) => r.status);
    } catch (err) {
      throw classify(err);
    }
    return { status: res.status, body: String(res.data ?? '').trim() };
  }

  executor(): ConnectionExecutor {
    return {
      execute: async (operation: string, request: Json, _ctx: ExecutionContext): Promise<Json> => {
        if (operation !== 'postCard') throw new PermanentError(`unknown Teams operation "${operation}" (expected postCard)`, { errorClass: 'validation' });
        const payload = toWebhookPayload((request ?? {}) as Rec);
        const r = await this.post(payload);
        return { status: r.status, body: r.body };
      },
    };
  }
}
