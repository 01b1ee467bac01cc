#!/usr/bin/env python3
"""Generates flows/*.json (the process templates) so ids, groups and links stay consistent.
Edit here or in the editor (then export the tab); run: python3 flows/_generate.py"""
import json, os
HERE = os.path.dirname(os.path.abspath(__file__))

def cfg():
    return [
        {"id": "psf-store", "type": "fabric-store", "name": "PS Fabric store", "kind": "sqlite", "path": "", "retentionDays": 7},
        {"id": "psf-broker", "type": "fabric-broker", "name": "PS Fabric broker", "mode": "embedded", "url": "", "clientId": "", "clean": False, "protocolVersion": "4", "keepalive": 60},
        {"id": "psf-ownership", "type": "ownership-config", "name": "PS Fabric ownership", "source": "default", "matrix": ""},
        {"id": "psf-salesforce", "type": "salesforce-config", "name": "Salesforce", "loginUrl": "${FABRIC_SALESFORCE_URL}", "instanceUrl": "", "apiVersion": "62.0", "authType": "client-credentials", "audience": "", "store": "psf-store", "ratePerSecond": 20, "concurrency": 10, "maxAttempts": 8},
        {"id": "psf-netsuite", "type": "netsuite-config", "name": "NetSuite (NWA-US)", "accountId": "${FABRIC_NETSUITE_ACCOUNT}", "baseUrl": "${FABRIC_NETSUITE_URL}", "authType": "oauth2-m2m", "algorithm": "PS256", "tables": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-bc-uk", "type": "business-central-config", "name": "Business Central (NWA UK)", "tenantId": "${FABRIC_BC_TENANT}", "environment": "${FABRIC_BC_ENVIRONMENT}", "company": "NWA UK", "baseUrl": "${FABRIC_BC_URL}", "tokenUrl": "${FABRIC_BC_TOKEN_URL}", "scope": "", "tables": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-bc-de", "type": "business-central-config", "name": "Business Central (NWA DE)", "tenantId": "${FABRIC_BC_TENANT}", "environment": "${FABRIC_BC_ENVIRONMENT}", "company": "NWA DE", "baseUrl": "${FABRIC_BC_URL}", "tokenUrl": "${FABRIC_BC_TOKEN_URL}", "scope": "", "tables": "", "store": "psf-store", "ratePerSecond": 5, "concurrency": 5, "maxAttempts": 8, "timeoutMs": 60000},
        {"id": "psf-kantata", "type": "kantata-config", "name": "Kantata PSA", "baseUrl": "${FABRIC_KANTATA_URL}", "tokenUrl": "", "store": "psf-store", "ratePerSecond": 10, "concurrency": 4, "maxAttempts": 8, "timeoutMs": 30000},
        {"id": "psf-legacy-fr01", "type": "legacy-erp-config", "name": "FR01", "company": "FR01", "url": "", "store": "psf-store", "ackTimeoutMs": 15000, "ratePerSecond": 20, "concurrency": 10, "maxAttempts": 8},
        {"id": "psf-jira", "type": "jira-config", "name": "Jira", "baseUrl": "${FABRIC_JIRA_URL}", "authType": "basic", "store": "psf-store", "ratePerSecond": 5, "concurrency": 2, "maxAttempts": 8, "timeoutMs": 30000},
    ]

