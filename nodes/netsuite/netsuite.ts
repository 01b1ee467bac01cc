/**
 * `netsuite` operation node (nodes/operation-node.ts). Writes (NETSUITE_WRITE_OPERATIONS: upsertCustomer,
 * createProject, updateProject, createTimeBills, createInvoice, createRecord, upsertRecord) go through the outbox
 * (X-NetSuite-Idempotency-Key from the outbox key); reads (suiteql, getRecord) through `handle.call`.
 * Errors carry NetSuite's o:errorDetails in the FabricError's `response`.
 */
import { laneFor } from '../../lib/delivery/lanes';
import { NETSUITE_WRITE_OPERATIONS } from '../../lib/connectors/netsuite';
import type { NetSuiteConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, type OperationNodeDef } from '../operation-node';

interface NetSuiteDef extends OperationNodeDef {
  netsuite?: string;
  query?: string;
  recordType?: string;
  pageSize?: string | number;
}

export = function (RED: NodeAPI) {
  defineOperationNode<NetSuiteConnection, NetSuiteDef>(RED, {
    type: 'netsuite',
    connection: 'netsuite',
    resultProperty: 'netsuite',
    writes: NETSUITE_WRITE_OPERATIONS,
    reads: {
      async suiteql(msg, { config, t, connected }) {
        const c = connected();
        const q = msg.query ?? config.query ?? msg.payload?.q;
        if (!q) throw new Error(t('errors.noQuery'));
        msg.payload = await c.handle.call(() => c.connector.suiteql(q, { pageSize: Number(config.pageSize) || 1000, maxRows: msg.maxRows }), { lane: laneFor(msg) });
        msg.netsuite = { operation: 'suiteql', count: (msg.payload as unknown[]).length };
      },
      async getRecord(msg, { config, t, connected }) {
        const c = connected();
        const type = msg.recordType ?? config.recordType;
        const id = String(msg.id ?? msg.payload?.id ?? '');
        if (!type || !id) throw new Error(t('errors.noRecord'));
        msg.payload = await c.handle.call(() => c.connector.getRecord(type, id, { expandSubResources: true }), { lane: laneFor(msg) });
        msg.netsuite = { operation: 'getRecord' };
      },
    },
  });
};
