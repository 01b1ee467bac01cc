/**
 * `fabric-mqtt-in`: subscribes through a `fabric-broker` config node and acknowledges a message only after it
 * is committed to the inbox (docs/store-and-guarantees.md). Thin: parsing is lib/model/safe-json, grouping of commits
 * is lib/inbox's InboxWriter, the ack timing is lib/broker/connection.
 *
 * Output 1: parsed JSON payload (new messages only; a redelivery of a committed message is not emitted again); with
 *           `format: 'text'` the payload as a UTF-8 string instead (flat formats such as the legacy ERP's TE lines).
 * Output 2: payloads that are not acceptable JSON (empty, malformed, too large, too deep, `__proto__` keys; with
 *           `format: 'text'`: empty, only whitespace or too large), with
 *           msg.error = { message, errors: [{ path, message }] }. They are committed and acknowledged too:
 *           redelivering them would not make them valid. If output 2 is not wired, the node reports the error
 *           with node.error(msg) so Catch nodes see it. Nothing is dropped silently.
 *
 * Inbox hand-over (docs/runtime.md): every emitted msg carries `msg._fabricInbox = { source, messageId }`. The entry stays
 * `received` until a durable hand-over point marks it processed (outbox submit, fabric-exception, acknowledged
 * fabric-mqtt-out publish, fabric-idempotent dropping a repeat, process-step parking, or `msg.fabricDone = true` on a
 * node that completes the msg). On start, before new traffic, the node re-emits its `received` entries with
 * `msg.redelivered = true`; an entry replayed `maxReplays` (3) times without a hand-over is abandoned, with a warning
 * and an exception for integration-ops (replayable: a replay re-emits it from this node).
 */
import { SpanKind, TRACE_PROPERTY, carrierFrom, markSpan, traceOfMsg, withTrace } from '../../lib/telemetry';
import { installTraceHooks } from '../trace-hooks';
import type { IPublishPacket } from 'mqtt';
import { parseJsonSafely, type SafeParseResult } from '../../lib/model/safe-json';
import { openFabric, type FabricHandle } from '../../lib/fabric/services';
import { INBOX_REF_PROPERTY, inboxRefOf, markInboxProcessed, registerInboxSource, replayInbox, type InboxWriter } from '../../lib/inbox';
import type { FabricServices } from '../../lib/fabric/services';
import { flowsStartedOf } from '../flows-started';
import type { InboxRecord, Json, Store } from '../../lib/store/store';
import { validFilter } from '../../lib/broker/acl';
import { inboxMessageId } from '../../lib/broker/message-id';
import type { FabricBrokerNode } from '../connection-config';
import { registerNode, resolveStore, runtimeStoreOptions, type Node, type NodeAPI, type NodeMessage } from '../node-red-api';
import { throttleStatus } from '../status-throttle';

import { FABRIC_MQTT_IN, type MqttInConfig } from './config';
import { positiveSetting } from '../settings';

const RAW_PREVIEW_BYTES = 64 * 1024;
/** Set by a flow on a msg from fabric-mqtt-in to mark its inbox entry done when a node completes it. */
const DONE_PROPERTY = 'fabricDone';
const hooked = new WeakSet<object>();


