/**
 * The setup check's admin API: `POST <httpAdminRoot>/ps-fabric/connections/check` with `{}` (every deployed connection
 * that has a check) or `{ "id": "<config node id>" }` runs the checks now and answers `{ ok, connections: [...] }`
 * (lib/setup ConnectionCheck each); permission `ps-fabric.write` (it spends the vendors' API quota), JSON body with the
 * `X-PS-Fabric-Request` header like the other PS Fabric admin calls (the editor's Check setup button sends it).
 * `GET .../connections/check` answers the last results without calling anyone (permission `ps-fabric.read`).
 * Registered once per runtime, by the first connection config node that loads.
 */
import { setupChecks } from '../lib/setup/registry';
import type { NodeAPI } from './node-red-api';
import { adminJson, registerAdminRoutesOnce } from './admin-routes';

/** The body's connection id: undefined for all; throws a message for anything else than `{}` or `{ id }`. */
export function parseCheckRequest(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw new Error('the body must be a JSON object: {} for every connection or {"id": "<config node id>"}');
  const { id, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw new Error(`unknown field(s) ${extra.join(', ')}: the body is {} for every connection or {"id": "<config node id>"}`);
  if (id === undefined) return undefined;
  if (typeof id !== 'string' || !id.trim()) throw new Error('id must be the config node id (a non-empty string), e.g. {"id": "psf-salesforce"}');
  return id;
}

export function registerSetupCheckRoutes(RED: NodeAPI): void {
  registerAdminRoutesOnce(RED, 'setup-check', () => routes(RED));
}

function routes(RED: NodeAPI): void {
  const json = adminJson('4kb');
  RED.httpAdmin.get('/ps-fabric/connections/check', RED.auth.needsPermission('ps-fabric.read'), (_req: any, res: any) => {
    const connections = setupChecks.results();
    res.json({ ok: connections.every((c) => c.ok), connections });
  });
  RED.httpAdmin.post('/ps-fabric/connections/check', RED.auth.needsPermission('ps-fabric.write'), json, (req: any, res: any) => {
    let id: string | undefined;
    try {
      id = parseCheckRequest(req.body);
    } catch (e) {
      res.status(400).json({ error: 'validation', message: (e as Error).message });
      return;
    }
    if (id !== undefined && !setupChecks.has(id)) {
      res.status(404).json({ error: 'not-found', message: `no deployed connection with id ${id} has a setup check (deploy the config node first; checked are ${setupChecks.ids().join(', ') || 'none'})` });
      return;
    }
    const run = id === undefined ? setupChecks.runAll() : setupChecks.run(id)!.then((r) => [r]);
    run.then(
      (connections) => res.json({ ok: connections.every((c) => c.ok), connections }),
      (e: unknown) => res.status(500).json({ error: 'internal', message: (e as Error)?.message ?? String(e) }),
    );
  });
}
