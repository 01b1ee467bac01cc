/**
 * Boots PS Fabric in this process: store, embedded broker, vendor sandboxes, Node-RED (editor + admin API on
 * one HTTP server that also carries MQTT over WebSocket at /mqtt) and GET /healthz. Used by `npm start`
 * (runtime/start.ts) and by the integration tests (free ports, temporary user dir, sandboxes off).
 *
 * Node-RED is a per-process singleton: one startFabric() per process at a time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { buildSettings } from './settings-builder';
import { brokerOptionsFromEnv, brokerThreadFromEnv, maxLoopDelayFromEnv, startBroker, startBrokerThread, setEmbeddedBroker, type RunningBroker, type BrokerOptions, type BrokerStats } from '../lib/broker';
import { openFabric, type FabricHandle } from '../lib/fabric/services';
import { retentionFromEnv, type RetentionRun } from '../lib/retention';
import type { StoreOptions } from '../lib/store/registry';
import { deliveryFor } from '../lib/delivery/engine';
import { redactConnectionString } from '../lib/store/postgres-store';
import { applyTemplateEnv, deployTemplates } from './templates';
import { startTelemetry } from './telemetry';
import { mountMetrics } from './metrics-endpoint';
import { auditTrailSink, setApiAuditSink } from '../lib/governance/api-gate';
import { setAccessAudit } from '../lib/governance/admin-access';
import { governedAnonymousRights, legacyErpRights } from '../lib/broker/acl';
import { guardHttpServer, jsonErrorHandler } from './admin-access';
import { setupChecks } from '../lib/setup/registry';
import type { ConnectionCheck } from '../lib/setup/types';

/** The package root (holds package.json and dist/): dist/runtime/launcher.js -> ../.. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

export interface FabricOptions {
  /** Environment to read (default process.env); explicit options below win over it. */
  env?: NodeJS.ProcessEnv;
  userDir?: string;
  host?: string;
  /** HTTP port (editor, admin API, /healthz, /mqtt); 0 = any free port. */
  port?: number;
  /** MQTT TCP port; 0 = any free port; false = no TCP listener. */
  mqttPort?: number | false;
  /** Extra broker options (tests: persistence, limits, auth). */
  broker?: Partial<BrokerOptions>;
  /** Start the vendor sandboxes (default: unless FABRIC_SANDBOXES=off). */
  sandboxes?: boolean;
  sandboxPort?: number;
  /** Written as the flow file when the user dir has none (otherwise the templates in flows/ are used). */
  initialFlows?: unknown[];
  logLevel?: string;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  /** Every counter of the broker's stats (BrokerStats), whatever it adds, with its health and where it listens. */
  broker: BrokerStats & { ok: boolean; persistence: string; url?: string };
  store: { ok: boolean; kind?: string; path: string; error?: string };
  flows: { ok: boolean; state: FlowsState };
  sandboxes: { ok: boolean; enabled: boolean; url?: string };
  /** The store's log retention: its last run, with what the inbox purge kept back for the broker (informative). */
  retention: { enabled: boolean; lastRun?: RetentionRun };
  memory: { rssBytes: number; heapUsedBytes: number };
  uptimeSeconds: number;
}

export type FlowsState = 'starting' | 'started' | 'stopping' | 'stopped' | 'error';

export interface RunningFabric {
  url: string;
  port: number;
  mqttUrl?: string;
  /** The runtime's own broker identity (publishes the governed topics): for in-process callers such as tests. */
  mqttCredentials: { username: string; password: string };
  /** The named client the legacy ERP (FR01) authenticates as: its own legacy/fr01 topics only (lib/broker/acl.ts legacyErpRights). */
  legacyErpCredentials: { username: string; password: string };
  wsUrl: string;
  userDir: string;
  settings: Record<string, any>;
  broker: RunningBroker;
  fabric: FabricHandle;
  sandboxes?: { url: string; port: number; close(): Promise<void> };
  RED: any;
  health(): Promise<HealthReport>;
  stop(): Promise<void>;
}

function say(msg: string): void {
  console.log(`[ps-fabric] ${msg}`);
}

/**
 * Makes the package visible to Node-RED the way `npm install <folder>` in the user dir would: a link at
 * <userDir>/node_modules/node-red-contrib-ps-fabric, so the registry loads the nodes listed in package.json.
 */
