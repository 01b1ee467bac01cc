/**
 * `kantata` operation node. Writes (createProjectShell, createWorkspace, updateWorkspace, createStories,
 * addParticipations, createTimeEntry, markInvoiced) go through the outbox (`handle.submit`); reads (get, list)
 * through `handle.call`; `pollApproved` emits approved, uninvoiced time entries and expenses (canonical, with the
 * workspace context) and advances a durable cursor kept in the store's watermarks after the messages are sent.
 */
import type { NodeAPI } from '../node-red-api';
import { toCanonicalExpense, toCanonicalTimeEntry, workspaceContext } from '../../lib/connectors/kantata/mapping';
import type { KantataCursor } from '../../lib/connectors/kantata/client';
import { idempotencyKeyFor, connectorStatusView, type ConnectionStatus } from '../../lib/connectors/glue';
import { inboxRefOf } from '../../lib/inbox';

const WRITES = ['createProjectShell', 'createWorkspace', 'updateWorkspace', 'createStories', 'addParticipations', 'createTimeEntry', 'markInvoiced'];

export = function (RED: NodeAPI) {
  function Kantata(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = RED.nodes.getNode(config.kantata);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`kantata.${k}`, s);
    let timer: NodeJS.Timeout | undefined;
    let polling = false;
    let closed = false;
    let unsubscribe: (() => void) | undefined;
    if (!cfg) node.status({ fill: 'red', shape: 'ring', text: t('status.noConfig') });
    else if (cfg.configError || !cfg.handle) node.status({ fill: 'red', shape: 'ring', text: cfg.configError ?? t('status.noConfig') });
    else {
      unsubscribe = cfg.handle.onStatus((s: ConnectionStatus) => node.status(connectorStatusView(s, t, t('status.connected'))));
    }

    const watermarkName = `kantata:${cfg?.connectionName ?? 'none'}:${node.id}:approved`;

    async function poll(trigger: any, send: (m: any) => void): Promise<number> {
      if (polling) return 0;
      polling = true;
      try {
        const st = cfg.store;
        const raw = st ? await st.watermarkGet(watermarkName) : undefined;
        const cursor: KantataCursor = raw ? JSON.parse(raw) : {};
        const res = await cfg.handle.call(() => cfg.client.pollApproved(cursor, { maxRecords: Number(config.maxRecords) || 5000, perPage: 200, workspaceId: config.workspaceId || undefined, sweep: trigger?.sweep === true }));
        const workspaces = Object.fromEntries(Object.entries(res.workspaces).map(([id, w]) => [id, workspaceContext(w as any)]));
        const items = [
          ...res.timeEntries.map((r: any) => ({ entity: 'TimeEntry', data: toCanonicalTimeEntry(r, res.users), source: r, workspace: workspaces[r.workspace_id] })),
          ...res.expenses.map((r: any) => ({ entity: 'Expense', data: toCanonicalExpense(r, res.users), source: r, workspace: workspaces[r.workspace_id] })),
        ];
        if (config.output === 'batch') {
          if (items.length) send({ ...(trigger ?? {}), topic: 'kantata/approved', payload: items.map((i) => i.data), kantata: { items, more: res.more } });
        } else {
          for (const i of items) send({ topic: `kantata/approved/${i.entity.toLowerCase()}`, payload: i.data, entity: i.entity, workspace: i.workspace, kantata: i.source, idempotencyKey: `kantata:${i.entity}:${i.source.id}:${i.source.updated_at}` });
        }
        // The cursor moves only after the records were handed on; a crash before this re-reads them (at-least-once).
        if (st) await st.watermarkSet(watermarkName, JSON.stringify(res.cursor), Date.now());
        node.status({ fill: 'green', shape: 'dot', text: t('status.polled', { count: items.length }) });
        if (res.more && !closed) setImmediate(() => void poll(undefined, send).catch((e) => node.error(e)));
        return items.length;
      } finally {
        polling = false;
      }
    }

    if (config.operation === 'pollApproved' && cfg?.handle) {
      const every = Math.max(1, Number(config.pollSeconds) || 60) * 1000;
      const tick = () => poll(undefined, (m) => node.send(m)).catch((e) => node.error(e));
      // The first poll sweeps everything approved and uninvoiced (catches anything an earlier run lost), then follows the cursor.
      setTimeout(() => void poll({ sweep: true }, (m) => node.send(m)).catch((e) => node.error(e)), 200).unref?.();
      timer = setInterval(tick, every);
    }

    node.on('input', async (msg: any, send: (m: any) => void, done: (e?: Error) => void) => {
      try {
        if (!cfg?.handle) throw new Error(cfg?.configError ?? t('status.noConfig'));
        const operation = config.operation === 'msg' ? msg.operation : config.operation;
        if (operation === 'pollApproved') {
          await poll({ ...msg, sweep: msg.sweep === true }, send);
          return done();
        }
        if (WRITES.includes(operation)) {
          const request = msg.payload;
          const result = await cfg.handle.submit({ operation, request, idempotencyKey: idempotencyKeyFor(msg, operation, request), correlationId: msg.correlationId ?? msg.correlationid, process: msg.process, step: node.name || `kantata ${operation}`, recordKey: msg.recordKey, inbox: inboxRefOf(msg) });
          msg.payload = result.response;
          msg.kantata = { duplicate: result.duplicate, outboxId: result.item.id };
        } else if (operation === 'get') {
          msg.payload = await cfg.handle.call(() => cfg.client.get(msg.collection ?? config.collection, String(msg.id ?? msg.payload?.id), msg.include));
        } else if (operation === 'list') {
          const collection = msg.collection ?? config.collection;
          const params = msg.params ?? msg.payload ?? {};
          if ((msg.paging ?? config.paging) === 'all') {
            // every page (each read through the connection's rate limit), up to Max records; included merged
            const max = Number(config.maxRecords) || 50000;
            const records: any[] = [];
            const included: Record<string, Record<string, unknown>> = {};
            let p: any;
            for (let page = Number(params.page) || 1; ; page++) {
              p = await cfg.handle.call(() => cfg.client.page(collection, { per_page: 200, ...params, page }));
              records.push(...p.records);
              for (const [k, v] of Object.entries(p.included ?? {})) included[k] = { ...(included[k] ?? {}), ...(v as Record<string, unknown>) };
              if (page >= p.pageCount || p.records.length === 0 || records.length >= max) break;
            }
            msg.payload = records.slice(0, max);
            msg.kantata = { count: p.count, pageCount: p.pageCount, pages: p.page, truncated: records.length > max || (p.page < p.pageCount && p.records.length > 0), included };
          } else {
            const p = await cfg.handle.call(() => cfg.client.page(collection, params));
            msg.payload = p.records;
            msg.kantata = { count: p.count, pageCount: p.pageCount, page: p.page, included: p.included };
          }
        } else throw new Error(t('errors.unknownOperation', { operation }));
        send(msg);
        done();
      } catch (err) {
        done(err as Error);
      }
    });

    node.on('close', (_r: boolean, done: () => void) => {
      closed = true;
      if (timer) clearInterval(timer);
      unsubscribe?.();
      done();
    });
  }
  RED.nodes.registerType('kantata', Kantata);
};
