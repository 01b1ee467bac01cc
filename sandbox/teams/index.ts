/**
 * Microsoft Teams Workflows webhook sandbox, mounted at `/teams`.
 *
 * Office 365 connectors (incoming webhooks, MessageCard) are retired in Teams; a channel now takes posts through a
 * Workflows (Power Automate) flow started by "When a Teams webhook request is received". Its URL is the credential:
 *  - `POST /teams/workflows/<id>/triggers/manual/paths/invoke?api-version=2016-06-01&sp=...&sv=1.0&sig=<sig>`
 *    (the Logic Apps host shape, `https://prod-NN.<region>.logic.azure.com:443/workflows/...`), and
 *  - `POST /teams/powerautomate/automations/direct/workflows/<id>/triggers/manual/paths/invoke?api-version=1&...&sig=<sig>`
 *    (the Power Platform environment host shape).
 * The flow posts Adaptive Cards only: the body must be `{type: "message", attachments: [{contentType:
 * application/vnd.microsoft.card.adaptive, content: {type: AdaptiveCard, body: [...]}}]}`. The sandbox is stricter than
 * the trigger (which queues anything and lets the flow run fail later): a body the flow could not post is 400 here.
 * Answers: 202 with no body (queued), 401 for a missing or wrong `sig`, 404 for an unknown flow, JSON errors
 * `{error: {code, message}}`. The retired shapes (`/webhook/<id>`, `/webhookb2/...`, `/IncomingWebhook/`) answer 410
 * Gone: the connector is retired. Received cards: `GET /teams/_sandbox/records/messages`.
 *
 * The Graph path (channel messages with a delegated Entra token) is `./graph.ts`, mounted here at `/teams/graph` and
 * `/teams/login`: it has its own faults and records, and `/teams/_sandbox/reset` resets it too.
 */
import express from 'express';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { ADAPTIVE_CONTENT_TYPE, createGraphSandbox, entraTokenHandler } from './graph';

export const TEAMS_WEBHOOKS = ['psfabric-delivery', 'psfabric-finance', 'psfabric-salesops'];
export { ADAPTIVE_CONTENT_TYPE };

/** The demo flows' signature (the URL's secret part). */
export function workflowSig(id: string): string {
  return `psf-sandbox-sig-${id}`;
}

/** The Workflows URL of a demo flow on a sandbox at `base` (the server URL, without `/teams`). */
export function teamsWorkflowUrl(base: string, id: string): string {
  return `${base.replace(/\/$/, '')}/teams/workflows/${id}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${workflowSig(id)}`;
}

type Rec = Record<string, any>;

/** Why `body` is not a message the Workflows flow can post to a channel; undefined when it is. */
export function teamsCardProblem(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'The request body must be a JSON object: a message with an Adaptive Card attachment.';
  const b = body as Rec;
  if (b['@type'] === 'MessageCard' || b.type === 'MessageCard') return 'MessageCard is not supported: Workflows post Adaptive Cards only (type "message" with an application/vnd.microsoft.card.adaptive attachment).';
  if (b.type !== 'message') return 'The body must be {"type": "message", "attachments": [...]} with an Adaptive Card attachment.';
  if (!Array.isArray(b.attachments) || b.attachments.length === 0) return 'attachments are required: one Adaptive Card.';
  for (const [i, a] of (b.attachments as Rec[]).entries()) {
    if (!a || a.contentType !== ADAPTIVE_CONTENT_TYPE) return `attachments[${i}].contentType must be ${ADAPTIVE_CONTENT_TYPE}.`;
    const c = a.content;
    if (!c || c.type !== 'AdaptiveCard') return `attachments[${i}].content.type must be AdaptiveCard.`;
    if (typeof c.version !== 'string') return `attachments[${i}].content.version is required (a string such as "1.4").`;
    if (!Array.isArray(c.body)) return `attachments[${i}].content.body must be an array.`;
    for (const [j, el] of (c.body as Rec[]).entries()) if (!el || typeof el.type !== 'string') return `attachments[${i}].content.body[${j}].type is required.`;
  }
  return undefined;
}

