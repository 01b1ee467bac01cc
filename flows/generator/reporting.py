from .common import *

# ------------------------------------------------------------------------------------------------ reporting
def rep():
    t = Tab("psf-tab-rep", "performance-to-reporting", "Scheduled roll-up (utilisation, realisation, margin, unbilled approved hours, DSO per project and region) and reconciliation of customers/projects across CRM, ERP and PSA. Figures on fabric/v1/kpi/... and /metrics.")
    g1 = t.group("rep-g1", "1. Schedule", 20, 20, 560, 140, "#e3f3d3")
    t.add("rep-tick", "inject", 150, 80, g1, wires=[["rep-params"]], name="hourly (and at start)", props=[{"p": "payload"}], repeat="${FABRIC_REPORTING_INTERVAL}", crontab="", once=True, onceDelay="20", topic="", payload="", payloadType="date")
    t.comment("rep-c1", 330, 120, g1, "Reads the PSA and the ERPs through their connector nodes (rate limited)")
    g2 = t.group("rep-g2", "2. Gather + roll-up", 20, 180, 900, 160, "#dbe9f6")
    t.add("rep-params", "change", 380, 80, g1, wires=[["rep-gather"]], name="time entries with their workspaces", rules=[{"t": "set", "p": "params", "pt": "msg", "to": "{\"per_page\":200,\"include\":\"workspace\"}", "tot": "json"}, {"t": "delete", "p": "payload", "pt": "msg"}])
    t.add("rep-gather", "kantata", 180, 240, g2, wires=[["rep-shape"]], name="Kantata: time entries (all pages)", kantata="psf-kantata", operation="list", collection="time_entries", paging="all", pollSeconds=60, output="entry", maxRecords=50000, workspaceId="")
    t.add("rep-shape", "function", 380, 240, g2, wires=[["rep-rollup", "rep-recon-shape"]], name="to report records", func=REPORT_SHAPE, outputs=1, timeout=0, noerr=0, initialize="", finalize="", libs=[])
    t.add("rep-rollup", "process-step", 600, 220, g2, wires=[["rep-pub-rollup"]], name="roll-up", store="psf-store", step="rollup", outputs=1)
    t.add("rep-pub-rollup", "fabric-mqtt-out", 800, 220, g2, name="fabric/v1/kpi/rollup", broker="psf-broker", topic="fabric/v1/kpi/rollup", qos="1", retain=True)
    g3 = t.group("rep-g3", "3. Reconciliation CRM / ERP / PSA + KPI snapshot", 20, 360, 900, 160, "#e8e0f5")
    t.add("rep-recon-in", "fabric-mqtt-in", 180, 480, g3, wires=[["rep-recon-unwrap"], []], name="fabric/v1/kpi/reconcile-request", broker="psf-broker", store="psf-store", topic="fabric/v1/kpi/reconcile-request", qos="1", outputs=2)
    t.add("rep-recon-unwrap", "change", 400, 500, g3, wires=[["rep-recon-shape"]], name="reconInput = event data", rules=[{"t": "set", "p": "reconInput", "pt": "msg", "to": "payload.data", "tot": "msg"}])
    t.add("rep-recon-shape", "function", 180, 420, g3, wires=[["rep-recon"]], name="customers + projects per system", func=RECON_SHAPE, outputs=1, timeout=0, noerr=0, initialize="", finalize="", libs=[])
    t.add("rep-recon", "process-step", 400, 420, g3, wires=[["rep-pub-recon", "rep-kpi"]], name="reconcile", store="psf-store", step="reconcile", outputs=1)
    t.add("rep-pub-recon", "fabric-mqtt-out", 640, 400, g3, name="fabric/v1/kpi/reconciliation", broker="psf-broker", topic="fabric/v1/kpi/reconciliation", qos="1", retain=True)
    t.add("rep-kpi", "process-step", 620, 460, g3, wires=[["rep-pub-kpi"]], name="KPI snapshot", store="psf-store", step="kpi", outputs=1)
    t.add("rep-pub-kpi", "fabric-mqtt-out", 820, 460, g3, name="fabric/v1/kpi/snapshot", broker="psf-broker", topic="fabric/v1/kpi/snapshot", qos="1", retain=True)
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

RECON_SHAPE = r"""// Customers and projects as each system holds them (keys = our external ids). The seeded mismatch shows up here.
// Until the CRM / ERP / PSA reads are wired here, a reconciliation run takes its lists from fabric/v1/kpi/reconcile-request
// (event data {customer: {crm: [...], erp: [...], psa: [...]}, project: {...}}).
// A roll-up tick without lists runs no reconciliation (an empty one would publish a meaningless rate).
if (!msg.reconInput) return null;
msg.payload = msg.reconInput;
return msg;"""
