import { KANTATA_WRITE_OPERATIONS } from '../../lib/connectors/kantata/client';
import type { OperationNodeDef } from '../operation-node';
import { choice, configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `kantata` node (its editor dialog). */
export interface KantataDef extends OperationNodeDef {
  kantata?: string;
  collection?: string;
  paging?: 'one' | 'all';
  maxRecords?: string | number;
  output?: 'entry' | 'batch';
  workspaceId?: string;
  pollSeconds?: string | number;
  gapWindowHours?: string | number;
  /** Start-ups that send a record again that nothing downstream took, before it goes to the exception queue. */
  maxReplays?: string | number;
}

/** The reads of the node (kantata.ts has a handler for each; `pollApproved` is the poller's). */
export const KANTATA_READS = ['get', 'list'] as const;

export const KANTATA = nodeSettings<KantataDef>()({
  type: 'kantata',
  settings: {
    name: text(),
    kantata: configNode('kantata-config'),
    operation: text('pollApproved'),
    collection: text('workspaces'),
    paging: choice(['one', 'all'], 'one'),
    pollSeconds: number(60),
    output: choice(['entry', 'batch'], 'entry'),
    maxRecords: number(5000),
    workspaceId: text(),
    gapWindowHours: number(24, { blank: true }),
    // no dialog row: 0 sends nothing again (the entry goes to the exception queue at once)
    maxReplays: number(3, { blank: true }),
  },
  operations: { setting: 'operation', values: ['pollApproved', ...KANTATA_WRITE_OPERATIONS, ...KANTATA_READS, 'msg'] },
});
