/**
 * The operators' backfill of one trigger: `POST <httpAdminRoot>/ps-fabric/triggers/<node id>/backfill` with
 * `{ from, to }` (ISO 8601), permission `ps-fabric.write`, JSON body (the editor's button sends it with the
 * `X-PS-Fabric-Request` header, like the other PS Fabric admin calls); `GET .../triggers` lists the runs
 * (permission `ps-fabric.read`). Registered once per runtime, whichever trigger module loads first; the work
 * is lib/triggers.
 */
import { parseBackfillRange } from '../lib/triggers/gaps';
import { triggerRuns } from '../lib/triggers/runs';
import type { NodeAPI } from './node-red-api';
import { adminJson, registerAdminRoutesOnce } from './admin-routes';

export function registerBackfillRoutes(RED: NodeAPI): void {
  registerAdminRoutesOnce(RED, 'trigger-backfill', () => routes(RED));
}

function routes(RED: NodeAPI): void {
  const json = adminJson('16kb');
  RED.httpAdmin.get('/ps-fabric/triggers', RED.auth.needsPermission('ps-fabric.read'), (_req: any, res: any) => {
    res.json({ runs: triggerRuns.list() });
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
    target.backfill(range, actor).then(
      (run) => res.status(202).json({ run }),
      (e: unknown) => {
        // the one refusal a target makes: a run of that trigger is in progress
        const code = /already running/.test(String((e as Error)?.message)) ? 409 : 500;
        res.status(code).json({ error: code === 409 ? 'conflict' : 'internal', message: (e as Error)?.message ?? String(e) });
      },
    );
  });
}
