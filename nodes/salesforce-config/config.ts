import type { ConnectionConfigDef } from '../connection-config';
import { choice, configNode, connectionLimits, httpUrl, JSON_OBJECT, nodeSettings, text } from '../settings';

/** The settings of a `salesforce-config` node (its editor dialog). */
export interface SalesforceConfigDef extends ConnectionConfigDef {
  loginUrl?: string;
  instanceUrl?: string;
  apiVersion?: string;
  authType?: 'client-credentials' | 'jwt' | 'password';
  audience?: string;
  /** JSON: the org's field names (lib/connectors/salesforce SalesforceNames). */
  fieldNames?: string;
}

export const SALESFORCE_CONFIG = nodeSettings<SalesforceConfigDef>()({
  type: 'salesforce-config',
  settings: {
    name: text(),
    loginUrl: text('https://login.salesforce.com', { required: true, check: httpUrl(true) }),
    instanceUrl: text('', { check: httpUrl() }),
    apiVersion: text('62.0', { required: true, check: { is: 'regex', pattern: /^\d+\.\d$/ } }),
    authType: choice(['client-credentials', 'jwt', 'password'], 'client-credentials'),
    audience: text(),
    fieldNames: text('', { check: JSON_OBJECT }),
    store: configNode('fabric-store'),
    ...connectionLimits({ ratePerSecond: 20, concurrency: 10, maxAttempts: 8 }),
  },
  credentials: {
    clientId: { type: 'text' },
    clientSecret: { type: 'password' },
    username: { type: 'text' },
    password: { type: 'password' },
    privateKey: { type: 'password' },
  },
});
