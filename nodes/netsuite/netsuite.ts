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
import { defineOperationNode, type Handler } from '../operation-node';
import { positiveSetting } from '../settings';
import { NETSUITE, NETSUITE_READS, type NetSuiteDef } from './config';

export = function (RED: NodeAPI) {
  defineOperationNode<NetSuiteConnection, NetSuiteDef>(RED, {
    ...NETSUITE,
    connection: 'netsuite',
    resultProperty: 'netsuite',
    writes: NETSUITE_WRITE_OPERATIONS,
    reads: {
      async suiteql(msg, { config, t, connected }) {
        const c = connected();
        const q = msg.query ?? config.query ?? msg.payload?.q;
        if (!q) throw new Error(t('errors.noQuery'));
        msg.payload = await c.handle.call(() => c.connector.suiteql(q, { pageSize: positiveSetting(config.pageSize, NETSUITE.defaults.pageSize), maxRows: msg.maxRows }), { lane: laneFor(msg) });
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
    } satisfies Record<(typeof NETSUITE_READS)[number], Handler<NetSuiteConnection, NetSuiteDef>>,
  });
};
