from .common import *

# ------------------------------------------------------------------------------------------------ time-to-cash
def t2c():
    t = Tab("psf-tab-t2c", "time-to-cash", "Approved time (PSA poll + legacy MQTT) -> invoices per customer/project/period in the right ERP -> entries marked invoiced -> `fabric/v1/invoice/posted`. See docs/templates.md.")
    P = "time-to-cash"
    g1 = t.group("t2c-g1", "1. Approved time in: PSA (durable cursor) and legacy ERP over MQTT (ack after inbox commit)", 20, 20, 1160, 200, "#e3f3d3")
    t.comment("t2c-c1", 260, 60, g1, "Kantata polled for approved, uninvoiced entries; FR01 publishes TE lines on legacy/fr01/time/out")
    t.add("t2c-kantata-poll", "kantata", 220, 110, g1, wires=[["t2c-collect"]], name="Kantata: approved time", kantata="psf-kantata", operation="pollApproved", collection="workspaces", pollSeconds="${FABRIC_T2C_POLL_SECONDS}", output="batch", maxRecords=5000, workspaceId="")
    t.add("t2c-legacy-in", "fabric-mqtt-in", 220, 170, g1, wires=[["t2c-legacy-decode"], ["t2c-lo-legacy-exc"]], name="legacy/fr01/time/out", broker="psf-broker", store="psf-store", topic="legacy/fr01/time/out", qos="1", format="text", maxBytes=1048576, maxReplays=3, outputs=2)
    t.add("t2c-legacy-decode", "legacy-erp", 450, 170, g1, wires=[["t2c-legacy-batch"], ["t2c-lo-legacy-exc"]], name="TE lines -> canonical", mode="decodeTime", topic="", outputs=2)
    t.add("t2c-legacy-batch", "join", 690, 170, g1, wires=[["t2c-legacy-projects"]], name="batch: 500 entries or 2 s", mode="custom", build="array", property="payload", propertyType="full", key="topic", joiner="\\n", joinerType="str", accumulate=False, timeout="2", count="500", reduceRight=False, reduceExp="", reduceInit="", reduceInitType="", reduceFixup="")
    t.add("t2c-legacy-projects", "change", 930, 170, g1, wires=[["t2c-collect"]], name="FR01 projects (master data)", rules=[{"t": "set", "p": "projects", "pt": "msg", "to": "{\"FR01-LUM-OM\":{\"projectId\":\"FR01-LUM-OM\",\"accountId\":\"ACC-4001\",\"billingEntity\":\"NWA-FR\",\"currency\":\"EUR\",\"status\":\"active\"}}", "tot": "json"}])
    t.add("t2c-collect", "link out", 1100, 140, g1, name="entries", mode="link", links=["t2c-li-entries"])
    g2 = t.group("t2c-g2", "2. Validate, de-duplicate, group per customer / project / period, build invoices", 20, 240, 1160, 160, "#dbe9f6")
    t.comment("t2c-c2", 300, 280, g2, "One invoice per customer, project and month; one line per entry (sourceRefs = entry id); stable invoice ids", "Entries already invoiced (by an earlier run) are skipped, so a re-run never bills twice. Month-end bursts: invoices split at the line limit and released in batches; the outbox rate limit of each ERP connection keeps its quota. Blocked entries (unknown or closed project, rate card mismatch) -> billing-ops.")
    t.add("t2c-li-entries", "link in", 80, 320, g2, name="entries", links=["t2c-collect"], wires=[["t2c-plan"]])
    t.add("t2c-plan", "process-step", 260, 320, g2, wires=[["t2c-lo-invoices"], ["t2c-lo-blocked"]], name="group + build invoices", store="psf-store", step="t2c-plan", routing="", batchSize=50, maxLines=500, outputs=2)
    g3 = t.group("t2c-g3", "3. Invoice in the ERP (outbox: retries, quota, breaker)", 20, 420, 1160, 240, "#fdf0d5")
    t.add("t2c-erp-switch", "switch", 250, 540, g3, wires=[["t2c-ns"], ["t2c-bc-uk"], ["t2c-bc-de"], ["t2c-legacy-enc"], ["t2c-lo-noroute"]], name="ERP of the billing entity", property="erpTarget", propertyType="msg", rules=[{"t": "eq", "v": "netsuite:1", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA UK", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA DE", "vt": "str"}, {"t": "eq", "v": "legacy:FR01", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=5)
    t.nodes[-1]["wires"][3] = ["t2c-legacy-post"]
    t.add("t2c-ns", "netsuite", 560, 480, g3, wires=[["t2c-lo-posted"]], name="NetSuite: invoice", netsuite="psf-netsuite", operation="createInvoice", query="", recordType="", pageSize=1000)
    t.add("t2c-bc-uk", "business-central", 560, 525, g3, wires=[["t2c-lo-posted"]], name="BC UK: sales invoice (posted)", businessCentral="psf-bc-uk", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-bc-de", "business-central", 560, 570, g3, wires=[["t2c-lo-posted"]], name="BC DE: sales invoice (posted)", businessCentral="psf-bc-de", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-legacy-post", "legacy-erp", 580, 615, g3, wires=[["t2c-lo-posted"], []], name="FR01: post invoice (waits for the AK)", mode="postInvoice", legacy="psf-legacy-fr01", topic="", outputs=2)
    t.comment("t2c-c3", 640, 455, g3, "Invoice id = idempotency key = ERP external id / document number", "NetSuite: external id + X-NetSuite-Idempotency-Key. Business Central: lookup on externalDocumentNumber, deep insert, post. Legacy FR01: IH/IL lines at QoS 1 through the outbox (legacy-erp-config); the posting completes on the ERP's AK OK (document number), an AK ER goes to finance-ops with the ERP's message, no ack is retried; re-posting the same invoice number is acknowledged with the existing document.")
    g4 = t.group("t2c-g4", "4. Mark entries invoiced, publish invoice.posted, KPI", 20, 680, 1160, 160, "#e8e0f5")
    t.comment("t2c-c4", 940, 720, g4, "Per posted invoice: event on the bus, its PSA entries marked invoiced, portal requests completed", "The invoice is posted once its ERP confirmed it (NetSuite/BC record, FR01 AK OK). Then: `fabric/v1/invoice/posted`, one Kantata mark-invoiced request per invoice (its entries), the KPI run closes, and requests from the experience API whose entries it bills are completed (group 6).")
    t.add("t2c-posted", "process-step", 240, 740, g4, wires=[["t2c-pub", "t2c-mark-prep", "t2c-lo-posted-api"]], name="invoice posted + KPI", store="psf-store", step="t2c-posted", outputs=1)
    t.add("t2c-pub", "fabric-mqtt-out", 520, 720, g4, name="fabric/v1/invoice/posted", broker="psf-broker", topic="fabric/v1/invoice/posted", qos="1", retain=False)
    t.add("t2c-mark-prep", "switch", 500, 790, g4, wires=[["t2c-mark-req"]], name="PSA entries?", property="markInvoiced", propertyType="msg", rules=[{"t": "nnull"}], checkall="true", repair=False, outputs=1)
    t.add("t2c-mark-req", "change", 700, 790, g4, wires=[["t2c-kantata-mark"]], name="mark-invoiced request", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "markInvoiced.payload", "tot": "msg"}, {"t": "set", "p": "idempotencyKey", "pt": "msg", "to": "markInvoiced.idempotencyKey", "tot": "msg"}, {"t": "set", "p": "operation", "pt": "msg", "to": "markInvoiced", "tot": "str"}])
    t.add("t2c-kantata-mark", "kantata", 940, 790, g4, wires=[[]], name="Kantata: mark invoiced", kantata="psf-kantata", operation="markInvoiced", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    g5 = t.group("t2c-g5", "5. Errors -> exception queue", 20, 860, 1160, 150, "#f8d7da")
    t.comment("t2c-c5", 260, 900, g5, "Master data -> billing-ops (KPI: invoices blocked by master-data mismatch); anything else -> owner from the matrix")
    exc(t, "t2c-exc-md", 260, 960, g5, P, "master-data", "billing-ops", "validation", False)
    t.add("t2c-catch", "catch", 480, 940, g5, wires=[["t2c-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "t2c-exc-int", 760, 960, g5, P, "", "", "permanent", False)
    # link pairs: every section hands over through a named link, so no wire runs across the tab
    lo = lambda nid, x, y, g, name, to: t.add(nid, "link out", x, y, g, name=name, mode="link", links=to)
    li = lambda nid, x, y, g, name, frm, to: t.add(nid, "link in", x, y, g, name=name, links=frm, wires=[[to]])
    lo("t2c-lo-legacy-exc", 600, 200, g1, "undecodable lines", ["t2c-li-exc"])
    lo("t2c-lo-invoices", 480, 305, g2, "invoices", ["t2c-li-invoices"])
    lo("t2c-lo-blocked", 480, 340, g2, "blocked entries", ["t2c-li-blocked", "t2c-li-blocked-api"])
    li("t2c-li-invoices", 80, 540, g3, "invoices", ["t2c-lo-invoices"], "t2c-erp-switch")
    lo("t2c-lo-noroute", 300, 620, g3, "no ERP route", ["t2c-li-exc"])
    lo("t2c-lo-posted", 860, 550, g3, "posted", ["t2c-li-posted"])
    li("t2c-li-posted", 80, 740, g4, "posted", ["t2c-lo-posted"], "t2c-posted")
    lo("t2c-lo-posted-api", 480, 755, g4, "posted -> portal requests", ["t2c-li-posted-api"])
    li("t2c-li-blocked", 80, 960, g5, "blocked entries", ["t2c-lo-blocked"], "t2c-exc-md")
    li("t2c-li-exc", 480, 980, g5, "failures", ["t2c-lo-legacy-exc", "t2c-lo-noroute", "t2c-lo-api-exc"], "t2c-exc-int")
    t2c_api_requests(t)
    return t.nodes


def t2c_api_requests(t):
    """Time entries posted to the experience API (POST /api/v1|v2/time-entries): recorded in the PSA first (the
    ownership matrix makes the PSA the record of a time entry's capture), then billed by groups 1-4 like any PSA entry;
    the portal's request status follows the entry (nodes/api-gate/api-fulfil.ts, docs/governance.md)."""
    g6 = t.group("t2c-g6", "6. Experience-API time entries: PSA first, then the same billing path; status to the portal", 20, 1030, 1160, 210, "#e0f0f0")
    t.comment("t2c-c6", 300, 1060, g6, "fabric/v1/timeentry/requested -> Kantata entry (once per entry id) -> PSA poll -> plan -> invoice -> completed",
              "The experience API validated the entry (v1, or v2 converted to v1) and published `fabric/v1/timeentry/requested` (id = tracking id).\n\n"
              "* **record in the PSA**: refuses an entry that sets `rate` or `invoiceId` (owned by the ERP in the ownership matrix; exception for finance-ops); looks up the project (`KAN-WS-<id>` or a project id the PSA knows) and the person (email) in Kantata (not found: `failed` naming `/projectId` or `/person/email`, exception for delivery-ops); creates the entry through the outbox, once per portal entry id (a repeated POST creates nothing); reports `processing` with the PSA id and triggers the PSA poll.\n"
              "* The entry is then an ordinary PSA entry: once approved in the PSA, the poll (group 1) hands it to the plan (group 2), which validates, de-duplicates and groups it, and the ERP invoice is posted (groups 3-4).\n"
              "* **posted -> completed**: the requests whose entries are on a posted invoice are reported `completed` with the invoice id. **blocked -> failed**: an entry the plan blocks (rate, project master data) fails its request with the fields named (the exception is group 5's).\n\n"
              "Reports go to `fabric/v1/request/updated`; the experience-API tab records them as the request status.")
    t.add("t2c-api-in", "fabric-mqtt-in", 220, 1145, g6, wires=[["t2c-api-fulfil"]], name="fabric/v1/timeentry/requested", broker="psf-broker", store="psf-store", topic="fabric/v1/timeentry/requested", qos="1")
    t.add("t2c-api-fulfil", "api-fulfil", 500, 1145, g6, wires=[["t2c-lo-poll"], ["t2c-api-updated"], ["t2c-lo-api-exc"]], name="record in the PSA (once per entry)", store="psf-store", kantata="psf-kantata", mode="timeentry")
    t.add("t2c-api-invoiced", "api-fulfil", 500, 1195, g6, wires=[[], ["t2c-api-updated"], []], name="posted -> requests completed", store="psf-store", kantata="psf-kantata", mode="invoiced")
    t.add("t2c-api-blocked", "api-fulfil", 500, 1100, g6, wires=[[], ["t2c-api-updated"], []], name="blocked -> requests failed", store="psf-store", kantata="psf-kantata", mode="blocked")
    t.add("t2c-api-updated", "fabric-mqtt-out", 900, 1145, g6, name="fabric/v1/request/updated", broker="psf-broker", topic="fabric/v1/request/updated", qos="1", retain=False)
    # its link pairs: a recorded entry asks the PSA poll (group 1) to run now; posted / blocked come from groups 4 / 2
    t.add("t2c-lo-poll", "link out", 740, 1125, g6, name="poll the PSA now", mode="link", links=["t2c-li-poll"])
    t.add("t2c-li-poll", "link in", 80, 110, "t2c-g1", name="poll the PSA now", links=["t2c-lo-poll"], wires=[["t2c-kantata-poll"]])
    t.add("t2c-lo-api-exc", "link out", 740, 1170, g6, name="failures", mode="link", links=["t2c-li-exc"])
    t.add("t2c-li-blocked-api", "link in", 80, 1100, g6, name="blocked entries", links=["t2c-lo-blocked"], wires=[["t2c-api-blocked"]])
    t.add("t2c-li-posted-api", "link in", 80, 1195, g6, name="posted -> portal requests", links=["t2c-lo-posted-api"], wires=[["t2c-api-invoiced"]])
