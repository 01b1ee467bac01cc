/**
 * `fabric-exception`: routes the incoming msg to the exception queue (lib/exceptions) with process, step, owner
 * team and error from the node's config or the msg (e.g. behind a Catch node, msg.error is used).
 *
 * done(err) semantics: done() once the exception is stored (the msg then leaves on the output with
 * msg.exception = { id, status, ownerTeam }); done(err) only when it could not be stored (store closed,
 * misconfigured), so a Catch node can alert on a broken exception path. The node never raises an error
 * for the failure it records: that failure is now in the queue.
 * With "replay to this node" the exception's replay target is this node: a replay from the console, the
 * admin API or a fabric-exceptions node sends { payload, replay: { exceptionId, edited, actor } } out of output 2.
 * A hand-over point: once the exception is stored, the msg's inbox entry (msg._fabricInbox) is marked processed.
 * Record key: msg.recordKey, else the CloudEvent's type/subject, else the message id (lib/exceptions messageRecordKey).
 * One exception per failure: behind a Catch node, an error whose exception is queued already (a write the outbox gave
 * up on, an ownership refusal: lib/exceptions queuedExceptionOf) is reported on that entry, not recorded again; the
 * msg leaves with msg.exception naming it.
 */
import type { ErrorClass, Json } from '../../lib/store/store';
import { registerNode, resolveStore, type NodeAPI, type Node, type NodeMessage } from '../node-red-api';
import { markInboxProcessed } from '../../lib/inbox';
import { messageRecordKey, queuedExceptionOf, type ExceptionInput } from '../../lib/exceptions';
import { correlationIdOf } from '../../lib/model/envelope';

import { FABRIC_EXCEPTION, type ExceptionConfig } from './config';

const CLASSES: ErrorClass[] = ['validation', 'permanent', 'transient-exhausted', 'ownership', 'auth', 'not-found', 'conflict', 'internal'];
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

function toJson(value: unknown): Json | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as Json;
  } catch {
    return String(value);
  }
}

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-exception.${key}`, subs);

  function FabricException(this: Node, config: ExceptionConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = resolveStore(RED, config.store);
    let unregister: (() => void) | undefined;
    let count = 0;
    if (!storeCfg) node.status({ fill: 'red', shape: 'ring', text: t('errors.noStore') });
    else {
      storeCfg.register(node);
      if (config.replay && storeCfg.services) {
        unregister = storeCfg.services.exceptions.registerNodeReplayer(node.id, async (request) => {
          node.send([null, { payload: request.payload, replay: { exceptionId: request.exception.id, edited: request.edited, actor: request.actor }, correlationId: request.exception.correlationId, recordKey: request.exception.recordKey }]);
        });
      }
    }

    /** The exception a msg records: process, step, owner and class from the msg, else the dialog; the error behind a Catch. */
    function newException(msg: NodeMessage): ExceptionInput {
      const err = (msg.error ?? {}) as { message?: unknown; source?: { id?: string; name?: string; type?: string }; details?: unknown; errorClass?: unknown };
      const payload = msg.payload as Record<string, unknown> | undefined;
      const errorClassIn = str(msg.errorClass) ?? str(err.errorClass) ?? str(config.errorClass) ?? FABRIC_EXCEPTION.defaults.errorClass;
      const errorClass = (CLASSES as string[]).includes(errorClassIn) ? (errorClassIn as ErrorClass) : 'permanent';
      return {
        process: str(msg.process) ?? str(config.process) ?? 'unknown',
        step: str(msg.step) ?? str(config.step) ?? str(err.source?.name) ?? str(node.name) ?? `node:${node.id}`,
        errorClass,
        message: str(err.message) ?? str(config.message) ?? t('defaultMessage', { node: node.name || node.id }),
        details: toJson(err.details ?? msg.details),
        ownerTeam: str(msg.ownerTeam) ?? str(config.owner),
        correlationId: correlationIdOf(msg) ?? str(payload?.correlationid),
        // the record's identity (set by the step, or the event's type/subject), else the message's own id: distinct
        // bad messages must not merge into one row
        recordKey: str(msg.recordKey) ?? (str(payload?.type) && str(payload?.subject) ? `${payload!.type}/${payload!.subject}` : messageRecordKey(msg)),
        request: toJson(msg.payload) ?? null,
        replayTarget: config.replay ? { kind: 'node', nodeId: node.id } : undefined,
      };
    }

    node.on('input', (msg, send, done) => {
      void (async () => {
        if (!storeCfg) throw new Error(t('errors.noStore'));
        const services = storeCfg.requireServices();
        // a failure the outbox (or the ownership guard) queued already, caught behind the node that raised it: one
        // exception per failure, the queued (replayable) one, so it is reported on, not added again
        const queued = queuedExceptionOf(msg);
        const record = (queued === undefined ? undefined : await services.exceptions.report(queued, `node:${node.id}`)) ?? (await services.exceptions.add(newException(msg), `node:${node.id}`));
        // the failure is durable in the exception queue: the msg's inbox entry (fabric-mqtt-in) is handed over
        await markInboxProcessed(msg, services.store);
        count += 1;
        node.status({ fill: 'yellow', shape: 'dot', text: t('status.recorded', { count, id: record.id }) });
        msg.exception = { id: record.id, status: record.status, ownerTeam: record.ownerTeam, occurrences: record.occurrences };
        send([msg, null]);
      })().then(
        () => done(),
        (e: unknown) => {
          node.status({ fill: 'red', shape: 'ring', text: t('status.failed') });
          done(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      unregister?.();
      storeCfg?.deregister(node);
      done();
    });
  }

  registerNode(RED, FABRIC_EXCEPTION.type, FabricException, FABRIC_EXCEPTION);
};

