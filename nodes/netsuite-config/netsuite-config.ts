/**
 * `netsuite-config`: one NetSuite account (account id, REST base URL, OAuth 2.0 M2M or TBA credentials, quota)
 * registered with the outbox of the named `fabric-store`. Users read `node.connector` (reads through
 * `node.handle.call`) and write through `node.handle.submit`. Secrets live only in the node's credentials.
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { checkNetSuiteCustomFields, NetSuiteConnector, NETSUITE_DEMO_TABLES, type NetSuiteAuthConfig, type NetSuiteMappingTables } from '../../lib/connectors/netsuite';
import { checkSetup } from '../../lib/connectors/netsuite/setup-check';
import { connectToStore, type NetSuiteConnection } from '../connection-config';
import { positiveSetting } from '../settings';
import { NETSUITE_CONFIG, type NetSuiteConfigDef } from './config';

function parseTables(text: unknown, fallback: Partial<NetSuiteMappingTables>): Partial<NetSuiteMappingTables> {
  if (typeof text !== 'string' || text.trim() === '') return fallback;
  return JSON.parse(text) as Partial<NetSuiteMappingTables>;
}

export = function (RED: NodeAPI) {
  function NetSuiteConfig(this: NetSuiteConnection, config: NetSuiteConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `netsuite:${config.name || config.accountId || node.id}`;
    try {
      const auth: NetSuiteAuthConfig =
        config.authType === 'tba'
          ? { type: 'tba', consumerKey: creds.consumerKey ?? '', consumerSecret: creds.consumerSecret ?? '', tokenId: creds.tokenId ?? '', tokenSecret: creds.tokenSecret ?? '' }
          : { type: 'oauth2-m2m', clientId: creds.clientId ?? '', certificateId: creds.certificateId ?? '', privateKey: creds.privateKey ?? '', algorithm: config.algorithm || NETSUITE_CONFIG.defaults.algorithm };
      // the account's custom field script ids (empty = the documented defaults)
      const customFields = checkNetSuiteCustomFields(typeof config.customFields === 'string' && config.customFields.trim() ? JSON.parse(config.customFields) : undefined);
      node.connector = new NetSuiteConnector({ accountId: config.accountId ?? '', baseUrl: config.baseUrl || undefined, auth, timeoutMs: positiveSetting(config.timeoutMs, NETSUITE_CONFIG.defaults.timeoutMs), tables: parseTables(config.tables, NETSUITE_DEMO_TABLES), customFields });
    } catch (err) {
      node.configError = RED._('netsuite-config.errors.badConfig', { error: (err as Error).message });
    }
    connectToStore(RED, node, config, { type: NETSUITE_CONFIG.type, executor: () => node.connector, defaults: NETSUITE_CONFIG.defaults, setupCheck: () => checkSetup(node.connector.client, { customFields: node.connector.customFields }) });
  }
  registerNode(RED, NETSUITE_CONFIG.type, NetSuiteConfig, NETSUITE_CONFIG);
};
