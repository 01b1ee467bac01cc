/**
 * `kantata` operation node (nodes/operation-node.ts). Writes (KANTATA_WRITE_OPERATIONS: createProjectShell,
 * createWorkspace, updateWorkspace, createStories, addParticipations, createTimeEntry, markInvoiced) go through the
 * outbox; reads (get, list) through `handle.call`; `pollApproved` emits approved, uninvoiced time entries and expenses (canonical, with the
 * workspace context) and advances a durable cursor kept in the store's watermarks after the messages are sent.
 *
 * Gaps of `pollApproved` (lib/triggers): a poller that did not poll for longer than its window, or a cursor Kantata
 * refuses (older than the change window it serves), raise a warning (status, node.warn, an exception for
 * integration-ops) and a resync from the cursor: the ordinary delta while Kantata serves it, else every approved
 * uninvoiced record read by updated_at and kept from the cursor on, so nothing before the cursor goes out again.
 * Operators backfill a date range (editor button, POST /ps-fabric/triggers/<id>/backfill).
 *
 * Inbox (as salesforce-trigger and fabric-mqtt-in): every record read is committed to the store's inbox under
 * (`kantata-poller:<node id>`, `<entity>:<id>:<updated_at>`) before it is sent; one already there (an earlier poll,
 * the start-up sweep, a resync or a backfill reading it again) is not sent again, and a changed record (new
 * updated_at) is a new message. A sent record stays `received` until a durable hand-over point downstream marks it
 * (`msg._fabricInbox`: per record, or for a batch one share of all its records); at the next start the poller sends
 * the `received` ones again (`msg.redelivered`), then abandons one to an exception after `maxReplays` starts.
 */
import { toCanonicalExpense, toCanonicalTimeEntry, workspaceContext } from '../../lib/connectors/kantata/mapping';
import { KANTATA_WRITE_OPERATIONS, type KantataCursor } from '../../lib/connectors/kantata/client';
import { INBOX_REF_PROPERTY, registerInboxSource, replayInbox, shareInboxHandOver, type InboxRef } from '../../lib/inbox';
import { isStalled, type GapKind, type Window } from '../../lib/triggers/gaps';
import { MemoryTriggerRunStore, TriggerRunner, type RunKind, type TriggerRun } from '../../lib/triggers/runs';
import { ActiveReader, triggerLeaseMsFromEnv } from '../../lib/triggers/active-reader';
import { registerBackfillRoutes } from '../trigger-backfill';
import type { KantataConnection } from '../connection-config';
import type { NodeAPI } from '../node-red-api';
import { defineOperationNode, type Handler, type OperationContext, SENT } from '../operation-node';
import { KANTATA, KANTATA_READS, type KantataDef } from './config';
import { positiveSetting } from '../settings';
import { SpanKind, withSpan } from '../../lib/telemetry';

/** Rounds of `maxRecords` one resync reads before it stops and says so. */
const MAX_RESYNC_ROUNDS = 50;

/** One record read by the poller, as sent (and kept in the inbox for a replay). */
interface Item {
  entity: string;
  data: any;
  source: any;
  workspace: any;
}
type Counts = { emitted: number; skipped: number };
const add = (into: Counts, c: Counts) => {
  into.emitted += c.emitted;
  into.skipped += c.skipped;
};
/** The inbox message id of a record: a new updated_at is a new message. */
const messageIdOf = (i: Item) => `${i.entity}:${i.source.id}:${i.source.updated_at}`;

/** Kantata refused the cursor: its `updated_after` is older than the change window the account serves. */
const isCursorRefused = (e: unknown) => /updated_after/i.test(String((e as Error)?.message)) && /change window/i.test(String((e as Error)?.message));

/** The newest of two cursor positions (a sweep must never move the cursor back). */
function laterCursor(a: KantataCursor, b: KantataCursor): KantataCursor {
  const out: KantataCursor = { ...a };
  for (const k of ['time_entries', 'expenses'] as const) {
    const x = a[k]?.updatedAt ? Date.parse(a[k]!.updatedAt!) : -Infinity;
    const y = b[k]?.updatedAt ? Date.parse(b[k]!.updatedAt!) : -Infinity;
    if (y > x) out[k] = b[k];
  }
  return out;
}