class Tab:
    def __init__(self, tid, label, info):
        self.tid = tid
        self.nodes = [{"id": tid, "type": "tab", "label": label, "disabled": False, "info": info}]
        self.groups = {}
    def group(self, gid, name, x, y, w, h, color):
        g = {"id": gid, "type": "group", "z": self.tid, "name": name, "style": {"fill": color, "label": True, "fill-opacity": "0.35"}, "nodes": [], "x": x, "y": y, "w": w, "h": h}
        self.groups[gid] = g
        self.nodes.append(g)
        return gid
    def add(self, nid, ntype, x, y, g=None, wires=None, **props):
        n = {"id": nid, "type": ntype, "z": self.tid, "x": x, "y": y}
        if g:
            n["g"] = g
            self.groups[g]["nodes"].append(nid)
        n.update(props)
        if ntype not in ("comment", "link in", "catch", "group") or wires is not None:
            if ntype not in ("comment",):
                n["wires"] = wires if wires is not None else [[]]
        if ntype == "link in" and "wires" not in n:
            n["wires"] = wires if wires is not None else [[]]
        if ntype == "catch" and "wires" not in n:
            n["wires"] = wires or [[]]
        self.nodes.append(n)
        return nid
    def comment(self, nid, x, y, g, name, info=""):
        return self.add(nid, "comment", x, y, g, name=name, info=info)

def link(tab, out_id, in_id, xo, yo, xi, yi, go, gi, name):
    tab.add(out_id, "link out", xo, yo, go, name=name, mode="link", links=[in_id])
    tab.add(in_id, "link in", xi, yi, gi, name=name, links=[out_id], wires=[[]])

def exc(tab, nid, x, y, g, process, step, owner, error_class="permanent", replay=False, wires=None):
    return tab.add(nid, "fabric-exception", x, y, g, wires=wires or ([[], []] if True else None), name=f"exception: {owner or 'owner from matrix'}", store="psf-store", process=process, step=step, owner=owner, errorClass=error_class, message="", replay=replay, outputs=2)

