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
import type { KantataClient } from '../lib/connectors/kantata/client';
import type { JiraClient } from '../lib/connectors/jira/client';
import type { LegacyErpClient } from '../lib/connectors/legacy-erp/client';
import type { FabricMqttConnection } from '../lib/broker/connection';
import { resolveStore, type Node, type NodeAPI, type NodeDef, type StatusOptions } from './node-red-api';

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
}
export interface KantataConnection extends ConnectionConfigNode {
  client: KantataClient;
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
  node.on('close', (_removed: boolean, done: () => void) => {
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
