/**
 * `salesforce` operation node. Reads (query, get, limits) go through the connection's `handle.call`
 * (rate limit, retry, breaker); writes (create, update, upsert, delete, composite) through the outbox
 * (`handle.submit`). The operation comes from the dialog, or from `msg.operation` when set to "from msg".
 * Errors: done(err) with the FabricError, whose `response` keeps Salesforce's `[{ message, errorCode, fields }]`.
 */
import type { NodeAPI } from '../node-red-api';
import { classify } from '../../lib/delivery/errors';
import { idempotencyKeyFor, connectorStatusView, type ConnectionStatus } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';

const WRITES = ['create', 'update', 'upsert', 'delete', 'composite'];

export = function (RED: NodeAPI) {
  function Salesforce(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = RED.nodes.getNode(config.salesforce);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`salesforce.${k}`, s);
    let unsubscribe: (() => void) | undefined;
    if (!cfg) node.status({ fill: 'red', shape: 'ring', text: t('status.noConfig') });
    else if (cfg.configError || !cfg.handle) node.status({ fill: 'red', shape: 'ring', text: cfg.configError ?? t('status.noConfig') });
    else {
      cfg.register?.(node);
      unsubscribe = cfg.onState((s: { connection: string; circuit: string; backlog?: number }) => {
        if (s.circuit !== 'closed' || s.backlog) node.status(connectorStatusView({ circuit: s.circuit as ConnectionStatus['circuit'], backlog: s.backlog ?? 0 }, t, t('status.connected')));
        else if (s.connection === 'failed') node.status({ fill: 'red', shape: 'ring', text: t('status.loginFailed') });
        else if (s.connection === 'connected') node.status({ fill: 'green', shape: 'dot', text: t('status.connected') });
        else node.status({ fill: 'grey', shape: 'ring', text: t('status.idle') });
      });
    }

    node.on('input', async (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
        const operation: string = config.operation === 'msg' || !config.operation ? msg.operation : config.operation;
        const sobject: string | undefined = msg.sobject ?? (config.sobject || undefined);
        const client = cfg.client;
        if (WRITES.includes(operation)) {
          const request = writeRequest(operation, sobject, msg, config, t);
          const idempotencyKey =
            msg.idempotencyKey ?? msg.idempotencykey ?? (operation === 'upsert' ? `upsert:${request.sobject}:${request.externalIdField}:${String(request.externalId)}` : idempotencyKeyFor(msg, operation, request));
          const result = await cfg.handle.submit({ operation, request, idempotencyKey, correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: node.name || `salesforce ${operation}`, recordKey: msg.recordKey ?? (request.sobject ? `${request.sobject}/${request.id ?? request.externalId ?? ''}` : undefined), inbox: inboxRefOf(msg) });
          msg.payload = result.response;
          msg.salesforce = { operation, duplicate: result.duplicate, outboxId: result.item.id };
          send(msg);
        } else if (operation === 'query') {
          const soql = msg.query ?? (config.soql || undefined) ?? (typeof msg.payload === 'string' ? msg.payload : undefined);
          if (!soql) throw new Error(t('errors.noQuery'));
          if (config.paging === 'pages') {
            let pages = 0;
            const total = await client.queryPages(soql, (p: { records: unknown[]; page: number; done: boolean; totalSize: number }) => {
              pages += 1;
              send({ ...RED.util.cloneMessage(msg), payload: p.records, salesforce: { operation, page: p.page, last: p.done, totalSize: p.totalSize } });
            });
            node.status({ fill: 'green', shape: 'dot', text: t('status.pages', { pages, total }) });
          } else {
            const res = await client.query(soql);
            msg.payload = res.records;
            msg.salesforce = { operation, totalSize: res.totalSize };
            send(msg);
          }
        } else if (operation === 'get') {
          const id = msg.id ?? msg.payload?.Id;
          if (!sobject || !id) throw new Error(t('errors.noRecord'));
          const fields = typeof config.fields === 'string' && config.fields.trim() ? config.fields.split(',').map((f: string) => f.trim()) : undefined;
          msg.payload = config.externalIdField && !msg.id ? await client.getByExternalId(sobject, config.externalIdField, String(msg.payload?.[config.externalIdField] ?? id)) : await client.get(sobject, String(id), fields);
          msg.salesforce = { operation };
          send(msg);
        } else if (operation === 'limits') {
          msg.payload = await client.limits();
          msg.salesforce = { operation };
          send(msg);
        } else throw new Error(t('errors.unknownOperation', { operation: String(operation) }));
        done();
      } catch (err) {
        done(classify(err));
      }
    });
    node.on('close', (_r: boolean, done: () => void) => {
      unsubscribe?.();
      cfg?.deregister?.(node);
      done();
    });
  }
  RED.nodes.registerType('salesforce', Salesforce);
};

function writeRequest(operation: string, sobject: string | undefined, msg: any, config: any, t: (k: string, s?: Record<string, unknown>) => string): Record<string, any> {
  if (operation === 'composite') {
    const body = msg.payload;
    if (!body || !Array.isArray(body.compositeRequest)) throw new Error(t('errors.noComposite'));
    return { allOrNone: body.allOrNone ?? config.allOrNone !== false, compositeRequest: body.compositeRequest };
  }
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
