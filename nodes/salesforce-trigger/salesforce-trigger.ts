/**
 * `salesforce-trigger`: the closed-won trigger. Mode "poll": SOQL on SystemModstamp every N seconds with a
 * durable watermark (store.watermarkSet), one active poller per trigger across instances (store lease).
 * Mode "cdc": Change Data Capture on /data/OpportunityChangeEvent with a durable replay id. Either way each
 * opportunity is recorded in the inbox before its message goes out (so a restart never emits it twice), then
 * emitted with its account, lines, contract and billing schedule. The msg carries its inbox identity
 * (`msg._fabricInbox`): the entry is marked processed at the downstream durable hand-over (docs/runtime.md "Inbox
 * hand-over"); entries never handed over are re-emitted on start (`msg.redelivered`) from the bundle kept with them.
 */
import type { NodeAPI } from '../node-red-api';
import crypto from 'node:crypto';
import os from 'node:os';
import { CdcSubscriber, fetchOpportunityBundles, pollChanges, type ChangeEvent } from '../../lib/connectors/salesforce';
import { INBOX_REF_PROPERTY, registerInboxSource, replayInbox } from '../../lib/inbox';
import type { Json } from '../../lib/store/store';
import { flowsStartedOf } from '../flows-started';

export = function (RED: NodeAPI) {
  const flowsStarted = flowsStartedOf(RED);
  function SalesforceTrigger(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const cfg = RED.nodes.getNode(config.salesforce);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`salesforce-trigger.${k}`, s);
    const mode: 'poll' | 'cdc' = config.mode === 'cdc' ? 'cdc' : 'poll';
    const stage: string = config.stage || 'Closed Won';
    const oncePerOpportunity = config.once !== false;
    const source = `salesforce-trigger:${node.id}`;
    const watermarkName = `${source}:${mode}`;
    // Stable per process: a redeploy in the same runtime takes its own lease over at once (the store may be
    // closed before this node's close handler could release it); another instance waits for the lease to expire.
    const owner = `${os.hostname()}:${process.pid}:${source}`;
    let timer: NodeJS.Timeout | undefined;
    let closing = false;
    let polling: Promise<void> | undefined;
    // An input that arrives while a poll runs asks for one more poll right after it, so no request is lost.
    let pollRequested = false;
    let subscriber: CdcSubscriber | undefined;
    let emitted = 0;

    const status = (fill: string, key: string, subs?: Record<string, unknown>) => node.status({ fill, shape: fill === 'green' ? 'dot' : 'ring', text: t(key, subs) });
    if (!cfg || cfg.configError || !cfg.handle || !cfg.store) {
      node.status({ fill: 'red', shape: 'ring', text: cfg?.configError ?? t('status.noConfig') });
      return;
    }
    cfg.register?.(node);
    const store = cfg.store;
    const client = cfg.client;

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const send = (b: any, messageId: string, meta: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      node.send({
        topic: `salesforce/opportunity/${stage.toLowerCase().replace(/\s+/g, '-')}`,
        payload: b,
        correlationId: `sf-${b.opportunity.Id}-${crypto.randomBytes(4).toString('hex')}`,
        idempotencyKey: `${b.opportunity.Id}:${stage}`,
        recordKey: `Opportunity/${b.opportunity.Id}`,
        salesforce: { mode, messageId, ...meta },
        [INBOX_REF_PROPERTY]: { source, messageId },
        ...extra,
      });
    };

    // Start-up replay (before the first poll or event): deals in the inbox never handed over, e.g. a crash right after
    // the send. The bundle kept with the entry is sent again as it was, so the run's keys do not change.
    const unregisterSource = registerInboxSource(source, store);
    const ready: Promise<void> = flowsStarted().then(() => replayInbox(store, source, {
      emit: async (record, replay) => {
        if (closing) return;
        const kept = (record.meta ?? {}) as { bundle?: any; salesforce?: Record<string, unknown> };
        const p = record.payload as { opportunityId?: string };
        const b = kept.bundle ?? (p.opportunityId ? (await fetchOpportunityBundles(client, [p.opportunityId]))[0] : undefined);
        if (b) send(b, record.messageId, kept.salesforce ?? {}, { redelivered: true, redeliveries: replay });
      },
      abandoned: async (record) => {
        const text = t('errors.abandoned', { messageId: record.messageId, replays: record.replays });
        node.warn(text);
        await cfg.services?.exceptions?.add({ process: 'inbox', step: node.name || `salesforce-trigger ${stage}`, errorClass: 'internal', ownerTeam: 'integration-ops', message: text, recordKey: `Inbox/${source}/${record.messageId}`, details: [{ path: '/inbox', message: `status abandoned after ${record.replays} start-up replays` }], request: { messageId: record.messageId, payload: record.payload, meta: record.meta ?? null } }, `node:${node.id}`);
      },
    })).then(
      (r) => {
        if (r.replayed || r.abandoned) node.log(t('log.replayed', { replayed: r.replayed, abandoned: r.abandoned }));
      },
      (err: unknown) => node.warn(t('errors.replayFailed', { error: (err as Error)?.message ?? String(err) })),
    );

    /** Inbox first (durable, de-duplicated, with the bundle for a replay), then the message. */
    const emit = async (ids: string[], meta: Record<string, unknown>) => {
      await ready;
      if (ids.length === 0) return;
      const bundles = await fetchOpportunityBundles(client, ids);
      for (const b of bundles) {
        if (b.opportunity.StageName !== stage) continue;
        const messageId = oncePerOpportunity ? `${b.opportunity.Id}:${stage}` : `${b.opportunity.Id}@${b.opportunity.SystemModstamp}`;
        const fresh = await store.inboxAdd({ source, messageId, payload: { opportunityId: b.opportunity.Id, systemModstamp: b.opportunity.SystemModstamp, ...meta }, receivedAt: Date.now(), meta: { bundle: b, salesforce: meta } as unknown as Json });
        if (!fresh) continue;
        emitted += 1;
        send(b, messageId, meta);
      }
    };

    const pollOnce = async () => {
      const leaseMs = Math.max(30000, intervalMs * 2);
      if (!(await store.leaseAcquire(source, owner, Date.now(), leaseMs))) {
        status('grey', 'status.standby');
        return;
      }
      status('blue', 'status.polling');
      const where = config.where && String(config.where).trim() ? String(config.where) : `StageName = '${stage.replace(/'/g, "\\'")}'`;
      const res = await pollChanges(client, await store.watermarkGet(watermarkName), { sobject: 'Opportunity', where, fields: ['StageName'] });
      await emit(res.records.map((r) => r.Id), { source: 'poll' });
      await store.watermarkSet(watermarkName, res.watermark, Date.now());
      status('green', 'status.polled', { count: emitted, at: new Date().toISOString().slice(11, 19) });
    };

    const intervalMs = Math.max(1, Number(config.interval) || 30) * 1000;
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

    if (mode === 'poll') schedule(0);
    else {
      subscriber = new CdcSubscriber({
        client,
        store,
        name: watermarkName,
        channel: config.channel || '/data/OpportunityChangeEvent',
        initialReplay: config.replayFrom === '-2' ? -2 : -1,
        onEvent: async (event: ChangeEvent) => {
          const header = event.payload.ChangeEventHeader;
          const stageChanged = header.changeType === 'CREATE' ? event.payload.StageName === stage : header.changedFields.includes('StageName') && event.payload.StageName === stage;
          if (stageChanged) await emit(header.recordIds, { source: 'cdc', replayId: event.event.replayId });
        },
        onState: (state, detail) => {
          if (state === 'connected') status('green', detail?.backlog ? 'status.backlog' : 'status.connected', { backlog: detail?.backlog ?? 0, count: emitted });
          else if (state === 'error') status('red', 'status.error', { error: detail?.error?.message ?? '' });
          else status('yellow', `status.${state}`);
        },
      });
      subscriber.start().catch((err) => {
        status('red', 'status.error', { error: (err as Error).message });
        node.error(t('errors.subscribe', { error: (err as Error).message }));
      });
    }

    node.on('input', (_msg: any, _send: unknown, done: (e?: Error) => void) => {
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
      if (timer) clearTimeout(timer);
      try {
        await polling;
        await subscriber?.stop();
        await store.leaseRelease(source, owner);
      } catch {
        // closing anyway
      }
      unregisterSource();
      cfg.deregister?.(node);
      done();
    });
  }
  RED.nodes.registerType('salesforce-trigger', SalesforceTrigger);
};
