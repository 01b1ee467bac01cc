import { configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `ops-feed` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface OpsFeedConfig {
  id: string;
  name?: string;
  store?: string;
  ownership?: string;
  interval?: string | number;
  slaHours?: string | number;
  windowDays?: string | number;
  digestMinutes?: string | number;
  dashboardUrl?: string;
}

export const OPS_FEED = nodeSettings<OpsFeedConfig>()({
  type: 'ops-feed',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    ownership: configNode('ownership-config', false),
    interval: number(5, { required: true, min: 1, max: 3600 }),
    slaHours: number(24, { required: true, positive: true }),
    windowDays: number(30, { blank: true, positive: true }),
    digestMinutes: number(5, { blank: true, positive: true }),
    // the dashboard's address in digests: absolute, or a path on this Node-RED
    dashboardUrl: text('', { check: { is: 'regex', pattern: /^(https?:\/\/\S+|\/\S*)$/, env: true, blank: true } }),
  },
  credentials: { webhook: { type: 'password' } },
});
