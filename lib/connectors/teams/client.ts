/**
 * Microsoft Teams incoming-webhook client (axios, no Node-RED) and the card builder.
 * The webhook URL is the credential (it embeds the secret): keep it in Node-RED credentials only.
 *
 * Write (operation for `ConnectionHandle.submit`): `postCard` {card} where card is a full webhook
 * payload (Adaptive Card message or MessageCard), or {title, text, facts?, link?, style?} to build one.
 * Teams answers 200 with body `1` (classic connector webhooks) or 202 (Workflows webhooks); anything
 * else, including a 200 whose body is an error text, is thrown for `classify`.
 */
import axios from 'axios';
import { clientSpan } from '../../telemetry';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { classify, PermanentError, ValidationError } from '../../delivery/errors';

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

/** A legacy Office 365 connector MessageCard. */
export function messageCard(spec: NotificationSpec): Rec {
  const facts = Array.isArray(spec.facts) ? spec.facts.map((f) => ({ name: f.title, value: f.value })) : Object.entries(spec.facts ?? {}).filter(([, v]) => v !== undefined && v !== null).map(([name, value]) => ({ name, value: String(value) }));
  const card: Rec = { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: spec.title, title: spec.title, text: spec.text ?? spec.title };
  if (facts.length) card.sections = [{ facts }];
  if (spec.link) card.potentialAction = [{ '@type': 'OpenUri', name: spec.link.title ?? 'Open', targets: [{ os: 'default', uri: spec.link.url }] }];
  return card;
}

/** A payload Teams accepts, or throws ValidationError with what is wrong. */
export function toWebhookPayload(request: Rec, format: 'adaptive' | 'messagecard' = 'adaptive'): Rec {
  if (request.card && typeof request.card === 'object') return request.card;
  if (request.type === 'message' || request['@type'] === 'MessageCard') return request;
  if (typeof request.title !== 'string' || !request.title.trim()) throw new ValidationError('a Teams notification needs a title (or a full card in request.card)', [{ path: '/title', message: 'required' }]);
  return format === 'messagecard' ? messageCard(request as NotificationSpec) : adaptiveCardMessage(request as NotificationSpec);
}

export class TeamsWebhookClient {
  constructor(readonly webhookUrl: string, readonly opts: { timeoutMs?: number; format?: 'adaptive' | 'messagecard' } = {}) {}

  async post(payload: Rec): Promise<{ status: number; body: string }> {
    let res;
    try {
      res = await clientSpan('teams', 'POST', this.webhookUrl.replace(/^(https?:\/\/[^/]+).*$/i, '$1'), (trace) => axios.post(this.webhookUrl, payload, { timeout: this.opts.timeoutMs ?? 30000, headers: { 'content-type': 'application/json', ...trace }, responseType: 'text', transformResponse: (x) => x }), (r) => r.status);
    } catch (err) {
      throw classify(err);
    }
    const body = String(res.data ?? '').trim();
    // Classic connector webhooks may answer 200 with an error text instead of `1` (e.g. a throttled or failed post).
    if (res.status === 200 && body !== '1' && body !== '') {
      const throttled = /429|throttl/i.test(body);
      throw classify({ message: body, response: { status: throttled ? 429 : 400, data: body, headers: {} } });
    }
    return { status: res.status, body };
  }

  executor(): ConnectionExecutor {
    return {
      execute: async (operation: string, request: Json, _ctx: ExecutionContext): Promise<Json> => {
        if (operation !== 'postCard') throw new PermanentError(`unknown Teams operation "${operation}" (expected postCard)`, { errorClass: 'validation' });
        const payload = toWebhookPayload((request ?? {}) as Rec, this.opts.format);
        const r = await this.post(payload);
        return { status: r.status, body: r.body };
      },
    };
  }
}
