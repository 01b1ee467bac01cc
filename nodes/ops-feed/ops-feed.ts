/**
 * `ops-feed`: the operations view's engine room (docs/operations.md). Thin: the work is lib/ops.
 *
 * Every `interval` seconds, and at once when an exception is added or changes, it sends
 *   output 1  KPI snapshot            msg.topic 'kpi', payload KpiSnapshot (tiles, backlog, circuits)
 *   output 2  chart points            one msg per series: msg.topic series name, msg.chart 'backlog' | 'timing', payload number
 *   output 3  exception console       msg.topic 'exceptions', payload { rows, filter, choices, progress, triggers, detail?, total }
 *             (triggers: the trigger resyncs and backfills of lib/triggers, one line each)
 *   output 4  notifications           msg.payload text (command results), for ui-notification
 *   output 5  ownership matrix rows   msg.payload rows, for ui-table (on deploy and on 'ownership')
 * and accepts commands (msg.topic) from dashboard widgets:
 *   refresh | filter.region | filter.entity | filter {region, entity} | exceptions.filter {process, ownerTeam, region, entity, text}
 *   detail <id> | replay <id|{id}> | edit-replay {id, payload} | bulk-replay [filter] | discard {id, reason}
 *   figures {unbilledApprovedHours, reconciliationRate, by?} (from the reporting template) | ownership
 * Commands that fail answer on output 4 and end with done(err), so Catch nodes see them.
 *
 * Module level (whether or not an ops-feed is deployed): GET <httpAdminRoot>/ps-fabric/metrics (Prometheus text,
 * permission ps-fabric.read) and message hooks counting messages in/out per PS Fabric node type.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DigestNotifier, OpsConsole, OpsReadModel, SeriesBuffer, teamsDigestSender, type ExceptionRowFilter, type KpiSnapshot, type OpsFilter } from '../../lib/ops';
import { circuitStates, countMessages, digestsSent, bulkReplayProgress, scrape, trackStore } from '../../lib/kpi/ops-metrics';
import { OwnershipMatrix } from '../../lib/governance/ownership';
import { deliveryFor } from '../../lib/delivery/engine';
import { registerConnection } from '../../lib/connectors/glue';
import { positiveSetting } from '../settings';
import { TeamsWebhookClient } from '../../lib/connectors/teams/client';
import type { ConnectionHandle } from '../../lib/delivery/types';
import { triggerRuns } from '../../lib/triggers/runs';
import { setupChecks } from '../../lib/setup/registry';

import { registerNode, resolveStore, type Node as RedNode, type NodeAPI as RED, type NodeMessage, type Send } from '../node-red-api';

type Msg = NodeMessage & { _client?: { user?: { username?: string; name?: string } }; actor?: unknown };

import { OPS_FEED, type OpsFeedConfig } from './config';

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The PS Fabric node types (the keys of package.json `node-red.nodes`), counted by the message hooks. */
function fabricTypes(): Set<string> {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
    return new Set(Object.keys(pkg['node-red']?.nodes ?? {}));
  } catch {
    return new Set(['ops-feed']);
  }
}