export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-mqtt-in.${key}`, subs);
  installTraceHooks(RED);

  // Explicit "done" for flows that end a message on purpose (a switch branch, a filter): a node that completes a msg
  // carrying msg.fabricDone === true marks its inbox entry processed (Node-RED's onComplete hook: function nodes
  // returning null, change nodes, debug nodes ... every node that calls done()).
  const hooks = (RED as unknown as { hooks?: { add(name: string, fn: (event: { msg?: Record<string, unknown> }) => void): void } }).hooks;
  if (hooks && !hooked.has(hooks)) {
    hooked.add(hooks);
    hooks.add('onComplete.fabric-inbox', (event) => {
      const msg = event?.msg;
      if (msg && msg[DONE_PROPERTY] === true && inboxRefOf(msg)) void markInboxProcessed(msg);
    });
  }

  // Replayed messages must only be sent once every node of the flow exists (nodes/flows-started.ts).
  const flowsStarted = flowsStartedOf(RED);

  /** The inbox writer of the referenced fabric-store node, or of the runtime's own store. */
  function inboxFor(node: Node, storeId: string | undefined): { inbox: InboxWriter; services: FabricServices; handle?: FabricHandle } {
    if (storeId) {
      const storeNode = resolveStore(RED, storeId);
      if (!storeNode) throw new Error(t('errors.noStoreNode'));
      if (storeNode.services) return { inbox: storeNode.services.inbox, services: storeNode.services };
      throw new Error(t('errors.storeNotReady'));
    }
    // no fabric-store named: the PS Fabric runtime's store (outside that runtime there is none to share)
    if (!RED.settings.fabric) throw new Error(t('errors.noStore'));
    const handle = openFabric(runtimeStoreOptions(RED));
    return { inbox: handle.services.inbox, services: handle.services, handle };
  }

  function FabricMqttIn(this: Node, config: MqttInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const brokerNode = RED.nodes.getNode(config.broker ?? '') as FabricBrokerNode | null;
    const topic = (config.topic ?? '').trim();
    const qos = ([0, 1, 2].includes(Number(config.qos)) ? Number(config.qos) : 1) as 0 | 1 | 2;
    const maxBytes = positiveSetting(config.maxBytes, FABRIC_MQTT_IN.defaults.maxBytes);
    const maxReplays = config.maxReplays !== undefined && config.maxReplays !== '' && Number(config.maxReplays) >= 0 ? Math.floor(Number(config.maxReplays)) : FABRIC_MQTT_IN.defaults.maxReplays;
    const source = `mqtt:${node.id}`;
    const textFormat = config.format === 'text';
    const invalidWired = (node.wires?.[1]?.length ?? 0) > 0;
    let received = 0;
    let duplicates = 0;
    let invalid = 0;

    if (!brokerNode) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.noBroker') });
      node.error(t('errors.noBroker'));
      return;
    }
    if (!topic || !validFilter(topic)) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.badTopic') });
      node.error(t('errors.badTopic', { topic }));
      return;
    }
    let inbox: InboxWriter;
    let services: FabricServices;
    let handle: FabricHandle | undefined;
    try {
      ({ inbox, services, handle } = inboxFor(node, config.store));
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.noStore') });
      node.error((err as Error).message);
      return;
    }

    // counts change per message: a few updates per second, the last value always shown (nodes/status-throttle.ts)
    const status = throttleStatus((s: Parameters<typeof node.status>[0]) => node.status(s));
    const counts = () => {
      const base = brokerNode.statusFor();
      if (base.fill !== 'green') return status.show(base);
      status.update(() => ({ fill: 'green', shape: 'dot', text: t('status.counts', { received, duplicates, invalid }) }));
    };

    const store: Store = services.store;
    const unregisterSource = registerInboxSource(source, store);

    /** Emits one committed entry: output 1 for JSON, output 2 (or node.error) for an unacceptable payload. */
    const emit = (topic: string, qos: number, retain: boolean, messageId: string, payload: Json, invalidInfo: { errors: unknown; text: string } | undefined, extra: Record<string, unknown>): void => {
      const ref = { source, messageId };
      // the producer's trace context (MQTT v5 user properties, else the envelope's traceparent) continues here
      const trace = markSpan(`fabric-mqtt-in ${topic}`, { kind: SpanKind.CONSUMER, parent: traceOfMsg({ [TRACE_PROPERTY]: extra[TRACE_PROPERTY], payload }) ?? null, attributes: { 'messaging.destination.name': topic } });
      const base: NodeMessage = { topic, qos, retain, inbox: ref, [INBOX_REF_PROPERTY]: ref, ...extra, ...(trace ? { [TRACE_PROPERTY]: trace } : {}) };
      if (!invalidInfo) {
        received++;
        const msg: NodeMessage = { ...base, payload };
        const ce = payload as Record<string, unknown> | null;
        if (ce && typeof ce === 'object' && !Array.isArray(ce) && typeof ce.correlationid === 'string') msg.correlationid = ce.correlationid;
        withTrace(trace, () => node.send([msg, null]));
      } else {
        invalid++;
        const errors = invalidInfo.errors as Array<{ path?: string; message?: string }>;
        const first = Array.isArray(errors) ? errors[0] : undefined;
        const message = t(textFormat ? 'errors.invalidText' : 'errors.invalidPayload', { topic, detail: first ? `${first.path || '(payload)'}: ${first.message}` : '' });
        const msg: NodeMessage = { ...base, payload: invalidInfo.text, error: { message, errors } };
        if (invalidWired) node.send([null, msg]);
        else node.error(message, msg);
      }
      counts();
    };

    /** Re-emits a stored entry (start-up replay, or an operator's replay of an abandoned entry). */
    const emitRecord = (record: Pick<InboxRecord, 'messageId' | 'payload' | 'meta'>, extra: Record<string, unknown>): void => {
      const meta = (record.meta ?? {}) as { topic?: string; qos?: number; retain?: boolean; invalid?: boolean; trace?: unknown };
      if (meta.trace) extra = { [TRACE_PROPERTY]: meta.trace, ...extra };
      const topic0 = typeof meta.topic === 'string' ? meta.topic : topic;
      const p = record.payload as Record<string, unknown> | null;
      if (meta.invalid && p && typeof p === 'object') {
        emit(topic0, meta.qos ?? qos, meta.retain === true, record.messageId, record.payload, { errors: p.errors, text: typeof p.rawPreview === 'string' ? p.rawPreview : '' }, extra);
      } else emit(topic0, meta.qos ?? qos, meta.retain === true, record.messageId, record.payload, undefined, extra);
    };

    // An operator replaying the "abandoned" exception re-emits the entry (marked received again is not needed:
    // the replayed msg carries its inbox identity and a hand-over marks it processed).
    const unregisterReplayer = services.exceptions.registerNodeReplayer(node.id, async (request) => {
      const req = (request.payload ?? {}) as { messageId?: unknown; payload?: Json; meta?: Json };
      if (typeof req.messageId !== 'string') throw new Error('not an inbox entry of this node');
      emitRecord({ messageId: req.messageId, payload: req.payload ?? null, meta: req.meta }, { redelivered: true, replay: { exceptionId: request.exception.id, edited: request.edited, actor: request.actor } });
    });

    // Start-up replay: entries committed by an earlier run (or the previous deploy) but never handed over.
    let closing = false;
    const ready: Promise<void> = flowsStarted().then(() => replayInbox(store, source, {
      maxReplays,
      emit: (record, replay) => {
        if (!closing) emitRecord(record, { redelivered: true, redeliveries: replay });
      },
      abandoned: async (record) => {
        const text = t('errors.abandoned', { messageId: record.messageId, replays: record.replays, topic: String((record.meta as { topic?: unknown } | undefined)?.topic ?? topic) });
        node.warn(text);
        await services.exceptions.add(
          {
            process: 'inbox',
            step: node.name || `fabric-mqtt-in ${topic}`,
            errorClass: 'internal',
            message: text,
            details: [{ path: '/inbox', message: `status abandoned after ${record.replays} start-up replays` }],
            ownerTeam: 'integration-ops',
            recordKey: `Inbox/${source}/${record.messageId}`,
            request: { messageId: record.messageId, payload: record.payload, meta: record.meta ?? null },
            replayTarget: { kind: 'node', nodeId: node.id },
          },
          `node:${node.id}`,
        );
      },
    })).then(
      (r) => {
        if (r.replayed || r.abandoned) node.log(t('log.replayed', { replayed: r.replayed, abandoned: r.abandoned }));
      },
      (err: unknown) => node.warn(t('errors.replayFailed', { error: (err as Error)?.message ?? String(err) })),
    );

    const inFlight = new Set<Promise<void>>();
    const handle1 = async (packet: IPublishPacket): Promise<void> => {
      await ready; // replayed entries go first
      const bytes = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? '');
      const parsed = textFormat ? parseText(bytes, maxBytes) : parseJsonSafely(bytes, { maxBytes });
      const messageId = inboxMessageId(packet.topic, bytes, parsed.ok ? parsed.value : undefined);
      const receivedAt = Date.now();
      let payload: Json;
      if (parsed.ok) {
        payload = parsed.value as Json;
      } else {
        payload = {
          invalid: true,
          bytes: bytes.length,
          errors: parsed.errors as unknown as Json,
          rawPreview: bytes.subarray(0, RAW_PREVIEW_BYTES).toString('utf8'),
        };
      }
      const upstream = carrierFrom(packet.properties?.userProperties);
      const meta: Json = { topic: packet.topic, qos: packet.qos, retain: !!packet.retain, ...(parsed.ok ? {} : { invalid: true }), ...(upstream ? { trace: upstream as unknown as Json } : {}) };
      // throws when the commit fails: the connection then leaves the message unacknowledged
      const isNew = await inbox.add({ source, messageId, payload, receivedAt, meta });
      if (!isNew) {
        duplicates++;
        counts();
        return;
      }
      if (closing) return; // committed and `received`: the next start re-emits it
      const extra = upstream ? { [TRACE_PROPERTY]: upstream } : {};
      if (parsed.ok) emit(packet.topic, packet.qos, !!packet.retain, messageId, payload, undefined, extra);
      else {
        const text = bytes.length <= maxBytes ? bytes.toString('utf8') : bytes.subarray(0, RAW_PREVIEW_BYTES).toString('utf8');
        emit(packet.topic, packet.qos, !!packet.retain, messageId, payload, { errors: parsed.errors, text }, extra);
      }
    };
    const handler = (packet: IPublishPacket): Promise<void> => {
      const p = handle1(packet);
      inFlight.add(p);
      const settle = () => inFlight.delete(p);
      p.then(settle, settle);
      return p;
    };

    brokerNode.register(node);
    brokerNode.connection?.on('status', counts);
    brokerNode.connection?.subscribe(node.id, topic, qos, handler);

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      brokerNode.connection?.off('status', counts);
      brokerNode.connection?.unsubscribe(node.id, removed);
      brokerNode.deregister(node);
      unregisterReplayer();
      status.cancel();
      node.status({});
      // let commits in progress finish (their entries stay `received` for the next start's replay) before the
      // next deploy's instance reads the pending entries
      const settled = Promise.race([Promise.allSettled([ready, ...inFlight]), new Promise((r) => setTimeout(r, 5000).unref())]);
      settled
        .then(() => {
          unregisterSource();
          return handle?.release();
        })
        .then(() => done(), () => done());
    });
  }

  /**
   * `text` format: the payload as a UTF-8 string; a payload over the size limit, or empty / only whitespace, is invalid
   * (output 2): an empty payload carries no line, so nothing downstream would ever hand it over or report it.
   */
  function parseText(bytes: Buffer, maxBytes: number): SafeParseResult {
    if (bytes.length > maxBytes) return { ok: false, errors: [{ path: '', message: t('errors.tooLarge', { bytes: bytes.length, maxBytes }) }] };
    const text = bytes.toString('utf8');
    if (text.trim() === '') return { ok: false, errors: [{ path: '', message: t('errors.emptyText', { bytes: bytes.length }) }] };
    return { ok: true, value: text, bytes: bytes.length };
  }

  registerNode(RED, FABRIC_MQTT_IN.type, FabricMqttIn, FABRIC_MQTT_IN);
};
