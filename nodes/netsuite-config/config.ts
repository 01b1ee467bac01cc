import type { ConnectionConfigDef } from '../connection-config';
import { connectionLimits, JSON_OBJECT, httpUrl, configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `netsuite-config` node (its editor dialog). */
export interface NetSuiteConfigDef extends ConnectionConfigDef {
  accountId?: string;
  baseUrl?: string;
  authType?: 'oauth2-m2m' | 'tba';
  algorithm?: 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'RS256';
  timeoutMs?: string | number;
  tables?: string;
  /** JSON: the account's custom field script ids (lib/connectors/netsuite checkNetSuiteCustomFields). */
  customFields?: string;
}

export const NETSUITE_CONFIG = nodeSettings<NetSuiteConfigDef>()({
  type: 'netsuite-config',
  settings: {
    name: text(),
    accountId: text('', { required: true }),
    baseUrl: text('', { check: httpUrl() }),
    authType: text<'oauth2-m2m' | 'tba'>('oauth2-m2m'),
    algorithm: text<NonNullable<NetSuiteConfigDef['algorithm']>>('PS256'),
    tables: text(),
    customFields: text('', { check: JSON_OBJECT }),
    store: configNode('fabric-store'),
    // concurrency within a sandbox account's governance (docs/connectors/netsuite.md)
    ...connectionLimits({ ratePerSecond: 5, concurrency: 5, maxAttempts: 8 }),
    timeoutMs: number(60000),
  },
  credentials: {
    clientId: { type: 'text' },
    certificateId: { type: 'text' },
    privateKey: { type: 'password' },
    consumerKey: { type: 'password' },
    consumerSecret: { type: 'password' },
    tokenId: { type: 'password' },
    tokenSecret: { type: 'password' },
  },
});
