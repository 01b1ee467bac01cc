import type { ConnectionConfigDef } from '../connection-config';
import { choice, configNode, connectionLimits, httpUrl, nodeSettings, number, text } from '../settings';

/** The settings of a `jira-config` node (its editor dialog). */
export interface JiraConfigDef extends ConnectionConfigDef {
  authType?: 'basic' | 'bearer';
  baseUrl?: string;
  timeoutMs?: string | number;
  epicNameField?: string;
  keyPattern?: string;
}

export const JIRA_CONFIG = nodeSettings<JiraConfigDef>()({
  type: 'jira-config',
  settings: {
    name: text(),
    baseUrl: text('https://your-domain.atlassian.net', { required: true, check: httpUrl(true) }),
    authType: choice(['basic', 'bearer'], 'basic'),
    epicNameField: text('', { check: { is: 'regex', pattern: /^customfield_\d+$/, blank: true } }),
    keyPattern: text('', { check: { is: 'regexp' } }),
    store: configNode('fabric-store'),
    ...connectionLimits({ ratePerSecond: 5, concurrency: 2, maxAttempts: 8 }),
    timeoutMs: number(30000),
  },
  credentials: { email: { type: 'text' }, apiToken: { type: 'password' }, accessToken: { type: 'password' } },
});
