/**
 * The Experience APIs tab (flows/experience-api.json): every endpoint is an `http in` node wired to the api gate; writes
 * are recorded and handed to the process layer, reads answered from the systems of record, request status kept in the
 * store. The endpoints are the resources of lib/governance (v1 for all, v2 for time entries).
 */
import { BROKER, STORE, Tab, type FlowNode } from './kit';

/** The v1 resources: list, create (the gate refuses writes to resources owned elsewhere) and read one. */
const V1_RESOURCES = ['customers', 'projects', 'contracts', 'resources', 'time-entries', 'invoices', 'revenue-events'];
const GATE = 'ps-fabric-api-gate';

/** The endpoints in the order they stand on the tab: OpenAPI, v1 resources, v2 time entries, request status. */
function endpoints(): Array<{ method: 'get' | 'post'; url: string }> {
  const resource = (v: string, r: string) => [
    { method: 'get' as const, url: `/api/${v}/${r}` },
    { method: 'post' as const, url: `/api/${v}/${r}` },
    { method: 'get' as const, url: `/api/${v}/${r}/:id` },
  ];
  return [
    { method: 'get', url: '/api/v1/openapi.json' },
    ...V1_RESOURCES.flatMap((r) => resource('v1', r)),
    ...resource('v2', 'time-entries'),
    { method: 'get', url: '/api/v1/requests/:id' },
  ];
}

