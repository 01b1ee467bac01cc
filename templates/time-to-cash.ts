/**
 * The time-to-cash tab (flows/time-to-cash.json): Approved time (PSA poll, legacy ERP over MQTT, experience-API entries) -> invoices in the ERP of the billing entity -> entries marked invoiced, invoice.posted.
 * The process logic is lib/processes (process-step steps); the tab wires it to the connector nodes.
 */
import { BROKER, type FlowNode, SECTION, sectionStyle, STORE, Tab } from './kit';

export function timeToCash(): FlowNode[] {
  const t = new Tab('psf-tab-t2c', { label: 'time-to-cash', disabled: false, info: 'Approved time (PSA poll + legacy MQTT) -> invoices per customer/project/period in the right ERP -> entries marked invoiced -> `fabric/v1/invoice/posted`. See docs/templates.md.' });
  const timeIn = t.group('t2c-g1', { name: '1. Approved time in: PSA (durable cursor) and legacy ERP over MQTT (ack after inbox commit)', style: sectionStyle(SECTION.trigger), x: 20, y: 20, w: 1160, h: 200 });
  const plan = t.group('t2c-g2', { name: '2. Validate, de-duplicate, group per customer / project / period, build invoices', style: sectionStyle(SECTION.plan), x: 20, y: 240, w: 1160, h: 160 });
  const erp = t.group('t2c-g3', { name: '3. Invoice in the ERP (outbox: retries, quota, breaker)', style: sectionStyle(SECTION.write), x: 20, y: 420, w: 1160, h: 240 });
  const posted = t.group('t2c-g4', { name: '4. Mark entries invoiced, publish invoice.posted, KPI', style: sectionStyle(SECTION.publish), x: 20, y: 680, w: 1160, h: 160 });
  const errors = t.group('t2c-g5', { name: '5. Errors -> exception queue', style: sectionStyle(SECTION.errors), x: 20, y: 860, w: 1160, h: 150 });
  const portal = t.group('t2c-g6', { name: '6. Experience-API time entries: PSA first, then the same billing path; status to the portal', style: sectionStyle(SECTION.api), x: 20, y: 1030, w: 1160, h: 210 });
  timeIn.comment('t2c-c1', [401, 60], 'Kantata polled for approved, uninvoiced entries; FR01 publishes TE lines on legacy/fr01/time/out');
  timeIn.node('kantata', 't2c-kantata-poll', [220, 110], { name: 'Kantata: approved time', kantata: 'psf-kantata', operation: 'pollApproved', collection: 'workspaces', pollSeconds: '${FABRIC_T2C_POLL_SECONDS}', output: 'batch', maxRecords: 5000, workspaceId: '' }, [['t2c-collect']]);
  timeIn.node('fabric-mqtt-in', 't2c-legacy-in', [220, 170], { name: 'legacy/fr01/time/out', broker: BROKER, store: STORE, topic: 'legacy/fr01/time/out', qos: '1', format: 'text', maxBytes: 1048576, maxReplays: 3, outputs: 2 }, [['t2c-legacy-decode'], ['t2c-lo-legacy-exc']]);
  timeIn.node('legacy-erp', 't2c-legacy-decode', [450, 170], { name: 'TE lines -> canonical', mode: 'decodeTime', topic: '', outputs: 2 }, [['t2c-legacy-batch'], ['t2c-lo-legacy-exc']]);
  timeIn.node('join', 't2c-legacy-batch', [690, 170], { name: 'batch: 500 entries or 2 s', mode: 'custom', build: 'array', property: 'payload', propertyType: 'full', key: 'topic', joiner: '\\n', joinerType: 'str', accumulate: false, timeout: '2', count: '500', reduceRight: false, reduceExp: '', reduceInit: '', reduceInitType: '', reduceFixup: '' }, [['t2c-legacy-projects']]);
  timeIn.node('change', 't2c-legacy-projects', [930, 170], { name: 'FR01 projects (master data)', rules: [{ t: 'set', p: 'projects', pt: 'msg', to: '{"FR01-LUM-OM":{"projectId":"FR01-LUM-OM","accountId":"ACC-4001","billingEntity":"NWA-FR","currency":"EUR","status":"active"}}', tot: 'json' }] }, [['t2c-collect']]);
  timeIn.linkOut('t2c-collect', [1100, 140], 'entries', ['t2c-li-entries']);
  plan.comment('t2c-c2', [640, 280], 'One invoice per customer, project and month; one line per entry (sourceRefs = entry id); stable invoice ids', 'Entries already invoiced (by an earlier run) are skipped, so a re-run never bills twice. Month-end bursts: invoices split at the line limit and released in batches; the outbox rate limit of each ERP connection keeps its quota. Blocked entries (unknown or closed project, rate card mismatch) -> billing-ops.');
  plan.linkIn('t2c-li-entries', [80, 320], 'entries', ['t2c-collect'], ['t2c-plan']);
  plan.node('process-step', 't2c-plan', [260, 320], { name: 'group + build invoices', store: STORE, step: 't2c-plan', routing: '', batchSize: 50, maxLines: 500, outputs: 2 }, [['t2c-lo-invoices'], ['t2c-lo-blocked']]);
  erp.node('switch', 't2c-erp-switch', [250, 540], { name: 'ERP of the billing entity', property: 'erpTarget', propertyType: 'msg', rules: [{ t: 'eq', v: 'netsuite:1', vt: 'str' }, { t: 'eq', v: 'businessCentral:NWA UK', vt: 'str' }, { t: 'eq', v: 'businessCentral:NWA DE', vt: 'str' }, { t: 'eq', v: 'legacy:FR01', vt: 'str' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 5 }, [['t2c-ns'], ['t2c-bc-uk'], ['t2c-bc-de'], ['t2c-legacy-post'], ['t2c-lo-noroute']]);
  erp.node('netsuite', 't2c-ns', [560, 480], { name: 'NetSuite: invoice', netsuite: 'psf-netsuite', operation: 'createInvoice', query: '', recordType: '', pageSize: 1000 }, [['t2c-lo-posted']]);
  erp.node('business-central', 't2c-bc-uk', [560, 525], { name: 'BC UK: sales invoice (posted)', businessCentral: 'psf-bc-uk', operation: 'createSalesInvoice', entitySet: '', filter: '' }, [['t2c-lo-posted']]);
  erp.node('business-central', 't2c-bc-de', [560, 570], { name: 'BC DE: sales invoice (posted)', businessCentral: 'psf-bc-de', operation: 'createSalesInvoice', entitySet: '', filter: '' }, [['t2c-lo-posted']]);
  erp.node('legacy-erp', 't2c-legacy-post', [580, 615], { name: 'FR01: post invoice (waits for the AK)', mode: 'postInvoice', legacy: 'psf-legacy-fr01', topic: '', outputs: 2 }, [['t2c-lo-posted'], []]);
  erp.comment('t2c-c3', [820, 450], 'Invoice id = idempotency key = ERP external id / document number', 'NetSuite: external id + X-NetSuite-Idempotency-Key. Business Central: lookup on externalDocumentNumber, deep insert, post. Legacy FR01: IH/IL lines at QoS 1 through the outbox (legacy-erp-config); the posting completes on the ERP\'s AK OK (document number), an AK ER goes to finance-ops with the ERP\'s message, no ack is retried; re-posting the same invoice number is acknowledged with the existing document.');
  posted.comment('t2c-c4', [940, 720], 'Per posted invoice: event on the bus, its PSA entries marked invoiced, portal requests completed', 'The invoice is posted once its ERP confirmed it (NetSuite/BC record, FR01 AK OK). Then: `fabric/v1/invoice/posted`, one Kantata mark-invoiced request per invoice (its entries), the KPI run closes, and requests from the experience API whose entries it bills are completed (group 6).');
  posted.node('process-step', 't2c-posted', [240, 740], { name: 'invoice posted + KPI', store: STORE, step: 't2c-posted', outputs: 1 }, [['t2c-pub', 't2c-mark-prep', 't2c-lo-posted-api']]);
  posted.node('fabric-mqtt-out', 't2c-pub', [520, 720], { name: 'fabric/v1/invoice/posted', broker: BROKER, topic: 'fabric/v1/invoice/posted', qos: '1', retain: false }, [[]]);
  posted.node('switch', 't2c-mark-prep', [500, 790], { name: 'PSA entries?', property: 'markInvoiced', propertyType: 'msg', rules: [{ t: 'nnull' }], checkall: 'true', repair: false, outputs: 1 }, [['t2c-mark-req']]);
  posted.node('change', 't2c-mark-req', [700, 790], { name: 'mark-invoiced request', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'markInvoiced.payload', tot: 'msg' }, { t: 'set', p: 'idempotencyKey', pt: 'msg', to: 'markInvoiced.idempotencyKey', tot: 'msg' }, { t: 'set', p: 'operation', pt: 'msg', to: 'markInvoiced', tot: 'str' }] }, [['t2c-kantata-mark']]);
  posted.node('kantata', 't2c-kantata-mark', [940, 790], { name: 'Kantata: mark invoiced', kantata: 'psf-kantata', operation: 'markInvoiced', collection: 'workspaces', pollSeconds: 60, output: 'entry', maxRecords: 5000, workspaceId: '' }, [[]]);
  errors.comment('t2c-c5', [464, 900], 'Master data -> billing-ops (KPI: invoices blocked by master-data mismatch); anything else -> owner from the matrix');
  errors.exception('t2c-exc-md', [260, 960], { process: 'time-to-cash', step: 'master-data', owner: 'billing-ops', errorClass: 'validation', replay: false });
  errors.catchAll('t2c-catch', [480, 940], 't2c-exc-int');
  errors.exception('t2c-exc-int', [760, 960], { process: 'time-to-cash', step: '', owner: '', errorClass: 'permanent', replay: false });
  timeIn.linkOut('t2c-lo-legacy-exc', [560, 200], 'undecodable lines', ['t2c-li-exc']);
  plan.linkOut('t2c-lo-invoices', [480, 305], 'invoices', ['t2c-li-invoices']);
  plan.linkOut('t2c-lo-blocked', [480, 340], 'blocked entries', ['t2c-li-blocked', 't2c-li-blocked-api']);
  erp.linkIn('t2c-li-invoices', [80, 540], 'invoices', ['t2c-lo-invoices'], ['t2c-erp-switch']);
  erp.linkOut('t2c-lo-noroute', [300, 620], 'no ERP route', ['t2c-li-exc']);
  erp.linkOut('t2c-lo-posted', [860, 550], 'posted', ['t2c-li-posted']);
  posted.linkIn('t2c-li-posted', [80, 740], 'posted', ['t2c-lo-posted'], ['t2c-posted']);
  posted.linkOut('t2c-lo-posted-api', [480, 755], 'posted -> portal requests', ['t2c-li-posted-api']);
  errors.linkIn('t2c-li-blocked', [80, 960], 'blocked entries', ['t2c-lo-blocked'], ['t2c-exc-md']);
  errors.linkIn('t2c-li-exc', [480, 980], 'failures', ['t2c-lo-legacy-exc', 't2c-lo-noroute', 't2c-lo-api-exc'], ['t2c-exc-int']);
  portal.comment('t2c-c6', [450, 1060], 'fabric/v1/timeentry/requested -> Kantata entry (once per entry id) -> PSA poll -> plan -> invoice -> completed', 'The experience API validated the entry (v1, or v2 converted to v1) and published `fabric/v1/timeentry/requested` (id = tracking id).\n\n* **record in the PSA**: refuses an entry that sets `rate` or `invoiceId` (owned by the ERP in the ownership matrix; exception for finance-ops); looks up the project (`KAN-WS-<id>` or a project id the PSA knows) and the person (email) in Kantata (not found: `failed` naming `/projectId` or `/person/email`, exception for delivery-ops); creates the entry through the outbox, once per portal entry id (a repeated POST creates nothing); reports `processing` with the PSA id and triggers the PSA poll.\n* The entry is then an ordinary PSA entry: once approved in the PSA, the poll (group 1) hands it to the plan (group 2), which validates, de-duplicates and groups it, and the ERP invoice is posted (groups 3-4).\n* **posted -> completed**: the requests whose entries are on a posted invoice are reported `completed` with the invoice id. **blocked -> failed**: an entry the plan blocks (rate, project master data) fails its request with the fields named (the exception is group 5\'s).\n\nReports go to `fabric/v1/request/updated`; the experience-API tab records them as the request status.');
  portal.node('fabric-mqtt-in', 't2c-api-in', [220, 1145], { name: 'fabric/v1/timeentry/requested', broker: BROKER, store: STORE, topic: 'fabric/v1/timeentry/requested', qos: '1' }, [['t2c-api-fulfil']]);
  portal.node('api-fulfil', 't2c-api-fulfil', [500, 1145], { name: 'record in the PSA (once per entry)', store: STORE, kantata: 'psf-kantata', mode: 'timeentry' }, [['t2c-lo-poll'], ['t2c-api-updated'], ['t2c-lo-api-exc']]);
  portal.node('api-fulfil', 't2c-api-invoiced', [500, 1195], { name: 'posted -> requests completed', store: STORE, kantata: 'psf-kantata', mode: 'invoiced' }, [[], ['t2c-api-updated'], []]);
  portal.node('api-fulfil', 't2c-api-blocked', [500, 1100], { name: 'blocked -> requests failed', store: STORE, kantata: 'psf-kantata', mode: 'blocked' }, [[], ['t2c-api-updated'], []]);
  portal.node('fabric-mqtt-out', 't2c-api-updated', [900, 1145], { name: 'fabric/v1/request/updated', broker: BROKER, topic: 'fabric/v1/request/updated', qos: '1', retain: false }, [[]]);
  portal.linkOut('t2c-lo-poll', [740, 1125], 'poll the PSA now', ['t2c-li-poll']);
  timeIn.linkIn('t2c-li-poll', [80, 110], 'poll the PSA now', ['t2c-lo-poll'], ['t2c-kantata-poll']);
  portal.linkOut('t2c-lo-api-exc', [740, 1170], 'failures', ['t2c-li-exc']);
  portal.linkIn('t2c-li-blocked-api', [80, 1100], 'blocked entries', ['t2c-lo-blocked'], ['t2c-api-blocked']);
  portal.linkIn('t2c-li-posted-api', [80, 1195], 'posted -> portal requests', ['t2c-lo-posted-api'], ['t2c-api-invoiced']);
  return t.build();
}
