/**
 * Two companion nodes of the api-gate (registered by the api-gate module, edited in its palette section):
 *
 * `api-read`: answers an accepted experience-API read (msg.api from the gate: customers, projects, contracts, resources,
 * time-entries, invoices, revenue-events) from the systems of record through the
 * connector config nodes' system APIs (`handle.call`: rate limit, retry, circuit breaker) and maps the vendor
 * records onto canonical entities (lib/governance/reads.ts). Sets msg.statusCode + msg.payload for `http response`.
 * A bad query parameter answers 400 with field errors; a vendor failure 502 without vendor detail (the error is
 * logged by the node).
 *
 * `api-requests`: durable request status in the store's audit trail (lib/governance/request-status.ts):
 *   mode `accepted`: records the accepted write (msg.trackingId, msg.consumer, msg.api) and passes msg on;
 *   mode `status`:   answers GET /api/v1/requests/{trackingId} for the consumer that made the request (else 404);
 *   mode `updated`:  records a `fabric/v1/request/updated` event ({trackingId, status, detail}) from the process layer,
 *                    then hands its inbox entry over; a report it cannot record (not JSON, no or unknown tracking id,
 *                    unknown status) fails with the reason (a Catch + fabric-exception records it, msg.recordKey
 *                    `Request/<trackingId>` when it names one).
 */
import { readFromSystemsOfRecord, ReadInputError, SourceUnavailable, type ErpSource, type ReadSources } from '../../lib/governance/reads';
import { recordAccepted, recordUpdate, requestStatus } from '../../lib/governance/request-status';
import { requestedHandOver } from '../../lib/governance/handover';
import { requireAuthorisedSource } from '../../lib/governance/bus-sources';
import { ReadQuota, readQuotaOptionsFromEnv } from '../../lib/governance/read-quota';
import { routingTable } from '../../lib/processes/common';
import { markInboxProcessed } from '../../lib/inbox';
import type { BusinessCentralConnection, KantataConnection, NetSuiteConnection, SalesforceConnection } from '../connection-config';
import { API_READ, API_REQUESTS, type ApiReadConfig, type ApiRequestsConfig } from './config';
import { errorMessage, registerNode, resolveStore, type Node, type NodeAPI as RED } from '../node-red-api';

/** Experience-API reads wait behind the connection's writes (docs/delivery.md, "Priority lanes"). */
const LOW = { lane: 'low' } as const;

type Msg = Record<string, any>;

/** Default: the billing entities of the ERP routing table whose ERP has a read API, with the template's config node ids. */
export const DEFAULT_ERP_NODES: Record<string, string> = { 'NWA-US': 'psf-netsuite', 'NWA-UK': 'psf-bc-uk', 'NWA-DE': 'psf-bc-de' };

function sources(RED: RED, config: { salesforce?: string; kantata?: string; erps?: string }): ReadSources {
  const sf = config.salesforce ? RED.nodes.getNode<SalesforceConnection>(config.salesforce) : undefined;
  const k = config.kantata ? RED.nodes.getNode<KantataConnection>(config.kantata) : undefined;
  let erpNodes: Record<string, string> = DEFAULT_ERP_NODES;
  if (config.erps && config.erps.trim()) erpNodes = JSON.parse(config.erps);
  const routes = routingTable();
  const erps: ErpSource[] = [];
  for (const [billingEntity, id] of Object.entries(erpNodes)) {
    const n = RED.nodes.getNode<NetSuiteConnection | BusinessCentralConnection>(id);
    const route = (routes as Record<string, { currency: string }>)[billingEntity];
    const handle = n?.handle;
    if (!n || !handle) continue;
    if (n.type === 'netsuite-config' && n.connector) {
      const c = (n as NetSuiteConnection).connector.client;
      erps.push({
        billingEntity,
        currency: route?.currency ?? 'USD',
        system: 'netsuite',
        netsuite: {
          suiteqlPage: (q, o) => handle.call(() => c.suiteqlPage(q, o), LOW),
          getRecord: (type, rid, o) => handle.call(() => c.getRecord(type, rid, o), LOW),
          customFields: (n as NetSuiteConnection).connector.customFields,
        },
      });
    } else if (n.type === 'business-central-config' && n.connector) {
      const c = (n as BusinessCentralConnection).connector.client;
      erps.push({
        billingEntity,
        currency: route?.currency ?? 'EUR',
        system: 'businessCentral',
        businessCentral: {
          salesInvoices: (o) => handle.call(async () => c.list(`${await c.companyPath()}/salesInvoices${o.skip ? `?$skip=${o.skip}` : ''}`, { top: o.top, filter: o.filter, expand: ['salesInvoiceLines'], maxPages: 1 }), LOW),
        },
      });
    }
  }
  return {
    salesforce: sf?.client && sf.handle ? { query: (soql) => sf.client.query(soql) } : undefined,
    kantata: k?.client && k.handle ? { page: (coll, params) => k.handle!.call(() => k.client.page(coll, params), LOW), customFieldNames: () => k.client.customFieldNames() } : undefined,
    erps,
  };
}

