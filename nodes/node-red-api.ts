/**
 * The shapes of the Node-RED runtime API that PS Fabric's nodes use, in one place (the project does not depend on
 * @types/node-red, whose 1.x types lag Node-RED 4). Node folders import from here; each adds only the shape of its
 * own config node as its users see it.
 */
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
/** One message, or one entry per output: a message, several messages (an array) or null. */
export type Send = (msgs: NodeMessage | Array<NodeMessage | NodeMessage[] | null> | null) => void;
export type Done = (err?: Error) => void;
export interface Node {
  id: string;
  type: string;
  name?: string;
  z?: string;
  wires?: string[][];
  credentials?: Record<string, string | undefined>;
  on(event: 'input', handler: (msg: NodeMessage, send: Send, done: Done) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  send(msgs: NodeMessage | Array<NodeMessage | NodeMessage[] | null>): void;
  status(status: StatusOptions | Record<string, never>): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(msg: unknown): void;
  log(msg: unknown): void;
}
export interface Request {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body?: unknown;
  user?: { username?: string };
}
export interface Response {
  status(code: number): Response;
  json(body: unknown): void;
  setHeader(name: string, value: string): void;
  set(name: string, value: string): Response;
  end(body?: string): void;
}
export type Handler = (req: Request, res: Response, next: (err?: unknown) => void) => void;
export interface HttpApp {
  get(path: string, ...handlers: Handler[]): void;
  post(path: string, ...handlers: Handler[]): void;
}
export interface NodeAPI {
  nodes: {
    createNode(node: object, config: object): void;
     
    registerType(type: string, ctor: (this: any, config: any) => void, opts?: { credentials?: Record<string, { type: string }> }): void;
     
    getNode(id: string): any;
    eachNode(cb: (config: { id: string; type: string }) => void): void;
  };
  httpAdmin: HttpApp;
  auth: { needsPermission(permission: string): Handler };
  /** Message hooks (Node-RED >= 2); optional so a runtime without them still loads the nodes. */
   
  hooks?: { add(name: string, fn: (event: any) => void): void };
   
  settings: { userDir?: string; fabric?: { storePath?: string }; [key: string]: any };
  util: {
    generateId(): string;
    cloneMessage<T extends NodeMessage>(msg: T): T;
  };
  _: (key: string, substitutions?: Record<string, unknown>) => string;
}
