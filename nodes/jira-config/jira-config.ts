/**
 * `jira-config`: one Jira Cloud site (URL, API token or OAuth bearer, quota) registered with the outbox of the
 * named `fabric-store`. Users: `node.client` (reads), `node.handle` (writes via submit, reads via call).
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { JiraClient, type JiraAuth } from '../../lib/connectors/jira/client';
import { checkEpicNameField } from '../../lib/connectors/jira/mapping';
import { checkSetup } from '../../lib/connectors/jira/setup-check';
import { connectToStore, type JiraConnection } from '../connection-config';
import { JIRA_CONFIG, type JiraConfigDef } from './config';
import { positiveSetting } from '../settings';

export = function (RED: NodeAPI) {
  function JiraConfig(this: JiraConnection, config: JiraConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `jira:${config.name || node.id}`;
    const auth: JiraAuth = config.authType === 'bearer' ? { type: 'bearer', accessToken: creds.accessToken ?? '' } : { type: 'basic', email: creds.email ?? '', apiToken: creds.apiToken ?? '' };
    let epicNameField: string | undefined;
    try {
      epicNameField = checkEpicNameField(config.epicNameField);
    } catch (err) {
      node.configError = RED._('jira-config.errors.badConfig', { error: (err as Error).message });
    }
    node.client = new JiraClient({ baseUrl: config.baseUrl || JIRA_CONFIG.defaults.baseUrl, auth, timeoutMs: positiveSetting(config.timeoutMs, JIRA_CONFIG.defaults.timeoutMs), epicNameField, keyPattern: config.keyPattern || undefined });
    connectToStore(RED, node, config, { type: JIRA_CONFIG.type, executor: () => node.client.executor(), defaults: JIRA_CONFIG.defaults, setupCheck: () => checkSetup(node.client, { epicNameField }) });
  }
  registerNode(RED, JIRA_CONFIG.type, JiraConfig, JIRA_CONFIG);
};
