/**
 * What a fabric-store config node offers the nodes that name it. Import this type in a node:
 *   const cfg = RED.nodes.getNode(config.store) as FabricStoreNode | null;
 *   const { exceptions } = cfg.requireServices();
 */
import type { AuditTrail } from '../../lib/audit';
import type { ExceptionQueue } from '../../lib/exceptions';
import type { FabricServices } from '../../lib/fabric/services';
import type { IdempotencyService } from '../../lib/idempotency';
import type { InboxWriter } from '../../lib/inbox';
import type { Store } from '../../lib/store/store';
import type { Node } from './red-types';

export interface FabricStoreNode extends Node {
  kind: 'sqlite' | 'postgres';
  /** The resolved file (sqlite). */
  storePath?: string;
  /** Why the store is not open, when it is not. */
  openError?: string;
  store?: Store;
  services?: FabricServices;
  inbox?: InboxWriter;
  idempotency?: IdempotencyService;
  exceptions?: ExceptionQueue;
  audit?: AuditTrail;
  /** The services, or a clear error saying why there are none (for users' input handlers: done(err)). */
  requireServices(): FabricServices;
  register(user: Node): void;
  deregister(user: Node): void;
}

