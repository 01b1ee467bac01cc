import { NETSUITE_WRITE_OPERATIONS } from '../../lib/connectors/netsuite';
import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `netsuite` node (its editor dialog). */
export interface NetSuiteDef extends OperationNodeDef {
  netsuite?: string;
  query?: string;
  recordType?: string;
  pageSize?: string | number;
}

/** The reads of the node (netsuite.ts has a handler for each). */
export const NETSUITE_READS = ['suiteql', 'getRecord'] as const;

export const NETSUITE = nodeSettings<NetSuiteDef>()({
  type: 'netsuite',
  settings: {
    name: text(),
    netsuite: configNode('netsuite-config'),
    operation: text('upsertCustomer'),
    query: text(),
    recordType: text(),
    pageSize: number(1000),
  },
  operations: { setting: 'operation', values: [...NETSUITE_WRITE_OPERATIONS, ...NETSUITE_READS, 'msg'] },
});