/** Records of a sweep that lie after the cursor (what the refused delta would have returned). */
function afterCursor<T extends { timeEntries: any[]; expenses: any[] }>(res: T, cursor: KantataCursor): T {
  const keep = (k: 'time_entries' | 'expenses') => (r: any) => {
    const c = cursor[k];
    if (!c?.updatedAt) return true;
    const t = Date.parse(r.updated_at);
    const b = Date.parse(c.updatedAt);
    return t > b || (t === b && !(c.ids ?? []).includes(String(r.id)));
  };
  return { ...res, timeEntries: res.timeEntries.filter(keep('time_entries')), expenses: res.expenses.filter(keep('expenses')) };
}

export = function (RED: NodeAPI) {
  registerBackfillRoutes(RED);
  defineOperationNode<KantataConnection, KantataDef>(RED, {
    ...KANTATA,
    connection: 'kantata',
    resultProperty: 'kantata',
    writes: KANTATA_WRITE_OPERATIONS,
    reads: {
      async get(msg, { config, connected }) {
        const c = connected();
        msg.payload = await c.handle.call(() => c.client.get(msg.collection ?? config.collection, String(msg.id ?? msg.payload?.id), msg.include));
      },
      async list(msg, { config, connected }) {
        const c = connected();
        const collection = msg.collection ?? config.collection;
        const params = msg.params ?? msg.payload ?? {};
        if ((msg.paging ?? config.paging) === 'all') {
          // every page (each read through the connection's rate limit), up to Max records; included merged
          const max = positiveSetting(config.maxRecords, KANTATA.defaults.maxRecords);
          const records: any[] = [];
          const included: Record<string, Record<string, unknown>> = {};
          let p: any;
          for (let page = Number(params.page) || 1; ; page++) {
            p = await c.handle.call(() => c.client.page(collection, { per_page: 200, ...params, page }));
            records.push(...p.records);
            for (const [k, v] of Object.entries(p.included ?? {})) included[k] = { ...(included[k] ?? {}), ...(v as Record<string, unknown>) };
            if (page >= p.pageCount || p.records.length === 0 || records.length >= max) break;
          }
          msg.payload = records.slice(0, max);
          msg.kantata = { count: p.count, pageCount: p.pageCount, pages: p.page, truncated: records.length > max || (p.page < p.pageCount && p.records.length > 0), included };
          // workspaces carry custom fields: the flow reads them by meaning through the connection's mapping
          if (collection === 'workspaces' || included.workspaces) msg.kantata.fieldNames = await c.client.customFieldNames();
        } else {
          const p = await c.handle.call(() => c.client.page(collection, params));
          msg.payload = p.records;
          msg.kantata = { count: p.count, pageCount: p.pageCount, page: p.page, included: p.included };
          if (collection === 'workspaces' || p.included.workspaces) msg.kantata.fieldNames = await c.client.customFieldNames();
        }
      },
    } satisfies Record<(typeof KANTATA_READS)[number], Handler<KantataConnection, KantataDef>>,
    start: (ctx) => approvedTimePoller(ctx),
  });
};

/**
 * `pollApproved`: the approved-time trigger (on its timer when the dialog chooses it, or on a msg), with its gap
 * warnings, resyncs and operator backfills.
 */