# ------------------------------------------------------------------------------------------------ quote-to-project
def q2p():
    t = Tab("psf-tab-q2p", "quote-to-project", "Closed-won opportunity -> ERP customer, PSA project shell, Jira project + epic, `fabric/v1/project/created`, Teams card. See docs/templates.md.")
    P = "quote-to-project"
    g1 = t.group("q2p-g1", "1. Trigger: opportunity turns Closed Won", 20, 20, 520, 220, "#e3f3d3")
    t.comment("q2p-c1", 160, 60, g1, "Salesforce closed-won (SystemModstamp poll or CDC, durable watermark)", "The salesforce-trigger emits the opportunity with its account and line items once it is Closed Won. Other producers can publish a deal on fabric/v1/opportunity/closed-won.")
    t.add("q2p-sf-trigger", "salesforce-trigger", 150, 110, g1, wires=[["q2p-lo-deal"]], name="Closed Won opportunities", salesforce="psf-salesforce", mode="poll", stage="Closed Won", interval="${FABRIC_Q2P_POLL_SECONDS}", where="", replayFrom="-1", once=True)
    t.add("q2p-mqtt-in", "fabric-mqtt-in", 150, 170, g1, wires=[["q2p-unwrap"], []], name="fabric/v1/opportunity/closed-won", broker="psf-broker", store="psf-store", topic="fabric/v1/opportunity/closed-won", qos="1", outputs=2)
    t.add("q2p-unwrap", "change", 330, 170, g1, wires=[["q2p-lo-deal"]], name="deal = event data", rules=[{"t": "set", "p": "correlationId", "pt": "msg", "to": "payload.correlationid", "tot": "msg"}, {"t": "set", "p": "payload", "pt": "msg", "to": "payload.data", "tot": "msg"}])
    link(t, "q2p-lo-deal", "q2p-li-deal", 480, 140, 80, 320, g1, None, "deal")
    g2 = t.group("q2p-g2", "2. Validate account + contract data, route to the ERP, plan every write", 20, 260, 860, 160, "#dbe9f6")
    t.groups[g2]["nodes"].append("q2p-li-deal"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["g"] = g2
    t.comment("q2p-c2", 300, 300, g2, "Nothing is written before the deal is complete; run key = opportunity id", "process-step q2p-plan: validates (tax registration, billing entity, currency, address, lines, delivery manager), maps tax + currency for the ERP of the billing entity (routing table in the node), builds the PSA project shell, staffing placeholders, Jira project/epic and every write's idempotency key. Output 2: what is missing -> sales-ops exception. Output 3: duplicate trigger (no-op).")
    t.add("q2p-plan", "process-step", 260, 360, g2, wires=[["q2p-w-cust"], ["q2p-lo-missing"], ["q2p-dup"]], name="validate + plan", store="psf-store", step="q2p-plan", routing="", outputs=3)
    t.add("q2p-dup", "debug", 480, 400, g2, name="duplicate trigger: no-op", active=True, tosidebar=True, console=False, complete="duplicate", targetType="msg", statusVal="", statusType="auto")
    t.add("q2p-w-cust", "process-step", 480, 340, g2, wires=[["q2p-lo-erp"]], name="next: ERP customer", store="psf-store", step="q2p-write", write="erpCustomer", outputs=1)
    link(t, "q2p-lo-erp", "q2p-li-erp", 680, 340, 80, 520, g2, None, "ERP customer")
    t.add("q2p-lo-missing", "link out", 480, 370, g2, name="missing data", mode="link", links=["q2p-li-missing"])
    g3 = t.group("q2p-g3", "3. Legal customer in the ERP of the billing entity (through the outbox)", 20, 440, 860, 220, "#fdf0d5")
    t.groups[g3]["nodes"].append("q2p-li-erp"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-erp")]["g"] = g3
    t.comment("q2p-c3", 330, 480, g3, "NWA-US -> NetSuite, NWA-UK / NWA-DE -> Business Central, NWA-FR -> legacy ERP (customer master kept on-prem)")
    t.add("q2p-erp-switch", "switch", 230, 560, g3, wires=[["q2p-ns"], ["q2p-bc-uk"], ["q2p-bc-de"], ["q2p-legacy"], ["q2p-noroute"]], name="ERP of the billing entity", property="erpTarget", propertyType="msg", rules=[{"t": "eq", "v": "netsuite:1", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA UK", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA DE", "vt": "str"}, {"t": "eq", "v": "legacy:FR01", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=5)
    t.add("q2p-ns", "netsuite", 480, 520, g3, wires=[["q2p-w-nsjob"]], name="NetSuite: upsert customer", netsuite="psf-netsuite", operation="upsertCustomer", query="", recordType="", pageSize=1000)
    t.add("q2p-w-nsjob", "process-step", 640, 500, g3, wires=[["q2p-ns-job"]], name="next: NetSuite job", store="psf-store", step="q2p-write", write="erpProject", outputs=1)
    t.add("q2p-ns-job", "netsuite", 800, 520, g3, wires=[["q2p-lo-psa"]], name="NetSuite: project (job)", netsuite="psf-netsuite", operation="createProject", query="", recordType="", pageSize=1000)
    t.add("q2p-bc-uk", "business-central", 480, 560, g3, wires=[["q2p-lo-psa"]], name="BC UK: upsert customer", businessCentral="psf-bc-uk", operation="upsertCustomer", entitySet="", filter="")
    t.add("q2p-bc-de", "business-central", 480, 600, g3, wires=[["q2p-lo-psa"]], name="BC DE: upsert customer", businessCentral="psf-bc-de", operation="upsertCustomer", entitySet="", filter="")
    t.add("q2p-legacy", "change", 480, 640, g3, wires=[["q2p-lo-psa"]], name="legacy ERP: customer kept on-prem", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "{\"id\":\"on-prem\",\"note\":\"NWA-FR customers are maintained in the legacy ERP; invoices name the customer code\"}", "tot": "json"}])
    t.add("q2p-noroute", "change", 480, 680, g3, wires=[["q2p-exc-int"]], name="no ERP for this entity", rules=[{"t": "set", "p": "error", "pt": "msg", "to": "{\"message\":\"the routing table sends this billing entity to an ERP this flow has no node for\"}", "tot": "json"}])
    link(t, "q2p-lo-psa", "q2p-li-psa", 840, 580, 80, 760, g3, None, "PSA + Jira")
    g4 = t.group("q2p-g4", "4. PSA project shell, Jira delivery space, project.created, Teams", 20, 680, 1300, 200, "#e8e0f5")
    t.groups[g4]["nodes"].append("q2p-li-psa"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-psa")]["g"] = g4
    t.comment("q2p-c4", 420, 720, g4, "Each write carries q2p:<opportunity>:<step> as idempotency key: a retry or replay never creates twice", "Kantata: workspace (external reference = project id), stories = workstreams from the opportunity lines, budget, billing schedule. Jira: project (key from customer + opportunity) and an epic. Then the canonical project goes on the bus and the delivery channel gets a card. The KPI run ends (lead time closed-won -> active).")
    t.add("q2p-w-psa", "process-step", 220, 780, g4, wires=[["q2p-kantata"]], name="next: PSA project", store="psf-store", step="q2p-write", write="psaProject", outputs=1)
    t.add("q2p-kantata", "kantata", 400, 780, g4, wires=[["q2p-w-jp"]], name="Kantata: project shell", kantata="psf-kantata", operation="createProjectShell", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    t.add("q2p-w-jp", "process-step", 580, 780, g4, wires=[["q2p-jira-p"]], name="next: Jira project", store="psf-store", step="q2p-write", write="jiraProject", outputs=1)
    t.add("q2p-jira-p", "jira", 760, 780, g4, wires=[["q2p-w-je"]], name="Jira: project", jira="psf-jira", operation="createProject", projectKey="", issueType="Epic", jql="", limit=1000)
    t.add("q2p-w-je", "process-step", 940, 780, g4, wires=[["q2p-jira-e"]], name="next: Jira epic", store="psf-store", step="q2p-write", write="jiraEpic", outputs=1)
    t.add("q2p-jira-e", "jira", 1100, 780, g4, wires=[["q2p-complete"]], name="Jira: epic", jira="psf-jira", operation="createEpic", projectKey="", issueType="Epic", jql="", limit=1000)
    t.add("q2p-complete", "process-step", 400, 840, g4, wires=[["q2p-pub", "q2p-w-notify"]], name="project active + KPI", store="psf-store", step="q2p-complete", outputs=1)
    t.add("q2p-pub", "fabric-mqtt-out", 640, 820, g4, name="fabric/v1/project/created", broker="psf-broker", topic="fabric/v1/project/created", qos="1", retain=False)
    t.add("q2p-w-notify", "process-step", 640, 860, g4, wires=[["q2p-teams"]], name="next: Teams card", store="psf-store", step="q2p-write", write="notify", outputs=1)
    t.add("q2p-teams", "teams-notify", 860, 860, g4, wires=[[]], name="Teams: delivery channel", store="psf-store", title="PS Fabric", format="adaptive", ratePerSecond=1, maxAttempts=6)
    t.nodes[-1]["id"] = "psf-q2p-teams"; t.groups[g4]["nodes"][-1] = "psf-q2p-teams"
    t.nodes[[n["id"] for n in t.nodes].index("q2p-w-notify")]["wires"] = [["psf-q2p-teams"]]
    g5 = t.group("q2p-g5", "5. Errors -> exception queue (owner team from the ownership matrix)", 20, 900, 1000, 200, "#f8d7da")
    t.comment("q2p-c5", 300, 940, g5, "Missing deal data -> sales-ops (replay re-reads the deal); delivery failures -> owner of the step", "The plan step's second output carries each missing field. After the data is fixed in Salesforce, replay the exception (console or admin API): the opportunity is read again and the run completes. Permanent write failures (after the outbox's retries) land here through the Catch node.")
    t.add("q2p-li-missing", "link in", 80, 1000, g5, name="missing data", links=["q2p-lo-missing"], wires=[["q2p-exc-sales"]])
    exc(t, "q2p-exc-sales", 300, 1000, g5, P, "validate", "sales-ops", "validation", True, wires=[[], ["q2p-refetch-q"]])
    t.add("q2p-refetch-q", "change", 520, 1000, g5, wires=[["q2p-refetch"]], name="SOQL: the deal again", rules=[{"t": "set", "p": "query", "pt": "msg", "to": "\"SELECT Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Billing_Model__c, Delivery_Manager_Id__c, Delivery_Manager_Email__c, LastModifiedDate, Account.Id, Account.Name, Account.External_Id__c, Account.Billing_Entity__c, Account.Tax_Registration__c, Account.CurrencyIsoCode, Account.BillingStreet, Account.BillingCity, Account.BillingPostalCode, Account.BillingCountry, (SELECT Workstream__c, Role__c, Hours__c, Rate__c, SortOrder FROM OpportunityLineItems) FROM Opportunity WHERE Id = '\" & payload.opportunityId & \"'\"", "tot": "jsonata"}])
    t.add("q2p-refetch", "salesforce", 740, 1000, g5, wires=[["q2p-refetch-deal"]], name="Salesforce: read the deal", salesforce="psf-salesforce", operation="query", soql="", paging="all")
    t.add("q2p-refetch-deal", "change", 740, 1040, g5, wires=[["q2p-lo-redeal"]], name="deal = {opportunity, account}", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "{\"opportunity\": payload[0], \"account\": payload[0].Account}", "tot": "jsonata"}, {"t": "set", "p": "replay", "pt": "msg", "to": "true", "tot": "bool"}])
    t.add("q2p-lo-redeal", "link out", 920, 1040, g5, name="deal (replay)", mode="link", links=["q2p-li-deal"])
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["links"] = ["q2p-lo-deal", "q2p-lo-redeal"]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["wires"] = [["q2p-plan"]]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-erp")]["wires"] = [["q2p-erp-switch"]]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-psa")]["wires"] = [["q2p-w-psa"]]
    t.add("q2p-catch", "catch", 100, 1060, g5, wires=[["q2p-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "q2p-exc-int", 300, 1060, g5, P, "", "", "permanent", False)
    return t.nodes

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
    t.add("t2c-plan", "process-step", 280, 340, g2, wires=[["t2c-erp-switch"], ["t2c-exc-md"]], name="group + build invoices", store="psf-store", step="t2c-plan", routing="", batchSize=50, maxLines=500, outputs=2)
    t.add("t2c-erp-switch", "switch", 520, 330, g2, wires=[["t2c-ns"], ["t2c-bc-uk"], ["t2c-bc-de"], ["t2c-legacy-enc"], ["t2c-exc-int"]], name="ERP of the billing entity", property="erpTarget", propertyType="msg", rules=[{"t": "eq", "v": "netsuite:1", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA UK", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA DE", "vt": "str"}, {"t": "eq", "v": "legacy:FR01", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=5)
    t.nodes[-1]["wires"][3] = ["t2c-legacy-post"]
    g3 = t.group("t2c-g3", "3. Invoice in the ERP (outbox: retries, quota, breaker)", 20, 420, 900, 220, "#fdf0d5")
    t.add("t2c-ns", "netsuite", 220, 460, g3, wires=[["t2c-posted"]], name="NetSuite: invoice", netsuite="psf-netsuite", operation="createInvoice", query="", recordType="", pageSize=1000)
    t.add("t2c-bc-uk", "business-central", 220, 500, g3, wires=[["t2c-posted"]], name="BC UK: sales invoice (posted)", businessCentral="psf-bc-uk", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-bc-de", "business-central", 220, 540, g3, wires=[["t2c-posted"]], name="BC DE: sales invoice (posted)", businessCentral="psf-bc-de", operation="createSalesInvoice", entitySet="", filter="")
    t.add("t2c-legacy-post", "legacy-erp", 260, 590, g3, wires=[["t2c-posted"], []], name="FR01: post invoice (waits for the AK)", mode="postInvoice", legacy="psf-legacy-fr01", topic="", outputs=2)
    t.comment("t2c-c3", 640, 460, g3, "Invoice id = idempotency key = ERP external id / document number", "NetSuite: external id + X-NetSuite-Idempotency-Key. Business Central: lookup on externalDocumentNumber, deep insert, post. Legacy FR01: IH/IL lines at QoS 1 through the outbox (legacy-erp-config); the posting completes on the ERP's AK OK (document number), an AK ER goes to finance-ops with the ERP's message, no ack is retried; re-posting the same invoice number is acknowledged with the existing document.")
    g4 = t.group("t2c-g4", "4. Mark entries invoiced, publish invoice.posted, KPI", 20, 660, 900, 160, "#e8e0f5")
    t.add("t2c-posted", "process-step", 200, 720, g4, wires=[["t2c-pub", "t2c-mark-prep"]], name="invoice posted + KPI", store="psf-store", step="t2c-posted", outputs=1)
    t.add("t2c-pub", "fabric-mqtt-out", 440, 700, g4, name="fabric/v1/invoice/posted", broker="psf-broker", topic="fabric/v1/invoice/posted", qos="1", retain=False)
    t.add("t2c-mark-prep", "switch", 420, 760, g4, wires=[["t2c-mark-req"]], name="PSA entries?", property="markInvoiced", propertyType="msg", rules=[{"t": "nnull"}], checkall="true", repair=False, outputs=1)
    t.add("t2c-mark-req", "change", 600, 760, g4, wires=[["t2c-kantata-mark"]], name="mark-invoiced request", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "markInvoiced.payload", "tot": "msg"}, {"t": "set", "p": "idempotencyKey", "pt": "msg", "to": "markInvoiced.idempotencyKey", "tot": "msg"}, {"t": "set", "p": "operation", "pt": "msg", "to": "markInvoiced", "tot": "str"}])
    t.add("t2c-kantata-mark", "kantata", 800, 760, g4, wires=[[]], name="Kantata: mark invoiced", kantata="psf-kantata", operation="markInvoiced", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    g5 = t.group("t2c-g5", "5. Errors -> exception queue", 20, 840, 900, 140, "#f8d7da")
    t.comment("t2c-c5", 260, 880, g5, "Master data -> billing-ops (KPI: invoices blocked by master-data mismatch); anything else -> owner from the matrix")
    exc(t, "t2c-exc-md", 200, 930, g5, P, "master-data", "billing-ops", "validation", False)
    t.add("t2c-catch", "catch", 440, 930, g5, wires=[["t2c-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "t2c-exc-int", 640, 930, g5, P, "", "", "permanent", False)
    return t.nodes

# ------------------------------------------------------------------------------------------------ change-order
def co():
    t = Tab("psf-tab-co", "change-order-to-billing", "Contract amendment in the CRM -> ERP billing schedule + PSA budget -> `fabric/v1/contract/amended`. An amendment for a project not there yet is parked and retried, never lost.")
    P = "change-order-to-billing"
    g1 = t.group("co-g1", "1. Trigger: contract amendment approved in Salesforce", 20, 20, 700, 180, "#e3f3d3")
    t.comment("co-c1", 240, 60, g1, "Contract_Amendment__c with Status Approved (poll / CDC); or fabric/v1/contract/amendment-approved")
    t.add("co-tick", "inject", 120, 110, g1, wires=[["co-sf-query"]], name="every minute", props=[{"p": "payload"}], repeat="60", crontab="", once=True, onceDelay="15", topic="", payload="", payloadType="date")
    t.add("co-sf-query", "salesforce", 320, 110, g1, wires=[["co-split"]], name="Salesforce: approved amendments", salesforce="psf-salesforce", operation="query", soql="SELECT Id, Name, Opportunity__c, Contract__c, Amendment_Type__c, Amount_Change__c, Hours_Change__c, Effective_Date__c, Description__c, External_Id__c FROM Contract_Amendment__c WHERE Status__c = 'Approved'", paging="all")
    t.add("co-split", "split", 500, 110, g1, wires=[["co-once"]], name="one per amendment", splt="\\n", spltType="str", arraySplt=1, arraySpltType="len", stream=False, addname="")
    t.add("co-once", "fabric-idempotent", 640, 110, g1, wires=[["co-plan"]], name="each amendment once", store="psf-store", keySource="jsonata", expression="'amendment:' & payload.Id", scope="change-order-to-billing", retentionHours="", repeats="drop", outputs=1)
    t.add("co-mqtt-in", "fabric-mqtt-in", 170, 160, g1, wires=[["co-unwrap"], []], name="fabric/v1/contract/amendment-approved", broker="psf-broker", store="psf-store", topic="fabric/v1/contract/amendment-approved", qos="1", outputs=2)
    t.add("co-unwrap", "change", 420, 160, g1, wires=[["co-plan"]], name="amendment = event data", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "payload.data", "tot": "msg"}])
    g2 = t.group("co-g2", "2. Plan: new billing schedule + budget; park while the project does not exist", 20, 220, 1000, 200, "#dbe9f6")
    t.comment("co-c2", 300, 260, g2, "Project state = outcome of its quote-to-project run; parked amendments are retried with backoff by the node itself, then go to billing-ops")
    t.add("co-plan", "process-step", 200, 330, g2, wires=[["co-erp-switch"], ["co-parked"], ["co-exc"]], name="plan amendment", store="psf-store", step="co-plan", retrySeconds="${FABRIC_CO_RETRY_SECONDS}", maxWaits=6, outputs=3)
    t.add("co-parked", "debug", 440, 370, g2, name="parked (waiting for its project)", active=True, tosidebar=True, console=False, complete="payload", targetType="msg", statusVal="payload.reason", statusType="msg")
    t.add("co-erp-switch", "switch", 440, 310, g2, wires=[["co-ns"], ["co-psa-prep"]], name="ERP can take a schedule?", property="erp", propertyType="msg", rules=[{"t": "eq", "v": "netsuite", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=2)
    t.add("co-ns", "netsuite", 660, 290, g2, wires=[["co-psa-prep"]], name="NetSuite: billing schedule", netsuite="psf-netsuite", operation="updateProject", query="", recordType="", pageSize=1000)
    t.comment("co-c2b", 700, 350, g2, "Business Central / legacy: no project-update operation in their connectors yet (see docs/templates.md)")
    g3 = t.group("co-g3", "3. PSA budget, contract.amended", 20, 440, 1000, 140, "#e8e0f5")
    t.add("co-psa-prep", "change", 180, 500, g3, wires=[["co-kantata"]], name="PSA budget request", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "psaRequest.payload", "tot": "msg"}, {"t": "set", "p": "idempotencyKey", "pt": "msg", "to": "psaRequest.idempotencyKey", "tot": "msg"}, {"t": "set", "p": "operation", "pt": "msg", "to": "updateWorkspace", "tot": "str"}])
    t.add("co-kantata", "kantata", 400, 500, g3, wires=[["co-complete"]], name="Kantata: budget", kantata="psf-kantata", operation="updateWorkspace", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    t.add("co-complete", "process-step", 620, 500, g3, wires=[["co-pub"]], name="contract amended", store="psf-store", step="co-complete", outputs=1)
    t.add("co-pub", "fabric-mqtt-out", 840, 500, g3, name="fabric/v1/contract/amended", broker="psf-broker", topic="fabric/v1/contract/amended", qos="1", retain=False)
    g4 = t.group("co-g4", "4. Errors -> exception queue", 20, 600, 1000, 120, "#f8d7da")
    exc(t, "co-exc", 220, 660, g4, P, "plan", "billing-ops", "validation", True, wires=[[], ["co-plan"]])
    t.add("co-catch", "catch", 480, 660, g4, wires=[["co-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "co-exc-int", 700, 660, g4, P, "", "", "permanent", False)
    return t.nodes

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

def write(name, nodes):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(nodes, f, indent=2, ensure_ascii=False)
        f.write("\n")

write("_config.json", cfg())
write("quote-to-project.json", q2p())
write("time-to-cash.json", t2c())
write("change-order-to-billing.json", co())
write("performance-to-reporting.json", rep())
print("ok")
