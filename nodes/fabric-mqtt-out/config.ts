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
