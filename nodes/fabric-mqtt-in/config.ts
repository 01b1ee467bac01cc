import { configNode, nodeSettings, number, text } from '../settings';

/** The settings of a `fabric-mqtt-in` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface MqttInConfig {
  id: string;
  name?: string;
  broker?: string;
  store?: string;
  topic?: string;
  qos?: string | number;
  maxBytes?: string | number;
  /** Start-up replays of an unprocessed inbox entry before it is abandoned (default 3). */
  maxReplays?: string | number;
  /** Payload format: `json` (default, parsed and checked) or `text` (the UTF-8 string, only the size is checked). */
  format?: string;
}

export const FABRIC_MQTT_IN = nodeSettings<MqttInConfig>()({
  type: 'fabric-mqtt-in',
  settings: {
    name: text(),
    broker: configNode('fabric-broker'),
    store: configNode('fabric-store', false),
    // a topic filter: '+' a whole level, '#' the whole last level
    topic: text('fabric/v1/+/+', { required: true, check: { is: 'regex', pattern: /^(?:(?:\+|[^+#/]*)(?:\/(?:\+|[^+#/]*))*(?:\/#)?|#)$/ } }),
    qos: text('1'),
    maxBytes: number(1024 * 1024, { blank: true }),
    maxReplays: number(3, { blank: true }),
    format: text<'json' | 'text'>('json'),
  },
});
