/**
 * `legacy-erp`: translates between the canonical model and the legacy ERP's flat lines (lib/connectors/legacy-erp/codec.ts).
 * Modes:
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
 */
import type { NodeAPI } from '../node-red-api';
import { classify } from '../../lib/delivery/errors';
import { resumeOutboxWrites, type ResumedWrites } from '../outbox-resume';
import { idempotencyKeyFor } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';
import { laneFor } from '../../lib/delivery/lanes';
import { decodeAck, decodeTimeEntries, encodeInvoice, encodeTimeEntry, fromCanonicalInvoice, fromCanonicalTimeEntry, LegacyFormatError, toCanonicalTimeEntry, TOPICS } from '../../lib/connectors/legacy-erp/codec';
import { throttleStatus } from '../status-throttle';

export = function (RED: NodeAPI) {
  function LegacyErp(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const t = (k: string, s?: Record<string, unknown>) => RED._(`legacy-erp.${k}`, s);
    let ok = 0;
    let bad = 0;
    // the counters change per message: a few updates per second, the last value always shown
    const status = throttleStatus((s: Parameters<typeof node.status>[0]) => node.status(s));
    // ------------------------------------------------------------------ postInvoice through the outbox
    const cfg = config.legacy ? RED.nodes.getNode(config.legacy) : undefined;
    let resume: ResumedWrites | undefined;
    if (config.mode === 'postInvoice') {
      if (!cfg?.handle) node.status({ fill: 'red', shape: 'ring', text: cfg?.configError ?? t('status.noConfig') });
      else {
        node.status({});
        // completions nobody awaits (a replay from the exception queue, a posting resumed after a restart) go on to output 1
        resume = resumeOutboxWrites(node, cfg.store, (m, item) => {
          status.show({ fill: 'green', shape: 'dot', text: t('status.resumed', { invoice: String((m.recordKey as string) ?? item.id) }) });
          return { ...m, legacyPosting: { outboxId: item.id, resumed: true } };
        }, () => RED.util.generateId());
      }
    }
    /** What the flow after the posting needs (the outbox keeps it with the item; the invoice itself is in the request). */
    const contextOf = (msg: any) => {
      const { request: _r, ...invoiceWrite } = (msg.invoiceWrite ?? {}) as Record<string, unknown>;
      return JSON.parse(JSON.stringify({ process: msg.process, step: msg.step, correlationId: msg.correlationId, recordKey: msg.recordKey, erp: msg.erp, erpTarget: msg.erpTarget, idempotencyKey: msg.idempotencyKey, ...(msg.invoiceWrite ? { invoiceWrite } : {}) }));
    };
    async function postInvoice(msg: any): Promise<void> {
      if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
      const request = msg.payload && typeof msg.payload === 'object' && (msg.payload.invoice || msg.payload.legacy) ? msg.payload : { invoice: msg.payload };
      const idempotencyKey = idempotencyKeyFor(msg, 'postInvoice', request);
      const submit = () => cfg.handle.submit({ operation: 'postInvoice', request, idempotencyKey, correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: msg.step ?? (node.name || 'legacy postInvoice'), recordKey: msg.recordKey, lane: laneFor(msg), origin: resume?.origin, context: contextOf(msg), inbox: inboxRefOf(msg) });
      const result = resume ? await resume.awaiting(idempotencyKey, submit) : await submit();
      msg.payload = result.response;
      msg.legacyPosting = { outboxId: result.item.id, duplicate: result.duplicate };
    }
    node.on('close', (_removed: boolean, done: () => void) => {
      status.cancel();
      resume?.close();
      done();
    });

    node.on('input', (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      if ((config.mode === 'msg' ? msg.mode : config.mode) === 'postInvoice') {
        postInvoice(msg).then(
          () => {
            ok += 1;
            status.update(() => ({ fill: 'green', shape: 'dot', text: t('status.posted', { ok }) }));
            send([msg, null]);
            done();
          },
          (err: unknown) => {
            const fe = classify(err);
            status.show({ fill: 'red', shape: 'ring', text: fe.message.slice(0, 60) });
            // a Catch -> fabric-exception on the same process / step / record updates the outbox's exception: keep its owner and class
            if (fe.ownerTeam) msg.ownerTeam = fe.ownerTeam;
            msg.errorClass = fe.errorClass;
            done(fe);
          },
        );
        return;
      }
      try {
        const mode = config.mode === 'msg' ? msg.mode : config.mode || 'decodeTime';
        if (mode === 'decodeTime') {
          const { records, errors } = decodeTimeEntries(Buffer.isBuffer(msg.payload) ? msg.payload : String(msg.payload ?? ''));
          const outs: any[] = records.map((r) => ({ ...msg, payload: toCanonicalTimeEntry(r), entity: 'TimeEntry', legacy: r, idempotencyKey: `legacy:TE:${r.entryId}` }));
          ok += outs.length;
          if (errors.length) bad += 1;
          const errMsg = errors.length ? { ...msg, errors, error: { message: new LegacyFormatError(errors).message, details: new LegacyFormatError(errors).details } } : null;
          send([outs.length ? outs : null, errMsg]);
          status.update(() => ({ fill: bad ? 'yellow' : 'green', shape: 'dot', text: t('status.counts', { ok, bad }) }));
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
