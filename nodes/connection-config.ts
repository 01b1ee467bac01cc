/**
 * What every connector config node does with its connection, in one place: find the named `fabric-store`, register
 * the executor with that store's outbox (rate, concurrency, retries from the dialog), register with the store node,
 * and on close deregister and release the connection. The node keeps `store`, `handle` and `configError`.
 */
import type { ConnectionExecutor, ConnectionLimits } from '../lib/delivery/types';
import { limitsFrom, registerConnection } from '../lib/connectors/glue';
import type { NodeAPI } from './node-red-api';

export function connectToStore(
  RED: NodeAPI,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  node: any,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  config: any,
  opts: { type: string; executor: () => ConnectionExecutor; defaults: Partial<ConnectionLimits> },
): void {
  const storeNode = RED.nodes.getNode(config.store);
  if (!node.configError && !storeNode?.store) node.configError = RED._(`${opts.type}.errors.noStore`);
  if (!node.configError) {
    try {
      node.store = storeNode.store;
      node.handle = registerConnection(storeNode.store, storeNode.services, node.connectionName, opts.executor(), limitsFrom(config, opts.defaults));
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
    if (!h) return done();
    h.close().then(done, () => done());
  });
}
