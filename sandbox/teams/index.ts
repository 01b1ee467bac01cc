/**
 * Microsoft Teams incoming-webhook sandbox, mounted at `/teams`.
 *
 * `POST /teams/webhook/<id>` (and the real URL shape `/teams/webhookb2/...`) takes a legacy connector
 * MessageCard (`@type: MessageCard`, `text` or `summary` required) or a message with an Adaptive Card
 * attachment (`type: message`, `attachments[].contentType application/vnd.microsoft.card.adaptive`,
 * `content.type AdaptiveCard`). Answers as Teams does: 200 with the text body `1`, 400 with a text
 * explanation for a bad card, 404 for an unknown webhook. Received cards: `GET /teams/_sandbox/records/messages`.
 */
import express from 'express';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../server';

export const TEAMS_WEBHOOKS = ['psfabric-delivery', 'psfabric-finance', 'psfabric-salesops'];
export const ADAPTIVE_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

type Rec = Record<string, any>;

/** Why `body` is not a card Teams would render; undefined when it is. */
export function teamsCardProblem(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Bad payload received by generic incoming webhook.';
  const b = body as Rec;
  const msgType = b['@type'] ?? (b.type === 'MessageCard' ? 'MessageCard' : undefined);
  if (msgType === 'MessageCard') {
    if (typeof b.text !== 'string' && typeof b.summary !== 'string') return 'Summary or Text is required.';
    if (b.sections !== undefined && !Array.isArray(b.sections)) return 'Bad payload received by generic incoming webhook: sections must be an array.';
    if (b.potentialAction !== undefined && !Array.isArray(b.potentialAction)) return 'Bad payload received by generic incoming webhook: potentialAction must be an array.';
    return undefined;
  }
  if (b.type === 'message') {
    if (!Array.isArray(b.attachments) || b.attachments.length === 0) return 'Bad payload received by generic incoming webhook: attachments are required.';
    for (const [i, a] of (b.attachments as Rec[]).entries()) {
      if (!a || a.contentType !== ADAPTIVE_CONTENT_TYPE) return `Bad payload received by generic incoming webhook: attachments[${i}].contentType must be ${ADAPTIVE_CONTENT_TYPE}.`;
      const c = a.content;
      if (!c || c.type !== 'AdaptiveCard') return `Bad payload received by generic incoming webhook: attachments[${i}].content.type must be AdaptiveCard.`;
      if (c.version !== undefined && typeof c.version !== 'string') return `Bad payload received by generic incoming webhook: attachments[${i}].content.version must be a string.`;
      if (!Array.isArray(c.body)) return `Bad payload received by generic incoming webhook: attachments[${i}].content.body must be an array.`;
      for (const [j, el] of (c.body as Rec[]).entries()) if (!el || typeof el.type !== 'string') return `Bad payload received by generic incoming webhook: attachments[${i}].content.body[${j}].type is required.`;
    }
    return undefined;
  }
  if (typeof b.text === 'string') return undefined; // a plain {text} message is rendered as text
  return 'Bad payload received by generic incoming webhook.';
}

export function createTeamsSandbox(opts: { statePath?: string } = {}): Sandbox {
  const sb = new Sandbox({
    name: 'teams',
    seed: () => ({ webhooks: Object.fromEntries(TEAMS_WEBHOOKS.map((id) => [id, { id, channel: id.replace('psfabric-', '') }])), messages: {} }),
    statePath: opts.statePath,
    // Teams answers faults with plain text.
    errorBody: (status, message) => (status === 429 ? `Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0: ${message}` : message),
    faultExempt: [/^\/_sandbox\//],
  });
  let seq = 0;
  const receive = (req: express.Request, res: express.Response) => {
    const id = String(req.params.id ?? req.params[0] ?? '').split('/').filter(Boolean).pop() ?? '';
    const hook = sb.collection<Rec>('webhooks')[id];
    if (!hook) {
      res.status(404).type('text/plain').send('Webhook not found or disabled.');
      return;
    }
    let body = req.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        res.status(400).type('text/plain').send('Bad payload received by generic incoming webhook.');
        return;
      }
    }
    const problem = teamsCardProblem(body);
    if (problem) {
      res.status(400).type('text/plain').send(problem);
      return;
    }
    seq += 1;
    const mid = `${Date.now()}-${seq}`;
    const kind = body['@type'] === 'MessageCard' || body.type === 'MessageCard' ? 'MessageCard' : body.type === 'message' ? 'AdaptiveCard' : 'text';
    sb.collection('messages')[mid] = { id: mid, webhookId: id, kind, receivedAt: new Date().toISOString(), card: body, title: cardTitle(body) };
    sb.changed();
    res.status(200).type('text/plain').send('1');
  };
  sb.router.post('/webhook/:id', receive);
  sb.router.post(/^\/webhookb2\/(.+)$/, receive);
  return sb;
}

function cardTitle(body: Rec): string | undefined {
  if (body.title || body.summary) return body.title ?? body.summary;
  const first = body.attachments?.[0]?.content?.body?.find((e: Rec) => e.type === 'TextBlock');
  return first?.text;
}

export const teamsSandbox: VendorSandboxFactory = {
  name: 'teams',
  create: ({ statePath }) => createTeamsSandbox({ statePath }),
};
