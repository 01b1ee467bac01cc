/**
 * `fabric-mqtt-out`: publishes msg.payload as JSON through a `fabric-broker` config node.
 * Topic from the node's configuration, else msg.topic; a topic under `fabric/` must follow the taxonomy
 * `fabric/v<N>/<entity>/<event>` (lib/model/topics) or be an operational `fabric/v<N>/kpi/<event>`. done() after the broker acknowledged (QoS 1/2).
 * A hand-over point: after the broker acknowledged a QoS 1/2 publish, the msg's inbox entry (msg._fabricInbox) is marked
 * processed. A QoS 0 publish is at-most-once by contract: it is marked once handed to the connection.
 */
import { isFabricTopic } from '../../lib/model/topics';
import { markInboxProcessed } from '../../lib/inbox';
import { SpanKind, currentTrace, traceOfMsg, withSpan } from '../../lib/telemetry';
import type { FabricBrokerNode } from '../connection-config';
import { registerNode, type Node, type NodeAPI, type NodeMessage } from '../node-red-api';

import { FABRIC_MQTT_OUT, type MqttOutConfig } from './config';
import { positiveSetting } from '../settings';

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-mqtt-out.${key}`, subs);

  function FabricMqttOut(this: Node, config: MqttOutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const brokerNode = RED.nodes.getNode(config.broker ?? '') as FabricBrokerNode | null;
    const fixedTopic = (config.topic ?? '').trim();
    const qos = ([0, 1, 2].includes(Number(config.qos)) ? Number(config.qos) : 1) as 0 | 1 | 2;
    const retain = config.retain === true || config.retain === 'true';
    const maxBytes = positiveSetting(config.maxBytes, FABRIC_MQTT_OUT.defaults.maxBytes);
    let published = 0;

    if (!brokerNode) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.noBroker') });
      node.error(t('errors.noBroker'));
      return;
    }
    brokerNode.register(node);
    const refresh = () => {
      const base = brokerNode.statusFor();
      node.status(base.fill === 'green' ? { fill: 'green', shape: 'dot', text: t('status.published', { count: published }) } : base);
    };
    brokerNode.connection?.on('status', refresh);

    node.on('input', (msg: NodeMessage, _send, done) => {
      const topic = fixedTopic || (typeof msg.topic === 'string' ? msg.topic.trim() : '');
      if (!topic) return done(new Error(t('errors.noTopic')));
      if (/[#+]/.test(topic) || topic.includes('\u0000')) return done(new Error(t('errors.wildcard', { topic })));
      if (topic.startsWith('fabric/') && !isFabricTopic(topic)) return done(new Error(t('errors.taxonomy', { topic })));
      let body: Buffer;
      try {
        body = Buffer.isBuffer(msg.payload) ? msg.payload : Buffer.from(JSON.stringify(msg.payload ?? null), 'utf8');
      } catch (err) {
        return done(new Error(t('errors.notJson', { error: (err as Error).message })));
      }
      if (body.length > maxBytes) return done(new Error(t('errors.tooLarge', { bytes: body.length, max: maxBytes })));
      const connection = brokerNode.connection;
      if (!connection) return done(new Error(brokerNode.configError ?? t('errors.noConnection')));
      // a PRODUCER span in the msg's trace, whose context goes on as MQTT v5 user properties (an envelope payload
      // carries its own traceparent as well, for MQTT 3.1.1 subscribers)
      const upstream = traceOfMsg(msg);
      withSpan(`fabric-mqtt-out ${topic}`, { kind: SpanKind.PRODUCER, parent: upstream, attributes: { 'messaging.destination.name': topic } }, () => {
        const trace = currentTrace() ?? upstream;
        const userProperties = trace ? { traceparent: trace.traceparent, ...(trace.tracestate ? { tracestate: trace.tracestate } : {}) } : undefined;
        return connection.publish(topic, body, { qos, retain, userProperties });
      }).then(
        async () => {
          await markInboxProcessed(msg);
          published++;
          refresh();
          done();
        },
        (err: Error) => done(new Error(t('errors.publish', { topic, error: err.message }))),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      brokerNode.connection?.off('status', refresh);
      brokerNode.deregister(node);
      done();
    });
  }

  registerNode(RED, FABRIC_MQTT_OUT.type, FabricMqttOut, FABRIC_MQTT_OUT);
};
