import { configNode, flag, nodeSettings, number, text } from '../settings';

/** The settings of a `fabric-mqtt-out` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface MqttOutConfig {
  id: string;
  name?: string;
  broker?: string;
  topic?: string;
  qos?: string | number;
  retain?: boolean | string;
  maxBytes?: string | number;
}

export const FABRIC_MQTT_OUT = nodeSettings<MqttOutConfig>()({
  type: 'fabric-mqtt-out',
  settings: {
    name: text(),
    broker: configNode('fabric-broker'),
    // empty (msg.topic), a topic without wildcards, and under fabric/ one of the taxonomy's (lib/model/topics.ts)
    topic: text('', { check: { is: 'regex', pattern: /^(?!fabric\/)[^#+]*$|^fabric\/v[1-9][0-9]*\/[a-z]+\/[a-z][a-z0-9]*(-[a-z0-9]+)*$/, blank: true } }),
    qos: text('1'),
    retain: flag(false),
    maxBytes: number(1024 * 1024, { blank: true }),
  },
});
