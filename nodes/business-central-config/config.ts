import type { ConnectionConfigDef } from '../connection-config';
import { configNode, connectionLimits, httpUrl, JSON_OBJECT, nodeSettings, number, text } from '../settings';

/** The settings of a `business-central-config` node (its editor dialog). */
export interface BusinessCentralConfigDef extends ConnectionConfigDef {
  tenantId?: string;
  environment?: string;
  company?: string;
  baseUrl?: string;
  tokenUrl?: string;
  scope?: string;
  timeoutMs?: string | number;
  tables?: string;
  numbering?: 'series' | 'manual';
  projectTaskNumber?: string | number;
  webServices?: string;
  numberSeries?: string;
}

export const BUSINESS_CENTRAL_CONFIG = nodeSettings<BusinessCentralConfigDef>()({
  type: 'business-central-config',
  settings: {
    name: text(),
    tenantId: text('', { required: true }),
    environment: text('production', { required: true }),
    company: text('', { required: true }),
    baseUrl: text('', { check: httpUrl() }),
    tokenUrl: text('', { check: httpUrl() }),
    scope: text(),
    tables: text(),
    numbering: text<'series' | 'manual'>('series', { check: { is: 'oneOf', values: ['series', 'manual'], blank: true } }),
    projectTaskNumber: text('1000'),
    webServices: text('', { check: JSON_OBJECT }),
    numberSeries: text('', { check: JSON_OBJECT }),
    store: configNode('fabric-store'),
    ...connectionLimits({ ratePerSecond: 5, concurrency: 5, maxAttempts: 8 }),
    timeoutMs: number(60000),
  },
  credentials: { clientId: { type: 'text' }, clientSecret: { type: 'password' } },
});
