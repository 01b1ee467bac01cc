/**
 * The seam between PS Fabric's nodes and Node-RED: the shapes of the runtime API the nodes use (the project does not
 * depend on @types/node-red, whose 1.x types lag Node-RED 4), the one way to register a node type (`registerNode`:
 * typed constructor, versioned config migrations) and the one way to find the store (`resolveStore`,
 * `runtimeStoreOptions`). Node folders import Node-RED only through this module; lib/ never does.
 */
import type { AuditTrail } from '../lib/audit';
import type { ExceptionQueue } from '../lib/exceptions';
import type { FabricServices } from '../lib/fabric/services';
import type { IdempotencyService } from '../lib/idempotency';
import type { InboxWriter } from '../lib/inbox';
import { resolveStorePath } from '../lib/fabric/store-path';
import type { StoreOptions } from '../lib/store/registry';
import type { Store } from '../lib/store/store';
import { migrate, migrationsOf } from './migrations';

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
/** A node's configuration as the flow file holds it; each node adds its own properties. */
export interface NodeDef {
  id: string;
  type?: string;
  name?: string;
  z?: string;
  /** Config version (nodes/migrations.ts); absent in flows written before versioning. */
  version?: number;
}
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
/** An admin HTTP request (express, behind Node-RED's adminAuth). */
export interface Request {
  method: string;
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
  delete(path: string, ...handlers: Handler[]): void;
}
export type Credentials = Record<string, { type: 'text' | 'password' }>;
export interface NodeAPI {
  nodes: {
    createNode(node: Node, config: NodeDef): void;
    registerType<N extends Node, C extends NodeDef>(type: string, ctor: (this: N, config: C) => void, opts?: { credentials?: Credentials }): void;
    /** The node with that id, as the caller knows its kind (a config node it names); null when there is none. */
    getNode<T extends Node = Node>(id: string): T | null;
    eachNode(cb: (config: { id: string; type: string }) => void): void;
  };
  httpAdmin: HttpApp;
  auth: { needsPermission(permission: string): Handler };
  /** Message hooks (Node-RED >= 2); optional so a runtime without them still loads the nodes. */
  hooks?: { add(name: string, fn: (event: HookEvent) => void): void };
  events?: { on(name: string, fn: () => void): void };
  log?: { info(msg: string): void; warn(msg: string): void };
  settings: { userDir?: string; fabric?: { storePath?: string; store?: StoreOptions }; [key: string]: unknown };
  util: {
    generateId(): string;
    cloneMessage<T extends NodeMessage>(msg: T): T;
  };
  _: (key: string, substitutions?: Record<string, unknown>) => string;
}
/** What message hooks receive (the parts PS Fabric reads). */
export interface HookEvent {
  msg?: NodeMessage;
  source?: { node?: { id?: string; type?: string } };
  destination?: { node?: { id?: string; type?: string } };
}

/**
 * Registers a node type: the constructor gets its config after the type's migrations (`NODE_MIGRATIONS` in
 * nodes/migrations.ts, the list the editor applies too), so it only ever reads the current config shape, whatever
 * version the flow file was written in.
 */
export function registerNode<N extends Node, C extends NodeDef>(
  RED: NodeAPI,
  type: string,
  ctor: (this: N, config: C) => void,
  opts: { credentials?: Credentials } = {},
): void {
  const migrations = migrationsOf(type);
  RED.nodes.registerType(type, function (this: N, config: C) {
    ctor.call(this, migrate(config, migrations));
  }, opts.credentials ? { credentials: opts.credentials } : undefined);
}

/** The fabric-store config node as the nodes that name it see it (nodes/fabric-store). */
export interface FabricStoreNode extends Node {
  kind: 'sqlite' | 'postgres';
  /** The resolved file (sqlite) or redacted URL (postgres). */
  storePath?: string;
  /** Why the store is not open, when it is not. */
  openError?: string;
  store?: Store;
  services?: FabricServices;
  /** Shortcuts into `services`. */
  inbox?: InboxWriter;
  idempotency?: IdempotencyService;
  exceptions?: ExceptionQueue;
  audit?: AuditTrail;
  /** The services, or a clear error saying why there are none (for users' input handlers: done(err)). */
  requireServices(): FabricServices;
  register(user: Node): void;
  deregister(user: Node): void;
}

/** The fabric-store config node `id` names, or undefined when there is none (no id, another kind of node). */
export function resolveStore(RED: NodeAPI, id: string | undefined): FabricStoreNode | undefined {
  if (!id) return undefined;
  const n = RED.nodes.getNode<FabricStoreNode>(id);
  return n && typeof n.requireServices === 'function' ? n : undefined;
}

/**
 * The fabric-store an admin request names (`?store=<config node id>`), else the first deployed one that is open;
 * undefined when there is none.
 */
export function storeNamedOrFirst(RED: NodeAPI, id: string | undefined): FabricStoreNode | undefined {
  if (id) return resolveStore(RED, id);
  let found: FabricStoreNode | undefined;
  RED.nodes.eachNode((cfg) => {
    if (found || cfg.type !== 'fabric-store') return;
    const n = resolveStore(RED, cfg.id);
    if (n?.services) found = n;
  });
  return found;
}

/**
 * The store a node opens when no fabric-store names one: a configured SQLite `file`; else the PS Fabric runtime's store
 * (settings.fabric.store: PostgreSQL in a scale-out runtime, else its SQLite file); else the SQLite file
 * lib/fabric/store-path.ts resolves (FABRIC_STORE_PATH, `<userDir>/ps-fabric.sqlite`).
 */
export function runtimeStoreOptions(RED: NodeAPI, file?: string): StoreOptions {
  const runtimeStore = RED.settings.fabric?.store;
  if (!file?.trim() && runtimeStore) return runtimeStore;
  return { kind: 'sqlite', path: resolveStorePath(file, { userDir: RED.settings.userDir, runtimeStorePath: RED.settings.fabric?.storePath }) };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
