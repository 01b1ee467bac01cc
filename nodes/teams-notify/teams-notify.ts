/**
 * `teams-notify`: posts an Adaptive Card to a Teams channel through the outbox of its `teams-config` (Workflows webhook
 * or Microsoft Graph). msg.payload: a message with an Adaptive Card attachment, or {title, text, facts, link, style};
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
    const cfg = config.teams ? RED.nodes.getNode(config.teams) : undefined;
    // a flow from before teams-config carries the webhook and the store on this node: it still posts, with a warning
    const url = cfg ? undefined : node.credentials?.webhookUrl;
    const storeNode = url ? RED.nodes.getNode(config.store) : undefined;
    let handle: any;
    let configError: string | undefined;
    let unsubscribe: (() => void) | undefined;
    if (cfg) {
      if (cfg.handle) handle = cfg.handle;
      else configError = cfg.configError ?? t('errors.noConfig');
    } else if (!url) configError = t('errors.noConfig');
    else if (!storeNode?.store) configError = t('errors.noStore');
    else {
      try {
        const client = new TeamsWebhookClient(url);
        handle = registerConnection(storeNode.store, storeNode.services, `teams:${config.name || node.id}`, client.executor(), limitsFrom(config, { ratePerSecond: 1, concurrency: 1, maxAttempts: 6 }));
        storeNode.register?.(node);
        node.warn(t('warnings.legacyWebhook'));
      } catch (err) {
        configError = (err as Error).message;
      }
    }
    if (handle) unsubscribe = handle.onStatus((s: ConnectionStatus) => node.status(connectorStatusView(s, t, t('status.ready'))));
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
      // the config node owns its connection; only a legacy per-node connection is closed here
      const h = cfg ? undefined : handle;
      handle = undefined;
      if (!h) return done();
      h.close().then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('teams-notify', TeamsNotify, { credentials: { webhookUrl: { type: 'password' } } });
};
