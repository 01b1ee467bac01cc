import { SALESFORCE_WRITE_OPERATIONS } from '../../lib/connectors/salesforce';
import type { OperationNodeDef } from '../operation-node';
import { choice, configNode, flag, nodeSettings, text } from '../settings';

/** The settings of a `salesforce` node (its editor dialog). */
export interface SalesforceDef extends OperationNodeDef {
  salesforce?: string;
  sobject?: string;
  soql?: string;
  paging?: 'all' | 'pages';
  fields?: string;
  externalIdField?: string;
  allOrNone?: boolean;
}

/** The reads of the node (salesforce.ts has a handler for each). */
export const SALESFORCE_READS = ['query', 'get', 'limits'] as const;

export const SALESFORCE = nodeSettings<SalesforceDef>()({
  type: 'salesforce',
  settings: {
    name: text(),
    salesforce: configNode('salesforce-config'),
    operation: text('query'),
    sobject: text(),
    soql: text(),
    paging: choice(['all', 'pages'], 'all'),
    fields: text(),
    externalIdField: text(),
    allOrNone: flag(true),
  },
  operations: { setting: 'operation', values: ['query', 'get', ...SALESFORCE_WRITE_OPERATIONS, 'limits', 'msg'] },
});
