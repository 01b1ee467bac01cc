import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, number, text, type LimitsConfig } from '../settings';

/** The settings of a `teams-notify` node (its editor dialog). */
export interface TeamsNotifyDef extends OperationNodeDef, LimitsConfig {
  /** The teams-config node (absent on a node from before teams-config, which carries its own webhook and store). */
  teams?: string;
  store?: string;
  title?: string;
}

export const TEAMS_NOTIFY = nodeSettings<Omit<TeamsNotifyDef, 'operation' | 'concurrency'>>()({
  type: 'teams-notify',
  settings: {
    name: text(),
    teams: configNode('teams-config', false, { check: { is: 'orSetting', setting: 'store' } }),
    store: configNode('fabric-store', false),
    title: text('PS Fabric'),
    // the limits of the node's own Workflows webhook (before teams-config; unset on a node with a teams-config)
    ratePerSecond: number(1, { blank: true }),
    maxAttempts: number(6, { blank: true }),
  },
  credentials: { webhookUrl: { type: 'password' } },
});
