/**
 * `teams-notify`: posts an Adaptive Card to a Teams channel through its Workflows webhook (the URL is a credential),
 * through the outbox. msg.payload: a message with an Adaptive Card attachment, or {title, text, facts, link, style};
 * a string payload becomes the text under the dialog's title.
 */
import type { NodeAPI } from '../node-red-api';
import { limitsFrom, registerConnection, idempotencyKeyFor, connectorStatusView, type ConnectionStatus } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';
import { TeamsWebhookClient, toWebhookPayload } from '../../lib/connectors/teams/client';

export = function (RED: NodeAPI) {
  function TeamsNotify(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const t = (k: string, s?: Record<string, unknown>) => RED._(`teams-notify.${k}`, s);
    const url = node.credentials?.webhookUrl;
    const storeNode = RED.nodes.getNode(config.store);
    let handle: any;
    let configError: string | undefined;
    let unsubscribe: (() => void) | undefined;
    if (!url) configError = t('errors.noWebhook');
    else if (!storeNode?.store) configError = t('errors.noStore');
    else {
      try {
        const client = new TeamsWebhookClient(url);
        handle = registerConnection(storeNode.store, storeNode.services, `teams:${config.name || node.id}`, client.executor(), limitsFrom(config, { ratePerSecond: 1, concurrency: 1, maxAttempts: 6 }));
        storeNode.register?.(node);
        unsubscribe = handle.onStatus((s: ConnectionStatus) => node.status(connectorStatusView(s, t, t('status.ready'))));
      } catch (err) {
        configError = (err as Error).message;
      }
    }
    if (configError) node.status({ fill: 'red', shape: 'ring', text: configError });

    node.on('input', async (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        if (!handle) throw new Error(configError);
        const p = msg.payload;
        const spec = typeof p === 'string' || p === undefined || p === null ? { title: msg.title ?? config.title ?? 'PS Fabric', text: p === undefined || p === null ? undefined : String(p) } : { title: msg.title ?? config.title, ...p };
        const card = toWebhookPayload(spec);
        const result = await handle.submit({ operation: 'postCard', request: { card }, idempotencyKey: idempotencyKeyFor(msg, 'postCard', card), correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: node.name || 'teams notify', recordKey: msg.recordKey, inbox: inboxRefOf(msg) });
        msg.teams = { response: result.response, duplicate: result.duplicate };
        send(msg);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
    node.on('close', (_r: boolean, done: () => void) => {
      unsubscribe?.();
      storeNode?.deregister?.(node);
      const h = handle;
      handle = undefined;
      if (!h) return done();
      h.close().then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('teams-notify', TeamsNotify, { credentials: { webhookUrl: { type: 'password' } } });
};
