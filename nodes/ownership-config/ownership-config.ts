/**
 * The `ownership-config` config node: holds the ownership matrix (the shipped default, or an edited JSON
 * typed in the dialog), validated at deploy. Nodes that need it: `RED.nodes.getNode(config.ownership).matrix`
 * (an OwnershipMatrix; undefined when the edited JSON is invalid, with the reason in `.problem`).
 *
 * Admin endpoints for the dialog (RED.httpAdmin):
 *   GET  /ps-fabric/ownership/default    the shipped default matrix (permission flows.read)
 *   POST /ps-fabric/ownership/validate   {matrix: "<json text>"} -> {ok} or {ok:false, errors:[{path,message}]} (flows.write)
 *   GET  /ps-fabric/ownership/:id/rows   the active matrix of a deployed config node as table rows (dashboard)
 */
import fs from 'node:fs';
import { DEFAULT_MATRIX_FILE, OwnershipMatrix } from '../../lib/governance/ownership';
import { ValidationError } from '../../lib/delivery/errors';
import { clearActiveOwnershipMatrix, setActiveOwnershipMatrix } from '../../lib/governance/write-ownership';

import { registerNode, type Handler, type Node, type NodeAPI } from '../node-red-api';
import { OWNERSHIP_CONFIG, type OwnershipConfig } from './config';

interface OwnershipNode extends Node {
  matrix?: OwnershipMatrix;
  problem?: string;
}
/** The dialog's settings, as the template builders name them (templates/node-configs.ts). */
export type { OwnershipConfig };

module.exports = function (RED: NodeAPI) {
  function OwnershipConfigNode(this: OwnershipNode, config: OwnershipConfig) {
    RED.nodes.createNode(this, config);
    try {
      this.matrix = config.source === 'custom' && config.matrix?.trim() ? OwnershipMatrix.fromText(config.matrix, `ownership matrix of ${config.name || config.id}`) : OwnershipMatrix.default();
    } catch (err) {
      this.problem = (err as Error).message;
      this.error(RED._('ownership-config.errors.invalid', { message: this.problem }));
    }
    // connector writes (lib/connectors/glue.ts) are checked against the deployed matrix (the last one deployed wins)
    if (this.matrix) setActiveOwnershipMatrix(this.matrix, this.id);
    this.on('close', (_removed, done) => {
      clearActiveOwnershipMatrix(this.id);
      done();
    });
  }
  registerNode(RED, OWNERSHIP_CONFIG.type, OwnershipConfigNode, OWNERSHIP_CONFIG);

  const admin = RED.httpAdmin;
  if (!admin) return;
  const perm = (p: string): Handler => (RED.auth?.needsPermission ? RED.auth.needsPermission(p) : (_q, _s, next) => next?.());
  admin.get('/ps-fabric/ownership/default', perm('flows.read'), (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json(JSON.parse(fs.readFileSync(DEFAULT_MATRIX_FILE, 'utf8')));
  });
  admin.post('/ps-fabric/ownership/validate', perm('flows.write'), (req, res) => {
    const text = (req.body as { matrix?: unknown } | undefined)?.matrix;
    try {
      OwnershipMatrix.fromText(typeof text === 'string' ? text : JSON.stringify(text ?? null));
      res.status(200).json({ ok: true });
    } catch (err) {
      res.status(200).json({ ok: false, error: (err as Error).message, errors: err instanceof ValidationError ? err.details : [] });
    }
  });
  admin.get('/ps-fabric/ownership/:id/rows', perm('flows.read'), (req, res) => {
    const n = RED.nodes.getNode(String(req.params?.id ?? '')) as OwnershipNode | null;
    if (!n?.matrix) return res.status(404).json({ error: n?.problem ?? 'no deployed ownership-config with that id' });
    res.status(200).json({ rows: n.matrix.rows() });
  });
};
