from .common import *

# ------------------------------------------------------------------------------------------------ reporting
def rep():
    t = Tab("psf-tab-rep", "performance-to-reporting", "Scheduled roll-up (utilisation, realisation, margin, unbilled approved hours, DSO per project and region) and reconciliation of customers/projects across CRM, ERP and PSA. Figures on fabric/v1/kpi/... and /metrics.")
    g1 = t.group("rep-g1", "1. Schedule", 20, 20, 560, 140, "#e3f3d3")
    t.add("rep-tick", "inject", 150, 80, g1, wires=[["rep-params"]], name="hourly (and at start)", props=[{"p": "payload"}], repeat="${FABRIC_REPORTING_INTERVAL}", crontab="", once=True, onceDelay="20", topic="", payload="", payloadType="date")
    t.comment("rep-c1", 330, 120, g1, "Reads the PSA and the ERPs through their connector nodes (rate limited)")
    g2 = t.group("rep-g2", "2. Gather + roll-up", 20, 180, 900, 160, "#dbe9f6")
    t.comment("rep-c2", 760, 300, g2, "Every page of PSA time entries -> utilisation, realisation, margin, unbilled hours, DSO per project and region")
    t.add("rep-params", "change", 380, 80, g1, wires=[["rep-lo-tick"]], name="time entries with their workspaces", rules=[{"t": "set", "p": "params", "pt": "msg", "to": "{\"per_page\":200,\"include\":\"workspace\"}", "tot": "json"}, {"t": "delete", "p": "payload", "pt": "msg"}])
    t.add("rep-gather", "kantata", 260, 240, g2, wires=[["rep-shape"]], name="Kantata: time entries (all pages)", kantata="psf-kantata", operation="list", collection="time_entries", paging="all", pollSeconds=60, output="entry", maxRecords=50000, workspaceId="")
    t.add("rep-shape", "function", 380, 240, g2, wires=[["rep-rollup", "rep-lo-recon"]], name="to report records", func=REPORT_SHAPE, outputs=1, timeout=0, noerr=0, initialize="", finalize="", libs=[])
    t.add("rep-rollup", "process-step", 600, 220, g2, wires=[["rep-pub-rollup"]], name="roll-up", store="psf-store", step="rollup", outputs=1)
    t.add("rep-pub-rollup", "fabric-mqtt-out", 800, 220, g2, name="fabric/v1/kpi/rollup", broker="psf-broker", topic="fabric/v1/kpi/rollup", qos="1", retain=True)
    g3 = t.group("rep-g3", "3. Reconciliation CRM / ERP / PSA + KPI snapshot", 20, 360, 1060, 160, "#e8e0f5")
    t.comment("rep-c3", 800, 505, g3, "Lists on the request are compared as given, else read (3a); rate = matched / total")
    t.add("rep-recon-in", "fabric-mqtt-in", 200, 480, g3, wires=[["rep-recon-unwrap"], []], name="fabric/v1/kpi/reconcile-request", broker="psf-broker", store="psf-store", topic="fabric/v1/kpi/reconcile-request", qos="1", outputs=2)
    t.add("rep-recon-unwrap", "change", 440, 500, g3, wires=[["rep-recon-shape"]], name="reconInput = event data", rules=[{"t": "set", "p": "reconInput", "pt": "msg", "to": "payload.data", "tot": "msg"}, {"t": "set", "p": "reconRequestId", "pt": "msg", "to": "payload.id", "tot": "msg"}, {"t": "set", "p": "reconRequest", "pt": "msg", "to": "payload", "tot": "msg"}])
    t.add("rep-recon-shape", "function", 240, 420, g3, wires=[["rep-recon"], ["rep-lo-read"]], name="lists given? else read them", func=RECON_ROUTE, outputs=2, timeout=0, noerr=0, initialize="", finalize="", libs=[])
    t.add("rep-recon", "process-step", 540, 420, g3, wires=[["rep-pub-recon", "rep-kpi"]], name="reconcile", store="psf-store", step="reconcile", outputs=1)
    t.add("rep-pub-recon", "fabric-mqtt-out", 800, 400, g3, name="fabric/v1/kpi/reconciliation", broker="psf-broker", topic="fabric/v1/kpi/reconciliation", qos="1", retain=True)
    t.add("rep-kpi", "process-step", 780, 460, g3, wires=[["rep-pub-kpi"]], name="KPI snapshot", store="psf-store", step="kpi", outputs=1)
    t.add("rep-pub-kpi", "fabric-mqtt-out", 980, 460, g3, name="fabric/v1/kpi/snapshot", broker="psf-broker", topic="fabric/v1/kpi/snapshot", qos="1", retain=True)
    # 3a. a run without lists reads them through the connector nodes (each read rate limited by its connection)
    ga = t.group("rep-g3a", "3a. Read the lists: CRM accounts + closed-won deals, ERP customers + projects, PSA workspaces", 1220, 20, 1180, 500, "#fdf0d5")
    t.comment("rep-ca", 1560, 60, ga, "Keyed by our external ids: customers ACC-xxxx (Salesforce External_Id__c, NetSuite externalId, BC number or the account with its tax registration / name, Kantata field 503), projects PRJ-<opportunity> (NetSuite job externalId, BC project name ending (PRJ-...) or number, Kantata field 502)")
    t.add("rep-gx-start", "change", 1360, 110, ga, wires=[["rep-gx-sf-acc"]], name="start: empty lists", rules=[{"t": "set", "p": "recon", "pt": "msg", "to": "{}", "tot": "json"}] + [{"t": "delete", "p": k, "pt": "msg"} for k in ("payload", "params", "reportInput", "query", "collection", "entitySet", "filter", "top", "expand", "paging", "id")])
    chain = [
        ("rep-gx-sf-acc", "salesforce", "Salesforce: accounts", dict(salesforce="psf-salesforce", operation="query", soql="SELECT Id, Name, External_Id__c, CurrencyIsoCode, Billing_Entity__c, Tax_Registration__c FROM Account", paging="all"), "accounts"),
        ("rep-gx-sf-opp", "salesforce", "Salesforce: closed-won opportunities", dict(salesforce="psf-salesforce", operation="query", soql="SELECT Id, Name, AccountId, CurrencyIsoCode FROM Opportunity WHERE StageName = 'Closed Won'", paging="all"), "opportunities"),
        ("rep-gx-ns-cust", "netsuite", "NetSuite: customers (SuiteQL)", dict(netsuite="psf-netsuite", operation="suiteql", query="SELECT id, externalid, entityid, companyname FROM customer", recordType="", pageSize=1000), "nsCustomers"),
        ("rep-gx-ns-job", "netsuite", "NetSuite: projects / jobs (SuiteQL)", dict(netsuite="psf-netsuite", operation="suiteql", query="SELECT id, externalid, entityid, companyname FROM job", recordType="", pageSize=1000), "nsJobs"),
        ("rep-gx-bcuk-cust", "business-central", "BC UK: customers", dict(businessCentral="psf-bc-uk", operation="list", entitySet="customers", filter=""), "bcUkCustomers"),
        ("rep-gx-bcuk-proj", "business-central", "BC UK: projects", dict(businessCentral="psf-bc-uk", operation="list", entitySet="projects", filter=""), "bcUkProjects"),
        ("rep-gx-bcde-cust", "business-central", "BC DE: customers", dict(businessCentral="psf-bc-de", operation="list", entitySet="customers", filter=""), "bcDeCustomers"),
        ("rep-gx-bcde-proj", "business-central", "BC DE: projects", dict(businessCentral="psf-bc-de", operation="list", entitySet="projects", filter=""), "bcDeProjects"),
        ("rep-gx-kantata", "kantata", "Kantata: workspaces (all pages)", dict(kantata="psf-kantata", operation="list", collection="workspaces", paging="all", pollSeconds=60, output="entry", maxRecords=50000, workspaceId=""), "workspaces"),
    ]
    for i, (nid, ntype, name, props, key) in enumerate(chain):
        x, y = 1360 + (i % 3) * 360, 170 + (i // 3) * 110
        keep = f"{nid}-keep"
        nxt = chain[i + 1][0] if i + 1 < len(chain) else "rep-gx-build"
        t.add(nid, ntype, x, y, ga, wires=[[keep]], name=name, **props)
        rules = [{"t": "set", "p": f"recon.{key}", "pt": "msg", "to": "payload", "tot": "msg"}, {"t": "delete", "p": "payload", "pt": "msg"}]
        if nxt == "rep-gx-kantata":
            rules.append({"t": "set", "p": "params", "pt": "msg", "to": "{\"per_page\":200}", "tot": "json"})
        t.add(keep, "change", x + 180, y + 40, ga, wires=[[nxt]], name=f"keep {key}", rules=rules)
    t.add("rep-gx-build", "function", 1560, 490, ga, wires=[["rep-lo-lists"]], name="customers + projects per system", func=RECON_BUILD, outputs=1, timeout=0, noerr=0, initialize="", finalize="", libs=[])
    # link pairs between the sections (no wire crosses a group)
    lo = lambda nid, x, y, g, name, to: t.add(nid, "link out", x, y, g, name=name, mode="link", links=to)
    li = lambda nid, x, y, g, name, frm, to: t.add(nid, "link in", x, y, g, name=name, links=frm, wires=[[to]])
    lo("rep-lo-tick", 540, 80, g1, "gather", ["rep-li-tick"])
    li("rep-li-tick", 80, 240, g2, "gather", ["rep-lo-tick"], "rep-gather")
    lo("rep-lo-recon", 560, 280, g2, "reconcile the tick", ["rep-li-recon"])
    li("rep-li-recon", 80, 420, g3, "reconcile the tick", ["rep-lo-recon"], "rep-recon-shape")
    lo("rep-lo-read", 380, 450, g3, "read the lists", ["rep-li-read"])
    li("rep-li-read", 1260, 110, ga, "read the lists", ["rep-lo-read"], "rep-gx-start")
    lo("rep-lo-lists", 1760, 490, ga, "lists read", ["rep-li-lists"])
    li("rep-li-lists", 420, 385, g3, "lists read", ["rep-lo-lists"], "rep-recon")
    g4 = t.group("rep-g4", "4. Errors -> exception queue", 20, 540, 600, 100, "#f8d7da")
    t.add("rep-catch", "catch", 120, 590, g4, wires=[["rep-exc"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "rep-exc", 340, 590, g4, "performance-to-reporting", "", "integration-ops", "permanent", False)
    return t.nodes

REPORT_SHAPE = r"""// Kantata time entries (canonical) + the seed firm's master data -> the roll-up's input.
// Replace the people/projects tables with your HR and PSA master data.
const entries = Array.isArray(msg.payload) ? msg.payload : [];
const region = { 'NWA-US': 'Americas', 'NWA-UK': 'UK&I', 'NWA-DE': 'DACH', 'NWA-FR': 'France' };
// the workspaces came with the entries (include=workspace); billing entity = custom field 501 (map your account's id)
const workspaces = (msg.kantata && msg.kantata.included && msg.kantata.included.workspaces) || {};
const entityOf = (ws) => { const f = (ws.custom_fields || []).find(c => String(c.custom_field_id) === '501'); return f ? f.value : ws.billingEntity; };
const projects = {};
for (const e of entries) {
  const ws = workspaces[e.workspace_id] || {};
  const pid = 'KAN-WS-' + e.workspace_id;
  projects[pid] = projects[pid] || { projectId: pid, region: region[entityOf(ws)] || 'unknown', currency: e.currency || ws.currency_symbol || ws.currency || 'USD' };
}
const today = new Date().toISOString().slice(0, 10);
const from = today.slice(0, 8) + '01';
msg.reportInput = {
  from: msg.from || '2026-11-01', to: msg.to || '2026-11-30',
  projects: Object.values(projects),
  people: (msg.people || []),
  invoices: (msg.invoices || []),
  timeEntries: entries.map(e => ({ id: String(e.id), projectId: 'KAN-WS-' + e.workspace_id, personId: String(e.user_id), date: e.date_performed,
    hours: (e.time_in_minutes || 0) / 60, billable: !!e.billable, status: e.is_invoiced ? 'billed' : e.approved ? 'approved' : 'submitted', rate: (e.rate_in_cents || 0) / 100 }))
};
msg.payload = msg.reportInput;
return msg;"""

RECON_ROUTE = r"""// A reconcile-request that carries lists ({customer: {crm: [...], erp: [...], psa: [...]}, project: {...}}) is
// reconciled as given (output 1); a scheduled tick or a request without data reads them from CRM, ERP and PSA (output 2).
// A request that is neither (data not an object, a list that is not an array of records with a key, an unknown field)
// is an error with every problem named (-> Catch -> exception queue), never silently a full read.
if (msg.reconRequest !== undefined) {
  const ev = msg.reconRequest;
  const problems = [];
  const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
  if (!ev || typeof ev !== 'object' || Array.isArray(ev)) problems.push({ path: '', message: 'must be a CloudEvent object, got ' + kind(ev) });
  else if (ev.data !== undefined && ev.data !== null) {
    const d = ev.data;
    if (typeof d !== 'object' || Array.isArray(d)) problems.push({ path: '/data', message: 'must be an object with customer / project lists (or absent to read them), got ' + kind(d) });
    else {
      for (const k of Object.keys(d)) if (!['customer', 'project', 'expectedIn'].includes(k)) problems.push({ path: '/data/' + k, message: 'is not a reconcile-request field (customer, project, expectedIn)' });
      for (const entity of ['customer', 'project']) {
        const lists = d[entity];
        if (lists === undefined) continue;
        if (!lists || typeof lists !== 'object' || Array.isArray(lists)) { problems.push({ path: '/data/' + entity, message: 'must be an object {crm, erp, psa} of record lists, got ' + kind(lists) }); continue; }
        for (const sys of Object.keys(lists)) {
          const recs = lists[sys];
          if (!['crm', 'erp', 'psa'].includes(sys)) problems.push({ path: '/data/' + entity + '/' + sys, message: 'is not a system (crm, erp, psa)' });
          else if (!Array.isArray(recs)) problems.push({ path: '/data/' + entity + '/' + sys, message: 'must be an array of records, got ' + kind(recs) });
          else recs.forEach((r, i) => { if (!r || typeof r !== 'object' || typeof r.key !== 'string' || !r.key) problems.push({ path: '/data/' + entity + '/' + sys + '/' + i + '/key', message: 'is missing: each record needs its key (ACC-..., PRJ-...)' }); });
        }
      }
    }
  }
  if (problems.length) {
    msg.details = problems.slice(0, 50);
    msg.errorClass = 'validation';
    throw new Error('reconcile-request' + (msg.reconRequestId ? ' ' + msg.reconRequestId : '') + ' is not valid: ' + problems.slice(0, 5).map((p) => (p.path || '(message)') + ' ' + p.message).join('; ') + (problems.length > 5 ? '; and ' + (problems.length - 5) + ' more' : ''));
  }
}
const given = msg.reconInput && typeof msg.reconInput === 'object' && (msg.reconInput.customer || msg.reconInput.project);
if (given) {
  msg.payload = Object.assign({}, msg.reconInput, msg.reconRequestId ? { requestId: msg.reconRequestId } : {});
  return [msg, null];
}
return [null, msg];"""

RECON_BUILD = r"""// Customers and projects as CRM, ERP and PSA hold them, keyed by our external ids: customers ACC-xxxx,
// projects PRJ-<Salesforce opportunity id>. Scope: customers with a closed-won deal (or already in an ERP / the PSA)
// and the closed-won deals; prospects live only in the CRM and are not compared.
const r = msg.recon || {};
const g = (rec, f) => rec[f] !== undefined ? rec[f] : rec[f.toLowerCase()];
const cf = (ws, id) => { const f = (ws.custom_fields || []).find(c => String(c.custom_field_id) === id); return f ? f.value : undefined; };
const prj = (id) => id ? (String(id).startsWith('PRJ-') ? String(id) : 'PRJ-' + id) : undefined;
// billing entities whose ERP is read above; the others (legacy FR01: no read over MQTT) are expected in CRM + PSA only
const ERP_READ = ['NWA-US', 'NWA-UK', 'NWA-DE'];
const accounts = r.accounts || [];
const accById = {};
for (const a of accounts) accById[a.Id] = a;
const won = r.opportunities || [];
// a BC customer numbered by the company's number series is the account whose id, tax registration or name it has
const bcCustomerKey = (c) => {
  if (accounts.some(a => a.External_Id__c === c.number)) return c.number;
  const tax = String(c.taxRegistrationNumber || '');
  const a = accounts.find(x => tax && String(x.Tax_Registration__c || '').endsWith(tax)) || accounts.find(x => x.Name === c.displayName);
  return a && a.External_Id__c ? a.External_Id__c : c.number;
};
// a BC project numbered by the series carries its project id in its name: "<name> (PRJ-...)"
const BC_REF = / \((PRJ-[^)]+)\)$/;
const bcProjectKey = (p) => { const m = BC_REF.exec(String(p.displayName || '')); return m ? m[1] : prj(p.number); };
const erpCustomers = [].concat(
  (r.nsCustomers || []).map(c => ({ key: g(c, 'externalId'), systemId: 'netsuite:' + c.id, name: g(c, 'companyName') })),
  (r.bcUkCustomers || []).map(c => ({ key: bcCustomerKey(c), systemId: 'bc-uk:' + c.id, name: c.displayName })),
  (r.bcDeCustomers || []).map(c => ({ key: bcCustomerKey(c), systemId: 'bc-de:' + c.id, name: c.displayName })));
const erpProjects = [].concat(
  (r.nsJobs || []).map(j => ({ key: prj(g(j, 'externalId')), systemId: 'netsuite:' + j.id, name: g(j, 'companyName') || g(j, 'entityId') })),
  (r.bcUkProjects || []).map(p => ({ key: bcProjectKey(p), systemId: 'bc-uk:' + p.id, name: String(p.displayName).replace(BC_REF, '') })),
  (r.bcDeProjects || []).map(p => ({ key: bcProjectKey(p), systemId: 'bc-de:' + p.id, name: String(p.displayName).replace(BC_REF, '') })));
const workspaces = r.workspaces || [];
const psaProjects = workspaces.filter(w => cf(w, '502')).map(w => ({ key: prj(cf(w, '502')), systemId: 'kantata:' + w.id, name: w.title, currency: w.currency }));
const psaCustomers = [];
const seen = {};
for (const w of workspaces) {
  const key = cf(w, '503');
  if (!key || seen[key]) continue;
  seen[key] = true;
  psaCustomers.push({ key, systemId: 'kantata:' + w.id, name: w.client_name });
}
const inScope = {};
for (const o of won) { const a = accById[o.AccountId]; if (a && a.External_Id__c) inScope[a.External_Id__c] = true; }
for (const c of erpCustomers.concat(psaCustomers)) if (c.key) inScope[c.key] = true;
const crmCustomers = accounts.filter(a => a.External_Id__c && inScope[a.External_Id__c])
  .map(a => ({ key: a.External_Id__c, systemId: a.Id, name: a.Name, billingEntity: a.Billing_Entity__c }));
const crmProjects = won.map(o => ({ key: prj(o.Id), systemId: o.Id, name: o.Name, currency: o.CurrencyIsoCode }));
const expectedIn = { customer: {}, project: {} };
for (const a of accounts) if (a.External_Id__c && a.Billing_Entity__c && !ERP_READ.includes(a.Billing_Entity__c)) expectedIn.customer[a.External_Id__c] = ['crm', 'psa'];
for (const o of won) { const a = accById[o.AccountId]; if (a && a.Billing_Entity__c && !ERP_READ.includes(a.Billing_Entity__c)) expectedIn.project[prj(o.Id)] = ['crm', 'psa']; }
msg.payload = {
  customer: { crm: crmCustomers, erp: erpCustomers, psa: psaCustomers },
  project: { crm: crmProjects, erp: erpProjects, psa: psaProjects },
  expectedIn,
  requestId: msg.reconRequestId,
  source: 'read',
};
delete msg.recon;
return msg;"""
