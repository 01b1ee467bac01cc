import type { Migration } from '../migrations';
import { operationFromMsg } from '../migrations';
import type { OperationNodeDef } from '../operation-node';
import { configNode, nodeSettings, text } from '../settings';

/** The settings of a `legacy-erp` node (its editor dialog); its operation is `mode`. */
export interface LegacyErpDef extends Omit<OperationNodeDef, 'operation'> {
  legacy?: string;
  mode?: string;
  topic?: string;
}

/** The write of the node: an invoice posted through the outbox (the other modes translate, offline). */
export const LEGACY_ERP_WRITES = ['postInvoice'] as const;
/** The codec modes (legacy-erp.ts has a handler for each; they need no connection). */
export const LEGACY_ERP_OFFLINE = ['decodeTime', 'encodeInvoice', 'decodeAck', 'encodeTime'] as const;

/** Version 1: "from msg" was `msg` in this dialog already; an empty mode was decodeTime. */
const MIGRATIONS: readonly Migration[] = [{ version: operationFromMsg('mode').version, up: (c) => (c.mode === undefined || c.mode === '' ? { ...c, mode: 'decodeTime' } : c) }];

export const LEGACY_ERP = nodeSettings<LegacyErpDef>()({
  type: 'legacy-erp',
  migrations: MIGRATIONS,
  settings: {
    name: text(),
    mode: text('decodeTime'),
    topic: text(),
    legacy: configNode('legacy-erp-config', false),
  },
  operations: { setting: 'mode', values: [...LEGACY_ERP_OFFLINE, ...LEGACY_ERP_WRITES, 'msg'] },
});
