/**
 * `salesforce-trigger`: the closed-won trigger. Mode "poll": SOQL on SystemModstamp every N seconds with a
 * durable watermark (store.watermarkSet), one active poller per trigger across instances (store lease).
 * Mode "cdc": Change Data Capture on /data/OpportunityChangeEvent with a durable replay id. Either way each
 * opportunity is recorded in the inbox before its message goes out (so a restart never emits it twice), then
 * emitted with its account, lines, contract and billing schedule.
 *
 * Inbox hand-over (as fabric-mqtt-in, lib/inbox): the msg carries `msg._fabricInbox`; its entry stays `received` until a
 * durable hand-over point downstream marks it processed (outbox submit, fabric-exception, a duplicate dropped). The
 * instance that holds the poll lease re-emits the entries still `received` (fetched again, `msg.redelivered = true`)
 * before its first poll; one re-emitted `maxReplays` (3) times without a hand-over is abandoned to an exception for
 * integration-ops. An opportunity that has left the stage meanwhile is handed over without a message.
 *
 * Gaps (lib/triggers): a replay id Salesforce no longer serves, a CDC gap or overflow event, or a poller that did
 * not run for longer than its window raise a warning (node status, node.warn, an exception for integration-ops)
 * and a resync from the last watermark, read window by window with SOQL on SystemModstamp and handed to the same
 * inbox-first emit, so nothing already emitted goes out again. A resync in progress is recorded in the store
 * (`<watermark>:resync`) and resumed after a restart. Operators start a backfill the same way (editor button,
 * POST /ps-fabric/triggers/<id>/backfill).
 */
import { SpanKind, businessAttributes, withSpan } from '../../lib/telemetry';
import { installTraceHooks } from '../trace-hooks';
import type { SalesforceConnection } from '../connection-config';
import { registerNode, type Node, type NodeAPI, type StatusOptions } from '../node-red-api';
import crypto from 'node:crypto';
import { CdcSubscriber, fetchOpportunityBundles, parseWatermark, pollChanges, readModifiedBetween, type ChangeEvent } from '../../lib/connectors/salesforce';
import { INBOX_REF_PROPERTY, registerInboxSource, replayInbox } from '../../lib/inbox';
import { isStalled, type GapKind, type Window } from '../../lib/triggers/gaps';
import { TriggerRunner, type RunKind, type TriggerRun } from '../../lib/triggers/runs';
import { registerBackfillRoutes } from '../trigger-backfill';
import { SALESFORCE_TRIGGER, type SalesforceTriggerDef } from './config';
import { positiveSetting } from '../settings';
import { ActiveReader, triggerLeaseMsFromEnv } from '../../lib/triggers/active-reader';

/** Re-read margin before a gap's start (clock skew between the event's commit time and SystemModstamp). */
const GAP_MARGIN_MS = 60 * 1000;

