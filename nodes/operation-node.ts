/**
 * The one way to write a connector operation node (salesforce, netsuite, business-central, kantata, jira, legacy-erp,
 * teams-notify). A node declares what is its own - which config node it names, its write operations (the list its lib
 * connector exports), how a msg becomes a write request, its reads - and this factory does the rest the same way for
 * every connector:
 *  - config: the type's migrations (nodes/migrations.ts, through registerNode), then the config node lookup;
 *  - status: the connection's (circuit, outbox backlog) from the node's catalog keys `status.noConfig`,
 *    `status.connected`, `status.circuit`, `status.backlog`; an error shows once in red until the next success;
 *  - writes: through the outbox (`handle.submit`, with the connection's ownership guard), keyed by `msg.idempotencyKey`
 *    or a hash of the request; a write that completes when no input handler awaits it (replayed from the exception
 *    queue, resumed after a restart) is sent on output 1 then (nodes/outbox-resume.ts);
 *  - errors: one path, `done(classify(err))`, so Catch nodes see a FabricError, with `msg.errorClass` and
 *    `msg.ownerTeam` kept for a fabric-exception after the Catch, and the exception the outbox already queued for a
 *    failed write (lib/exceptions `markQueuedException`), which that fabric-exception links to instead of adding one.
 */
import { classify } from '../lib/delivery/errors';
import { laneFor } from '../lib/delivery/lanes';
import { connectorStatusView, idempotencyKeyFor, type ConnectionStatus } from '../lib/connectors/glue';
import { inboxRefOf } from '../lib/inbox';
import { correlationIdOf } from '../lib/model/envelope';
import { markQueuedException } from '../lib/exceptions';
import type { DeliveryResult } from '../lib/delivery/types';
import type { Json } from '../lib/store/store';
import type { ConnectionConfigNode } from './connection-config';
import { registerNode, type Credentials, type Node, type NodeAPI, type NodeDef, type NodeMessage, type StatusOptions } from './node-red-api';
import { resumeOutboxWrites, type ResumedWrites } from './outbox-resume';
import { throttleStatus, type StatusThrottle } from './status-throttle';

/**
 * A msg as an operation reads it: whatever the flow put there (handlers check what they use; a wrong shape is a
 * clear error through the one error path).
 */
 
export type OperationMsg = Record<string, any>;
export type Translate = (key: string, subs?: Record<string, unknown>) => string;

/** The settings every operation node has. */
export interface OperationNodeDef extends NodeDef {
  /** The operation, or `msg` to read it from the msg (`msg.operation`; legacy-erp: `msg.mode`). */
  operation?: string;
}

/** What a node's handlers get. */
export interface OperationContext<K extends ConnectionConfigNode, C extends OperationNodeDef> {
  RED: NodeAPI;
  node: Node;
  config: C;
  /** The config node, or undefined (only operations listed in `offline` run without one). */
  cfg: K | undefined;
  t: Translate;
  /** The node's own status lines (counts, pages); coalesced, the latest shown. */
  status: StatusThrottle<StatusOptions>;
  /** The config node with a live connection, or the error saying why there is none. */
  connected(): K & Required<Pick<ConnectionConfigNode, 'handle'>>;
}

/** Returned by a handler that has sent its messages itself (pages, records): the factory does not send the msg. */
export const SENT = 'sent' as const;
export type Handler<K extends ConnectionConfigNode, C extends OperationNodeDef> = (msg: OperationMsg, ctx: OperationContext<K, C>, send: (m: OperationMsg | Array<OperationMsg | OperationMsg[] | null>) => void) => Promise<void | typeof SENT> | void | typeof SENT;

export interface WriteRequest {
  request: unknown;
  idempotencyKey?: string;
  recordKey?: string;
  step?: string;
  /** What the flow after the write needs back on a resumed completion (default: the msg without its payload). */
  context?: Json;
}

export interface OperationNodeSpec<K extends ConnectionConfigNode, C extends OperationNodeDef> {
  type: string;
  /** The config property that names the config node (`netsuite`, `businessCentral`...); a connection `ownConnection` returns wins. */
  connection?: keyof C & string;
  /** The config property that holds the operation (default `operation`), also the msg property for "from msg". */
  operationProperty?: string;
  /** The operation of a config without one (after migrations, only when the node sets none itself). */
  defaultOperation?: string;
  /** The write operations: the list the lib connector exports. */
  writes: readonly string[];
  /** The outbox request of a write (default `msg.payload`). */
  writeRequest?: (operation: string, msg: OperationMsg, ctx: OperationContext<K, C>) => WriteRequest;
  /** Puts a write's outcome on the msg (default: payload = the vendor's answer, msg[resultProperty] = metadata). */
  writeAnswer?: (msg: OperationMsg, operation: string, result: DeliveryResult, ctx: OperationContext<K, C>) => void;
  /** The msg property of the operation's metadata (`msg.netsuite`...). */
  resultProperty: string;
  /** Reads and other operations through the connection. */
  reads?: Record<string, Handler<K, C>>;
  /** Operations that need no connection (legacy-erp's codec modes). */
  offline?: Record<string, Handler<K, C>>;
  /** Outputs of the node (2: a second output for bad input; the factory sends on the first). */
  outputs?: number;
  /** The connection's status for this node (default: the handle's circuit and backlog). */
  watchStatus?: (cfg: K, show: (s: StatusOptions) => void, t: Translate) => () => void;
  /** A node that holds its connection itself instead of naming a config node (teams-notify's webhook). */
  ownConnection?: (node: Node, config: C, t: Translate) => { connection: K; close(): Promise<void> } | undefined;
  /** What the node runs beside its input (a poller), with the operations that need its state; `close` stops it. */
  start?: (ctx: OperationContext<K, C>) => { close?: () => void | Promise<void>; reads?: Record<string, Handler<K, C>> };
  credentials?: Credentials;
}

