/**
 * The cross-reference of record ids (lib/xref) on the admin HTTP API, permission `ps-fabric.read` (both are reads):
 *   GET <httpAdminRoot>/ps-fabric/xref?entity=<entity>&id=<canonical id>            every system's id of the record
 *   GET <httpAdminRoot>/ps-fabric/xref?entity=<entity>&system=<system>&id=<vendor id or number>
 *                                                                                   which record that vendor record is
 *   GET <httpAdminRoot>/ps-fabric/xref/reconcile?entity=<entity>&systems=kantata,jira,businessCentral|netsuite
 *                                                                                   records missing in a system
 * `?store=<fabric-store id>` picks a store; default the first deployed one. Registered once per runtime by the
 * fabric-store module.
 */
import { CrossReference, XrefQueryError, parseExpectedSystems } from '../lib/xref';
import { storeNamedOrFirst, type NodeAPI, type Request } from './node-red-api';
import { jsonAnswer, registerAdminRoutesOnce } from './admin-routes';

class NoStoreError extends Error {}

export function registerXrefRoutes(RED: NodeAPI): void {
  registerAdminRoutesOnce(RED, 'xref', () => {
    function xrefFor(req: Request): CrossReference {
      const wanted = typeof req.query.store === 'string' ? req.query.store : undefined;
      const found = storeNamedOrFirst(RED, wanted);
      if (!found) throw new NoStoreError(wanted ? `no fabric-store node with id ${wanted}` : 'no fabric-store is deployed: deploy a flow that uses one');
      return new CrossReference(found.requireServices().store);
    }
    const handle = (fn: (req: Request) => Promise<unknown>) =>
      jsonAnswer(fn, (err) => (err instanceof XrefQueryError ? { status: 400, error: 'bad-request' } : err instanceof NoStoreError ? { status: 503, error: 'no-store' } : { status: 500, error: 'internal' }));

    const read = RED.auth.needsPermission('ps-fabric.read');
    RED.httpAdmin.get('/ps-fabric/xref/reconcile', read, handle(async (req) => xrefFor(req).reconcile({ entity: req.query.entity, systems: parseExpectedSystems(req.query.systems) })));
    RED.httpAdmin.get('/ps-fabric/xref', read, handle(async (req) => xrefFor(req).lookup({ entity: req.query.entity, system: req.query.system, id: req.query.id })));
  });
}