export = function (RED: NodeAPI) {
  registerBackfillRoutes(RED);
  installTraceHooks(RED);
  function SalesforceTrigger(this: Node, config: SalesforceTriggerDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = config.salesforce ? RED.nodes.getNode<SalesforceConnection>(config.salesforce) : null;
    const t = (k: string, s?: Record<string, unknown>) => RED._(`salesforce-trigger.${k}`, s);
    const mode: 'poll' | 'cdc' = config.mode === 'cdc' ? 'cdc' : 'poll';
    const stage: string = config.stage || SALESFORCE_TRIGGER.defaults.stage;
    const oncePerOpportunity = config.once !== false;
    const source = `salesforce-trigger:${node.id}`;
    const watermarkName = `${source}:${mode}`;
    let timer: NodeJS.Timeout | undefined;
    let closing = false;
    let polling: Promise<void> | undefined;
    // An input that arrives while a poll runs asks for one more poll right after it, so no request is lost.
    let pollRequested = false;
    let subscriber: CdcSubscriber | undefined;
    let emitted = 0;

    const status = (fill: NonNullable<StatusOptions['fill']>, key: string, subs?: Record<string, unknown>) => node.status({ fill, shape: fill === 'green' ? 'dot' : 'ring', text: t(key, subs) });
    if (!cfg || cfg.configError || !cfg.handle || !cfg.store) {
      node.status({ fill: 'red', shape: 'ring', text: cfg?.configError ?? t('status.noConfig') });
      return;
    }
    cfg.register?.(node);
    const store = cfg.store;
    const client = cfg.client;
    let leaseMs: number;
    try {
      leaseMs = triggerLeaseMsFromEnv();
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.error', { error: (err as Error).message }) });
      node.error((err as Error).message);
      return;
    }
    const unregisterSource = registerInboxSource(source, store);
    const maxReplays = config.maxReplays !== undefined && config.maxReplays !== '' && Number(config.maxReplays) >= 0 ? Math.floor(Number(config.maxReplays)) : SALESFORCE_TRIGGER.defaults.maxReplays;

    type Bundle = Awaited<ReturnType<typeof fetchOpportunityBundles>>[number];
    const send = (b: Bundle, messageId: string, meta: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      emitted += 1;
      const ref = { source, messageId };
      node.send({
        topic: `salesforce/opportunity/${stage.toLowerCase().replace(/\s+/g, '-')}`,
        payload: b,
        correlationId: `sf-${b.opportunity.Id}-${crypto.randomBytes(4).toString('hex')}`,
        idempotencyKey: `${b.opportunity.Id}:${stage}`,
        recordKey: `Opportunity/${b.opportunity.Id}`,
        salesforce: { mode, messageId, connection: cfg?.connectionName, ...meta },
        [INBOX_REF_PROPERTY]: ref,
        ...extra,
      });
    };

    /**
     * Inbox first (durable, de-duplicated), then the message; a downstream hand-over point marks it processed.
     * A trace starts here (lib/telemetry): the batch's Salesforce reads, then one span per opportunity, below which its
     * run continues (every step, outbox write and vendor call downstream).
     */
    const emit = async (ids: string[], meta: Record<string, unknown>): Promise<{ emitted: number; skipped: number }> => {
      const counts = { emitted: 0, skipped: 0 };
      if (ids.length === 0) return counts;
      await withSpan(`salesforce-trigger ${stage}`, { kind: SpanKind.CONSUMER, parent: null, attributes: { 'psfabric.trigger.ids': ids.length } }, async () => {
        const bundles = await fetchOpportunityBundles(client, ids, cfg.fieldNames);
        for (const b of bundles) {
          if (b.opportunity.StageName !== stage) continue;
          const messageId = oncePerOpportunity ? `${b.opportunity.Id}:${stage}` : `${b.opportunity.Id}@${b.opportunity.SystemModstamp}`;
          const fresh = await store.inboxAdd({ source, messageId, payload: { opportunityId: b.opportunity.Id, systemModstamp: b.opportunity.SystemModstamp, ...meta, bundle: b as never }, receivedAt: Date.now() });
          if (!fresh) {
            counts.skipped += 1;
            continue;
          }
          if (closing) continue; // committed and `received`: the next start re-emits it
          counts.emitted += 1;
          await withSpan(`opportunity ${stage}`, () => ({ attributes: businessAttributes({ recordKey: `Opportunity/${b.opportunity.Id}` }) }), async () => send(b, messageId, meta));
        }
      });
      return counts;
    };

    /** Entries an earlier run (or the previous deploy) emitted but nothing handed over: emitted again, fetched fresh. */
    let replayed = false;
    const replay = async () => {
      const r = await replayInbox(store, source, {
        maxReplays,
        emit: async (record, replays) => {
          // the deal as it was first sent, so the run it started keeps its keys (e.g. a Jira key from the account name
          // renamed meanwhile); entries kept before the bundle was stored are read again
          const p = (record.payload ?? {}) as { opportunityId?: unknown; bundle?: Bundle };
          const [b] = p.bundle ? [p.bundle] : typeof p.opportunityId === 'string' ? await fetchOpportunityBundles(client, [p.opportunityId], cfg.fieldNames) : [];
          if (!b || (!p.bundle && b.opportunity.StageName !== stage)) {
            await store.inboxMarkProcessed(source, record.messageId); // no longer in the stage: nothing to start
            return;
          }
          if (!closing) send(b, record.messageId, { source: 'replay' }, { redelivered: true, redeliveries: replays });
        },
        abandoned: async (record) => {
          const text = t('errors.abandoned', { messageId: record.messageId, replays: record.replays });
          node.warn(text);
          await cfg.services?.exceptions?.add(
            {
              process: 'inbox',
              step: node.name || `salesforce-trigger ${stage}`,
              errorClass: 'internal',
              message: text,
              details: [{ path: '/inbox', message: `status abandoned after ${record.replays} start-up replays` }],
              ownerTeam: 'integration-ops',
              recordKey: `Inbox/${source}/${record.messageId}`,
              request: { messageId: record.messageId, payload: record.payload },
            },
            `node:${node.id}`,
          );
        },
      });
      if (r.replayed || r.abandoned) node.log(t('log.replayed', { replayed: r.replayed, abandoned: r.abandoned }));
    };
    // until one replay completed (a failed one, e.g. Salesforce unreachable, is tried again before the next poll)
    const replayOnce = async () => {
      if (replayed) return;
      await replay();
      replayed = true;
    };

    // ------------------------------------------------------------ gaps, resyncs and backfills
    const where = config.where && String(config.where).trim() ? String(config.where) : `StageName = '${stage.replace(/'/g, "\\'")}'`;
    const gapWindowMs = positiveSetting(config.gapWindowHours, SALESFORCE_TRIGGER.defaults.gapWindowHours) * 3600 * 1000;
    const resyncName = `${watermarkName}:resync`;
    const ranAtName = `${watermarkName}:ranAt`;
    const label = node.name || `salesforce-trigger ${stage}${mode === 'cdc' ? ' (CDC)' : ''}`;
    let running: Promise<unknown> = Promise.resolve();
    /** Gap resyncs started or waiting: the store's record of them is cleared only when none is left. */
    let gapRuns = 0;

    /** Records that a gap resync from `from` is owed (keeping the earliest start of those owed). */
    const markResync = async (kind: GapKind, from: number) => {
      const raw = await store.watermarkGet(resyncName);
      const owed = raw ? (JSON.parse(raw) as { kind: GapKind; from: number }) : undefined;
      if (!owed || from < owed.from) await store.watermarkSet(resyncName, JSON.stringify({ kind, from }), Date.now());
    };

    /** The visible warning of a gap: status, log, and an exception for integration-ops (one per trigger and kind). */
    const warnGap = async (kind: GapKind, message: string, details: Record<string, unknown>) => {
      node.warn(message);
      node.status({ fill: 'yellow', shape: 'ring', text: t('status.gap', { kind }) });
      await cfg.services?.exceptions
        ?.add({ process: 'trigger', step: label, errorClass: 'internal', ownerTeam: 'integration-ops', message, recordKey: `Trigger/${node.id}/${kind}`, details: [{ path: `/gap/${kind}`, message: JSON.stringify(details) }] }, `node:${node.id}`)
        .catch((e: Error) => node.warn(t('errors.exception', { error: e.message })));
    };

    const readWindow = (kind: RunKind) => async (w: Window) => {
      const counts = { emitted: 0, skipped: 0 };
      await readModifiedBetween(client, w.from, w.to, { sobject: 'Opportunity', where, fields: ['StageName'] }, async (records) => {
        if (closing) throw new Error('the trigger was stopped; the resync resumes at its next start');
        const r = await emit(records.map((r) => String(r.Id)), kind === 'backfill' ? { source: 'backfill' } : { source: 'resync', gap: kind });
        counts.emitted += r.emitted;
        counts.skipped += r.skipped;
      });
      return counts;
    };

    const showRun = (r: TriggerRun) => node.status({ fill: r.state === 'failed' ? 'red' : r.state === 'done' ? 'green' : 'blue', shape: 'dot', text: r.text });
    /** A run ended here (started here or taken from the store): a gap resync done clears what is owed; a failure is an error. */
    const ended = async (run: TriggerRun) => {
      if (closing) return;
      if (run.state === 'done' && run.kind !== 'backfill' && gapRuns === 0) await store.watermarkSet(resyncName, '', Date.now());
      if (run.state === 'failed') node.error(t('errors.resync', { text: run.text }));
    };

    /** Runs a gap resync after any one in progress (a store run, lib/triggers/runs.ts); recorded first so a restart resumes it. */
    const startRun = (kind: GapKind, range: Window): Promise<TriggerRun> => {
      gapRuns += 1;
      const next = running.then(async () => {
        let run: TriggerRun;
        try {
          await markResync(kind, range.from);
          run = await runner.run(kind, range, `node:${node.id}`);
        } finally {
          gapRuns -= 1;
        }
        await ended(run);
        if (run.error && run.state === 'done' && !closing) await warnGap(kind, run.error, { from: run.from, to: run.to });
        return run;
      });
      running = next.catch(() => undefined);
      return next;
    };

    /** A resync that a stop or crash interrupted is run again (it is idempotent) from where it started. */
    const resumeInterrupted = async () => {
      const raw = await store.watermarkGet(resyncName);
      if (!raw) return;
      // a resync left running by a stopped or dead instance is carried on by the runner from its last window
      const left = await store.triggerRunActive(node.id);
      if (left && left.kind !== 'backfill') return;
      const pending = JSON.parse(raw) as { kind: GapKind; from: number };
      await startRun(pending.kind, { from: pending.from, to: Date.now() });
    };

    // Resyncs and backfills are store runs (one per trigger across instances) run by the instance reading the trigger.
    const runner = new TriggerRunner({
      store,
      trigger: node.id,
      name: label,
      owner: () => reader.owner,
      active: () => reader.active,
      reader: (run) => readWindow(run.kind),
      everyMs: Math.max(1000, Math.floor(leaseMs / 3)),
      onProgress: showRun,
      onEnd: ended,
      onRequested: (run) => node.log(t('log.backfill', { actor: run.actor, from: new Date(run.from).toISOString(), to: new Date(run.to).toISOString() })),
      onError: (err) => node.log(t('errors.runs', { error: err.message })),
    });

    let resumed = false;
    const pollOnce = async () => {
      await readerStarted;
      if (!reader.active) {
        // a run the reading instance makes shows here too
        const run = runner.latest;
        if (run && (run.state === 'pending' || run.state === 'running')) showRun(run);
        else status('grey', 'status.standby');
        return;
      }
      // first what an earlier run emitted and nothing took, then a resync a stop interrupted: both before anything
      // new goes out, so a replay never re-emits what this run has just sent
      await replayOnce();
      if (!resumed) {
        await resumeInterrupted();
        resumed = true;
      }
      const ranAt = Number(await store.watermarkGet(ranAtName));
      const stored = await store.watermarkGet(watermarkName);
      if (isStalled(ranAt || undefined, Date.now(), gapWindowMs)) {
        // Not polled for longer than the window: read the gap window by window before the ordinary poll resumes.
        const from = (parseWatermark(stored)?.ts ?? ranAt) - GAP_MARGIN_MS;
        const to = Date.now();
        await warnGap('poller-stalled', t('warn.stalled', { since: new Date(ranAt).toISOString(), hours: Math.round(gapWindowMs / 360000) / 10 }), { lastPollAt: ranAt, from, to });
        const run = await startRun('poller-stalled', { from, to });
        if (run.state !== 'done') throw new Error(run.state === 'failed' ? run.error ?? 'resync failed' : 'the resync stopped here: the instance that reads the trigger next carries it on');
        await store.watermarkSet(watermarkName, JSON.stringify({ ts: to, seen: {} }), Date.now());
      }
      status('blue', 'status.polling');
      const res = await pollChanges(client, await store.watermarkGet(watermarkName), { sobject: 'Opportunity', where, fields: ['StageName'] });
      await emit(res.records.map((r) => r.Id), { source: 'poll' });
      await store.watermarkSet(watermarkName, res.watermark, Date.now());
      await store.watermarkSet(ranAtName, String(Date.now()), Date.now());
      status('green', 'status.polled', { count: emitted, at: new Date().toISOString().slice(11, 19) });
    };

    const intervalMs = Math.max(1, positiveSetting(config.interval, SALESFORCE_TRIGGER.defaults.interval)) * 1000;
    const schedule = (delay: number) => {
      if (closing) return;
      timer = setTimeout(() => {
        polling = pollOnce()
          .catch((err) => {
            status('red', 'status.error', { error: (err as Error).message });
            node.error(t('errors.poll', { error: (err as Error).message }));
          })
          .finally(() => {
            polling = undefined;
            const again = pollRequested;
            pollRequested = false;
            schedule(again ? 0 : intervalMs);
          });
      }, delay);
    };

    /** The CDC subscription of the active reader: a new one per activation, resuming at the shared replay id. */
    const subscribe = () => {
      subscriber = new CdcSubscriber({
        client,
        store,
        name: watermarkName,
        channel: config.channel || SALESFORCE_TRIGGER.defaults.channel,
        initialReplay: config.replayFrom === '-2' ? -2 : -1,
        onEvent: async (event: ChangeEvent) => {
          const header = event.payload.ChangeEventHeader;
          if (String(header.changeType).startsWith('GAP_')) return onGapEvent(event);
          const stageChanged = header.changeType === 'CREATE' ? event.payload.StageName === stage : header.changedFields.includes('StageName') && event.payload.StageName === stage;
          if (stageChanged) await emit(header.recordIds, { source: 'cdc', replayId: event.event.replayId });
        },
        onGap: async (gap) => {
          const from = (gap.lastCommitAt ?? Date.now() - gapWindowMs) - GAP_MARGIN_MS;
          const since = new Date(from).toISOString();
          await markResync(gap.kind, from);
          const text = gap.kind === 'stream-lost' ? t('warn.streamLost', { since }) : t('warn.replayExpired', { replayId: gap.replayId, since });
          await warnGap(gap.kind, text, { replayId: gap.replayId, lastCommitAt: gap.lastCommitAt ?? null, error: gap.error.message });
          startRun(gap.kind, { from, to: Date.now() }).catch((e) => node.error(t('errors.resync', { text: (e as Error).message })));
        },
        // a subscription that stopped receiving while connected: resubscribed at once; the operator sees that it happened
        onStall: (stall) => {
          const from = stall.resumeAfter !== undefined ? t('warn.streamStalledFrom', { replayId: stall.resumeAfter }) : t('warn.streamStalledNew');
          node.warn(t('warn.streamStalled', { reason: stall.reason, detail: stall.detail, from }));
        },
        onState: (state, detail) => {
          if (state === 'connected') status('green', detail?.backlog ? 'status.backlog' : 'status.connected', { backlog: detail?.backlog ?? 0, count: emitted });
          else if (state === 'error') status('red', 'status.error', { error: detail?.error?.message ?? '' });
          else if (state === 'reconnecting' && detail?.error) status('yellow', 'status.stalled', { reason: detail.error.message });
          else status('yellow', `status.${state}`);
        },
      });
      const started = subscriber;
      replayOnce()
        .catch((err) => node.warn(t('errors.replayFailed', { error: (err as Error).message })))
        .then(async () => {
          if (closing || subscriber !== started) return;
          resumeInterrupted().catch((e) => node.error(t('errors.resync', { text: (e as Error).message })));
          await started.start();
          // ended (standby or close) while it connected: its connection may have opened after the stop
          if (subscriber !== started) await started.stop();
        })
        .catch((err) => {
          status('red', 'status.error', { error: (err as Error).message });
          node.error(t('errors.subscribe', { error: (err as Error).message }));
        });
    };
    const unsubscribe = async () => {
      const current = subscriber;
      subscriber = undefined;
      await current?.stop();
    };

    // One instance reads Salesforce for this trigger (lib/triggers/active-reader.ts): the poll runs and the CDC
    // subscription is held only on the instance that holds the trigger's lease; the others stand by.
    const reader = new ActiveReader({
      store,
      name: source,
      ttlMs: leaseMs,
      onActive: () => {
        // each activation carries on what is owed: a resync recorded by any instance, a run another instance left
        resumed = false;
        void runner.sync();
        if (mode === 'cdc') return subscribe();
        // taking over from another instance: poll at once instead of at the next interval (the first poll waits for
        // the first lease attempt anyway)
        if (!contended) return;
        if (polling) pollRequested = true;
        else if (!closing) {
          if (timer) clearTimeout(timer);
          schedule(0);
        }
      },
      onStandby: async () => {
        if (mode === 'cdc') await unsubscribe();
        if (!closing) status('grey', 'status.standby');
      },
      onError: (err) => node.log(t('errors.lease', { error: err.message })),
    });
    let contended = false;
    const stopRuns = runner.start();
    const readerStarted = reader.start().then(() => {
      contended = true;
      if (!reader.active && !closing) status('grey', 'status.standby');
    });
    if (mode === 'poll') schedule(0);

    /**
     * A gap event: the change happened without a change event. GAP_CREATE/UPDATE/UNDELETE name the records: they
     * are read again and emitted if in the stage. GAP_OVERFLOW names only the entity: everything changed since
     * its commit is read again (recorded first, so the event commits only once the resync is durable).
     */
    async function onGapEvent(event: ChangeEvent): Promise<void> {
      const header = event.payload.ChangeEventHeader;
      const at = Number(header.commitTimestamp) || Date.now();
      await warnGap('cdc-gap', t('warn.gapEvent', { changeType: header.changeType, entity: header.entityName, ids: header.recordIds.join(', ') || '-', replayId: event.event.replayId }), { changeType: header.changeType, recordIds: header.recordIds, replayId: event.event.replayId });
      if (header.changeType === 'GAP_OVERFLOW') {
        await markResync('cdc-gap', at - GAP_MARGIN_MS);
        startRun('cdc-gap', { from: at - GAP_MARGIN_MS, to: Date.now() }).catch((e) => node.error(t('errors.resync', { text: (e as Error).message })));
        return;
      }
      if (header.changeType === 'GAP_DELETE') return;
      await emit(header.recordIds, { source: 'cdc-gap', replayId: event.event.replayId, gap: 'cdc-gap' });
    }

    node.on('input', (_msg, _send, done) => {
      // Any input polls now (poll mode); handy for the demo and for tests.
      if (mode === 'poll') {
        if (polling) pollRequested = true;
        else {
          if (timer) clearTimeout(timer);
          schedule(0);
        }
      }
      done();
    });

    node.on('close', async (_removed: boolean, done: () => void) => {
      closing = true;
      const runsStopped = stopRuns();
      if (timer) clearTimeout(timer);
      try {
        await polling;
        await running;
        await runsStopped;
        await reader.stop();
      } catch {
        // closing anyway
      }
      unregisterSource();
      cfg.deregister?.(node);
      done();
    });
  }
  registerNode(RED, SALESFORCE_TRIGGER.type, SalesforceTrigger, SALESFORCE_TRIGGER);
};
