/**
 * `fabric-idempotent`: passes the first message for a key; repeats go to output 2 (or are dropped).
 * The key is the CloudEvent's `idempotencykey` (msg.payload.idempotencykey) or a JSONata expression over msg,
 * compiled once per deploy. Keys and their first-seen time live in the fabric-store (durable, with retention).
 * Thin: the work is lib/idempotency's IdempotencyService.
 *
 * Inbox hand-over: a message from fabric-mqtt-in (msg._fabricInbox) that claims a key records that inbox entry as the
 * key's outcome, so the same entry re-emitted after a restart (msg.redelivered) passes again instead of being taken
 * for its own duplicate (downstream, the outbox de-duplicates the write). A repeat that is dropped (repeats: drop, or
 * output 2 not wired) marks its inbox entry processed.
 */
import jsonata from 'jsonata';
import { errorMessage, registerNode, resolveStore, type NodeAPI, type Node, type NodeMessage } from '../node-red-api';
import { inboxRefOf, markInboxProcessed } from '../../lib/inbox';

import { FABRIC_IDEMPOTENT, type IdempotentConfig } from './config';

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-idempotent.${key}`, subs);

  function FabricIdempotent(this: Node, config: IdempotentConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = resolveStore(RED, config.store);
    const scope = (config.scope ?? '').trim() || `node:${node.id}`;
    const hours = Number(config.retentionHours);
    const ttlMs = config.retentionHours !== undefined && config.retentionHours !== '' && Number.isFinite(hours) && hours > 0 ? hours * 3_600_000 : undefined;
    const toOutput = config.repeats !== 'drop';
    let passed = 0;
    let repeats = 0;

    let expression: ReturnType<typeof jsonata> | undefined;
    let configError: string | undefined;
    if (!storeCfg) configError = t('errors.noStore');
    else if (config.keySource === 'jsonata') {
      try {
        expression = jsonata(config.expression ?? '');
      } catch (err) {
        configError = t('errors.badExpression', { error: errorMessage(err) });
      }
    }
    if (configError) node.status({ fill: 'red', shape: 'ring', text: configError });
    else {
      storeCfg!.register(node);
      node.status({});
    }

    async function keyOf(msg: NodeMessage): Promise<string> {
      let value: unknown;
      if (expression) value = await expression.evaluate(msg);
      else value = (msg.payload as Record<string, unknown> | undefined)?.idempotencykey;
      if ((typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value))) return String(value);
      throw new Error(expression ? t('errors.noKeyExpression', { expression: config.expression }) : t('errors.noKeyEnvelope'));
    }

    node.on('input', (msg, send, done) => {
      if (configError) {
        done(new Error(configError));
        return;
      }
      void (async () => {
        const services = storeCfg!.requireServices();
        const key = await keyOf(msg);
        const claim = await services.idempotency.claim(scope, key, ttlMs);
        const ref = inboxRefOf(msg);
        const refText = ref ? `${ref.source}#${ref.messageId}` : undefined;
        const ownReplay = !claim.claimed && refText !== undefined && (claim.existing?.outcome as { inbox?: unknown } | null | undefined)?.inbox === refText;
        if (claim.claimed && refText) await services.idempotency.recordOutcome(scope, key, { inbox: refText });
        if (claim.claimed || ownReplay) {
          passed += 1;
          msg.idempotencykey = key;
          send(toOutput ? [msg, null] : msg);
        } else {
          repeats += 1;
          if (!toOutput || ((node as unknown as { wires?: string[][] }).wires?.[1]?.length ?? 0) === 0) await markInboxProcessed(msg, services.store);
          if (toOutput) {
            msg.idempotencykey = key;
            msg.duplicate = { key, scope, firstSeenAt: claim.existing?.firstSeenAt ?? null, outcome: claim.existing?.outcome ?? null };
            send([null, msg]);
          }
        }
        node.status({ fill: 'green', shape: 'dot', text: t('status.counts', { passed, repeats }) });
      })().then(
        () => done(),
        (err: unknown) => {
          node.status({ fill: 'red', shape: 'ring', text: t('status.error') });
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      storeCfg?.deregister(node);
      done();
    });
  }

  registerNode(RED, FABRIC_IDEMPOTENT.type, FabricIdempotent, FABRIC_IDEMPOTENT);
};
