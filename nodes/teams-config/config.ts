import type { ConnectionConfigDef } from '../connection-config';
import { type Check, choice, configNode, connectionLimits, httpUrl, nodeSettings, number, text } from '../settings';

/** The settings of a `teams-config` node (its editor dialog). */
export interface TeamsConfigDef extends ConnectionConfigDef {
  mode?: 'workflows' | 'graph';
  teamId?: string;
  channelId?: string;
  authorityHost?: string;
  graphUrl?: string;
  timeoutMs?: string | number;
}

const AN_ID: Check = { is: 'regex', pattern: /^\S+$/ };

export const TEAMS_CONFIG = nodeSettings<TeamsConfigDef>()({
  type: 'teams-config',
  settings: {
    name: text(),
    mode: choice(['workflows', 'graph'], 'workflows'),
    teamId: text('', { check: AN_ID, when: { setting: 'mode', equals: 'graph' } }),
    channelId: text('', { check: AN_ID, when: { setting: 'mode', equals: 'graph' } }),
    authorityHost: text('', { check: httpUrl() }),
    graphUrl: text('', { check: httpUrl() }),
    store: configNode('fabric-store'),
    ...connectionLimits({ ratePerSecond: 1, concurrency: 1, maxAttempts: 6 }),
    timeoutMs: number(30000),
  },
  credentials: { webhookUrl: { type: 'password' }, tenantId: { type: 'text' }, clientId: { type: 'text' }, clientSecret: { type: 'password' }, refreshToken: { type: 'password' } },
});
