/**
 * `jira` operation node: createProject / createEpic / createIssue through the outbox (lookup-then-create, so a
 * duplicate trigger creates nothing twice), getIssue / search through `handle.call`.
 * The request is `msg.payload`; fields the dialog sets (project key, issue type) fill what the payload leaves out.
 */
import type { NodeAPI } from '../node-red-api';
import { idempotencyKeyFor, connectorStatusView, type ConnectionStatus } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';
import { resumeOutboxWrites, type ResumedWrites } from '../outbox-resume';

const WRITES = ['createProject', 'createEpic', 'createIssue'];

export = function (RED: NodeAPI) {
  function Jira(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = RED.nodes.getNode(config.jira);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`jira.${k}`, s);
    let unsubscribe: (() => void) | undefined;
    let resume: ResumedWrites | undefined;
    if (!cfg?.handle) node.status({ fill: 'red', shape: 'ring', text: cfg?.configError ?? t('status.noConfig') });
    else {
      unsubscribe = cfg.handle.onStatus((s: ConnectionStatus) => node.status(connectorStatusView(s, t, t('status.connected'))));
      // a write replayed from the exception queue (e.g. once the project lead exists in Jira) continues the flow
      if (cfg.store) resume = resumeOutboxWrites(node, cfg.store, (m, item) => ({ ...m, jira: { duplicate: false, outboxId: item.id, resumed: true } }), () => RED.util.generateId());
    }

    node.on('input', async (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
        const operation = config.operation === 'msg' ? msg.operation : config.operation;
        if (WRITES.includes(operation)) {
          const request = { ...(msg.payload ?? {}) };
          if (config.projectKey && request.projectKey === undefined && operation !== 'createProject') request.projectKey = config.projectKey;
          if (config.issueType && request.issueType === undefined && operation === 'createIssue') request.issueType = config.issueType;
          const idempotencyKey = idempotencyKeyFor(msg, operation, request);
          const submit = () => cfg.handle.submit({ operation, request, idempotencyKey, correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: node.name || `jira ${operation}`, recordKey: msg.recordKey, origin: resume?.origin, context: resume?.contextOf(msg), inbox: inboxRefOf(msg) });
          const result = resume ? await resume.awaiting(idempotencyKey, submit) : await submit();
          msg.payload = result.response;
          msg.jira = { duplicate: result.duplicate, outboxId: result.item.id };
        } else if (operation === 'getIssue') {
          msg.payload = await cfg.handle.call(() => cfg.client.getIssue(String(msg.key ?? msg.payload?.key ?? msg.payload)));
        } else if (operation === 'search') {
          msg.payload = await cfg.handle.call(() => cfg.client.search(String(msg.jql ?? config.jql ?? msg.payload), { limit: Number(config.limit) || 1000 }));
        } else throw new Error(t('errors.unknownOperation', { operation }));
        send(msg);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
    node.on('close', (_r: boolean, done: () => void) => {
      unsubscribe?.();
      resume?.close();
      done();
    });
  }
  RED.nodes.registerType('jira', Jira);
};
