/**
 * The config nodes that hold a connection, as the nodes that name them see them, and what every connector config node
 * does with its connection, in one place: find the named `fabric-store`, register
 * the executor with that store's outbox (rate, concurrency, retries from the dialog; the ownership guard of
 * lib/connectors/glue.ts), register with the store node, and on close deregister and release the connection, then
 * whatever the node opened itself (`release`). The node keeps `store`, `services`, `handle` and `configError`.
 */
import type { ConnectionExecutor, ConnectionLimits } from '../lib/delivery/types';
import type { FabricServices } from '../lib/fabric/services';
import type { Store } from '../lib/store/store';
import { registerConnection, type StatusHandle } from '../lib/connectors/glue';
import { limitsFrom, type LimitsConfig } from './settings';
import type { SalesforceClient, SalesforceNames } from '../lib/connectors/salesforce';
import type { NetSuiteConnector } from '../lib/connectors/netsuite';
import type { BusinessCentralConnector } from '../lib/connectors/business-central';
import type { checkBcNumberSeries } from '../lib/connectors/business-central/setup-check';
import type { KantataClient } from '../lib/connectors/kantata/client';
import type { JiraClient } from '../lib/connectors/jira/client';
import type { LegacyErpClient } from '../lib/connectors/legacy-erp/client';
import type { FabricMqttConnection } from '../lib/broker/connection';
import { resolveStore, type Node, type NodeAPI, type NodeDef, type StatusOptions } from './node-red-api';
import { setupChecks } from '../lib/setup/registry';
import type { ConnectionCheck, VendorCheckResult } from '../lib/setup/types';
import { flowsStartedOf } from './flows-started';
import { registerSetupCheckRoutes } from './setup-check-routes';

/** A connector config node as its operation nodes see it. */
export interface ConnectionConfigNode extends Node {
  connectionName: string;
  store?: Store;
  services?: FabricServices;
  handle?: StatusHandle;
  /** Why there is no connection (configuration error), for the users' status and errors. */
  configError?: string;
  register?(user: Node): void;
  deregister?(user: Node): void;
}

/** Connection and circuit state of a Salesforce org (login as well as the outbox). */
export interface SalesforceConnectionState {
  connection: 'idle' | 'connected' | 'failed';
  circuit: string;
  /** Outbox items of this connection waiting or in flight. */
  backlog?: number;
  error?: string;
}

/* Each connector config node as the nodes that name it see it (operation nodes, triggers, api-read). */
export interface SalesforceConnection extends ConnectionConfigNode {
  client: SalesforceClient;
  fieldNames: SalesforceNames;
  onState(listener: (s: SalesforceConnectionState) => void): () => void;
}
export interface NetSuiteConnection extends ConnectionConfigNode {
  connector: NetSuiteConnector;
}
export interface BusinessCentralConnection extends ConnectionConfigNode {
  connector: BusinessCentralConnector;
  /** The number series the setup check compares with the numbering setting (checkBcNumberSeries). */
  numberSeries?: ReturnType<typeof checkBcNumberSeries>;
}
export interface KantataConnection extends ConnectionConfigNode {
  client: KantataClient;
}
/** A Teams channel: posted to through a Workflows webhook or Microsoft Graph (nodes/teams-config). */
export interface TeamsConnection extends ConnectionConfigNode {
  mode: 'workflows' | 'graph';
}
export interface JiraConnection extends ConnectionConfigNode {
  client: JiraClient;
}
export interface LegacyErpConnection extends ConnectionConfigNode {
  client?: LegacyErpClient;
}

/** The fabric-broker config node as fabric-mqtt-in / fabric-mqtt-out see it. */
export interface FabricBrokerNode extends Node {
  connection?: FabricMqttConnection;
  /** Why there is no connection (configuration error), for the users' status. */
  configError?: string;
  register(user: Node): void;
  deregister(user: Node): void;
  statusFor(): StatusOptions;
}

/** The dialog settings every connector config node has. */
export interface ConnectionConfigDef extends NodeDef, LimitsConfig {
  store?: string;
}

