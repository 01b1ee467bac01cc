/**
 * `teams-config`: how PS Fabric posts to one Teams channel, registered with the outbox of the named `fabric-store`:
 * a Workflows webhook (default: nothing to renew but the flow's owner) or Microsoft Graph as a consenting user
 * (Entra app + the user's refresh token, team and channel ids). Users: `node.handle` (postCard via submit).
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { TeamsWebhookClient } from '../../lib/connectors/teams/client';
import { TeamsGraphClient } from '../../lib/connectors/teams/graph';
import { connectToStore, type ConnectionConfigDef, type TeamsConnection } from '../connection-config';
import type { ConnectionExecutor } from '../../lib/delivery/types';

interface TeamsConfigDef extends ConnectionConfigDef {
  mode?: string;
  teamId?: string;
  channelId?: string;
  authorityHost?: string;
  graphUrl?: string;
  timeoutMs?: string | number;
}

export = function (RED: NodeAPI) {
  function TeamsConfig(this: TeamsConnection, config: TeamsConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = (node.credentials ?? {}) as Record<string, string | undefined>;
    node.connectionName = `teams:${config.name || node.id}`;
    node.mode = config.mode === 'graph' ? 'graph' : 'workflows';
    let executor: ConnectionExecutor | undefined;
    try {
      if (node.mode === 'graph') {
        executor = new TeamsGraphClient({
          tenantId: creds.tenantId ?? '', clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '', refreshToken: creds.refreshToken ?? '',
          teamId: config.teamId ?? '', channelId: config.channelId ?? '',
          authorityHost: config.authorityHost || undefined, graphUrl: config.graphUrl || undefined, timeoutMs: Number(config.timeoutMs) || 30000,
        }).executor();
      } else if (!creds.webhookUrl) node.configError = RED._('teams-config.errors.noWebhook');
      else executor = new TeamsWebhookClient(creds.webhookUrl, { timeoutMs: Number(config.timeoutMs) || 30000 }).executor();
    } catch (err) {
      node.configError = (err as Error).message;
    }
    connectToStore(RED, node, config, { type: 'teams-config', executor: () => executor!, defaults: { ratePerSecond: 1, concurrency: 1, maxAttempts: 6 } });
  }
  registerNode(RED, 'teams-config', TeamsConfig, {
    credentials: { webhookUrl: { type: 'password' }, tenantId: { type: 'text' }, clientId: { type: 'text' }, clientSecret: { type: 'password' }, refreshToken: { type: 'password' } },
  });
};