export function defineOperationNode<K extends ConnectionConfigNode, C extends OperationNodeDef>(RED: NodeAPI, spec: OperationNodeSpec<K, C>): void {
  const property = spec.operationProperty ?? 'operation';
  const t: Translate = (k, s) => RED._(`${spec.type}.${k}`, s);

  registerNode<Node, C>(RED, spec.type, function (config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const own = spec.ownConnection?.(node, config, t);
    const cfgId = spec.connection ? (config[spec.connection] as unknown as string | undefined) : undefined;
    const cfg = own?.connection ?? (cfgId ? RED.nodes.getNode<K>(cfgId) ?? undefined : undefined);
    const status = throttleStatus((s: StatusOptions) => node.status(s));
    const ctx: OperationContext<K, C> = {
      RED,
      node,
      config,
      cfg,
      t,
      status,
      connected() {
        if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
        return cfg as K & Required<Pick<ConnectionConfigNode, 'handle'>>;
      },
    };
    const configured = (config as Record<string, unknown>)[property];
    const fixed = typeof configured === 'string' && configured !== '' ? configured : spec.defaultOperation;
    const operationOf = (msg: OperationMsg): string => String((fixed === 'msg' ? msg[property] : fixed) ?? '');
    // a node whose operations all work offline needs no config node (legacy-erp's codec modes)
    const needsConnection = fixed === 'msg' ? !spec.offline || Boolean(cfg) : !spec.offline?.[fixed ?? ''];

    // status: the connection's, an error once until the next success
    let failed = false;
    let connectionStatus: StatusOptions | undefined;
    let unwatch: (() => void) | undefined;
    let resume: ResumedWrites | undefined;
    if (needsConnection) {
      if (!cfg?.handle) status.show({ fill: 'red', shape: 'ring', text: cfg?.configError ?? t('status.noConfig') });
      else {
        cfg.register?.(node);
        const show = (s: StatusOptions) => {
          connectionStatus = s;
          if (!failed) status.show(s);
        };
        unwatch = spec.watchStatus ? spec.watchStatus(cfg, show, t) : cfg.handle.onStatus((s: ConnectionStatus) => show(connectorStatusView(s, t, t('status.connected')) as StatusOptions));
        if (cfg.store) {
          resume = resumeOutboxWrites(node, cfg.store, (m, item) => ({ ...m, [spec.resultProperty]: { operation: item.operation, duplicate: false, outboxId: item.id, resumed: true } }), () => RED.util.generateId());
        }
      }
    }
    const started = spec.start?.(ctx);

    async function write(operation: string, msg: OperationMsg): Promise<void> {
      const c = ctx.connected();
      const w: WriteRequest = spec.writeRequest ? spec.writeRequest(operation, msg, ctx) : { request: msg.payload };
      const idempotencyKey = w.idempotencyKey ?? idempotencyKeyFor(msg, operation, w.request);
      const submit = () =>
        c.handle.submit({
          operation,
          request: w.request as Json,
          idempotencyKey,
          correlationId: correlationIdOf(msg),
          process: msg.process,
          step: w.step ?? (node.name || `${spec.type} ${operation}`),
          recordKey: w.recordKey ?? msg.recordKey,
          lane: laneFor(msg),
          origin: resume?.origin,
          context: w.context ?? resume?.contextOf(msg),
          inbox: inboxRefOf(msg),
        });
      const result = resume ? await resume.awaiting(idempotencyKey, submit) : await submit();
      if (spec.writeAnswer) spec.writeAnswer(msg, operation, result, ctx);
      else {
        msg.payload = result.response;
        msg[spec.resultProperty] = { operation, duplicate: result.duplicate, outboxId: result.item.id };
      }
    }

    const out = (m: NodeMessage) => (spec.outputs && spec.outputs > 1 ? [m, ...Array<null>(spec.outputs - 1).fill(null)] : m);

    node.on('input', (raw, send, done) => {
      const msg = raw as OperationMsg;
      void (async () => {
        const operation = operationOf(msg);
        const offline = spec.offline?.[operation];
        const read = started?.reads?.[operation] ?? spec.reads?.[operation];
        let sent: void | typeof SENT = undefined;
        if (offline) sent = await offline(msg, ctx, send);
        else if (spec.writes.includes(operation)) await write(operation, msg);
        else if (read) {
          ctx.connected();
          sent = await read(msg, ctx, send);
        } else throw new Error(t('errors.unknownOperation', { operation }));
        if (sent !== SENT) send(out(msg));
      })().then(
        () => {
          if (failed) {
            failed = false;
            if (connectionStatus) status.show(connectionStatus);
          }
          done();
        },
        (err: unknown) => {
          const fe = classify(err);
          if (fe.ownerTeam) msg.ownerTeam = fe.ownerTeam;
          msg.errorClass = fe.errorClass;
          // a write the outbox gave up on is in the exception queue already: the Catch path links to that entry
          markQueuedException(msg, fe.exceptionId, node.id);
          failed = true;
          status.show({ fill: 'red', shape: 'ring', text: fe.message.slice(0, 60) });
          done(fe);
        },
      );
    });

    node.on('close', (_removed, done) => {
      status.cancel();
      // a poller releases its read lease on close (lib/triggers/active-reader.ts): awaited, before the store goes
      const stopped = Promise.resolve(started?.close?.()).catch(() => undefined);
      unwatch?.();
      resume?.close();
      cfg?.deregister?.(node);
      void stopped.then(() => own?.close()).then(() => done(), () => done());
    });
  }, { credentials: spec.credentials });
}
