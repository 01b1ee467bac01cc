import { BC_WRITE_OPERATIONS } from '../../lib/connectors/business-central';
import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, text } from '../settings';

/** The settings of a `business-central` node (its editor dialog). */
export interface BusinessCentralDef extends OperationNodeDef {
  businessCentral?: string;
  entitySet?: string;
  filter?: string;
}

/** The reads of the node (business-central.ts has a handler for each). */
export const BUSINESS_CENTRAL_READS = ['list', 'get'] as const;

export const BUSINESS_CENTRAL = nodeSettings<BusinessCentralDef>()({
  type: 'business-central',
  settings: {
    name: text(),
    businessCentral: configNode('business-central-config'),
    operation: text('upsertCustomer'),
    entitySet: text(),
    filter: text(),
  },
  operations: { setting: 'operation', values: [...BC_WRITE_OPERATIONS, ...BUSINESS_CENTRAL_READS, 'msg'] },
});
