from .common import *

# ------------------------------------------------------------------------------------------------ time-to-cash
def t2c():
    t = Tab("psf-tab-t2c", "time-to-cash", "Approved time (PSA poll + legacy MQTT) -> invoices per customer/project/period in the right ERP -> entries marked invoiced -> `fabric/v1/invoice/posted`. See docs/templates.md.")
    P = "time-to-cash"
    g1 = t.group("t2c-g1", "1. Approved time in: PSA (durable cursor) and legacy ERP over MQTT (ack after inbox commit)", 20, 20, 900, 200, "#e3f3d3")
    t.comment("t2c-c1", 260, 60, g1, "Kantata polled for approved, uninvoiced entries; FR01 publishes TE lines on legacy/fr01/time/out")
    t.add("t2c-kantata-poll", "kantata", 170, 110, g1, wires=[["t2c-collect"]], name="Kantata: approved time", kantata="psf-kantata", operation="pollApproved", collection="workspaces", pollSeconds="${FABRIC_T2C_POLL_SECONDS}", output="batch", maxRecords=5000, workspaceId="")
    t.add("t2c-legacy-in", "fabric-mqtt-in", 170, 170, g1, wires=[["t2c-legacy-decode"], ["t2c-exc-int"]], name="legacy/fr01/time/out", broker="psf-broker", store="psf-store", topic="legacy/fr01/time/out", qos="1", format="text", maxBytes=1048576, maxReplays=3, outputs=2)
    t.add("t2c-legacy-decode", "legacy-erp", 380, 170, g1, wires=[["t2c-legacy-batch"], ["t2c-exc-int"]], name="TE lines -> canonical", mode="decodeTime", topic="", outputs=2)
    t.add("t2c-legacy-batch", "join", 580, 170, g1, wires=[["t2c-legacy-projects"]], name="batch (500 or 2 s), complete msgs (each keeps its inbox identity)", mode="custom", build="array", property="payload", propertyType="full", key="topic", joiner="\\n", joinerType="str", accumulate=False, timeout="2", count="500", reduceRight=False, reduceExp="", reduceInit="", reduceInitType="", reduceFixup="")
    t.add("t2c-legacy-projects", "change", 760, 170, g1, wires=[["t2c-collect"]], name="FR01 projects (master data)", rules=[{"t": "set", "p": "projects", "pt": "msg", "to": "{\"FR01-LUM-OM\":{\"projectId\":\"FR01-LUM-OM\",\"accountId\":\"ACC-4001\",\"billingEntity\":\"NWA-FR\",\"currency\":\"EUR\",\"status\":\"active\"}}", "tot": "json"}])
    t.add("t2c-collect", "link out", 860, 110, g1, name="entries", mode="link", links=["t2c-li-entries"])
    g2 = t.group("t2c-g2", "2. Validate, de-duplicate, group per customer / project / period, build invoices", 20, 240, 900, 160, "#dbe9f6")
    t.comment("t2c-c2", 300, 280, g2, "One invoice per customer, project and month; one line per entry (sourceRefs = entry id); stable invoice ids", "Entries already invoiced (by an earlier run) are skipped, so a re-run never bills twice. Month-end bursts: invoices split at the line limit and released in batches; the outbox rate limit of each ERP connection keeps its quota. Blocked entries (unknown or closed project, rate card mismatch) -> billing-ops.")
    t.add("t2c-li-entries", "link in", 80, 340, g2, name="entries", links=["t2c-collect"], wires=[["t2c-plan"]])
    t.add("t2c-plan", "process-step", 280, 340, g2, wires=[["t2c-erp-switch"], ["t2c-exc-md", "t2c-api-blocked"]], name="group + build invoices", store="psf-store", step="t2c-plan", routing="", batchSize=50, maxLines=500, outputs=2)
    t.add("t2c-erp-switch", "switch", 520, 330, g2, wires=[["t2c-ns"], ["t2c-bc-uk"], ["t2c-bc-de"], ["t2c-legacy-enc"], ["t2c-exc-int"]], name="ERP of the billing entity", property="erpTarget", propertyType="msg", rules=[{"t": "eq", "v": "netsuite:1", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA UK", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA DE", "vt": "str"}, {"t": "eq", "v": "legacy:FR01", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=5)
    t.nodes[-1]["wires"][3] = ["t2c-legacy-post"]
    g3 = t.group("t2c-g3", "3. Invoice in the ERP (outbox: retries, quota, breaker)", 20, 420, 900, 220, "#fdf0d5")
    t.add("t2c-ns", "netsuite", 220, 460, g3, wires=[["t2c-posted"]], name="NetSuite: invoice", netsuite="psf-netsuite", operation="createInvoice", query="", recordType="", pageSize=1000)
    t.add("t2c-bc-uk", "business-central", 220, 500, g3, wires=[["t2c-posted"]], name="BC UK: sales invoice (posted)", businessCentral="psf-bc-uk", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-bc-de", "business-central", 220, 540, g3, wires=[["t2c-posted"]], name="BC DE: sales invoice (posted)", businessCentral="psf-bc-de", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-legacy-post", "legacy-erp", 260, 590, g3, wires=[["t2c-posted"], []], name="FR01: post invoice (waits for the AK)", mode="postInvoice", legacy="psf-legacy-fr01", topic="", outputs=2)
    t.comment("t2c-c3", 640, 460, g3, "Invoice id = idempotency key = ERP external id / document number", "NetSuite: external id + X-NetSuite-Idempotency-Key. Business Central: lookup on externalDocumentNumber, deep insert, post. Legacy FR01: IH/IL lines at QoS 1 through the outbox (legacy-erp-config); the posting completes on the ERP's AK OK (document number), an AK ER goes to finance-ops with the ERP's message, no ack is retried; re-posting the same invoice number is acknowledged with the existing document.")
    g4 = t.group("t2c-g4", "4. Mark entries invoiced, publish invoice.posted, KPI", 20, 660, 900, 160, "#e8e0f5")
    t.add("t2c-posted", "process-step", 200, 720, g4, wires=[["t2c-pub", "t2c-mark-prep", "t2c-api-invoiced"]], name="invoice posted + KPI", store="psf-store", step="t2c-posted", outputs=1)
    t.add("t2c-pub", "fabric-mqtt-out", 440, 700, g4, name="fabric/v1/invoice/posted", broker="psf-broker", topic="fabric/v1/invoice/posted", qos="1", retain=False)
    t.add("t2c-mark-prep", "switch", 420, 760, g4, wires=[["t2c-mark-req"]], name="PSA entries?", property="markInvoiced", propertyType="msg", rules=[{"t": "nnull"}], checkall="true", repair=False, outputs=1)
    t.add("t2c-mark-req", "change", 600, 760, g4, wires=[["t2c-kantata-mark"]], name="mark-invoiced request", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "markInvoiced.payload", "tot": "msg"}, {"t": "set", "p": "idempotencyKey", "pt": "msg", "to": "markInvoiced.idempotencyKey", "tot": "msg"}, {"t": "set", "p": "operation", "pt": "msg", "to": "markInvoiced", "tot": "str"}])
    t.add("t2c-kantata-mark", "kantata", 800, 760, g4, wires=[[]], name="Kantata: mark invoiced", kantata="psf-kantata", operation="markInvoiced", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    g5 = t.group("t2c-g5", "5. Errors -> exception queue", 20, 840, 900, 140, "#f8d7da")
    t.comment("t2c-c5", 260, 880, g5, "Master data -> billing-ops (KPI: invoices blocked by master-data mismatch); anything else -> owner from the matrix")
    exc(t, "t2c-exc-md", 200, 930, g5, P, "master-data", "billing-ops", "validation", False)
    t.add("t2c-catch", "catch", 440, 930, g5, wires=[["t2c-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "t2c-exc-int", 640, 930, g5, P, "", "", "permanent", False)
    t2c_api_requests(t)
    return t.nodes


def t2c_api_requests(t):
    """Time entries posted to the experience API (POST /api/v1|v2/time-entries): recorded in the PSA first (the
    ownership matrix makes the PSA the record of a time entry's capture), then billed by groups 1-4 like any PSA entry;
    the portal's request status follows the entry (nodes/api-gate/api-fulfil.ts, docs/governance.md)."""
    g6 = t.group("t2c-g6", "6. Experience-API time entries: PSA first, then the same billing path; status to the portal", 20, 1000, 900, 200, "#e0f0f0")
    t.comment("t2c-c6", 300, 1040, g6, "fabric/v1/timeentry/requested -> Kantata entry (once per entry id) -> PSA poll -> plan -> invoice -> completed",
              "The experience API validated the entry (v1, or v2 converted to v1) and published `fabric/v1/timeentry/requested` (id = tracking id).\n\n"
              "* **record in the PSA**: refuses an entry that sets `rate` or `invoiceId` (owned by the ERP in the ownership matrix; exception for finance-ops); looks up the project (`KAN-WS-<id>` or a project id the PSA knows) and the person (email) in Kantata (not found: `failed` naming `/projectId` or `/person/email`, exception for delivery-ops); creates the entry through the outbox, once per portal entry id (a repeated POST creates nothing); reports `processing` with the PSA id and triggers the PSA poll.\n"
              "* The entry is then an ordinary PSA entry: once approved in the PSA, the poll (group 1) hands it to the plan (group 2), which validates, de-duplicates and groups it, and the ERP invoice is posted (groups 3-4).\n"
              "* **posted -> completed**: the requests whose entries are on a posted invoice are reported `completed` with the invoice id. **blocked -> failed**: an entry the plan blocks (rate, project master data) fails its request with the fields named (the exception is group 5's).\n\n"
              "Reports go to `fabric/v1/request/updated`; the experience-API tab records them as the request status.")
    t.add("t2c-api-in", "fabric-mqtt-in", 170, 1100, g6, wires=[["t2c-api-fulfil"]], name="fabric/v1/timeentry/requested", broker="psf-broker", store="psf-store", topic="fabric/v1/timeentry/requested", qos="1")
    t.add("t2c-api-fulfil", "api-fulfil", 420, 1100, g6, wires=[["t2c-kantata-poll"], ["t2c-api-updated"], ["t2c-exc-int"]], name="record in the PSA (once per entry)", store="psf-store", kantata="psf-kantata", mode="timeentry")
    t.add("t2c-api-invoiced", "api-fulfil", 420, 1150, g6, wires=[[], ["t2c-api-updated"], []], name="posted -> requests completed", store="psf-store", kantata="psf-kantata", mode="invoiced")
    t.add("t2c-api-blocked", "api-fulfil", 420, 1050, g6, wires=[[], ["t2c-api-updated"], []], name="blocked -> requests failed", store="psf-store", kantata="psf-kantata", mode="blocked")
    t.add("t2c-api-updated", "fabric-mqtt-out", 720, 1100, g6, name="fabric/v1/request/updated", broker="psf-broker", topic="fabric/v1/request/updated", qos="1", retain=False)
