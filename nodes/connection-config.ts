/**
 * What every connector config node does with its connection, in one place: find the named `fabric-store`, register
 * the executor with that store's outbox (rate, concurrency, retries from the dialog), register with the store node,
 * and on close deregister and release the connection, then whatever the node opened itself (`release`). The node keeps
 * `store`, `services`, `handle` and `configError`.
 */
import type { ConnectionExecutor, ConnectionLimits } from '../lib/delivery/types';
import { limitsFrom, registerConnection } from '../lib/connectors/glue';
import type { NodeAPI } from './node-red-api';

export function connectToStore(
  RED: NodeAPI,
   
  node: any,
   
  config: any,
  opts: {
    type: string;
    executor: () => ConnectionExecutor;
    defaults: Partial<ConnectionLimits>;
    /** Limits the dialog does not set (e.g. an attempt timeout that must outlast the vendor's own ack timeout). */
    extraLimits?: Record<string, number>;
    /** Runs once the connection is registered (node.handle is set). */
    connected?: () => void;
    /** Closes what the node opened itself (a client, a subscription), after the connection is released. */
    release?: () => unknown;
  },
): void {
  const storeNode = RED.nodes.getNode(config.store);
  if (!node.configError && !storeNode?.store) node.configError = RED._(`${opts.type}.errors.noStore`);
  if (!node.configError) {
    try {
      node.store = storeNode.store;
      node.services = storeNode.services;
      const limits = { ...limitsFrom(config, opts.defaults), ...opts.extraLimits } as Partial<ConnectionLimits>;
      node.handle = registerConnection(storeNode.store, storeNode.services, node.connectionName, opts.executor(), limits);
      opts.connected?.();
      storeNode.register?.(node);
    } catch (err) {
      node.configError = (err as Error).message;
    }
  }
  if (node.configError) node.error(node.configError);
  node.on('close', (_removed: boolean, done: () => void) => {
    storeNode?.deregister?.(node);
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