function approvedTimePoller({ node, config, cfg, t, connected, status }: OperationContext<KantataConnection, KantataDef>): { close(): Promise<void>; reads: Record<string, Handler<KantataConnection, KantataDef>> } {
  let timer: NodeJS.Timeout | undefined;
  let reader: ActiveReader | undefined;
  let polling = false;
  /** A poll asked for while one ran, made after it (see poll). */
  let queued: { trigger: any; send: (m: any) => void } | undefined;
  let closed = false;
  const c = () => connected();
  const watermarkName = `kantata:${cfg?.connectionName ?? 'none'}:${node.id}:approved`;
  const polledAtName = `${watermarkName}:polledAt`;
  const gapWindowMs = positiveSetting(config.gapWindowHours, KANTATA.defaults.gapWindowHours) * 3600 * 1000;
  const label = node.name || 'kantata approved time';
  const poller = config.operation === 'pollApproved' && !!cfg?.handle;
  const inboxSource = `kantata-poller:${node.id}`;
  const unregisterSource = poller && cfg?.store ? registerInboxSource(inboxSource, cfg.store) : undefined;
  const maxReplays = config.maxReplays !== undefined && config.maxReplays !== '' && Number(config.maxReplays) >= 0 ? Math.floor(Number(config.maxReplays)) : KANTATA.defaults.maxReplays;
  const pollOptions = (sweep: boolean) => ({ maxRecords: positiveSetting(config.maxRecords, KANTATA.defaults.maxRecords), perPage: 200, workspaceId: config.workspaceId || undefined, sweep });

  /** The visible warning of a gap: status, log, and an exception for integration-ops (one per node and kind). */
  async function warnGap(kind: GapKind, message: string, details: Record<string, unknown>): Promise<void> {
    node.warn(message);
    status.show({ fill: 'yellow', shape: 'ring', text: t('status.gap', { kind }) });
    await cfg?.services?.exceptions
      ?.add({ process: 'trigger', step: label, errorClass: 'internal', ownerTeam: 'integration-ops', message, recordKey: `Trigger/${node.id}/${kind}`, details: [{ path: `/gap/${kind}`, message: JSON.stringify(details) }] }, `node:${node.id}`)
      .catch((e: Error) => node.warn(t('errors.exception', { error: e.message })));
  }

  const cursorTime = (c: KantataCursor) => Math.min(...(['time_entries', 'expenses'] as const).map((k) => (c[k]?.updatedAt ? Date.parse(c[k]!.updatedAt!) : Infinity)));

  const showRun = (r: TriggerRun) => status.show({ fill: r.state === 'failed' ? 'red' : r.state === 'done' ? 'green' : 'blue', shape: 'dot', text: r.text });
  /** A run ended here (started here or taken from the store). */
  const ended = (r: TriggerRun) => {
    if (r.state === 'failed' && !closed) node.error(t('errors.resync', { text: r.text }));
  };
  // Resyncs and backfills are store runs (one per node across instances) run by the instance polling Kantata; one
  // window each (a resync reads from the cursor, round after round).
  const runner = poller
    ? new TriggerRunner({
      store: cfg?.store ?? new MemoryTriggerRunStore(),
      trigger: node.id,
      name: label,
      owner: () => reader?.owner ?? 'local',
      active: () => !closed && (!reader || reader.active),
      reader: (run) => (run.kind === 'backfill' ? (w) => backfillRead(w, (m) => node.send(m)) : () => resyncRead(run.kind as GapKind, undefined, (m) => node.send(m))),
      sliceMs: Number.MAX_SAFE_INTEGER,
      maxRangeMs: Number.MAX_SAFE_INTEGER,
      onProgress: showRun,
      onEnd: ended,
      onRequested: (run) => node.log(t('log.backfill', { actor: run.actor, from: new Date(run.from).toISOString(), to: new Date(run.to).toISOString() })),
      onError: (err) => node.log(t('errors.runs', { error: err.message })),
    })
    : undefined;
  let stopRuns: (() => Promise<void>) | undefined;

  /**
   * Reads from the cursor to now, round after round of `maxRecords`, handing every record on and moving the cursor
   * after each round: the ordinary delta, or (the cursor refused) a sweep kept from the cursor on.
   */
  async function resyncFrom(kind: GapKind, start: KantataCursor, send: (m: any) => void): Promise<TriggerRun> {
    const from = Number.isFinite(cursorTime(start)) ? cursorTime(start) : Date.now() - gapWindowMs;
    if (!runner) throw new Error('a resync needs the Kantata connection of a pollApproved node');
    const run = await runner.run(kind, { from, to: Date.now() }, `node:${node.id}`, () => resyncRead(kind, start, send));
    ended(run);
    return run;
  }

  /** One resync: from `start` (else the stored cursor, for a run taken over from another instance) to now. */
  async function resyncRead(kind: GapKind, start: KantataCursor | undefined, send: (m: any) => void): Promise<Counts> {
    const st = c().store;
    const stored = st ? await st.watermarkGet(watermarkName) : undefined;
    let cursor: KantataCursor = start ?? (stored ? JSON.parse(stored) : {});
    const count = { emitted: 0, skipped: 0 };
    // a cursor just refused is not asked for again: the first round sweeps
    let refused = kind === 'cursor-expired';
    for (let round = 0; ; round++) {
      if (closed) throw new Error('the node was stopped; the next poll carries on from the cursor');
      if (round >= MAX_RESYNC_ROUNDS) throw new Error(`more than ${MAX_RESYNC_ROUNDS} rounds of ${pollOptions(false).maxRecords} records: raise "Max per poll" or backfill in smaller ranges`);
      const from = cursor;
      const sweepAfterCursor = async () => afterCursor(await c().handle.call(() => c().client.pollApproved(from, pollOptions(true))), from);
      let res;
      if (refused) res = await sweepAfterCursor();
      else {
        try {
          res = await c().handle.call(() => c().client.pollApproved(from, pollOptions(false)));
        } catch (e) {
          if (!isCursorRefused(e)) throw e;
          res = await sweepAfterCursor();
        }
      }
      refused = false;
      add(count, await handOn(res, undefined, send, kind));
      cursor = laterCursor(cursor, res.cursor);
      if (st) await st.watermarkSet(watermarkName, JSON.stringify(cursor), Date.now());
      if (!res.more) break;
    }
    if (st) await st.watermarkSet(polledAtName, String(Date.now()), Date.now());
    return count;
  }

  /** Operator backfill: every approved uninvoiced record whose updated_at is in [from, to), page by page. */
  async function backfillRead(range: Window, send: (m: any) => void): Promise<Counts> {
    const count = { emitted: 0, skipped: 0 };
    for (const collection of ['time_entries', 'expenses'] as const) {
      for (let page = 1; ; page++) {
        if (closed) throw new Error('the node was stopped');
        const params: Record<string, unknown> = { approved: true, uninvoiced: true, order: 'updated_at:asc', per_page: 200, page, include: 'workspace,user', updated_after: new Date(range.from - 1000).toISOString(), updated_before: new Date(range.to).toISOString() };
        if (config.workspaceId) params.workspace_id = config.workspaceId;
        const p = await c().handle.call(() => c().client.page(collection, params));
        const inRange = p.records.filter((r: any) => Date.parse(r.updated_at) >= range.from && Date.parse(r.updated_at) < range.to);
        add(count, await handOn({ timeEntries: collection === 'time_entries' ? inRange : [], expenses: collection === 'expenses' ? inRange : [], workspaces: p.included.workspaces ?? {}, users: p.included.users ?? {}, more: false }, undefined, send, 'backfill'));
        if (page >= p.pageCount || p.records.length === 0) break;
      }
    }
    return count;
  }

  /**
   * Commits the records of one read to the inbox and sends those not there yet (per record or as one batch);
   * returns how many were sent and how many were already in the inbox.
   */
  async function handOn(res: { timeEntries: any[]; expenses: any[]; workspaces: Record<string, any>; users: Record<string, any>; more: boolean }, trigger: any, send: (m: any) => void, resync?: RunKind): Promise<Counts> {
    // the connection's custom field mapping, custom field id -> KantataCustomField: the client resolves it once per
    // deploy (through its rate gate) and answers from memory after, so it takes no connection slot per read
    const names = Object.keys(res.workspaces).length ? await c().client.customFieldNames() : {};
    const workspaces = Object.fromEntries(Object.entries(res.workspaces).map(([id, w]) => [id, workspaceContext(w as any, names)]));
    const items: Item[] = [
      ...res.timeEntries.map((r: any) => ({ entity: 'TimeEntry', data: toCanonicalTimeEntry(r, res.users), source: r, workspace: workspaces[r.workspace_id] })),
      ...res.expenses.map((r: any) => ({ entity: 'Expense', data: toCanonicalExpense(r, res.users), source: r, workspace: workspaces[r.workspace_id] })),
    ];
    let fresh = items;
    const st = c().store;
    if (st && items.length) {
      const now = Date.now();
      const added: boolean[] = await st.inboxAddMany(items.map((i) => ({ source: inboxSource, messageId: messageIdOf(i), payload: i as never, receivedAt: now })));
      fresh = items.filter((_, k) => added[k]);
    }
    const counts = { emitted: fresh.length, skipped: items.length - fresh.length };
    if (closed) return counts; // committed and `received`: the next start sends them
    sendItems(fresh, trigger, send, resync ? { resync } : {}, res.more);
    return counts;
  }

  function sendItems(items: Item[], trigger: any, send: (m: any) => void, extra: Record<string, unknown>, more = false): void {
    const stored = Boolean(c().store);
    const refOf = (i: Item): InboxRef => ({ source: inboxSource, messageId: messageIdOf(i) });
    if (config.output === 'batch') {
      // one share of the batch's records: each is handed over once the whole batch is (lib/inbox)
      const [share] = stored ? shareInboxHandOver([items.map(refOf)]) : [];
      if (items.length) send({ ...(trigger ?? {}), topic: 'kantata/approved', payload: items.map((i) => i.data), kantata: { items, more }, ...extra, ...(share ? { [INBOX_REF_PROPERTY]: share } : {}) });
    } else {
      for (const i of items) send({ topic: `kantata/approved/${i.entity.toLowerCase()}`, payload: i.data, entity: i.entity, workspace: i.workspace, kantata: i.source, idempotencyKey: `kantata:${messageIdOf(i)}`, ...extra, ...(stored ? { [INBOX_REF_PROPERTY]: refOf(i) } : {}) });
    }
  }

  /** Records sent before a stop or crash that no hand-over point took: sent again (redelivered), or abandoned. */
  async function replayReceived(send: (m: any) => void): Promise<void> {
    const st = c().store;
    if (!st) return;
    const items: Item[] = [];
    let replays = 0;
    await replayInbox(st, inboxSource, {
      maxReplays,
      emit: (record, n) => {
        items.push(record.payload as unknown as Item);
        replays = Math.max(replays, n);
      },
      abandoned: async (record) => {
        const text = t('errors.abandoned', { messageId: record.messageId, replays: record.replays });
        node.warn(text);
        await cfg?.services?.exceptions
          ?.add({ process: 'inbox', step: label, errorClass: 'internal', message: text, details: [{ path: '/inbox', message: `status abandoned after ${record.replays} start-up replays` }], ownerTeam: 'integration-ops', recordKey: `Inbox/${inboxSource}/${record.messageId}`, request: { messageId: record.messageId, payload: record.payload } }, `node:${node.id}`)
          .catch((e: Error) => node.warn(t('errors.exception', { error: e.message })));
      },
    });
    if (items.length && !closed) sendItems(items, undefined, send, { redelivered: true, redeliveries: replays });
  }

  /** Whether this instance may read Kantata now (no store: a single runtime, always). */
  function mayRead(): boolean {
    if (closed) return false;
    if (!reader || reader.active) return true;
    status.show({ fill: 'grey', shape: 'ring', text: t('status.standby') });
    return false;
  }

  /**
   * `trigger`: the message (or start-up) that asked for this poll; undefined for the timer's. One poll at a time: a
   * timer's poll that finds one running is skipped (the running one reads the same changes), but an asked-for poll
   * (a sweep, the start-up's, an inject) is made once the running one ends - asked for several times meanwhile, once,
   * as a sweep if any of them was one.
   */
  async function poll(trigger: any, send: (m: any) => void): Promise<number> {
    if (!mayRead()) return 0;
    if (polling) {
      if (trigger) queued = { trigger: queued?.trigger?.sweep === true ? queued.trigger : trigger, send };
      return 0;
    }
    polling = true;
    try {
      // a trace starts here (lib/telemetry): the poll's Kantata reads, below which each record's time-to-cash run goes on
      return await withSpan('kantata pollApproved', { kind: SpanKind.CONSUMER, parent: null, attributes: { 'psfabric.trigger.sweep': trigger?.sweep === true } }, () => pollOnce(trigger, send));
    } finally {
      polling = false;
      const next = queued;
      queued = undefined;
      if (next && !closed) setImmediate(() => void poll(next.trigger, next.send).catch((e) => node.error(e)));
    }
  }

  async function pollOnce(trigger: any, send: (m: any) => void): Promise<number> {
    {
      const st = c().store;
      const raw = st ? await st.watermarkGet(watermarkName) : undefined;
      const cursor: KantataCursor = raw ? JSON.parse(raw) : {};
      const sweep = trigger?.sweep === true;
      const polledAt = st ? Number(await st.watermarkGet(polledAtName)) : NaN;
      if (isStalled(polledAt || undefined, Date.now(), gapWindowMs)) {
        await warnGap('poller-stalled', t('warn.stalled', { since: new Date(polledAt).toISOString(), hours: Math.round(gapWindowMs / 360000) / 10 }), { lastPollAt: polledAt, sweep });
      }
      if (!sweep && isStalled(polledAt || undefined, Date.now(), gapWindowMs)) {
        const run = await resyncFrom('poller-stalled', cursor, send);
        return run.emitted;
      }
      let res;
      try {
        res = await c().handle.call(() => c().client.pollApproved(cursor, pollOptions(sweep)));
      } catch (e) {
        if (!isCursorRefused(e)) throw e;
        await warnGap('cursor-expired', t('warn.cursorExpired', { error: (e as Error).message }), { cursor });
        const run = await resyncFrom('cursor-expired', cursor, send);
        return run.emitted;
      }
      const { emitted: count } = await handOn(res, trigger, send);
      // The cursor moves only after the records were handed on; a crash before this re-reads them (at-least-once).
      if (st) await st.watermarkSet(watermarkName, JSON.stringify(res.cursor), Date.now());
      if (st) await st.watermarkSet(polledAtName, String(Date.now()), Date.now());
      status.show({ fill: 'green', shape: 'dot', text: t('status.polled', { count }) });
      if (res.more && !closed) setImmediate(() => void poll(undefined, send).catch((e) => node.error(e)));
      return count;
    }
  }

  if (poller) {
    const every = Math.max(1, positiveSetting(config.pollSeconds, KANTATA.defaults.pollSeconds)) * 1000;
    const tick = () => poll(undefined, (m) => node.send(m)).catch((e) => node.error(e));
    // First what an earlier run sent and nothing took; then a sweep of everything approved and uninvoiced (catches
    // what an earlier run never read; the inbox keeps back what it did), then the cursor. On the instance that reads:
    // at its first activation (a start, or a takeover from an instance that stopped or died).
    let activated = false;
    const start = async () => {
      await replayReceived((m) => node.send(m)).catch((e) => node.warn(t('errors.replayFailed', { error: (e as Error).message })));
      await poll({ sweep: true }, (m) => node.send(m));
    };
    const activate = () => {
      if (closed) return;
      // a run asked for on another instance, or left by one that stopped or died, is carried on here
      void runner?.sync();
      if (activated) return void tick();
      activated = true;
      void start().catch((e) => node.error(e));
    };
    // One instance polls Kantata for this node (lib/triggers/active-reader.ts): the others stand by.
    const standby = () => {
      if (!closed) status.show({ fill: 'grey', shape: 'ring', text: t('status.standby') });
    };
    let ttlMs: number | undefined;
    try {
      ttlMs = triggerLeaseMsFromEnv();
    } catch (e) {
      // a scale-out setting the node cannot honour: it reads nothing rather than on every instance
      status.show({ fill: 'red', shape: 'ring', text: (e as Error).message.slice(0, 60) });
      node.error((e as Error).message);
    }
    if (ttlMs === undefined) closed = true;
    else if (cfg?.store) {
      reader = new ActiveReader({ store: cfg.store, name: inboxSource, ttlMs, onActive: activate, onStandby: standby, onError: (err) => node.log(t('errors.lease', { error: err.message })) });
      void reader.start().then(() => {
        if (!reader?.active) standby();
      });
    } else setTimeout(activate, 200).unref?.();
    stopRuns = runner?.start();
    timer = setInterval(tick, every);
  }

  return {
    reads: {
      async pollApproved(msg, _ctx, send) {
        await poll({ ...msg, sweep: msg.sweep === true }, send);
        return SENT;
      },
    },
    async close() {
      closed = true;
      const runsStopped = stopRuns?.();
      unregisterSource?.();
      if (timer) clearInterval(timer);
      await runsStopped;
      await reader?.stop();
    },
  };
}
