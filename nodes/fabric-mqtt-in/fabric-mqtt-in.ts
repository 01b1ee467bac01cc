/**
 * `fabric-mqtt-in`: subscribes through a `fabric-broker` config node and acknowledges a message only after it
 * is committed to the inbox (DESIGN.md section 4). Thin: parsing is lib/model/safe-json, grouping of commits
 * is lib/inbox's InboxWriter, the ack timing is lib/broker/connection.
 *
 * Output 1: parsed JSON payload (new messages only; a redelivery of a committed message is not emitted again).
 * Output 2: payloads that are not acceptable JSON (malformed, too large, too deep, `__proto__` keys), with
 *           msg.error = { message, errors: [{ path, message }] }. They are committed and acknowledged too:
 *           redelivering them would not make them valid. If output 2 is not wired, the node reports the error
 *           with node.error(msg) so Catch nodes see it. Nothing is dropped silently.
 */
import type { IPublishPacket } from 'mqtt';
import { parseJsonSafely } from '../../lib/model/safe-json';
import { openFabric, servicesFor, type FabricHandle } from '../../lib/fabric/services';
import type { InboxWriter } from '../../lib/inbox';
import type { Json } from '../../lib/store/store';
import type { StoreOptions } from '../../lib/store/registry';
import { validFilter } from '../../lib/broker/acl';
import { inboxMessageId } from '../../lib/broker/message-id';
import type { FabricBrokerNode, Node, NodeAPI, NodeMessage } from '../fabric-broker/red-types';

interface MqttInConfig {
  id: string;
  name?: string;
  broker?: string;
  store?: string;
  topic?: string;
  qos?: string | number;
  maxBytes?: string | number;
}

const RAW_PREVIEW_BYTES = 64 * 1024;


export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-mqtt-in.${key}`, subs);

  /** The inbox writer of the referenced fabric-store node, or of the runtime's own store. */
  function inboxFor(node: Node, storeId: string | undefined): { inbox: InboxWriter; handle?: FabricHandle } {
    if (storeId) {
      const storeNode = RED.nodes.getNode(storeId);
      if (!storeNode) throw new Error(t('errors.noStoreNode'));
      const services = storeNode.services ?? storeNode.fabric?.services;
      if (services?.inbox) return { inbox: services.inbox };
      if (storeNode.store) return { inbox: servicesFor(storeNode.store).inbox };
      throw new Error(t('errors.storeNotReady'));
    }
    // the runtime's store: PostgreSQL in a scale-out runtime (settings.fabric.store), else its SQLite file
    const runtimeStore = (RED.settings.fabric as { store?: StoreOptions } | undefined)?.store;
    const storePath: string | undefined = RED.settings.fabric?.storePath;
    if (!runtimeStore && !storePath) throw new Error(t('errors.noStore'));
    const handle = openFabric(runtimeStore ?? { kind: 'sqlite', path: storePath! });
    return { inbox: handle.services.inbox, handle };
  }

  function FabricMqttIn(this: Node, config: MqttInConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const brokerNode = RED.nodes.getNode(config.broker ?? '') as FabricBrokerNode | null;
    const topic = (config.topic ?? '').trim();
    const qos = ([0, 1, 2].includes(Number(config.qos)) ? Number(config.qos) : 1) as 0 | 1 | 2;
    const maxBytes = Number(config.maxBytes) > 0 ? Number(config.maxBytes) : 1024 * 1024;
    const source = `mqtt:${node.id}`;
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
    let handle: FabricHandle | undefined;
    try {
      ({ inbox, handle } = inboxFor(node, config.store));
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.noStore') });
      node.error((err as Error).message);
      return;
    }

    const counts = () => {
      const base = brokerNode.statusFor();
      if (base.fill !== 'green') return node.status(base);
      node.status({ fill: 'green', shape: 'dot', text: t('status.counts', { received, duplicates, invalid }) });
    };

    const handler = async (packet: IPublishPacket): Promise<void> => {
      const bytes = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? '');
      const parsed = parseJsonSafely(bytes, { maxBytes });
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
      // throws when the commit fails: the connection then leaves the message unacknowledged
      const isNew = await inbox.add({ source, messageId, payload, receivedAt });
      if (!isNew) {
        duplicates++;
        counts();
        return;
      }
      const base: NodeMessage = {
        topic: packet.topic,
        qos: packet.qos,
        retain: packet.retain,
        inbox: { source, messageId },
      };
      if (parsed.ok) {
        received++;
        const msg: NodeMessage = { ...base, payload: parsed.value };
        const ce = parsed.value as Record<string, unknown> | null;
        if (ce && typeof ce === 'object' && typeof ce.correlationid === 'string') msg.correlationid = ce.correlationid;
        node.send([msg, null]);
      } else {
        invalid++;
        const first = parsed.errors[0];
        const message = t('errors.invalidPayload', {
          topic: packet.topic,
          detail: first ? `${first.path || '(payload)'}: ${first.message}` : '',
        });
        const msg: NodeMessage = {
          ...base,
          payload: bytes.length <= maxBytes ? bytes.toString('utf8') : bytes.subarray(0, RAW_PREVIEW_BYTES).toString('utf8'),
          error: { message, errors: parsed.errors },
        };
        if (invalidWired) node.send([null, msg]);
        else node.error(message, msg);
      }
      counts();
    };

    brokerNode.register(node);
    brokerNode.connection?.on('status', counts);
    brokerNode.connection?.subscribe(node.id, topic, qos, handler);

    node.on('close', (removed: boolean, done: () => void) => {
      brokerNode.connection?.off('status', counts);
      brokerNode.connection?.unsubscribe(node.id, removed);
      brokerNode.deregister(node);
      node.status({});
      if (handle) handle.release().then(done, done);
      else done();
    });
  }

  RED.nodes.registerType('fabric-mqtt-in', FabricMqttIn);
};
