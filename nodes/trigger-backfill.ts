/**
 * The operators' backfill of one trigger: `POST <httpAdminRoot>/ps-fabric/triggers/<node id>/backfill` with
 * `{ from, to }` (ISO 8601), permission `ps-fabric.write`, JSON body (the editor's button sends it with the
 * `X-PS-Fabric-Request` header, like the other PS Fabric admin calls): 202 with the run recorded in the store, run by
 * the instance that reads the trigger, whichever instance is asked; 409 while a run of the trigger is pending or
 * running on any instance. `GET .../triggers` lists the latest run per trigger from the store (permission
 * `ps-fabric.read`). Registered once per runtime, whichever trigger module loads first; the work
 * is lib/triggers.
 */
import { parseBackfillRange } from '../lib/triggers/gaps';
import { RunConflictError, triggerRuns } from '../lib/triggers/runs';
import type { NodeAPI } from './node-red-api';
import { adminJson, registerAdminRoutesOnce } from './admin-routes';

export function registerBackfillRoutes(RED: NodeAPI): void {
  registerAdminRoutesOnce(RED, 'trigger-backfill', () => routes(RED));
}

function routes(RED: NodeAPI): void {
  const json = adminJson('16kb');
  RED.httpAdmin.get('/ps-fabric/triggers', RED.auth.needsPermission('ps-fabric.read'), (_req: any, res: any) => {
    // the store's runs as they stand (another instance's progress included)
    triggerRuns.refresh().then(
      (runs) => res.json({ runs }),
      (e: unknown) => res.status(500).json({ error: 'internal', message: (e as Error)?.message ?? String(e) }),
    );
  });
  RED.httpAdmin.post('/ps-fabric/triggers/:id/backfill', RED.auth.needsPermission('ps-fabric.write'), json, (req: any, res: any) => {
    const target = triggerRuns.target(String(req.params.id));
    if (!target) {
      res.status(404).json({ error: 'not-found', message: `no deployed trigger with id ${String(req.params.id)} takes backfills (salesforce-trigger, kantata pollApproved)` });
      return;
    }
    let range;
    try {
      range = parseBackfillRange(req.body, Date.now());
    } catch (e) {
      res.status(400).json({ error: 'validation', message: (e as Error).message });
      return;
    }
    const actor = req.user?.username ? `user:${req.user.username}` : 'admin-api';
    // recorded in the store on whichever instance is asked; the instance reading the trigger runs it
    target.request('backfill', range, actor).then(
      (run) => res.status(202).json({ run }),
      (e: unknown) => {
        const code = e instanceof RunConflictError ? 409 : 500;
        res.status(code).json({ error: code === 409 ? 'conflict' : 'internal', message: (e as Error)?.message ?? String(e) });
      },
    );
  });
}
