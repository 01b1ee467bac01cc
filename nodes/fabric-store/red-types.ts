// The few shapes of the Node-RED runtime API the fabric-store config node uses (the project has no @types/node-red).
export interface StatusOptions {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}
export interface Node {
  id: string;
  type: string;
  name?: string;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  status(status: StatusOptions | Record<string, never>): void;
  error(err: unknown): void;
  warn(msg: unknown): void;
  log(msg: unknown): void;
}
export interface NodeAPI {
  nodes: {
    createNode(node: object, config: object): void;
    registerType<C>(type: string, ctor: (this: never, config: C) => void): void;
  };
  settings: { userDir?: string; fabric?: { storePath?: string }; [key: string]: unknown };
  _: (key: string, substitutions?: Record<string, unknown>) => string;
}
