import type { FabricMqttConnection } from '../../lib/broker/connection';
import type { Node, StatusOptions } from '../node-red-api';


/** What fabric-mqtt-in/out see of their `fabric-broker` config node. */
export interface FabricBrokerNode extends Node {
  connection?: FabricMqttConnection;
  /** Why there is no connection (configuration error), for the users' status. */
  configError?: string;
  register(user: Node): void;
  deregister(user: Node): void;
  statusFor(): StatusOptions;
}
