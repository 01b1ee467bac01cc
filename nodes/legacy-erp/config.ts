import { LEGACY_ERP_WRITE_OPERATIONS } from '../../lib/connectors/legacy-erp/client';
import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, text } from '../settings';

/** The settings of a `legacy-erp` node (its editor dialog); its operation is `mode`. */
export interface LegacyErpDef extends Omit<OperationNodeDef, 'operation'> {
  legacy?: string;
  mode?: string;
  topic?: string;
}

/** The write of the node: an invoice posted through the outbox (the other modes translate, offline). */
export const LEGACY_ERP_WRITES = LEGACY_ERP_WRITE_OPERATIONS;
/** The codec modes (legacy-erp.ts has a handler for each; they need no connection). */
export const LEGACY_ERP_OFFLINE = ['decodeTime', 'encodeInvoice', 'decodeAck', 'encodeTime'] as const;


export const LEGACY_ERP = nodeSettings<LegacyErpDef>()({
  type: 'legacy-erp',
  settings: {
    name: text(),
    mode: text('decodeTime'),
    topic: text(),
    legacy: configNode('legacy-erp-config', false),
  },
  operations: { setting: 'mode', values: [...LEGACY_ERP_OFFLINE, ...LEGACY_ERP_WRITES, 'msg'] },
});