export function linkPackageIntoUserDir(userDir: string): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string };
  const modules = path.join(userDir, 'node_modules');
  const link = path.join(modules, pkg.name);
  fs.mkdirSync(modules, { recursive: true });
  try {
    const current = fs.realpathSync(link);
    if (current === fs.realpathSync(PACKAGE_ROOT)) return;
    fs.rmSync(link, { recursive: true, force: true });
  } catch {
    try {
      fs.rmSync(link, { force: true });
    } catch {
      /* nothing there */
    }
  }
  fs.symlinkSync(PACKAGE_ROOT, link, 'junction');
}

export async function startFabric(options: FabricOptions = {}): Promise<RunningFabric> {
  const baseEnv = options.env ?? process.env;
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  if (options.userDir) env.FABRIC_USER_DIR = options.userDir;
  if (options.host) env.FABRIC_HOST = options.host;
  if (options.port !== undefined) env.FABRIC_PORT = String(options.port);
  if (options.logLevel) env.FABRIC_LOG_LEVEL = options.logLevel;
  if (options.mqttPort !== undefined) env.FABRIC_MQTT_PORT = options.mqttPort === false ? 'off' : String(options.mqttPort);

  const settings = buildSettings(env);
  const userDir: string = settings.userDir;
  fs.mkdirSync(userDir, { recursive: true });
  linkPackageIntoUserDir(userDir);
  // process templates (runtime/templates.ts): flows/*.json + config-node credentials from env, on first start
  const seeded = deployTemplates({ userDir, flowFile: settings.flowFile, credentialSecret: settings.credentialSecret, env, initialFlows: options.initialFlows, log: say });
  if (seeded.written) say(`no flow file in ${userDir}: wrote ${settings.flowFile} (${seeded.nodes} nodes from ${seeded.from.join(', ') || 'nothing'})`);

  const cleanups: Array<() => Promise<void>> = [];
  const undo = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
  };

  try {
    // 0. traces (OpenTelemetry SDK, off unless OTEL_* asks for it): first on, last off, so the shutdown flushes every span
    const telemetry = startTelemetry(env, (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version);
    if (telemetry) {
      cleanups.push(() => telemetry.shutdown());
      say(`traces: OpenTelemetry to ${telemetry.exporters.join(', ')}`);
    }
    // 1. store
    const storeOptions: StoreOptions = settings.fabric.store;
    // instance presence: a restart takes back its own outbox items at once, survivors take over a dead instance's
    const fabric = openFabric(storeOptions, { instance: { userDir, env }, retention: retentionFromEnv(env) });
    cleanups.push(() => fabric.release());
    // Retention keeps the inbox entries of messages the broker may still re-send (lib/broker/redelivery.ts). Set now,
    // before any run can start; a run before the broker is up waits for it, a broker that failed to start keeps all.
    let brokerStarted: (b: RunningBroker | undefined) => void = () => {};
    const startedBroker = new Promise<RunningBroker | undefined>((resolve) => (brokerStarted = resolve));
    cleanups.push(async () => brokerStarted(undefined));
    let heldBy = '';
    fabric.services.retention?.guardInbox(async () => {
      const b = await startedBroker;
      if (!b) throw new Error('the broker is not running: its held messages are unknown');
      const held = await b.heldForRedelivery();
      // said once per set of sessions: a session that never comes back keeps every inbox entry from now on
      const sessions = held?.since === 0 ? held.clientIds.join(', ') : '';
      if (sessions && sessions !== heldBy) say(`retention: every inbox entry kept while the broker holds unacknowledged messages of unknown age for ${sessions}; they go once the session has reconnected and taken them (docs/store-and-guarantees.md, "Retention")`);
      heldBy = sessions;
      return held;
    });
    // PostgreSQL connects and migrates in the background: wait, so a wrong FABRIC_STORE_URL stops the start here
    await (fabric.store as { ready?: Promise<void> }).ready;
    const storePath: string = storeOptions.kind === 'postgres'
      ? `${redactConnectionString(storeOptions.connectionString)}#${storeOptions.schema ?? 'public'}`
      : settings.fabric.storePath;
    say(`store: ${storeOptions.kind === 'postgres' ? 'PostgreSQL' : 'SQLite'} ${storePath} (instance ${fabric.services.presence?.owner ?? settings.fabric.instanceId})`);
    // experience-API decisions (api-gate) go to the audit trail: api.request.accepted / api.request.refused
    setApiAuditSink(auditTrailSink(fabric.services.audit));
    cleanups.push(async () => setApiAuditSink(undefined));
    // logins, refused connections and dashboard command refusals (runtime/admin-access.ts, the dashboard plugin)
    setAccessAudit((e) => void fabric.services.audit.append({ actor: e.actor, action: e.action, ...(e.details ? { details: e.details } : {}) }).catch(() => {}));
    cleanups.push(async () => setAccessAudit(undefined));
    // FABRIC_OUTBOX_LEASE_MS: how long a claimed item stays leased when its instance's heartbeat still looks alive
    // (the engine's owner is the instance presence's, so a dead instance's items are freed sooner: docs/scale-out.md).
    if (storeOptions.kind === 'postgres' || env.FABRIC_OUTBOX_LEASE_MS || env.FABRIC_QUOTA_LEASE_MS) {
      const leaseMs = env.FABRIC_OUTBOX_LEASE_MS ? Number(env.FABRIC_OUTBOX_LEASE_MS) : undefined;
      if (leaseMs !== undefined && !(Number.isInteger(leaseMs) && leaseMs >= 1000)) throw new Error(`FABRIC_OUTBOX_LEASE_MS must be an integer >= 1000, got "${env.FABRIC_OUTBOX_LEASE_MS}"`);
      // how soon a dead instance's share of a vendor's concurrency limit returns to the others (docs/scale-out.md)
      const quotaLeaseMs = env.FABRIC_QUOTA_LEASE_MS ? Number(env.FABRIC_QUOTA_LEASE_MS) : undefined;
      if (quotaLeaseMs !== undefined && !(Number.isInteger(quotaLeaseMs) && quotaLeaseMs >= 2000)) throw new Error(`FABRIC_QUOTA_LEASE_MS must be an integer >= 2000, got "${env.FABRIC_QUOTA_LEASE_MS}"`);
      const engine = deliveryFor(fabric.store, fabric.services as never, { leaseMs, quotaLeaseMs });
      cleanups.push(() => engine.close());
    }

    // 2. broker
    const brokerOptions: BrokerOptions = {
      ...brokerOptionsFromEnv(userDir, env),
      ...options.broker,
      log: { info: say, warn: (m) => console.warn(`[ps-fabric] ${m}`), error: (m) => console.error(`[ps-fabric] ${m}`) },
    };
    // clients without credentials read the public events and nothing else, unless the users file says otherwise or
    // FABRIC_MQTT_AUTH=off turned the broker's security off altogether (lab use: the benchmarks)
    if (brokerOptions.authMode !== 'off') {
      brokerOptions.auth = { users: brokerOptions.auth?.users ?? [], anonymous: brokerOptions.auth?.anonymous ?? governedAnonymousRights() };
    }
    // FABRIC_BROKER_THREAD (default on): the broker gets its own core instead of sharing the flows' event loop
    const brokerThread = brokerThreadFromEnv(env);
    maxLoopDelayFromEnv(env); // a wrong FABRIC_MQTT_MAX_LOOP_DELAY_MS stops the start here, not at the first MQTT node
    const broker = brokerThread ? await startBrokerThread(brokerOptions) : await startBroker(brokerOptions);
    cleanups.push(() => broker.close());
    brokerStarted(broker);
    // The runtime's own connections authenticate in every auth mode: anonymous clients may not publish the governed
    // topics (lib/broker/acl.ts GOVERNED_TOPICS), the flows must. The legacy ERP simulator is a named client.
    const internal = { username: `fabric-runtime-${crypto.randomBytes(4).toString('hex')}`, password: crypto.randomBytes(24).toString('base64url') };
    broker.addUser({ ...internal, publish: ['#'], subscribe: ['#'], internal: true });
    const legacyErpUser = { username: 'legacy-erp-fr01', password: crypto.randomBytes(24).toString('base64url') };
    broker.addUser({ ...legacyErpUser, ...legacyErpRights('fr01') });
    // a worker-thread broker applies the users asynchronously: the flows must not connect before it knows them
    await broker.sync();
    const externalUrl = env.FABRIC_MQTT_URL?.trim();
    if (externalUrl) {
      // scale-out: the runtime's fabric-broker nodes ("embedded" mode) use the external broker (docs/scale-out.md)
      if (!/^(mqtts?|wss?|tcp|ssl):\/\//.test(externalUrl)) throw new Error(`FABRIC_MQTT_URL must be an mqtt://, mqtts://, ws:// or wss:// URL, got "${externalUrl}"`);
      const sharedGroup = env.FABRIC_MQTT_SHARED_GROUP === undefined ? 'ps-fabric' : env.FABRIC_MQTT_SHARED_GROUP.trim();
      setEmbeddedBroker({
        broker,
        url: externalUrl,
        username: env.FABRIC_MQTT_USERNAME || undefined,
        password: env.FABRIC_MQTT_PASSWORD || undefined,
        external: true,
        sharedGroup: sharedGroup || undefined,
        instanceId: settings.fabric.instanceId,
      });
      cleanups.push(async () => setEmbeddedBroker(undefined));
      say(`external broker for the flows: ${externalUrl.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@')} (shared group ${sharedGroup || 'none'})`);
    } else if (broker.url) {
      setEmbeddedBroker({ broker, url: broker.url, ...internal });
      cleanups.push(async () => setEmbeddedBroker(undefined));
    }
    say(`broker: ${broker.url ?? 'no TCP listener'} (persistence ${broker.persistence}, auth ${brokerOptions.authMode ?? 'loopback'}, ${brokerThread ? 'worker thread' : 'main thread'})`);

    // 3. sandboxes
    const sandboxesOn = options.sandboxes ?? env.FABRIC_SANDBOXES !== 'off';
    let sandboxes: RunningFabric['sandboxes'];
    if (sandboxesOn) {
      // loaded only when used: the vendor modules are large and tests mostly run without them
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { startSandboxes } = require('../sandbox/server') as typeof import('../sandbox/server');
      const port = options.sandboxPort ?? Number(env.FABRIC_SANDBOX_PORT ?? 1881);
      const running = await startSandboxes({ port, host: env.FABRIC_SANDBOX_HOST ?? '127.0.0.1', stateDir: path.join(userDir, 'sandboxes') });
      sandboxes = running;
      cleanups.push(() => running.close());
      say(`sandboxes: ${running.url}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { KANTATA_DEMO_MONTH } = require('../sandbox/kantata') as typeof import('../sandbox/kantata');
      applyTemplateEnv(process.env, { sandboxUrl: running.url, reportingPeriod: KANTATA_DEMO_MONTH });
      // The legacy on-prem ERP of NWA-FR joins over MQTT like the real one would (own persistent session).
      if (broker.url && !externalUrl && env.FABRIC_LEGACY_ERP !== 'off') {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { LegacyErpSimulator } = require('../sandbox/legacy-erp/simulator') as typeof import('../sandbox/legacy-erp/simulator');
        const legacy = new LegacyErpSimulator({
          url: broker.url,
          ...legacyErpUser,
          httpPort: Number(env.FABRIC_LEGACY_ERP_PORT ?? (port === 1881 ? 1882 : 0)),
          stateFile: path.join(userDir, 'sandboxes', 'legacy-erp.json'),
        });
        await legacy.start();
        cleanups.push(() => legacy.stop());
        say(`legacy ERP (FR01) simulator on the broker; inspection ${legacy.httpUrl ?? 'off'}`);
      }
    }

    // 4. Node-RED on an express app + http.Server, with /healthz and MQTT over WebSocket
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const RED = require('node-red');
    const app = express();
    app.disable('x-powered-by');
    const server = http.createServer(app);
    // Host, Origin and non-simple-request rules for every request and WebSocket upgrade, before Node-RED, socket.io
    // or the MQTT WebSocket see them (docs/security.md)
    guardHttpServer(server, settings.fabric.access);
    let flowsState: FlowsState = 'starting';
    let resolveFlowsStarted: () => void = () => {};
    const flowsStarted = new Promise<void>((resolve) => (resolveFlowsStarted = resolve));
    const onStarted = () => {
      flowsState = 'started';
      resolveFlowsStarted();
    };
    const onStopping = () => (flowsState = 'stopping');
    const onStopped = () => (flowsState = 'stopped');
    RED.events.on('flows:started', onStarted);
    // each connection's setup check, run by its config node after every deploy: one line per result
    const logSetup = (r: ConnectionCheck) => {
      const errors = r.problems.filter((p) => p.severity === 'error');
      const warnings = r.problems.length - errors.length;
      say(r.ok ? `setup check ${r.name} (${r.vendor}): OK${warnings ? `, ${warnings} warning(s): ${r.problems.map((p) => p.what).join('; ')}` : ''}` : `setup check ${r.name} (${r.vendor}): ${errors.length} problem(s): ${errors.map((p) => p.what).join('; ')} (details: POST /ps-fabric/connections/check or the connection's Check setup button)`);
    };
    setupChecks.on('result', logSetup);
    cleanups.push(async () => void setupChecks.off('result', logSetup));
    RED.events.on('flows:stopping', onStopping);
    RED.events.on('flows:stopped', onStopped);
    cleanups.push(async () => {
      RED.events.off('flows:started', onStarted);
      RED.events.off('flows:stopping', onStopping);
      RED.events.off('flows:stopped', onStopped);
    });

    const health = async (): Promise<HealthReport> => {
      const mem = process.memoryUsage();
      let storeOk = true;
      let storeError: string | undefined;
      try {
        await fabric.store.watermarkGet('__healthz');
      } catch (err) {
        storeOk = false;
        storeError = (err as Error).message;
      }
      const brokerOk = broker.healthy();
      const sandboxesOk = !sandboxes || (sandboxes as any).server?.listening !== false;
      const report: HealthReport = {
        status: 'ok',
        broker: { ok: brokerOk, ...broker.stats, persistence: broker.persistence, url: broker.url },
        store: { ok: storeOk, kind: fabric.store.kind, path: storePath, error: storeError },
        flows: { ok: flowsState === 'started', state: flowsState },
        sandboxes: { ok: sandboxesOk, enabled: !!sandboxes, url: sandboxes?.url },
        retention: { enabled: !!fabric.services.retention, lastRun: fabric.services.retention?.lastRun },
        memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
        uptimeSeconds: Math.round(process.uptime()),
      };
      if (!brokerOk || !storeOk || flowsState !== 'started' || !sandboxesOk) report.status = 'degraded';
      return report;
    };
    app.get('/healthz', (_req, res) => {
      health().then(
        (report) => res.status(report.status === 'ok' ? 200 : 503).json(report),
        (err) => res.status(503).json({ status: 'degraded', error: (err as Error).message }),
      );
    });

    const untrackMetrics = mountMetrics(app, fabric.store); // GET /metrics (Prometheus)
    cleanups.push(async () => untrackMetrics());

    RED.init(server, settings);
    app.use(settings.httpAdminRoot, RED.httpAdmin);
    app.use(settings.httpNodeRoot, RED.httpNode);
    // errors no route answered (express' default page carries the stack): JSON, the stack logged once
    app.use(jsonErrorHandler((line) => console.error(`[ps-fabric] ${line}`)));
    broker.attachWebSocket(server, '/mqtt');

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.uiPort, settings.uiHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as AddressInfo).port;
    const hostForUrl = settings.uiHost === '0.0.0.0' || settings.uiHost === '::' ? '127.0.0.1' : settings.uiHost;
    const url = `http://${hostForUrl}:${port}`;

    await RED.start();
    cleanups.push(async () => {
      await RED.stop();
    });
    // RED.start() can resolve before the flows have started: callers (tests, the start banner) get a runtime that
    // is ready. A flow that never starts is reported by /healthz, not waited on for ever.
    const startTimeout = new Promise<void>((resolve) => setTimeout(resolve, 60000).unref());
    await Promise.race([flowsStarted, startTimeout]);
    say(`editor: ${url}/  health: ${url}/healthz  MQTT over WebSocket: ws://${hostForUrl}:${port}/mqtt`);

    let stopped = false;
    return {
      url,
      port,
      mqttUrl: broker.url,
      mqttCredentials: { ...internal },
      legacyErpCredentials: { ...legacyErpUser },
      wsUrl: `ws://${hostForUrl}:${port}/mqtt`,
      userDir,
      settings,
      broker,
      fabric,
      sandboxes,
      RED,
      health,
      async stop() {
        if (stopped) return;
        stopped = true;
        // reverse order: Node-RED (flows close, nodes flush), HTTP server, sandboxes, broker, store
        await undo();
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
