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
import { errorMessage, resolveStore, type FabricStoreNode, type NodeAPI, type Request, type Response } from './node-red-api';

const REGISTERED = Symbol.for('ps-fabric.xref.routes');

class NoStoreError extends Error {}

export function registerXrefRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as Record<symbol, boolean>;
  if (app[REGISTERED]) return;
  app[REGISTERED] = true;

  function xrefFor(req: Request): CrossReference {
    const wanted = typeof req.query.store === 'string' ? req.query.store : undefined;
    let found: FabricStoreNode | undefined;
    if (wanted) {
      found = resolveStore(RED, wanted);
      if (!found) throw new NoStoreError(`no fabric-store node with id ${wanted}`);
    } else {
      RED.nodes.eachNode((cfg) => {
        if (found || cfg.type !== 'fabric-store') return;
        const n = resolveStore(RED, cfg.id);
        if (n?.services) found = n;
      });
      if (!found) throw new NoStoreError('no fabric-store is deployed: deploy a flow that uses one');
    }
    return new CrossReference(found.requireServices().store);
  }

  function handle(fn: (req: Request) => Promise<unknown>) {
    return (req: Request, res: Response) => {
      fn(req).then(
        (body) => res.json(body),
        (err: unknown) => {
          const code = err instanceof XrefQueryError ? 400 : err instanceof NoStoreError ? 503 : 500;
          res.status(code).json({ error: code === 400 ? 'bad-request' : code === 503 ? 'no-store' : 'internal', message: errorMessage(err) });
        },
      );
    };
  }

  const read = RED.auth.needsPermission('ps-fabric.read');
  RED.httpAdmin.get('/ps-fabric/xref/reconcile', read, handle(async (req) => xrefFor(req).reconcile({ entity: req.query.entity, systems: parseExpectedSystems(req.query.systems) })));
  RED.httpAdmin.get('/ps-fabric/xref', read, handle(async (req) => xrefFor(req).lookup({ entity: req.query.entity, system: req.query.system, id: req.query.id })));
}
