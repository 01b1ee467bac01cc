/**
 * `salesforce-trigger`: the closed-won trigger. Mode "poll": SOQL on SystemModstamp every N seconds with a
 * durable watermark (store.watermarkSet), one active poller per trigger across instances (store lease).
 * Mode "cdc": Change Data Capture on /data/OpportunityChangeEvent with a durable replay id. Either way each
 * opportunity is recorded in the inbox before its message goes out (so a restart never emits it twice), then
 * emitted with its account, lines, contract and billing schedule.
 */
import type { NodeAPI } from '../node-red-api';
import crypto from 'node:crypto';
import os from 'node:os';
import { CdcSubscriber, fetchOpportunityBundles, pollChanges, type ChangeEvent } from '../../lib/connectors/salesforce';

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

    /** Inbox first (durable, de-duplicated), then the message. */
    const emit = async (ids: string[], meta: Record<string, unknown>) => {
      if (ids.length === 0) return;
      const bundles = await fetchOpportunityBundles(client, ids);
      for (const b of bundles) {
        if (b.opportunity.StageName !== stage) continue;
        const messageId = oncePerOpportunity ? `${b.opportunity.Id}:${stage}` : `${b.opportunity.Id}@${b.opportunity.SystemModstamp}`;
        const fresh = await store.inboxAdd({ source, messageId, payload: { opportunityId: b.opportunity.Id, systemModstamp: b.opportunity.SystemModstamp, ...meta }, receivedAt: Date.now() });
        if (!fresh) continue;
        emitted += 1;
        node.send({
          topic: `salesforce/opportunity/${stage.toLowerCase().replace(/\s+/g, '-')}`,
          payload: b,
          correlationId: `sf-${b.opportunity.Id}-${crypto.randomBytes(4).toString('hex')}`,
          idempotencyKey: `${b.opportunity.Id}:${stage}`,
          recordKey: `Opportunity/${b.opportunity.Id}`,
          salesforce: { mode, messageId, ...meta },
        });
        await store.inboxMarkProcessed(source, messageId);
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
      cfg.deregister?.(node);
      done();
    });
  }
  RED.nodes.registerType('salesforce-trigger', SalesforceTrigger);
};
