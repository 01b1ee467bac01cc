/**
 * `business-central` operation node (nodes/operation-node.ts). Writes (BC_WRITE_OPERATIONS: upsertCustomer,
 * createProject, createTimeRegistrationEntries, createSalesInvoice, postSalesInvoice) go through the outbox; reads
 * (list, get) through `handle.call`. Errors carry BC's `{ error: { code, message } }` in the FabricError's `response`.
 */
import { laneFor } from '../../lib/delivery/lanes';
import { BC_WRITE_OPERATIONS } from '../../lib/connectors/business-central';
import type { BusinessCentralConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, type Handler } from '../operation-node';
import { BUSINESS_CENTRAL, BUSINESS_CENTRAL_READS, type BusinessCentralDef } from './config';

export = function (RED: NodeAPI) {
  defineOperationNode<BusinessCentralConnection, BusinessCentralDef>(RED, {
    ...BUSINESS_CENTRAL,
    connection: 'businessCentral',
    resultProperty: 'businessCentral',
    writes: BC_WRITE_OPERATIONS,
    reads: {
      async list(msg, { config, t, connected }) {
        const c = connected();
        const entitySet = msg.entitySet ?? config.entitySet;
        if (!entitySet) throw new Error(t('errors.noEntitySet'));
        const rows = await c.handle.call(() => c.connector.client.listIn(entitySet, { filter: msg.filter ?? (config.filter || undefined), top: msg.top, expand: msg.expand }), { lane: laneFor(msg) });
        msg.payload = rows;
        msg.businessCentral = { operation: 'list', count: rows.length };
      },
      async get(msg, { config, t, connected }) {
        const c = connected();
        const entitySet = msg.entitySet ?? config.entitySet;
        const id = String(msg.id ?? msg.payload?.id ?? '');
        if (!entitySet || !id) throw new Error(t('errors.noEntitySet'));
        msg.payload = await c.handle.call(() => c.connector.client.get(entitySet, id, msg.expand), { lane: laneFor(msg) });
        msg.businessCentral = { operation: 'get' };
      },
    } satisfies Record<(typeof BUSINESS_CENTRAL_READS)[number], Handler<BusinessCentralConnection, BusinessCentralDef>>,
  });
};
