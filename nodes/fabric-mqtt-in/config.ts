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
