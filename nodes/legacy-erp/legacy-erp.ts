/**
 * `legacy-erp`: translates between the canonical model and the legacy ERP's flat lines (lib/connectors/legacy-erp/codec.ts).
 * Modes:
 *  - decodeTime: flat TE lines (msg.payload string/Buffer, e.g. from fabric-mqtt-in on legacy/fr01/time/out) -> one msg per
 *    canonical TimeEntry on output 1; malformed lines -> output 2 with msg.errors [{line, field, position, expected, got}];
 *  - encodeInvoice: canonical Invoice -> flat posting in msg.payload, msg.topic = legacy/fr01/invoice/in (for fabric-mqtt-out, QoS 1);
 *  - decodeAck: AK line -> msg.payload {invoiceNo, ok, reference, message};
 *  - encodeTime: canonical TimeEntry -> TE line (tests, simulators).
 */
import { decodeAck, decodeTimeEntries, encodeInvoice, encodeTimeEntry, fromCanonicalInvoice, fromCanonicalTimeEntry, LegacyFormatError, toCanonicalTimeEntry, TOPICS } from '../../lib/connectors/legacy-erp/codec';

export = function (RED: any) {
  function LegacyErp(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const t = (k: string, s?: Record<string, unknown>) => RED._(`legacy-erp.${k}`, s);
    let ok = 0;
    let bad = 0;
    node.on('input', (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        const mode = config.mode === 'msg' ? msg.mode : config.mode || 'decodeTime';
        if (mode === 'decodeTime') {
          const { records, errors } = decodeTimeEntries(Buffer.isBuffer(msg.payload) ? msg.payload : String(msg.payload ?? ''));
          const outs: any[] = records.map((r) => ({ ...msg, payload: toCanonicalTimeEntry(r), entity: 'TimeEntry', legacy: r, idempotencyKey: `legacy:TE:${r.entryId}` }));
          ok += outs.length;
          if (errors.length) bad += 1;
          const errMsg = errors.length ? { ...msg, errors, error: { message: new LegacyFormatError(errors).message, details: new LegacyFormatError(errors).details } } : null;
          send([outs.length ? outs : null, errMsg]);
          node.status({ fill: bad ? 'yellow' : 'green', shape: 'dot', text: t('status.counts', { ok, bad }) });
        } else if (mode === 'encodeInvoice') {
          msg.payload = encodeInvoice(fromCanonicalInvoice(msg.payload));
          msg.topic = config.topic || TOPICS.invoiceIn;
          msg.qos = 1;
          send([msg, null]);
        } else if (mode === 'decodeAck') {
          const { ack, errors } = decodeAck(Buffer.isBuffer(msg.payload) ? msg.payload : String(msg.payload ?? ''));
          if (ack) send([{ ...msg, payload: ack }, null]);
          else send([null, { ...msg, errors }]);
        } else if (mode === 'encodeTime') {
          msg.payload = encodeTimeEntry(fromCanonicalTimeEntry(msg.payload));
          msg.topic = config.topic || TOPICS.timeOut;
          msg.qos = 1;
          send([msg, null]);
        } else throw new Error(t('errors.unknownMode', { mode }));
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  }
  RED.nodes.registerType('legacy-erp', LegacyErp);
};
