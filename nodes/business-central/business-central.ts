/**
 * `business-central` operation node. Writes (upsertCustomer, createProject, createTimeRegistrationEntries,
 * createSalesInvoice, postSalesInvoice) go through the outbox (`handle.submit`); reads (list, get) through
 * `handle.call`. Operation from the dialog, or `msg.operation` when set to "from msg".
 * Errors: done(err) with the FabricError, whose `response` keeps BC's `{ error: { code, message } }`.
 * A write completed when no input handler awaits it (replayed from the exception queue, finished after a restart)
 * is sent on output 1 then (nodes/outbox-resume.ts).
 */
import type { NodeAPI } from '../node-red-api';
import { classify } from '../../lib/delivery/errors';
import { idempotencyKeyFor, connectorStatusView, type ConnectionStatus } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';
import { laneFor } from '../../lib/delivery/lanes';
import { resumeOutboxWrites, type ResumedWrites } from '../outbox-resume';
import { BC_WRITE_OPERATIONS } from '../../lib/connectors/business-central';

export = function (RED: NodeAPI) {
  function BusinessCentral(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = RED.nodes.getNode(config.businessCentral);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`business-central.${k}`, s);
    let unsubscribe: (() => void) | undefined;
    let resume: ResumedWrites | undefined;
    if (!cfg) node.status({ fill: 'red', shape: 'ring', text: t('status.noConfig') });
    else if (cfg.configError || !cfg.handle) node.status({ fill: 'red', shape: 'ring', text: cfg.configError ?? t('status.noConfig') });
    else {
      unsubscribe = cfg.handle.onStatus((s: ConnectionStatus) => node.status(connectorStatusView(s, t, t('status.connected'))));
      // a write replayed from the exception queue (or resumed after a restart) continues the flow like the live one
      if (cfg.store) resume = resumeOutboxWrites(node, cfg.store, (m, item) => ({ ...m, businessCentral: { operation: item.operation, duplicate: false, outboxId: item.id, resumed: true } }), () => RED.util.generateId());
    }

    node.on('input', async (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
        const operation = config.operation === 'msg' || !config.operation ? msg.operation : config.operation;
        if ((BC_WRITE_OPERATIONS as readonly string[]).includes(operation)) {
          const request = msg.payload;
          const idempotencyKey = idempotencyKeyFor(msg, operation, request);
          const submit = () => cfg.handle.submit({ operation, request, idempotencyKey, correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: node.name || `business-central ${operation}`, recordKey: msg.recordKey, lane: laneFor(msg), origin: resume?.origin, context: resume?.contextOf(msg), inbox: inboxRefOf(msg) });
          const result = resume ? await resume.awaiting(idempotencyKey, submit) : await submit();
          msg.payload = result.response;
          msg.businessCentral = { operation, duplicate: result.duplicate, outboxId: result.item.id };
        } else if (operation === 'list') {
          const entitySet = msg.entitySet ?? config.entitySet;
          if (!entitySet) throw new Error(t('errors.noEntitySet'));
          msg.payload = await cfg.handle.call(() => cfg.connector.client.listIn(entitySet, { filter: msg.filter ?? (config.filter || undefined), top: msg.top, expand: msg.expand }), { lane: laneFor(msg) });
          msg.businessCentral = { operation, count: msg.payload.length };
        } else if (operation === 'get') {
          const entitySet = msg.entitySet ?? config.entitySet;
          const id = String(msg.id ?? msg.payload?.id ?? '');
          if (!entitySet || !id) throw new Error(t('errors.noEntitySet'));
          msg.payload = await cfg.handle.call(() => cfg.connector.client.get(entitySet, id, msg.expand), { lane: laneFor(msg) });
          msg.businessCentral = { operation };
        } else throw new Error(t('errors.unknownOperation', { operation: String(operation) }));
        send(msg);
        done();
      } catch (err) {
        done(classify(err));
      }
    });
    node.on('close', (_r: boolean, done: () => void) => {
      unsubscribe?.();
      resume?.close();
      done();
    });
  }
  RED.nodes.registerType('business-central', BusinessCentral);
};
