/**
 * `kantata-config`: one Kantata OX connection (URL, the application's token or an authorization-code login, quota) registered
 * with the outbox of the named `fabric-store`. Users: `node.client` (reads), `node.handle` (writes via submit, reads via call).
 */
import { KANTATA_CONFIG, type KantataConfigDef } from './config';
import { positiveSetting } from '../settings';
import { registerNode, type NodeAPI } from '../node-red-api';
import { KantataClient, type KantataAuth } from '../../lib/connectors/kantata/client';
import { checkKantataCustomFields } from '../../lib/connectors/kantata/mapping';
import { checkSetup } from '../../lib/connectors/kantata/setup-check';
import { connectToStore, type KantataConnection } from '../connection-config';

export = function (RED: NodeAPI) {
  function KantataConfig(this: KantataConnection, config: KantataConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `kantata:${config.name || node.id}`;
    // the application's token is the default: nothing to refresh, nothing a person must re-authorize
    const authType = config.authType === 'authorization-code' ? 'authorization-code' : 'token';
    const auth: KantataAuth = authType === 'token'
      ? { type: 'token', accessToken: creds.accessToken ?? '' }
      : { type: 'authorization-code', clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '', refreshToken: creds.refreshToken ?? '', tokenUrl: config.tokenUrl || undefined };
    if (authType === 'token' && !creds.accessToken) node.configError = RED._('kantata-config.errors.noToken');
    if (authType === 'authorization-code' && (!creds.clientId || !creds.clientSecret || !creds.refreshToken)) node.configError = RED._('kantata-config.errors.noRefreshToken');
    let customFields;
    try {
      // the account's custom field ids or names (empty = the documented default names)
      customFields = checkKantataCustomFields(typeof config.customFields === 'string' && config.customFields.trim() ? JSON.parse(config.customFields) : undefined);
    } catch (err) {
      node.configError = RED._('kantata-config.errors.badConfig', { error: (err as Error).message });
    }
    node.client = new KantataClient({ baseUrl: config.baseUrl || KANTATA_CONFIG.defaults.baseUrl, auth, timeoutMs: positiveSetting(config.timeoutMs, KANTATA_CONFIG.defaults.timeoutMs), customFields });
    connectToStore(RED, node, config, { type: KANTATA_CONFIG.type, executor: () => node.client.executor(), defaults: KANTATA_CONFIG.defaults, setupCheck: () => checkSetup(node.client, { customFields: node.client.customFields }) });
  }
  registerNode(RED, KANTATA_CONFIG.type, KantataConfig, KANTATA_CONFIG);
};
