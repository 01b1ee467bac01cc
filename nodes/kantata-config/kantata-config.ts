/**
 * `kantata-config`: one Kantata OX connection (URL, the application's token or an authorization-code login, quota) registered
 * with the outbox of the named `fabric-store`. Users: `node.client` (reads), `node.handle` (writes via submit, reads via call).
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { KantataClient, type KantataAuth } from '../../lib/connectors/kantata/client';
import { checkKantataCustomFields } from '../../lib/connectors/kantata/mapping';
import { checkSetup } from '../../lib/connectors/kantata/setup-check';
import { connectToStore, type ConnectionConfigDef, type KantataConnection } from '../connection-config';

interface KantataConfigDef extends ConnectionConfigDef {
  authType?: string;
  tokenUrl?: string;
  baseUrl?: string;
  timeoutMs?: string | number;
  /** JSON: the account's custom fields by id or name (lib/connectors/kantata checkKantataCustomFields). */
  customFields?: string;
}

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
    node.client = new KantataClient({ baseUrl: config.baseUrl || 'https://api.mavenlink.com', auth, timeoutMs: Number(config.timeoutMs) || 30000, customFields });
    connectToStore(RED, node, config, { type: 'kantata-config', executor: () => node.client.executor(), defaults: { ratePerSecond: 10, concurrency: 4, maxAttempts: 8 }, setupCheck: () => checkSetup(node.client, { customFields: node.client.customFields }) });
  }
  registerNode(RED, 'kantata-config', KantataConfig, {
    credentials: { clientId: { type: 'text' }, clientSecret: { type: 'password' }, accessToken: { type: 'password' }, refreshToken: { type: 'password' } },
  });
};
