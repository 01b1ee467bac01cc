/**
 * `api-fulfil` (registered by the api-gate module): the process-layer end of an experience-API write. Thin: the work
 * is in lib/governance/fulfilment.ts; this node injects the Kantata connection (reads through `handle.call`, the
 * write through the outbox with `handle.submit`) and the store's idempotency service.
 *
 * Modes:
 *   timeentry  input: the `fabric/v1/timeentry/requested` event. Records the entry in the PSA (ownership: capture is
 *              the PSA's, rate/invoice the ERP's), then out 1 triggers the PSA poll of time-to-cash
 *   project    input: the `fabric/v1/project/requested` event. Creates the project shell in the PSA (once per
 *              project id), out 1 = `fabric/v1/project/created` CloudEvent
 *   invoiced   input: time-to-cash's posted invoice (msg.invoiceWrite): the portal requests billed on it complete
 *   blocked    input: an entry time-to-cash blocked (msg.payload = entry, msg.error): its portal requests fail
 * Out 2: `fabric/v1/request/updated` reports (one msg each). Out 3: an exception for the owner team (msg.error,
 * msg.errorClass, msg.ownerTeam, msg.recordKey) for a fabric-exception node.
 */
import { entryBlocked, fulfilProject, fulfilTimeEntry, invoicePosted, parseRequested, statusEvent, type FulfilOutcome, type PsaAccess, type StatusReport } from '../../lib/governance/fulfilment';
import { FabricError } from '../../lib/delivery/errors';
import { inboxRefOf, INBOX_REF_PROPERTY } from '../../lib/inbox';
import { toEnvelope } from '../../lib/model';
import type { KantataConnection } from '../connection-config';
import { API_FULFIL, type ApiFulfilConfig } from './config';
import { registerNode, resolveStore, type Node, type NodeAPI as RED } from '../node-red-api';

type Msg = Record<string, any>;

const UPDATED_TOPIC = 'fabric/v1/request/updated';

export function registerApiFulfilNode(RED: RED): void {
  function ApiFulfil(this: Node, config: ApiFulfilConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = resolveStore(RED, config.store);
    storeNode?.register(node);
    const t = (k: string, s?: Record<string, unknown>) => RED._(`api-fulfil.${k}`, s);
    let counts = { done: 0, failed: 0 };
    const processName = config.mode === 'project' ? 'experience-api' : 'time-to-cash';

    function psa(msg: Msg): PsaAccess {
      const k = config.kantata ? RED.nodes.getNode<KantataConnection>(config.kantata) : undefined;
      const handle = k?.handle;
      if (!handle || !k?.client) throw new Error(t('errors.noKantata'));
      return {
        page: (collection, params) => handle.call(() => k.client.page(collection, params)),
        submit: async (w) => {
          const r = await handle.submit({ ...w, process: processName, step: node.name || `api-fulfil ${config.mode}`, inbox: inboxRefOf(msg) });
          return { response: r.response, duplicate: r.duplicate };
        },
      };
    }
    function services() {
      if (!storeNode) throw new Error(t('errors.noStore'));
      return storeNode.requireServices();
    }
    const reportMsg = (r: StatusReport): Msg => ({ topic: UPDATED_TOPIC, payload: statusEvent(r), trackingId: r.trackingId });

    node.on('input', async (msg: Msg, send, done) => {
      const inbox = msg[INBOX_REF_PROPERTY];
      try {
        if (config.mode === 'invoiced') {
          const w = msg.invoiceWrite ?? {};
          const posted = msg.payload?.data ?? {};
          const erpDocument = posted.externalIds?.[w.erp === 'businessCentral' ? 'businessCentral' : w.erp];
          const reports = await invoicePosted((w.entryIds ?? []).map(String), { id: String(w.invoice?.id ?? posted.id), erp: w.erp, erpDocument }, { idempotency: services().idempotency });
          if (reports.length) send([null, reports.map(reportMsg), null]);
          done();
          return;
        }
        if (config.mode === 'blocked') {
          const id = String(msg.payload?.id ?? '');
          const reports = /^KAN-TE-\d+$/.test(id) ? await entryBlocked(id, String(msg.error?.message ?? 'blocked by time-to-cash'), msg.error?.details ?? [], { idempotency: services().idempotency }) : [];
          if (reports.length) send([null, reports.map(reportMsg), null]);
          done();
          return;
        }
        const req = parseRequested(msg.payload);
        let out: FulfilOutcome;
        try {
          const deps = { psa: psa(msg), idempotency: services().idempotency };
          out = config.mode === 'project' ? await fulfilProject(req, deps) : await fulfilTimeEntry(req, deps);
        } catch (err) {
          const message = (err as Error)?.message ?? String(err);
          node.warn(t('warn.requestFailed', { mode: config.mode, trackingId: req.trackingId, error: message }));
          // an outbox / ownership refusal is already in the exception queue (FabricError.exceptionId); anything else gets one here
          out = {
            reports: [{ trackingId: req.trackingId, status: 'failed', detail: `${config.mode === 'project' ? 'project' : 'time entry'} ${req.data.id} could not be recorded in the PSA: ${message.slice(0, 300)}` }],
            ...(err instanceof FabricError && err.exceptionId !== undefined ? {} : { exception: { message, details: [], errorClass: 'validation' as const, ownerTeam: 'integration-ops', recordKey: `${config.mode === 'project' ? 'Project' : 'TimeEntry'}/${req.data.id}` } }),
          };
        }
        const reports = out.reports.map(reportMsg);
        const failed = out.reports.some((r) => r.status === 'failed');
        counts = { done: counts.done + (failed ? 0 : 1), failed: counts.failed + (failed ? 1 : 0) };
        node.status({ fill: failed ? 'yellow' : 'green', shape: 'dot', text: t('status.counts', counts) });
        // the inbox entry is handed over by the outbox submit; otherwise by the exception or the report's publish
        if (out.exception) {
          const e = out.exception;
          const exc: Msg = { payload: req.data, error: { message: e.message, details: e.details }, errorClass: e.errorClass, ownerTeam: e.ownerTeam, recordKey: e.recordKey, correlationId: req.trackingId, process: processName, step: `api-request-${config.mode}`, ...(inbox ? { [INBOX_REF_PROPERTY]: inbox } : {}) };
          send([null, reports, exc]);
        } else {
          if (inbox && reports.length) reports[reports.length - 1][INBOX_REF_PROPERTY] = inbox;
          let first: Msg | null = null;
          if (out.pollPsa) first = { topic: 'kantata/poll', payload: {} };
          if (out.created) {
            first = { topic: 'fabric/v1/project/created', payload: toEnvelope({ entity: 'project', event: 'created', source: '/ps-fabric/experience-api', data: out.created, correlationid: req.trackingId, idempotencykey: `experience-api:project:${req.data.id}:created` }), correlationId: req.trackingId };
          }
          send([first, reports, null]);
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  }
  registerNode(RED, API_FULFIL.type, ApiFulfil, API_FULFIL);
}
