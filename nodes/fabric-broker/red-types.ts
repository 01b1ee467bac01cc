import type { FabricMqttConnection } from '../../lib/broker/connection';
// Minimal shapes of the Node-RED runtime API the PS Fabric MQTT nodes use (no @types/node-red in the project).
export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  topic?: string;
  [key: string]: unknown;
}
export interface StatusOptions {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}
export interface Node {
  id: string;
  name?: string;
  wires?: string[][];
  credentials?: Record<string, string | undefined>;
  on(event: 'input', handler: (msg: NodeMessage, send: (msgs: NodeMessage | Array<NodeMessage | null>) => void, done: (err?: Error) => void) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  send(msgs: NodeMessage | Array<NodeMessage | null>): void;
  status(status: StatusOptions | Record<string, never>): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(msg: unknown): void;
  log(msg: unknown): void;
}
export interface NodeAPI {
  nodes: {
    createNode(node: object, config: object): void;
    registerType(type: string, ctor: (this: any, config: any) => void, opts?: { credentials?: Record<string, { type: string }> }): void;
    getNode(id: string): any;
  };
  settings: any;
  _: (key: string, substitutions?: Record<string, unknown>) => string;
}

/** What fabric-mqtt-in/out see of their `fabric-broker` config node. */
export interface FabricBrokerNode extends Node {
  connection?: FabricMqttConnection;
  /** Why there is no connection (configuration error), for the users' status. */
  configError?: string;
  register(user: Node): void;
  deregister(user: Node): void;
  statusFor(): StatusOptions;
}
