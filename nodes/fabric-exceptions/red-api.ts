// The Node-RED API shapes the fabric-idempotent, fabric-exception and fabric-exceptions nodes use.
import type { FabricServices } from '../../lib/fabric/services';
import type { Node, NodeAPI } from '../node-red-api';

export * from '../node-red-api';

/** The fabric-store config node as its users see it (nodes/fabric-store). */
export interface StoreConfigNode extends Node {
  services?: FabricServices;
  openError?: string;
  requireServices(): FabricServices;
  register(user: Node): void;
  deregister(user: Node): void;
}
/** The store config node a node references, or undefined with a reason. */
export function storeNode(RED: NodeAPI, id: string | undefined): StoreConfigNode | undefined {
  if (!id) return undefined;
  const n = RED.nodes.getNode(id) as StoreConfigNode | null;
  return n && typeof n.requireServices === 'function' ? n : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
