/**
 * `teams-notify` (nodes/operation-node.ts): posts an Adaptive Card to a Teams channel through the outbox of its
 * `teams-config` (Workflows webhook or Microsoft Graph). msg.payload: a message with an Adaptive Card attachment, or
 * {title, text, facts, link, style}; a string payload becomes the text under the dialog's title.
 */
import { idempotencyKeyFor, registerConnection } from '../../lib/connectors/glue';
import { TEAMS_WRITE_OPERATIONS, TeamsWebhookClient, toWebhookPayload } from '../../lib/connectors/teams/client';
import type { ConnectionConfigNode } from '../connection-config';
import { TEAMS_NOTIFY, type TeamsNotifyDef } from './config';
import { resolveStore, type NodeAPI } from '../node-red-api';
import { limitsFrom } from '../settings';
import { defineOperationNode } from '../operation-node';

export = function (RED: NodeAPI) {
  defineOperationNode<ConnectionConfigNode, TeamsNotifyDef>(RED, {
    ...TEAMS_NOTIFY,
    connection: 'teams',
    defaultOperation: 'postCard',
    resultProperty: 'teams',
    writes: TEAMS_WRITE_OPERATIONS,
    ownConnection(node, config, t) {
      // a flow from before teams-config carries the webhook and the store on this node: it still posts, with a warning
      if (config.teams) return undefined;
      const connection = node as ConnectionConfigNode;
      connection.connectionName = `teams:${config.name || node.id}`;
      const url = node.credentials?.webhookUrl;
      const storeNode = url ? resolveStore(RED, config.store) : undefined;
      if (!url) connection.configError = t('errors.noConfig');
      else if (!storeNode?.store) connection.configError = t('errors.noStore');
      else {
        try {
          connection.store = storeNode.store;
          connection.handle = registerConnection(storeNode.store, storeNode.services, connection.connectionName, new TeamsWebhookClient(url).executor(), limitsFrom(config, { ...TEAMS_NOTIFY.defaults, concurrency: 1 }));
          storeNode.register(node);
          node.warn(t('warnings.legacyWebhook'));
        } catch (err) {
          connection.configError = (err as Error).message;
        }
      }
      return {
        connection,
        close: async () => {
          storeNode?.deregister(node);
          await connection.handle?.close();
        },
      };
    },
    writeRequest(operation, msg, { config, node }) {
      const p = msg.payload;
      const spec = typeof p === 'string' || p === undefined || p === null ? { title: msg.title ?? config.title ?? TEAMS_NOTIFY.defaults.title, text: p === undefined || p === null ? undefined : String(p) } : { title: msg.title ?? config.title, ...p };
      const card = toWebhookPayload(spec);
      return { request: { card }, idempotencyKey: idempotencyKeyFor(msg, operation, card), step: node.name || 'teams notify' };
    },
    writeAnswer(msg, _operation, result) {
      msg.teams = { response: result.response, duplicate: result.duplicate };
    },
  });
};
