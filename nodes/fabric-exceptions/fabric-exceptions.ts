/**
 * `fabric-exceptions`: the exception queue from a flow (msg.topic commands), and the module that registers the
 * admin HTTP API under `<httpAdminRoot>/ps-fabric/exceptions` (protected by Node-RED's adminAuth permissions
 * `ps-fabric.read` / `ps-fabric.write`). Thin: the work is lib/exceptions' ExceptionQueue.
 *
 * Commands (msg.topic; the answer replaces msg.payload):
 *   list     payload: filter { status, process, step, ownerTeam, errorClass, recordKey, correlationId, olderThan, limit, offset }
 *            -> { total, items }
 *   get      payload: id -> the record
 *   replay   payload: { id, payload? } (payload = edited request) -> the record after replay
 *   discard  payload: { id, reason } -> the record
 *   bulk-replay  payload: filter -> { total, replayed: [ids], failed: [{ id, error }] } (`replay-bulk`, its old name, too)
 *   count    payload: filter -> number
 */
import type { ExceptionQueue } from '../../lib/exceptions';
import { ExceptionQueueError } from '../../lib/exceptions';
import { HTTP_STATUS, runCommand } from './commands';
import { registerNode, resolveStore, storeNamedOrFirst, type NodeAPI, type Node, type NodeMessage, type Request } from '../node-red-api';
import { adminJson, jsonAnswer } from '../admin-routes';
import { FABRIC_EXCEPTIONS, type ExceptionsConfig } from './config';

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-exceptions.${key}`, subs);

  function FabricExceptions(this: Node, config: ExceptionsConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = resolveStore(RED, config.store);
    if (!storeCfg) node.status({ fill: 'red', shape: 'ring', text: t('errors.noStore') });
    else storeCfg.register(node);

    node.on('input', (msg, send, done) => {
      void (async () => {
        if (!storeCfg) throw new Error(t('errors.noStore'));
        const queue = storeCfg.requireServices().exceptions;
        const command = String(msg.topic ?? 'list').trim() || 'list';
        const actor = typeof msg.actor === 'string' && msg.actor ? msg.actor : `node:${node.id}`;
        msg.payload = await runCommand(queue, command, msg.payload, actor);
        const open = await queue.count({ status: 'open' });
        node.status({ fill: open ? 'yellow' : 'green', shape: 'dot', text: t('status.open', { count: open }) });
        send(msg);
      })().then(
        () => done(),
        (err: unknown) => {
          if (err instanceof ExceptionQueueError) (msg as NodeMessage).statusCode = HTTP_STATUS[err.code] ?? 500;
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      storeCfg?.deregister(node);
      done();
    });
  }

  registerNode(RED, FABRIC_EXCEPTIONS.type, FabricExceptions, FABRIC_EXCEPTIONS);

  // ---------------------------------------------------------------- admin HTTP API

  /** The store named by ?store=<config node id>, else the first deployed fabric-store that is open. */
  function queueFor(req: Request): ExceptionQueue {
    const wanted = typeof req.query.store === 'string' ? req.query.store : undefined;
    const found = storeNamedOrFirst(RED, wanted);
    if (!found) {
      throw wanted
        ? new ExceptionQueueError('not-found', `no fabric-store node with id ${wanted}`)
        : new ExceptionQueueError('no-replayer', 'no fabric-store is deployed: deploy a flow that uses one');
    }
    return found.requireServices().exceptions;
  }

  const actorOf = (req: Request): string => (req.user?.username ? `user:${req.user.username}` : 'admin-api');
  const read = RED.auth.needsPermission('ps-fabric.read');
  const write = RED.auth.needsPermission('ps-fabric.write');
  const json = adminJson('5mb');
  const handle = (fn: (req: Request) => Promise<unknown>) =>
    jsonAnswer(fn, (err) => (err instanceof ExceptionQueueError ? { status: HTTP_STATUS[err.code] ?? 500, error: err.code } : { status: 500, error: 'internal' }));

  const base = '/ps-fabric/exceptions';
  RED.httpAdmin.get(base, read, handle(async (req) => runCommand(queueFor(req), 'list', req.query, actorOf(req))));
  RED.httpAdmin.post(`${base}/replay`, write, json, handle(async (req) => runCommand(queueFor(req), 'bulk-replay', req.body ?? {}, actorOf(req))));
  RED.httpAdmin.get(`${base}/:id`, read, handle(async (req) => runCommand(queueFor(req), 'get', req.params.id, actorOf(req))));
  RED.httpAdmin.post(`${base}/:id/replay`, write, json, handle(async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    return runCommand(queueFor(req), 'replay', { id: req.params.id, payload: body.payload }, actorOf(req));
  }));
  RED.httpAdmin.post(`${base}/:id/discard`, write, json, handle(async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    return runCommand(queueFor(req), 'discard', { id: req.params.id, reason: body.reason }, actorOf(req));
  }));
};