export function connectToStore(
  RED: NodeAPI,
  node: ConnectionConfigNode,
  config: ConnectionConfigDef,
  opts: {
    type: string;
    executor: () => ConnectionExecutor;
    defaults: Parameters<typeof limitsFrom>[1];
    /** Limits the dialog does not set (e.g. an attempt timeout that must outlast the vendor's own ack timeout). */
    extraLimits?: Record<string, number>;
    /** Runs once the connection is registered (node.handle is set). */
    connected?: () => void;
    /** Closes what the node opened itself (a client, a subscription), after the connection is released. */
    release?: () => unknown;
    /**
     * The vendor's setup check (`checkSetup(client, settings)` of lib/connectors/<vendor>/setup-check.ts): registered
     * with lib/setup for the admin route and the dialog's button, run once after each deploy, a result with problems shown
     * as the status of the nodes that use this connection.
     */
    setupCheck?: () => Promise<VendorCheckResult>;
  },
): void {
  const storeNode = resolveStore(RED, config.store);
  if (!node.configError && !storeNode?.store) node.configError = RED._(`${opts.type}.errors.noStore`);
  if (!node.configError && storeNode?.store) {
    try {
      node.store = storeNode.store;
      node.services = storeNode.services;
      const limits = { ...limitsFrom(config, opts.defaults), ...opts.extraLimits } as Partial<ConnectionLimits>;
      node.handle = registerConnection(storeNode.store, storeNode.services, node.connectionName, opts.executor(), limits);
      opts.connected?.();
      storeNode.register(node);
    } catch (err) {
      node.configError = (err as Error).message;
    }
  }
  if (node.configError) node.error(node.configError);
  const endSetupCheck = opts.setupCheck ? watchSetup(RED, node, config, opts.type, opts.setupCheck) : undefined;
  node.on('close', (_removed: boolean, done: () => void) => {
    endSetupCheck?.();
    storeNode?.deregister(node);
    const h = node.handle;
    node.handle = undefined;
    (h ? h.close() : Promise.resolve())
      .catch(() => undefined)
      .then(() => opts.release?.())
      .then(
        () => done(),
        () => done(),
      );
  });
}

/**
 * Registers the node's setup check (a node whose settings were refused reports that instead of calling the vendor),
 * runs it once the deployed flows have started (never blocking the start; a failed check is a result, not an
 * error) and shows problems on the nodes that use this connection. Returns the undo for close.
 */
function watchSetup(
  RED: NodeAPI,
  node: ConnectionConfigNode,
  config: ConnectionConfigDef,
  type: string,
  check: () => Promise<VendorCheckResult>,
): () => void {
  registerSetupCheckRoutes(RED);
  const vendor = type.replace(/-config$/, '');
  const t = (k: string, s?: Record<string, unknown>) => RED._(`${type}.setup.${k}`, s);
  const run = (): Promise<VendorCheckResult> =>
    node.configError
      ? Promise.resolve({ vendor, ok: false, checks: [{ check: 'config', ok: false, detail: node.configError }], problems: [{ check: 'config', what: `This config node's settings were refused: ${node.configError}`, fix: 'Correct the setting named in the message in this config node and deploy again.', where: 'this config node', severity: 'error' as const }] })
      : check();
  const unregister = setupChecks.register({ connection: node.id, name: config.name || node.id, vendor, connectionName: node.connectionName ?? `${vendor}:${config.name || node.id}`, run });
  // The users' own status (connected, circuit, backlog) stays until a check finds something; once a problem was
  // shown, the next clean result says so instead of leaving the old problem on display.
  let shownProblem = false;
  const show = (r: ConnectionCheck) => {
    if (r.connection !== node.id) return;
    if (r.ok && !r.problems.length && !shownProblem) return;
    shownProblem = !r.ok || r.problems.length > 0;
    const errors = r.problems.filter((p) => p.severity === 'error');
    const status: StatusOptions = !r.ok
      ? { fill: 'red', shape: 'ring', text: t('problems', { count: errors.length || 1, what: String((errors[0] ?? r.problems[0])?.what ?? r.checks.find((c) => !c.ok)?.detail ?? '').slice(0, 80) }) }
      : r.problems.length
        ? { fill: 'yellow', shape: 'dot', text: t('warnings', { count: r.problems.length }) }
        : { fill: 'green', shape: 'dot', text: t('ok') };
    RED.nodes.eachNode((n) => {
      const ref = n as unknown as Record<string, unknown>;
      if (n.id === node.id || !Object.entries(ref).some(([k, v]) => v === node.id && k !== 'id' && k !== 'z' && k !== 'g')) return;
      RED.nodes.getNode(n.id)?.status?.(status);
    });
  };
  setupChecks.on('result', show);
  let closed = false;
  flowsStartedOf(RED)()
    .then(() => (closed ? undefined : setupChecks.run(node.id)))
    .catch(() => undefined);
  return () => {
    closed = true;
    setupChecks.off('result', show);
    unregister();
  };
}
