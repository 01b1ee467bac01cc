import { SALESFORCE_EVENT_RETENTION_MS } from '../../lib/triggers/gaps';
import type { NodeDef } from '../node-red-api';
import { choice, configNode, flag, nodeSettings, number, text } from '../settings';

/** The settings of a `salesforce-trigger` node (its editor dialog). */
export interface SalesforceTriggerDef extends NodeDef {
  salesforce?: string;
  mode?: 'poll' | 'cdc';
  stage?: string;
  once?: boolean;
  where?: string;
  /** Hours without a poll (or a CDC connection) after which the trigger reports a gap; empty = Salesforce's event retention. */
  gapWindowHours?: string | number;
  interval?: string | number;
  /** CDC: the channel (no dialog row: the opportunity change events). */
  channel?: string;
  replayFrom?: string;
  /** Start-ups that send a record again that nothing downstream took, before it goes to the exception queue. */
  maxReplays?: string | number;
}

export const SALESFORCE_TRIGGER = nodeSettings<SalesforceTriggerDef>()({
  type: 'salesforce-trigger',
  settings: {
    name: text(),
    salesforce: configNode('salesforce-config'),
    mode: choice(['poll', 'cdc'], 'poll'),
    stage: text('Closed Won', { required: true }),
    interval: number(30),
    where: text(),
    // -1: new events only, -2: all the events Salesforce still keeps
    replayFrom: choice(['-1', '-2'], '-1'),
    once: flag(true),
    // a silence longer than Salesforce keeps its change events may have lost some
    gapWindowHours: number(SALESFORCE_EVENT_RETENTION_MS / 3600_000, { blank: true }),
    channel: text('/data/OpportunityChangeEvent'),
    maxReplays: number(3, { blank: true }),
  },
});