export = function (RED: RED) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`ops-feed.${key}`, subs);

  // ------------------------------------------------------------ module level: metrics endpoint + message hooks
  RED.httpAdmin.get('/ps-fabric/metrics', RED.auth.needsPermission('ps-fabric.read'), (_req: any, res: any) => {
    scrape().then(
      ({ contentType, body }) => {
        res.set('Content-Type', contentType);
        res.end(body);
      },
      (err: unknown) => res.status(500).end(errText(err)),
    );
  });
  const types = fabricTypes();
  const g = globalThis as unknown as Record<symbol, boolean>;
  const HOOKED = Symbol.for('ps-fabric.ops-feed.hooks');
  if (RED.hooks && !g[HOOKED]) {
    g[HOOKED] = true;
    RED.hooks.add('onReceive.psfabricMetrics', (evt: any) => {
      const type = evt?.destination?.node?.type;
      if (type && types.has(type)) countMessages(type, 'in');
    });
    RED.hooks.add('postDeliver.psfabricMetrics', (evt: any) => {
      const type = evt?.source?.node?.type;
      if (type && types.has(type)) countMessages(type, 'out');
    });
  }

  function OpsFeed(this: RedNode, config: OpsFeedConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = resolveStore(RED, config.store);
    const intervalMs = positiveSetting(config.interval, OPS_FEED.defaults.interval) * 1000;
    const series = new SeriesBuffer(720);
    let overview: OpsFilter = {};
    let consoleFilter: ExceptionRowFilter = {};
    let detailId: number | undefined;
    let debounce: NodeJS.Timeout | undefined;
    let closed = false;
    let last: KpiSnapshot | undefined;
    const undo: Array<() => void | Promise<void>> = [];

    if (!storeCfg?.services) {
      node.status({ fill: 'red', shape: 'ring', text: storeCfg?.openError ? t('status.storeError') : t('errors.noStore') });
      node.on('input', (_msg, _send, done) => done(new Error(storeCfg?.openError ?? t('errors.noStore'))));
      node.on('close', (_r, done) => done());
      return;
    }
    storeCfg.register(node);
    const services = storeCfg.services;
    const model = new OpsReadModel(services.store, { slaHours: positiveSetting(config.slaHours, OPS_FEED.defaults.slaHours), windowDays: positiveSetting(config.windowDays, OPS_FEED.defaults.windowDays), circuits: () => circuitsCache, setup: () => setupChecks.summaries() });
    const ops = new OpsConsole(services.exceptions, model);
    let circuitsCache: Array<{ connection: string; state: 'closed' | 'half-open' | 'open' }> = [];
    undo.push(trackStore(services.store));

    // owner-team digests through the Teams webhook, when one is configured
    const webhook = node.credentials?.webhook;
    if (webhook) {
      let handle: ConnectionHandle | undefined;
      try {
        const name = `teams:ops-digest-${node.id}`;
        // the one registration of connections (lib/connectors/glue.ts): the ownership guard as every other connection
        handle = deliveryFor(services.store).connection(name) ?? registerConnection(services.store, services, name, new TeamsWebhookClient(webhook).executor(), { ratePerSecond: 1, concurrency: 1, maxAttempts: 6 });
      } catch (err) {
        node.warn(t('errors.digest', { error: errText(err) }));
      }
      if (handle) {
        const h = handle;
        const digests = new DigestNotifier(teamsDigestSender(() => h, config.dashboardUrl || undefined), {
          windowMs: positiveSetting(config.digestMinutes, OPS_FEED.defaults.digestMinutes) * 60_000,
          onError: (err, d) => {
            digestsSent.inc({ team: d.team, outcome: 'failed' });
            node.warn(t('errors.digest', { error: errText(err) }));
          },
        }).attach(services.exceptions);
        const origSend = digests.flushTeam.bind(digests);
        digests.flushTeam = (team: string) => origSend(team).then(() => void digestsSent.inc({ team, outcome: 'sent' }));
        undo.push(async () => {
          await digests.close(false);
          await h.close();
        });
      }
    }

    const actorOf = (msg: Msg) => {
      if (typeof msg.actor === 'string' && msg.actor) return msg.actor;
      const user = msg._client?.user?.username ?? msg._client?.user?.name;
      return user ? `dashboard:${user}` : 'dashboard';
    };

    function setStatus(): void {
      const p = ops.progress();
      if (p?.running) {
        node.status({ fill: 'blue', shape: 'dot', text: p.text });
        return;
      }
      if (!last) return;
      const open = last.circuits.filter((c) => c.state !== 'closed').length;
      const text = t('status.summary', { open: last.openExceptions, backlog: last.outboxBacklog }) + (open ? ' · ' + t('status.circuits', { count: open }) : '');
      node.status({ fill: open ? 'red' : last.openExceptions ? 'yellow' : 'green', shape: 'dot', text });
    }

    async function consolePayload(): Promise<Record<string, unknown>> {
      const rows = await model.exceptionRows(consoleFilter);
      const detail = detailId !== undefined ? await model.exceptionDetail(detailId) : undefined;
      return { rows, total: rows.length, filter: consoleFilter, choices: await model.exceptionFilterChoices(), progress: ops.progress() ?? null, triggers: triggerRuns.list().map((r) => ({ trigger: r.trigger, name: r.name, kind: r.kind, state: r.state, text: r.text })), detail: detail ?? null, at: Date.now() };
    }

    async function emit(what: { kpi?: boolean; console?: boolean; points?: boolean }): Promise<void> {
      if (closed) return;
      circuitsCache = await circuitStates();
      const out: Array<Msg | Msg[] | null> = [null, null, null, null, null];
      if (what.kpi) {
        last = await model.snapshot(overview);
        out[0] = { topic: 'kpi', payload: last };
        if (what.points) {
          const at = last.at;
          const pts: Array<[string, 'backlog' | 'timing', number | null]> = [
            ['open exceptions', 'backlog', last.openExceptions],
            ['outbox backlog', 'backlog', last.outboxBacklog],
            ['invoices blocked', 'backlog', last.invoicesBlocked],
            ['quote-to-project lead time (h)', 'timing', last.quoteToProject.avgSeconds === null ? null : Math.round((last.quoteToProject.avgSeconds / 3600) * 100) / 100],
            ['time-entry posting latency (s)', 'timing', last.timeEntryPosting.avgSeconds],
          ];
          const msgs: Msg[] = [];
          for (const [name, chart, v] of pts) {
            series.push(name, at, v);
            if (v !== null) msgs.push({ topic: name, chart, payload: v, timestamp: at });
          }
          out[1] = msgs;
        }
      }
      if (what.console) out[2] = { topic: 'exceptions', payload: await consolePayload() };
      if (!closed) node.send(out);
      setStatus();
    }

    const tick = (what: { kpi?: boolean; console?: boolean; points?: boolean }) => {
      emit(what).catch((err) => node.status({ fill: 'red', shape: 'ring', text: errText(err).slice(0, 60) }));
    };
    const soon = () => {
      if (debounce || closed) return;
      debounce = setTimeout(() => {
        debounce = undefined;
        tick({ kpi: true, console: true });
      }, 200);
    };
    services.exceptions.on('added', soon);
    services.exceptions.on('changed', soon);
    triggerRuns.on('change', soon);
    setupChecks.on('change', soon);
    undo.push(() => {
      setupChecks.off('change', soon);
      services.exceptions.off('added', soon);
      services.exceptions.off('changed', soon);
      triggerRuns.off('change', soon);
    });

    function ownershipRows(): unknown[] {
      const cfg = config.ownership ? (RED.nodes.getNode(config.ownership) as { matrix?: OwnershipMatrix } | null) : null;
      return (cfg?.matrix ?? OwnershipMatrix.default()).rows();
    }

    const timer = setInterval(() => tick({ kpi: true, console: true, points: true }), intervalMs);
    const first = setTimeout(() => {
      tick({ kpi: true, console: true, points: true });
      try {
        if (!closed) node.send([null, null, null, null, { topic: 'ownership', payload: ownershipRows() }]);
      } catch (err) {
        node.warn(errText(err));
      }
    }, 100);
    undo.push(() => clearTimeout(first));

    const idOf = (p: unknown): number => {
      const raw = typeof p === 'object' && p !== null ? (p as { id?: unknown }).id : p;
      const id = Number(raw);
      if (!Number.isInteger(id) || id <= 0) throw new Error(t('errors.badId', { value: String(raw) }));
      return id;
    };
    const obj = (p: unknown): Record<string, unknown> => (typeof p === 'object' && p !== null ? (p as Record<string, unknown>) : {});
    const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
    const notify = (send: Send, text: string, ok = true) => send([null, null, null, { topic: ok ? 'ok' : 'error', payload: text }, null]);

    node.on('input', (msg, send, done) => {
      void (async () => {
        const topic = String(msg.topic ?? 'refresh');
        const p = msg.payload;
        const actor = actorOf(msg);
        switch (topic) {
          case 'refresh':
            await emit({ kpi: true, console: true });
            return;
          case 'filter.region':
            overview = { ...overview, region: str(p) };
            await emit({ kpi: true });
            return;
          case 'filter.entity':
            overview = { ...overview, entity: str(p) };
            await emit({ kpi: true });
            return;
          case 'filter':
            overview = { region: str(obj(p).region), entity: str(obj(p).entity) };
            await emit({ kpi: true });
            return;
          case 'exceptions.filter': {
            const f = obj(p);
            consoleFilter = { process: str(f.process), ownerTeam: str(f.ownerTeam), region: str(f.region), entity: str(f.entity), text: str(f.text) };
            await emit({ console: true });
            return;
          }
          case 'detail':
            detailId = p === null || p === undefined || p === '' ? undefined : idOf(p);
            await emit({ console: true });
            return;
          case 'replay': {
            const id = idOf(p);
            await ops.replay(id, actor);
            notify(send, t('done.replayed', { id }));
            break;
          }
          case 'edit-replay': {
            const id = idOf(p);
            await ops.editAndReplay(id, obj(p).payload, actor);
            notify(send, t('done.editReplayed', { id }));
            break;
          }
          case 'discard': {
            const id = idOf(p);
            await ops.discard(id, String(obj(p).reason ?? ''), actor);
            notify(send, t('done.discarded', { id }));
            break;
          }
          case 'bulk-replay': {
            const f = obj(p);
            const filter: ExceptionRowFilter = Object.keys(f).length ? { process: str(f.process), ownerTeam: str(f.ownerTeam), region: str(f.region), entity: str(f.entity), text: str(f.text) } : consoleFilter;
            let lastPush = 0;
            const result = await ops.bulkReplay(filter, actor, (progress) => {
              bulkReplayProgress.set({ node: node.id }, progress.running ? progress.total - progress.done : 0);
              node.status({ fill: 'blue', shape: 'dot', text: progress.text });
              const now = Date.now();
              if (now - lastPush > 500 || !progress.running) {
                lastPush = now;
                tick({ console: true });
              }
            });
            notify(send, t('done.bulk', { replayed: result.replayed.length, total: result.total, failed: result.failed.length }), result.failed.length === 0);
            break;
          }
          case 'figures':
            model.publishFigures(obj(p) as never);
            break;
          case 'ownership':
            send([null, null, null, null, { topic: 'ownership', payload: ownershipRows() }]);
            return;
          default:
            throw new Error(t('errors.unknownCommand', { topic }));
        }
        await emit({ kpi: true, console: true });
      })().then(
        () => done(),
        (err: unknown) => {
          notify(send, errText(err), false);
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      closed = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      bulkReplayProgress.set({ node: node.id }, 0);
      storeCfg.deregister(node);
      Promise.all(undo.reverse().map((fn) => Promise.resolve().then(fn))).then(
        () => done(),
        () => done(),
      );
    });
  }

  registerNode(RED, OPS_FEED.type, OpsFeed, OPS_FEED);
};
