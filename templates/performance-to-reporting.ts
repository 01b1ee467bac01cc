/**
 * The performance-to-reporting tab (flows/performance-to-reporting.json): a scheduled roll-up of the PSA's time
 * entries and a reconciliation of customers and projects across CRM, ERP and PSA. The shaping of what is read is
 * lib/processes/reporting/sources.ts (process-step steps rollup-input, reconcile-request, reconcile-lists).
 */
import { BROKER, SECTION, STORE, Tab, sectionStyle, type FlowNode } from './kit';
import type { ChangeRule } from './node-configs';

const PROCESS = 'performance-to-reporting';

export function performanceToReporting(): FlowNode[] {
  const t = new Tab('psf-tab-rep', {
    label: PROCESS,
    disabled: false,
    info: 'Scheduled roll-up (utilisation, realisation, margin, unbilled approved hours, DSO per project and region) and reconciliation of customers/projects across CRM, ERP and PSA. Figures on fabric/v1/kpi/... and /metrics.',
  });
  const schedule = t.group('rep-g1', { name: '1. Schedule', style: sectionStyle(SECTION.trigger), x: 20, y: 20, w: 560, h: 140 });
  const rollup = t.group('rep-g2', { name: '2. Gather + roll-up', style: sectionStyle(SECTION.plan), x: 20, y: 180, w: 1060, h: 160 });
  const recon = t.group('rep-g3', { name: '3. Reconciliation CRM / ERP / PSA + KPI snapshot', style: sectionStyle(SECTION.publish), x: 20, y: 360, w: 1060, h: 160 });
  const read = t.group('rep-g3a', { name: '3a. Read the lists: CRM accounts + closed-won deals, ERP customers + projects, PSA workspaces', style: sectionStyle(SECTION.write), x: 1220, y: 20, w: 1180, h: 500 });
  const errors = t.group('rep-g4', { name: '4. Errors -> exception queue', style: sectionStyle(SECTION.errors), x: 20, y: 540, w: 600, h: 100 });

  // 1. the tick; FABRIC_REPORTING_PERIOD (YYYY-MM) names the month, empty = the month to date
  schedule.node('inject', 'rep-tick', [150, 80], { name: 'hourly (and at start)', props: [{ p: 'payload' }, { p: 'period', v: 'FABRIC_REPORTING_PERIOD', vt: 'env' }], repeat: '${FABRIC_REPORTING_INTERVAL}', crontab: '', once: true, onceDelay: '20', topic: '', payload: '', payloadType: 'date' }, [['rep-params']]);
  schedule.comment('rep-c1', [330, 120], 'Reads the PSA and the ERPs through their connector nodes (rate limited)');
  schedule.node('change', 'rep-params', [380, 80], { name: 'time entries with their workspaces', rules: [{ t: 'set', p: 'params', pt: 'msg', to: '{"per_page":200,"include":"workspace"}', tot: 'json' }, { t: 'delete', p: 'payload', pt: 'msg' }] }, [['rep-lo-tick']]);
  schedule.linkOut('rep-lo-tick', [540, 80], 'gather', ['rep-li-tick']);

  // 2. every page of time entries -> the roll-up
  rollup.comment('rep-c2', [760, 300], 'Every page of PSA time entries -> utilisation, realisation, margin, unbilled hours, DSO per project and region', 'Each workspace is a project; its region is the one of its billing entity in the ERP routing table (lib/processes/erp-routing.default.json), the billing entity a Kantata custom field of the connector\'s field map. Period: FABRIC_REPORTING_PERIOD (YYYY-MM) on the tick, else the month to date.');
  rollup.linkIn('rep-li-tick', [80, 240], 'gather', ['rep-lo-tick'], ['rep-gather']);
  rollup.node('kantata', 'rep-gather', [260, 240], { name: 'Kantata: time entries (all pages)', kantata: 'psf-kantata', operation: 'list', collection: 'time_entries', paging: 'all', pollSeconds: 60, output: 'entry', maxRecords: 50000, workspaceId: '' }, [['rep-shape']]);
  rollup.node('process-step', 'rep-shape', [480, 240], { name: 'to report records', store: STORE, step: 'rollup-input', outputs: 1 }, [['rep-rollup', 'rep-lo-recon']]);
  rollup.node('process-step', 'rep-rollup', [700, 240], { name: 'roll-up', store: STORE, step: 'rollup', outputs: 1 }, [['rep-pub-rollup']]);
  rollup.node('fabric-mqtt-out', 'rep-pub-rollup', [920, 240], { name: 'fabric/v1/kpi/rollup', broker: BROKER, topic: 'fabric/v1/kpi/rollup', qos: '1', retain: true }, [[]]);
  rollup.linkOut('rep-lo-recon', [620, 290], 'reconcile the tick', ['rep-li-recon']);

  // 3. reconcile: the lists on a request, else the lists read in 3a
  recon.comment('rep-c3', [800, 505], 'Lists on the request are compared as given, else read (3a); rate = matched / total');
  recon.node('fabric-mqtt-in', 'rep-recon-in', [200, 480], { name: 'fabric/v1/kpi/reconcile-request', broker: BROKER, store: STORE, topic: 'fabric/v1/kpi/reconcile-request', qos: '1', outputs: 2 }, [['rep-recon-unwrap'], []]);
  recon.node('change', 'rep-recon-unwrap', [440, 500], { name: 'reconInput = event data', rules: [{ t: 'set', p: 'reconInput', pt: 'msg', to: 'payload.data', tot: 'msg' }, { t: 'set', p: 'reconRequestId', pt: 'msg', to: 'payload.id', tot: 'msg' }, { t: 'set', p: 'reconRequest', pt: 'msg', to: 'payload', tot: 'msg' }] }, [['rep-recon-shape']]);
  recon.linkIn('rep-li-recon', [80, 420], 'reconcile the tick', ['rep-lo-recon'], ['rep-recon-shape']);
  recon.node('process-step', 'rep-recon-shape', [240, 420], { name: 'lists given? else read them', store: STORE, step: 'reconcile-request', outputs: 2 }, [['rep-recon'], ['rep-lo-read']]);
  recon.linkOut('rep-lo-read', [380, 450], 'read the lists', ['rep-li-read']);
  recon.linkIn('rep-li-lists', [420, 385], 'lists read', ['rep-lo-lists'], ['rep-recon']);
  recon.node('process-step', 'rep-recon', [540, 420], { name: 'reconcile', store: STORE, step: 'reconcile', outputs: 1 }, [['rep-pub-recon', 'rep-kpi']]);
  recon.node('fabric-mqtt-out', 'rep-pub-recon', [800, 400], { name: 'fabric/v1/kpi/reconciliation', broker: BROKER, topic: 'fabric/v1/kpi/reconciliation', qos: '1', retain: true }, [[]]);
  recon.node('process-step', 'rep-kpi', [780, 460], { name: 'KPI snapshot', store: STORE, step: 'kpi', outputs: 1 }, [['rep-pub-kpi']]);
  recon.node('fabric-mqtt-out', 'rep-pub-kpi', [980, 460], { name: 'fabric/v1/kpi/snapshot', broker: BROKER, topic: 'fabric/v1/kpi/snapshot', qos: '1', retain: true }, [[]]);

  // 3a. a run without lists reads them through the connector nodes (each read rate limited by its connection)
  read.comment('rep-ca', [2276, 60], 'Keyed by our external ids: customers ACC-xxxx (Salesforce External_Id__c, NetSuite externalId, BC number or the account with its tax registration / name, Kantata account custom field), projects PRJ-<opportunity> (NetSuite job externalId, BC project name ending (PRJ-...) or number, Kantata opportunity custom field)');
  read.linkIn('rep-li-read', [1260, 110], 'read the lists', ['rep-lo-read'], ['rep-gx-start']);
  const cleared = ['payload', 'params', 'reportInput', 'query', 'collection', 'entitySet', 'filter', 'top', 'expand', 'paging', 'id'];
  read.node('change', 'rep-gx-start', [1400, 110], { name: 'start: empty lists', rules: [{ t: 'set', p: 'recon', pt: 'msg', to: '{}', tot: 'json' }, ...cleared.map((p) => ({ t: 'delete' as const, p, pt: 'msg' as const }))] }, [['rep-gx-sf-acc']]);
  // each read keeps its records in msg.recon.<key> and hands over to the next read, three reads a row
  const reads: Array<{ id: string; key: string; type: string; name: string; settings: Record<string, unknown> }> = [
    { id: 'rep-gx-sf-acc', key: 'accounts', type: 'salesforce', name: 'Salesforce: accounts', settings: { salesforce: 'psf-salesforce', operation: 'query', soql: 'SELECT Id, Name, External_Id__c, CurrencyIsoCode, Billing_Entity__c, Tax_Registration__c FROM Account', paging: 'all' } },
    { id: 'rep-gx-sf-opp', key: 'opportunities', type: 'salesforce', name: 'Salesforce: closed-won opportunities', settings: { salesforce: 'psf-salesforce', operation: 'query', soql: "SELECT Id, Name, AccountId, CurrencyIsoCode FROM Opportunity WHERE StageName = 'Closed Won'", paging: 'all' } },
    { id: 'rep-gx-ns-cust', key: 'nsCustomers', type: 'netsuite', name: 'NetSuite: customers (SuiteQL)', settings: { netsuite: 'psf-netsuite', operation: 'suiteql', query: 'SELECT id, externalid, entityid, companyname FROM customer', recordType: '', pageSize: 1000 } },
    { id: 'rep-gx-ns-job', key: 'nsJobs', type: 'netsuite', name: 'NetSuite: projects / jobs (SuiteQL)', settings: { netsuite: 'psf-netsuite', operation: 'suiteql', query: 'SELECT id, externalid, entityid, companyname FROM job', recordType: '', pageSize: 1000 } },
    { id: 'rep-gx-bcuk-cust', key: 'bcUkCustomers', type: 'business-central', name: 'BC UK: customers', settings: { businessCentral: 'psf-bc-uk', operation: 'list', entitySet: 'customers', filter: '' } },
    { id: 'rep-gx-bcuk-proj', key: 'bcUkProjects', type: 'business-central', name: 'BC UK: projects', settings: { businessCentral: 'psf-bc-uk', operation: 'list', entitySet: 'projects', filter: '' } },
    { id: 'rep-gx-bcde-cust', key: 'bcDeCustomers', type: 'business-central', name: 'BC DE: customers', settings: { businessCentral: 'psf-bc-de', operation: 'list', entitySet: 'customers', filter: '' } },
    { id: 'rep-gx-bcde-proj', key: 'bcDeProjects', type: 'business-central', name: 'BC DE: projects', settings: { businessCentral: 'psf-bc-de', operation: 'list', entitySet: 'projects', filter: '' } },
    { id: 'rep-gx-kantata', key: 'workspaces', type: 'kantata', name: 'Kantata: workspaces (all pages)', settings: { kantata: 'psf-kantata', operation: 'list', collection: 'workspaces', paging: 'all', pollSeconds: 60, output: 'entry', maxRecords: 50000, workspaceId: '' } },
  ];
  reads.forEach((r, i) => {
    const [x, y] = [1360 + (i % 3) * 360, 170 + Math.floor(i / 3) * 110];
    const next = reads[i + 1]?.id ?? 'rep-gx-build';
    const rules: ChangeRule[] = [{ t: 'set', p: `recon.${r.key}`, pt: 'msg', to: 'payload', tot: 'msg' }, { t: 'delete', p: 'payload', pt: 'msg' }];
    if (next === 'rep-gx-kantata') rules.push({ t: 'set', p: 'params', pt: 'msg', to: '{"per_page":200}', tot: 'json' });
    read.node(r.type, r.id, [x, y], { name: r.name, ...r.settings }, [[`${r.id}-keep`]]);
    read.node('change', `${r.id}-keep`, [x + 180, y + 40], { name: `keep ${r.key}`, rules }, [[next]]);
  });
  read.node('process-step', 'rep-gx-build', [1560, 490], { name: 'customers + projects per system', store: STORE, step: 'reconcile-lists', outputs: 1 }, [['rep-lo-lists']]);
  read.linkOut('rep-lo-lists', [1760, 490], 'lists read', ['rep-li-lists']);

  // 4. errors
  errors.catchAll('rep-catch', [120, 590], 'rep-exc');
  errors.exception('rep-exc', [340, 590], { process: PROCESS, step: '', owner: 'integration-ops', errorClass: 'permanent', replay: false });
  return t.build();
}