export function experienceApi(): FlowNode[] {
  const t = new Tab('ps-fabric-experience-api', { label: 'Experience APIs', disabled: false, info: 'Governed experience APIs under /api/v1 (and /api/v2 for time entries). Every request passes the api-gate (auth, scopes, rate limit, size, schema, version headers) before a flow touches it. See docs/governance.md and docs/security.md.' });
  const gate = t.group('api-group-gate', { name: 'Endpoints and gate', style: { label: true }, x: 54, y: 59, w: 852, h: 1060 });
  const writes = t.group('api-group-writes', { name: 'Writes and request status', style: { label: true }, x: 934, y: 159, w: 752, h: 180 });
  const reads = t.group('api-group-sor', { name: 'customers, projects, contracts, resources, time-entries, invoices, revenue-events: reads from the systems of record', style: { label: true }, x: 1274, y: 406, w: 552, h: 68 });
  const status = t.group('api-group-readmodel', { name: 'Request status reports of the process layer', style: { label: true }, x: 54, y: 1140, w: 652, h: 100 });
  const projects = t.group('api-group-project-requests', { name: 'Project requests -> PSA (Kantata): the process for POST /api/v1/projects', style: { label: true, fill: '#e3f3d3', 'fill-opacity': '0.35' }, x: 54, y: 1280, w: 1252, h: 200 });
  const errors = t.group('api-group-errors', { name: 'Errors -> exception queue (every node of this tab)', style: { label: true, fill: '#f8d7da', 'fill-opacity': '0.35' }, x: 54, y: 1500, w: 652, h: 120 });

  // endpoints -> gate -> read / write / status
  endpoints().forEach(({ method, url }, i) => {
    const name = `${method.toUpperCase()} ${url}`;
    const id = `api-in-${method}-${url.slice(1).replace(/:/g, '').replace(/[/.]/g, '-')}`;
    gate.node('http in', id, [200, 80 + 40 * i], { name, url, method, upload: false, swaggerDoc: '' }, [[GATE]]);
  });
  gate.node('api-gate', GATE, [520, 400], { name: 'api gate', basePath: '/api', acceptKeys: true, consumersFile: '', jwtIssuer: '${FABRIC_API_JWT_ISSUER}', jwtAudience: '${FABRIC_API_JWT_AUDIENCE}', jwksUrl: '${FABRIC_API_JWKS_URL}', jwtPublicKey: '${FABRIC_API_JWT_PUBLIC_KEY}', ratePerSecond: 10, rateBurst: 20, maxBodyBytes: 262144, validate: true, publicOpenApi: true, serveOpenApi: true }, [['api-route'], ['api-refusals']]);
  gate.node('debug', 'api-refusals', [760, 460], { name: 'refusals (audit / monitoring)', active: true, tosidebar: false, console: false, tostatus: true, complete: 'api', targetType: 'msg', statusVal: 'statusCode', statusType: 'msg' }, []);
  gate.node('switch', 'api-route', [760, 400], { name: 'read / write / status', property: 'api.kind', propertyType: 'msg', rules: [{ t: 'eq', v: 'request-status', vt: 'str' }, { t: 'jsonata_exp', v: 'api.verb = \'write\'', vt: 'jsonata' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 3 }, [['api-request-status'], ['api-request-accepted'], ['api-read-route']]);
  t.node('comment', 'api-comment-overview', [220, 40], { name: 'Experience APIs: http in -> api gate -> route -> respond', info: 'Every endpoint is an `http in` node wired to the **api gate**. The gate answers refusals itself (401/403/404/405/413/415/429/400 with field paths) and sends them to its second output for monitoring; accepted requests carry `msg.consumer` and `msg.api`.\n\n* Keys: issue and revoke in the api gate\'s dialog or with the admin API `/ps-fabric/api-keys` (docs/security.md).\n* OpenAPI: `GET /api/v1/openapi.json`, answered by the gate from the canonical schemas.\n* Config nodes are referenced by id: `psf-broker` (fabric-broker) and `psf-store` (fabric-store), shared with the other templates (flows/_config.json).' }, []);
  t.node('comment', 'api-comment-writes', [1100, 240], { name: 'Writes: projects and time entries only, validated by the gate, handed to the process layer, 202 + tracking id', info: 'Only `projects` and `time-entries` (v1 and v2) take writes; the gate answers POST on customers, contracts, resources, invoices and revenue events with 405 (Allow: GET) and the reason (their system of record and owner team), before credentials, with no effect. Accepted writes are wrapped in a CloudEvent (id = tracking id) and published on `fabric/v1/<entity>/requested` (QoS 1):\n\n* `fabric/v1/project/requested` -> the *Project requests -> PSA* group below;\n* `fabric/v1/timeentry/requested` -> the time-to-cash tab, group 6 (recorded in the PSA, then billed like every PSA entry).\n\nThe caller polls `GET /api/v1/requests/{trackingId}`; the process layer reports progress on `fabric/v1/request/updated` with `{trackingId, status: processing|completed|failed, detail, errors?, references?}`. The accepted request is recorded in the store before the 202 (api-requests, mode accepted).' }, []);
  writes.node('api-requests', 'api-request-status', [1060, 200], { name: 'request status (own requests only, from the store)', store: STORE, mode: 'status' }, [['api-response']]);
  writes.node('api-requests', 'api-request-accepted', [1060, 300], { name: 'record accepted request (store)', store: STORE, mode: 'accepted' }, [['api-handover']]);
  writes.node('api-requests', 'api-handover', [1300, 300], { name: 'hand over: fabric/v1/<entity>/requested', store: STORE, mode: 'handover', outputs: 2 }, [['api-publish-requested'], ['api-response']]);
  writes.node('fabric-mqtt-out', 'api-publish-requested', [1560, 280], { name: 'publish requested', broker: BROKER, topic: '', qos: '1', retain: false, maxBytes: 1048576 }, []);
  t.node('comment', 'api-comment-reads', [1420, 400], { name: 'Reads: every resource from its system of record', info: 'customers: Salesforce Account (legal name, billing entity, country, currency, tax registration, billing address; filter billingEntity); projects: Kantata workspaces (account, opportunity and billing entity from the workspace custom fields, billing type from the description, delivery manager = primary maven or admin participant); contracts: Salesforce Contract with billing milestones and amendments; resources: Kantata participations (projectId required); time entries: Kantata time_entries (projectId, from, to, status); invoices: the ERP of each billing entity (NetSuite SuiteQL + invoice GET, Business Central salesInvoices; billingEntity); revenue events: derived from posted ERP invoices. All seven are answered by the api-read node (lib/governance/reads.ts), which maps vendor records onto canonical entities and validates them (a record that cannot be represented is listed under `incomplete`, an item answers 502). Paging: limit + cursor (nextCursor). A vendor failure answers 502 without vendor detail.' }, []);
  t.node('switch', 'api-read-route', [1060, 520], { name: 'route reads by resource', property: 'api.resource', propertyType: 'msg', rules: [{ t: 'eq', v: 'customers', vt: 'str' }, { t: 'eq', v: 'projects', vt: 'str' }, { t: 'eq', v: 'contracts', vt: 'str' }, { t: 'eq', v: 'resources', vt: 'str' }, { t: 'eq', v: 'time-entries', vt: 'str' }, { t: 'eq', v: 'invoices', vt: 'str' }, { t: 'eq', v: 'revenue-events', vt: 'str' }], checkall: 'false', repair: false, outputs: 7 }, [['api-read-sor'], ['api-read-sor'], ['api-read-sor'], ['api-read-sor'], ['api-read-sor'], ['api-read-sor'], ['api-read-sor']]);
  reads.node('api-read', 'api-read-sor', [1460, 440], { name: 'customers + contracts (Salesforce), projects + resources + time entries (Kantata), invoices + revenue events (ERP)', salesforce: 'psf-salesforce', kantata: 'psf-kantata', erps: '' }, [['api-response']]);
  t.node('http response', 'api-response', [1720, 400], { name: 'respond', statusCode: '', headers: {} }, []);

  // request status: the process layer's reports, recorded in the store
  status.node('comment', 'api-comment-readmodel', [260, 1160], { name: 'Request status: durable, in the store audit trail', info: 'Accepted writes and the process layer\'s `fabric/v1/request/updated` reports are recorded by api-requests nodes in the store (audit action `api.request.status`, correlation id = tracking id): the status survives a restart and every instance on the same store sees it.' }, []);
  status.node('fabric-mqtt-in', 'api-readmodel-in', [200, 1200], { name: 'request updates', broker: BROKER, store: STORE, topic: 'fabric/v1/request/updated' }, [['api-request-updated']]);
  status.node('api-requests', 'api-request-updated', [520, 1200], { name: 'record request update (store)', store: STORE, mode: 'updated' }, []);

  // project requests: created in the PSA once
  projects.node('comment', 'api-comment-project-requests', [360, 1320], { name: 'POST /api/v1/projects: created in the PSA once, then project.created; status reported to the caller', info: 'The api gate validated the project against the canonical schema and the hand-over published `fabric/v1/project/requested` (id = tracking id).\n\n* **api fulfil (project)** creates the project shell in Kantata (the system of record of the project shell) through the `psf-kantata` connection and the outbox (retries, rate limit, breaker): workspace with billing entity / opportunity / account custom fields, workstreams as stories, the delivery manager (a Kantata user, by email) as admin. The workspace is looked up by the project id (external reference) first and the outbox key is `experience-api:project:<id>`, so a repeated POST creates nothing and reports `completed` with the existing workspace.\n* Output 1: `fabric/v1/project/created` (only when the workspace was created now).\n* Output 2: `fabric/v1/request/updated` (`completed` with `references.psa = KAN-WS-<id>`, or `failed` with the field named), recorded by the group below as the request\'s status.\n* Output 3: validation failures (delivery manager not in the PSA, ownership) -> exception queue, owner pmo. Failed Kantata writes are already in the queue (outbox).\n\nThe ERP project and Jira space are not created here: quote-to-project does that for won deals.' }, []);
  projects.node('fabric-mqtt-in', 'api-project-requested-in', [200, 1380], { name: 'fabric/v1/project/requested', broker: BROKER, store: STORE, topic: 'fabric/v1/project/requested' }, [['api-project-fulfil']]);
  projects.node('api-fulfil', 'api-project-fulfil', [480, 1380], { name: 'create the project in the PSA (once)', store: STORE, kantata: 'psf-kantata', mode: 'project' }, [['api-publish-project-created'], ['api-publish-request-updated'], ['api-project-exception']]);
  projects.node('fabric-mqtt-out', 'api-publish-project-created', [800, 1340], { name: 'fabric/v1/project/created', broker: BROKER, topic: 'fabric/v1/project/created', qos: '1', retain: false }, []);
  projects.node('fabric-mqtt-out', 'api-publish-request-updated', [800, 1390], { name: 'fabric/v1/request/updated', broker: BROKER, topic: 'fabric/v1/request/updated', qos: '1', retain: false }, []);
  projects.node('fabric-exception', 'api-project-exception', [820, 1440], { name: 'exception: owner from the request (pmo)', store: STORE, process: 'experience-api', step: 'project-request', owner: '', errorClass: 'validation', message: '', replay: false, outputs: 2 }, [[], []]);

  // errors
  errors.node('comment', 'api-comment-errors', [370, 1540], { name: 'A failed or refused message is an exception with its reason, never only a log line', info: 'Catches every error of this tab: a `fabric/v1/project/requested` or `fabric/v1/request/updated` payload that is not acceptable (empty, not JSON), a requested event without a tracking id or data.id, a request update for no accepted request or with an unknown status. The exception hands the message\'s inbox entry over; its record key is the request (`Request/<trackingId>`) or, when the message names none, the message id.' }, []);
  errors.node('catch', 'api-catch', [150, 1580], { name: 'any step failed', scope: null, uncaught: false }, [['api-exc']]);
  errors.node('fabric-exception', 'api-exc', [420, 1580], { name: 'exception: owner from matrix', store: STORE, process: 'experience-api', step: '', owner: '', errorClass: 'permanent', message: '', replay: false, outputs: 2 }, [[], []]);
  return t.build();
}
