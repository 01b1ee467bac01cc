import type { ConnectionConfigDef } from '../connection-config';
import { configNode, connectionLimits, nodeSettings, number, text } from '../settings';

/** The settings of a `legacy-erp-config` node (its editor dialog). */
export interface LegacyErpConfigDef extends ConnectionConfigDef {
  company?: string;
  url?: string;
  ackTimeoutMs?: string | number;
}

export const LEGACY_ERP_CONFIG = nodeSettings<LegacyErpConfigDef>()({
  type: 'legacy-erp-config',
  settings: {
    name: text(),
    company: text('FR01'),
    url: text('', { check: { is: 'regex', pattern: /^(mqtts?|wss?|tcp|ssl):\/\/\S+$/, env: true, blank: true } }),
    store: configNode('fabric-store'),
    ackTimeoutMs: number(15000),
    ...connectionLimits({ ratePerSecond: 20, concurrency: 10, maxAttempts: 8 }),
  },
  credentials: { username: { type: 'text' }, password: { type: 'password' } },
});
