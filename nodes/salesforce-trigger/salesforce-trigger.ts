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
 */
import type { NodeAPI } from '../node-red-api';
import crypto from 'node:crypto';
import os from 'node:os';
import { CdcSubscriber, fetchOpportunityBundles, pollChanges, type ChangeEvent } from '../../lib/connectors/salesforce';
import { INBOX_REF_PROPERTY, registerInboxSource, replayInbox } from '../../lib/inbox';

export = function (RED: NodeAPI) {
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
    const unregisterSource = registerInboxSource(source, store);
    const maxReplays = config.maxReplays !== undefined && config.maxReplays !== '' && Number(config.maxReplays) >= 0 ? Math.floor(Number(config.maxReplays)) : 3;

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
        salesforce: { mode, messageId, ...meta },
        [INBOX_REF_PROPERTY]: ref,
        ...extra,
      });
    };

    /** Inbox first (durable, de-duplicated), then the message; a downstream hand-over point marks it processed. */
    const emit = async (ids: string[], meta: Record<string, unknown>) => {
      if (ids.length === 0) return;
      const bundles = await fetchOpportunityBundles(client, ids, cfg.fieldNames);
      for (const b of bundles) {
        if (b.opportunity.StageName !== stage) continue;
        const messageId = oncePerOpportunity ? `${b.opportunity.Id}:${stage}` : `${b.opportunity.Id}@${b.opportunity.SystemModstamp}`;
        const fresh = await store.inboxAdd({ source, messageId, payload: { opportunityId: b.opportunity.Id, systemModstamp: b.opportunity.SystemModstamp, ...meta }, receivedAt: Date.now() });
        if (!fresh || closing) continue; // closing: committed and `received`, the next start re-emits it
        send(b, messageId, meta);
      }
    };

    /** Entries an earlier run (or the previous deploy) emitted but nothing handed over: emitted again, fetched fresh. */
    let replayed = false;
    const replay = async () => {
      const r = await replayInbox(store, source, {
        maxReplays,
        emit: async (record, replays) => {
          const p = (record.payload ?? {}) as { opportunityId?: unknown };
          const [b] = typeof p.opportunityId === 'string' ? await fetchOpportunityBundles(client, [p.opportunityId], cfg.fieldNames) : [];
          if (!b || b.opportunity.StageName !== stage) {
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

    const pollOnce = async () => {
      const leaseMs = Math.max(30000, intervalMs * 2);
      if (!(await store.leaseAcquire(source, owner, Date.now(), leaseMs))) {
        status('grey', 'status.standby');
        return;
      }
      status('blue', 'status.polling');
      await replayOnce();
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
      replayOnce()
        .catch((err) => node.warn(t('errors.replayFailed', { error: (err as Error).message })))
        .then(() => subscriber!.start())
        .catch((err) => {
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