const flowError = (code: string, message: string) => ({ error: { code, message } });

export function createTeamsSandbox(opts: { statePath?: string; baseUrl?: () => string } = {}): Sandbox {
  const graph = createGraphSandbox({ statePath: opts.statePath?.replace(/(\.json)?$/, '-graph.json') });
  const sb = new Sandbox({
    name: 'teams',
    seed: () => ({ workflows: Object.fromEntries(TEAMS_WEBHOOKS.map((id) => [id, { id, channel: id.replace('psfabric-', ''), sig: workflowSig(id) }])), messages: {} }),
    statePath: opts.statePath,
    errorBody: (status, message) => flowError(status === 429 ? 'WorkflowRequestsThrottled' : 'ServiceUnavailable', message),
    // Graph has its own faults; the Entra token endpoint is never faulted
    faultExempt: [/^\/_sandbox\//, /^\/graph\//, /^\/login\//],
  });
  const resetWorkflows = sb.reset.bind(sb);
  sb.reset = () => {
    resetWorkflows();
    graph.reset();
  };
  const closeWorkflows = sb.close.bind(sb);
  sb.close = () => {
    closeWorkflows();
    graph.close();
  };
  sb.router.use('/graph', graph.app);
  sb.router.post('/login/:tenant/oauth2/v2.0/token', entraTokenHandler(graph, () => `${opts.baseUrl?.() ?? ''}/graph`));
  let seq = 0;
  const receive = (req: express.Request, res: express.Response) => {
    const id = String(req.params.id ?? '');
    const flow = sb.collection<Rec>('workflows')[id];
    if (!flow) return res.status(404).json(flowError('WorkflowNotFound', `The workflow '${id}' could not be found.`));
    const q = req.query as Record<string, unknown>;
    if (typeof q.sig !== 'string' || !q.sig) return res.status(401).json(flowError('DirectApiAuthorizationRequired', 'The request must be authenticated only by Shared Access scheme (the sig query parameter).'));
    if (q.sig !== flow.sig) return res.status(401).json(flowError('DirectApiInvalidAuthorizationSignature', "The provided request signature is invalid."));
    if (typeof q['api-version'] !== 'string') return res.status(400).json(flowError('MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests."));
    let body = req.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        return res.status(400).json(flowError('InvalidRequestContent', 'The request content is not valid JSON.'));
      }
    }
    const problem = teamsCardProblem(body);
    if (problem) return res.status(400).json(flowError('InvalidRequestContent', problem));
    seq += 1;
    const mid = `${Date.now()}-${seq}`;
    sb.collection('messages')[mid] = { id: mid, webhookId: id, kind: 'AdaptiveCard', receivedAt: new Date().toISOString(), card: body, title: cardTitle(body) };
    sb.changed();
    res.status(202).end();
  };
  sb.router.post('/workflows/:id/triggers/manual/paths/invoke', receive);
  sb.router.post('/powerautomate/automations/direct/workflows/:id/triggers/manual/paths/invoke', receive);
  const retired = (_req: express.Request, res: express.Response) => {
    res.status(410).type('text/plain').send('Office 365 Connectors in Microsoft Teams are retired: this incoming webhook no longer accepts messages. Create a Workflows webhook ("When a Teams webhook request is received") for the channel.');
  };
  sb.router.post(/^\/(webhook|webhookb2)\//, retired);
  sb.router.post(/\/IncomingWebhook\//, retired);
  return sb;
}

function cardTitle(body: Rec): string | undefined {
  const first = body.attachments?.[0]?.content?.body?.find((e: Rec) => e.type === 'TextBlock');
  return first?.text ?? body.summary;
}

export const teamsSandbox: VendorSandboxFactory = {
  name: 'teams',
  create: ({ statePath, baseUrl }) => createTeamsSandbox({ statePath, baseUrl }),
};