export function registerApiReadNodes(RED: RED): void {
  // one cache and one budget per consumer for every api-read node: a consumer does not get a new budget per resource
  let quota: ReadQuota | undefined;
  function ApiRead(this: Node, config: ApiReadConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.on('input', async (msg: Msg, send, done) => {
      const api = msg.api ?? {};
      try {
        const src = sources(RED, config); // resolved per request: config nodes are redeployed independently
        quota ??= new ReadQuota(readQuotaOptionsFromEnv(process.env));
        const consumer = String(msg.consumer?.id ?? 'anonymous');
        const answer = await quota.serve(consumer, { resource: api.resource, kind: api.kind === 'item' ? 'item' : 'list', id: api.id, schemaVersion: api.schemaVersion, query: (msg.req?.query ?? {}) as Record<string, unknown> }, src, readFromSystemsOfRecord);
        msg.statusCode = answer.statusCode;
        msg.payload = answer.payload;
        msg.headers = { ...(msg.headers ?? {}), 'X-Cache': answer.cache ?? 'miss', ...(answer.retryAfterSeconds ? { 'Retry-After': String(answer.retryAfterSeconds) } : {}) };
      } catch (err) {
        if (err instanceof ReadInputError) {
          msg.statusCode = 400;
          msg.payload = { error: err.message, errors: err.errors };
        } else {
          // the vendor error stays in the runtime log; the caller learns only that the system of record failed
          node.warn(RED._('api-read.warn.readFailed', { resource: api.resource ?? '?', error: err instanceof SourceUnavailable ? err.message : errorMessage(err) }));
          msg.statusCode = 502;
          msg.payload = { error: 'the system of record is unavailable, try again later' };
        }
      }
      send(msg);
      done();
    });
  }
  registerNode(RED, API_READ.type, ApiRead, API_READ);

  function ApiRequests(this: Node, config: ApiRequestsConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeNode = resolveStore(RED, config.store);
    if (!storeNode) node.status({ fill: 'red', shape: 'ring', text: RED._('api-requests.status.noStore') });
    else storeNode.register(node);
    const services = () => {
      if (!storeNode) throw new Error(RED._('api-requests.status.noStore'));
      return storeNode.requireServices();
    };
    const trail = () => {
      const s = services();
      return { auditAppend: (e: any) => s.audit.append(e), auditList: (f: any) => s.store.auditList(f) };
    };
    node.on('input', async (msg: Msg, send, done) => {
      try {
        if (config.mode === 'accepted') {
          await recordAccepted(trail(), { trackingId: String(msg.trackingId), consumer: String(msg.consumer?.id), entity: String(msg.api?.entity), recordId: typeof msg.payload?.id === 'string' ? msg.payload.id : undefined });
          send(msg);
        } else if (config.mode === 'handover') {
          // output 1 the requested event, output 2 the caller's answer; a store failure (accepted) already set the 503
          if (msg.requestStatusFailed) send([null, msg]);
          else {
            const h = requestedHandOver({ entity: String(msg.api?.entity), schemaVersion: Number(msg.api?.schemaVersion ?? 1), data: msg.payload, trackingId: String(msg.trackingId), consumerId: String(msg.consumer?.id) });
            Object.assign(msg, h.response);
            send([h.publish, msg]);
          }
        } else if (config.mode === 'status') {
          const r = await requestStatus(trail(), String(msg.api?.id ?? ''), String(msg.consumer?.id ?? ''));
          msg.statusCode = r ? 200 : 404;
          msg.payload = r ?? { error: 'unknown tracking id' };
          send(msg);
        } else if (config.mode === 'updated') {
          const env = typeof msg.payload === 'string' ? JSON.parse(msg.payload) : msg.payload;
          const d = env?.data ?? env;
          if (typeof d?.trackingId === 'string' && d.trackingId) msg.recordKey = `Request/${d.trackingId}`;
          requireAuthorisedSource(env, 'request.updated');
          const outcome = await recordUpdate(trail(), { trackingId: d?.trackingId, status: d?.status, detail: d?.detail, errors: d?.errors, references: d?.references });
          // refused: the error goes to the tab's Catch -> exception queue (which hands the inbox entry over)
          if (!outcome.recorded) throw new Error(outcome.reason);
          // recorded durably in the audit trail: the report's inbox entry (fabric-mqtt-in) is handed over
          await markInboxProcessed(msg, services().store);
        }
        done();
      } catch (err) {
        if (config.mode === 'status' || config.mode === 'accepted') {
          // the write must not be answered 202 without a durable status: refuse with 503 instead
          node.warn(RED._('api-requests.warn.statusFailed', { mode: config.mode, error: errorMessage(err) }));
          msg.statusCode = 503;
          msg.payload = { error: 'request status store unavailable, try again later' };
          if (config.mode === 'accepted') msg.requestStatusFailed = true;
          send(msg);
          done();
        } else done(err as Error);
      }
    });
  }
  registerNode(RED, API_REQUESTS.type, ApiRequests, API_REQUESTS);
}
