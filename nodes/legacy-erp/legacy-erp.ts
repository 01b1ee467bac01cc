/**
 * `legacy-erp` (nodes/operation-node.ts): translates between the canonical model and the legacy ERP's flat lines
 * (lib/connectors/legacy-erp/codec.ts), and posts invoices to it. Modes:
 *  - decodeTime: flat TE lines (msg.payload string/Buffer, e.g. from fabric-mqtt-in on legacy/fr01/time/out) -> one msg per
 *    canonical TimeEntry on output 1; malformed lines -> output 2 with msg.errors [{line, field, position, expected, got}];
 *  - encodeInvoice: canonical Invoice -> flat posting in msg.payload, msg.topic = legacy/fr01/invoice/in (for fabric-mqtt-out, QoS 1);
 *  - decodeAck: AK line -> msg.payload {invoiceNo, ok, reference, message};
 *  - encodeTime: canonical TimeEntry -> TE line (tests, simulators);
 *  - postInvoice: canonical Invoice (msg.payload `{invoice}` or the invoice) posted through the outbox of the
 *    `legacy-erp-config` connection (LegacyErpClient: QoS 1, waits for the ERP's AK). Output 1 once the ERP answered
 *    `OK` (msg.payload = {invoiceNo, erpDocumentNo, message}); `ER` / no ack after the retries -> the exception queue
 *    (done(err) for a Catch node). A posting that completes later (replayed from the exception queue, or resumed after a
 *    restart) is sent on output 1 then, rebuilt from what the msg carried (`context` of the outbox item).
 * The codec modes need no connection.
 */
import { idempotencyKeyFor } from '../../lib/connectors/glue';
import { decodeAck, decodeTimeEntries, encodeInvoice, encodeTimeEntry, fromCanonicalInvoice, fromCanonicalTimeEntry, LegacyFormatError, toCanonicalTimeEntry, TOPICS } from '../../lib/connectors/legacy-erp/codec';
import type { Json } from '../../lib/store/store';
import type { LegacyErpConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, SENT, type Handler, type OperationMsg } from '../operation-node';
import { LEGACY_ERP, LEGACY_ERP_OFFLINE, LEGACY_ERP_WRITES, type LegacyErpDef } from './config';

/** What the flow after the posting needs (the outbox keeps it with the item; the invoice itself is in the request). */
function postingContext(msg: OperationMsg): Json {
  const { request: _r, ...invoiceWrite } = (msg.invoiceWrite ?? {}) as Record<string, unknown>;
  return JSON.parse(JSON.stringify({ process: msg.process, step: msg.step, correlationId: msg.correlationId, recordKey: msg.recordKey, erp: msg.erp, erpTarget: msg.erpTarget, idempotencyKey: msg.idempotencyKey, ...(msg.invoiceWrite ? { invoiceWrite } : {}) })) as Json;
}

export = function (RED: NodeAPI) {
  // per node: lines decoded / invoices posted, and inputs with bad lines
  const counts = new WeakMap<object, { ok: number; bad: number }>();
  const countsOf = (node: object) => counts.get(node) ?? (counts.set(node, { ok: 0, bad: 0 }), counts.get(node)!);

  defineOperationNode<LegacyErpConnection, LegacyErpDef>(RED, {
    ...LEGACY_ERP,
    connection: 'legacy',
    operationProperty: 'mode',
    resultProperty: 'legacyPosting',
    outputs: 2,
    writes: LEGACY_ERP_WRITES,
    writeRequest(operation, msg, { node }) {
      const request = msg.payload && typeof msg.payload === 'object' && (msg.payload.invoice || msg.payload.legacy) ? msg.payload : { invoice: msg.payload };
      return { request, idempotencyKey: idempotencyKeyFor(msg, operation, request), step: msg.step ?? (node.name || 'legacy postInvoice'), context: postingContext(msg) };
    },
    writeAnswer(msg, _operation, result, { node, t, status }) {
      msg.payload = result.response;
      msg.legacyPosting = { outboxId: result.item.id, duplicate: result.duplicate };
      const c = countsOf(node);
      c.ok += 1;
      status.update(() => ({ fill: 'green', shape: 'dot', text: t('status.posted', { ok: c.ok }) }));
    },
    offline: {
      decodeTime(msg, { node, t, status }, send) {
        const c = countsOf(node);
        const { records, errors } = decodeTimeEntries(Buffer.isBuffer(msg.payload) ? msg.payload : String(msg.payload ?? ''));
        const outs = records.map((r) => ({ ...msg, payload: toCanonicalTimeEntry(r), entity: 'TimeEntry', legacy: r, idempotencyKey: `legacy:TE:${r.entryId}` }));
        c.ok += outs.length;
        if (errors.length) c.bad += 1;
        const bad = errors.length ? new LegacyFormatError(errors) : undefined;
        send([outs.length ? outs : null, bad ? { ...msg, errors, error: { message: bad.message, details: bad.details } } : null]);
        status.update(() => ({ fill: c.bad ? 'yellow' : 'green', shape: 'dot', text: t('status.counts', { ok: c.ok, bad: c.bad }) }));
        return SENT;
      },
      encodeInvoice(msg, { config }) {
        msg.payload = encodeInvoice(fromCanonicalInvoice(msg.payload));
        msg.topic = config.topic || TOPICS.invoiceIn;
        msg.qos = 1;
      },
      decodeAck(msg, _ctx, send) {
        const { ack, errors } = decodeAck(Buffer.isBuffer(msg.payload) ? msg.payload : String(msg.payload ?? ''));
        send(ack ? [{ ...msg, payload: ack }, null] : [null, { ...msg, errors }]);
        return SENT;
      },
      encodeTime(msg, { config }) {
        msg.payload = encodeTimeEntry(fromCanonicalTimeEntry(msg.payload));
        msg.topic = config.topic || TOPICS.timeOut;
        msg.qos = 1;
      },
    } satisfies Record<(typeof LEGACY_ERP_OFFLINE)[number], Handler<LegacyErpConnection, LegacyErpDef>>,
  });
};
