// The shapes of the Node-RED runtime API used by the fabric-idempotent, fabric-exception and fabric-exceptions
// nodes (the project has no @types/node-red).
import type { FabricServices } from '../../lib/fabric/services';

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
export type Send = (msgs: NodeMessage | Array<NodeMessage | null> | null) => void;
export type Done = (err?: Error) => void;
export interface Node {
  id: string;
  type: string;
  name?: string;
  z?: string;
  on(event: 'input', handler: (msg: NodeMessage, send: Send, done: Done) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  send(msgs: NodeMessage | Array<NodeMessage | null>): void;
  status(status: StatusOptions | Record<string, never>): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(msg: unknown): void;
  log(msg: unknown): void;
}
/** The fabric-store config node as its users see it (nodes/fabric-store). */
export interface StoreConfigNode extends Node {
  services?: FabricServices;
  openError?: string;
  requireServices(): FabricServices;
  register(user: Node): void;
  deregister(user: Node): void;
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
}
type Handler = (req: Request, res: Response, next: (err?: unknown) => void) => void;
export interface HttpApp {
  get(path: string, ...handlers: Handler[]): void;
  post(path: string, ...handlers: Handler[]): void;
}
export interface NodeAPI {
  nodes: {
    createNode(node: object, config: object): void;
    registerType(type: string, ctor: (this: never, config: never) => void): void;
    getNode(id: string): Node | null;
    eachNode(cb: (config: { id: string; type: string }) => void): void;
  };
  httpAdmin: HttpApp;
  auth: { needsPermission(permission: string): Handler };
  settings: Record<string, unknown>;
  _: (key: string, substitutions?: Record<string, unknown>) => string;
}

/** The store config node a node references, or undefined with a reason. */
export function storeNode(RED: NodeAPI, id: string | undefined): StoreConfigNode | undefined {
  if (!id) return undefined;
  const n = RED.nodes.getNode(id) as StoreConfigNode | null;
  return n && typeof n.requireServices === 'function' ? n : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
