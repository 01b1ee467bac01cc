import type { ConnectionConfigDef } from '../connection-config';
import { configNode, connectionLimits, httpUrl, JSON_OBJECT, nodeSettings, number, text } from '../settings';

/** The settings of a `kantata-config` node (its editor dialog). */
export interface KantataConfigDef extends ConnectionConfigDef {
  authType?: 'token' | 'authorization-code';
  tokenUrl?: string;
  baseUrl?: string;
  timeoutMs?: string | number;
  /** JSON: the firm's custom field names (lib/connectors/kantata checkKantataCustomFields). */
  customFields?: string;
}

export const KANTATA_CONFIG = nodeSettings<KantataConfigDef>()({
  type: 'kantata-config',
  settings: {
    name: text(),
    authType: text<'token' | 'authorization-code'>('token'),
    baseUrl: text('https://api.mavenlink.com', { required: true, check: httpUrl(true) }),
    tokenUrl: text('', { check: httpUrl() }),
    customFields: text('', { check: JSON_OBJECT }),
    store: configNode('fabric-store'),
    ...connectionLimits({ ratePerSecond: 10, concurrency: 4, maxAttempts: 8 }),
    timeoutMs: number(30000),
  },
  credentials: { clientId: { type: 'text' }, clientSecret: { type: 'password' }, accessToken: { type: 'password' }, refreshToken: { type: 'password' } },
});
