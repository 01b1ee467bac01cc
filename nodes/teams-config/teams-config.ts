/**
 * `teams-config`: how PS Fabric posts to one Teams channel, registered with the outbox of the named `fabric-store`:
 * a Workflows webhook (default: nothing to renew but the flow's owner) or Microsoft Graph as a consenting user
 * (Entra app + the user's refresh token, team and channel ids). Users: `node.handle` (postCard via submit).
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { TeamsWebhookClient } from '../../lib/connectors/teams/client';
import { TeamsGraphClient } from '../../lib/connectors/teams/graph';
import { connectToStore, type TeamsConnection } from '../connection-config';
import { TEAMS_CONFIG, type TeamsConfigDef } from './config';
import { positiveSetting } from '../settings';
import type { ConnectionExecutor } from '../../lib/delivery/types';

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
          authorityHost: config.authorityHost || undefined, graphUrl: config.graphUrl || undefined, timeoutMs: positiveSetting(config.timeoutMs, TEAMS_CONFIG.defaults.timeoutMs),
        }).executor();
      } else if (!creds.webhookUrl) node.configError = RED._('teams-config.errors.noWebhook');
      else executor = new TeamsWebhookClient(creds.webhookUrl, { timeoutMs: positiveSetting(config.timeoutMs, TEAMS_CONFIG.defaults.timeoutMs) }).executor();
    } catch (err) {
      node.configError = (err as Error).message;
    }
    connectToStore(RED, node, config, { type: TEAMS_CONFIG.type, executor: () => executor!, defaults: TEAMS_CONFIG.defaults });
  }
  registerNode(RED, TEAMS_CONFIG.type, TeamsConfig, TEAMS_CONFIG);
};
