/**
 * `salesforce` operation node (nodes/operation-node.ts). Writes (SALESFORCE_WRITE_OPERATIONS: create, update,
 * upsert, delete, composite) go through the outbox; reads (query, get, limits) through the config node's client,
 * whose requests pass `handle.call`. The status follows the org's login as well as the connection.
 * Errors carry Salesforce's `[{ message, errorCode, fields }]` in the FabricError's `response`.
 */
import { connectorStatusView } from '../../lib/connectors/glue';
import { SALESFORCE_WRITE_OPERATIONS } from '../../lib/connectors/salesforce';
import type { SalesforceConnection } from '../connection-config';
import type { NodeAPI, StatusOptions } from '../node-red-api';
import { defineOperationNode, type Handler, type OperationMsg, SENT, type Translate, type WriteRequest } from '../operation-node';
import { SALESFORCE, SALESFORCE_READS, type SalesforceDef } from './config';

export = function (RED: NodeAPI) {
  defineOperationNode<SalesforceConnection, SalesforceDef>(RED, {
    ...SALESFORCE,
    connection: 'salesforce',
    resultProperty: 'salesforce',
    writes: SALESFORCE_WRITE_OPERATIONS,
    writeRequest: (operation, msg, { config, t }) => writeRequest(operation, msg, config, t),
    watchStatus: (cfg, show, t) =>
      cfg.onState((s) => {
        if (s.circuit !== 'closed' || s.backlog) show(connectorStatusView({ circuit: s.circuit as 'open' | 'half-open', backlog: s.backlog ?? 0 }, t, t('status.connected')) as StatusOptions);
        else if (s.connection === 'failed') show({ fill: 'red', shape: 'ring', text: t('status.loginFailed') });
        else if (s.connection === 'connected') show({ fill: 'green', shape: 'dot', text: t('status.connected') });
        else show({ fill: 'grey', shape: 'ring', text: t('status.idle') });
      }),
    reads: {
      async query(msg, { RED: red, config, t, connected, status }, send) {
        const { client } = connected();
        const soql = msg.query ?? (config.soql || undefined) ?? (typeof msg.payload === 'string' ? msg.payload : undefined);
        if (!soql) throw new Error(t('errors.noQuery'));
        if (config.paging === 'pages') {
          let pages = 0;
          const total = await client.queryPages(soql, (p) => {
            pages += 1;
            send({ ...red.util.cloneMessage(msg), payload: p.records, salesforce: { operation: 'query', page: p.page, last: p.done, totalSize: p.totalSize } });
          });
          status.show({ fill: 'green', shape: 'dot', text: t('status.pages', { pages, total }) });
          return SENT;
        }
        const res = await client.query(soql);
        msg.payload = res.records;
        msg.salesforce = { operation: 'query', totalSize: res.totalSize };
      },
      async get(msg, { config, t, connected }) {
        const { client } = connected();
        const sobject: string | undefined = msg.sobject ?? (config.sobject || undefined);
        const id = msg.id ?? msg.payload?.Id;
        if (!sobject || !id) throw new Error(t('errors.noRecord'));
        const fields = typeof config.fields === 'string' && config.fields.trim() ? config.fields.split(',').map((f) => f.trim()) : undefined;
        msg.payload = config.externalIdField && !msg.id ? await client.getByExternalId(sobject, config.externalIdField, String(msg.payload?.[config.externalIdField] ?? id)) : await client.get(sobject, String(id), fields);
        msg.salesforce = { operation: 'get' };
      },
      async limits(msg, { connected }) {
        msg.payload = await connected().client.limits();
        msg.salesforce = { operation: 'limits' };
      },
    } satisfies Record<(typeof SALESFORCE_READS)[number], Handler<SalesforceConnection, SalesforceDef>>,
  });
};

/** The outbox request of a write, checked: a missing object, id or external id is a clear error before anything is queued. */
function writeRequest(operation: string, msg: OperationMsg, config: SalesforceDef, t: Translate): WriteRequest {
  const request = requestOf(operation, msg, config, t);
  const given = msg.idempotencyKey ?? msg.idempotencykey;
  return {
    request,
    // an upsert is keyed by the record it writes, so two runs of one record are one write
    idempotencyKey: given ?? (operation === 'upsert' ? `upsert:${request.sobject}:${request.externalIdField}:${String(request.externalId)}` : undefined),
    recordKey: msg.recordKey ?? (request.sobject ? `${request.sobject}/${request.id ?? request.externalId ?? ''}` : undefined),
  };
}

function requestOf(operation: string, msg: OperationMsg, config: SalesforceDef, t: Translate): Record<string, any> {
  if (operation === 'composite') {
    const body = msg.payload;
    if (!body || !Array.isArray(body.compositeRequest)) throw new Error(t('errors.noComposite'));
    return { allOrNone: body.allOrNone ?? config.allOrNone !== false, compositeRequest: body.compositeRequest };
  }
  const sobject: string | undefined = msg.sobject ?? (config.sobject || undefined);
  if (!sobject) throw new Error(t('errors.noSobject'));
  const record = msg.payload && typeof msg.payload === 'object' ? { ...msg.payload } : undefined;
  if (operation === 'delete') {
    const id = msg.id ?? record?.Id;
    if (!id) throw new Error(t('errors.noRecord'));
    return { sobject, id };
  }
  if (!record) throw new Error(t('errors.noPayload'));
  if (operation === 'create') return { sobject, record };
  if (operation === 'update') {
    const id = msg.id ?? record.Id;
    if (!id) throw new Error(t('errors.noRecord'));
    delete record.Id;
    return { sobject, id, record };
  }
  const externalIdField = msg.externalIdField ?? config.externalIdField;
  if (!externalIdField) throw new Error(t('errors.noExternalIdField'));
  const externalId = msg.externalId ?? record[externalIdField];
  if (externalId === undefined || externalId === null || externalId === '') throw new Error(t('errors.noExternalId', { field: externalIdField }));
  return { sobject, externalIdField, externalId: String(externalId), record };
}
