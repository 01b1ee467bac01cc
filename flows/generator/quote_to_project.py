from .common import *
import json

# The demo firm's people (sandbox/seed/firm.ts CONSULTANTS) as the plan step's directory: a firm replaces it with its
# own (CRM delivery-manager id -> name, email, and optionally jiraAccountId / psaUserId).
DEMO_PEOPLE = [{"id": f"CON-{i:03d}", "name": n, "email": n.lower().replace(" ", ".") + "@northwind-advisory.example"} for i, n in enumerate([
    "Maya Patel", "Daniel Okafor", "Grace Kim", "Luis Romero", "Oliver Hughes", "Amelia Clarke", "Priya Shah",
    "Jonas Weber", "Lena Fischer", "Tobias Braun", "Camille Durand", "Hugo Martin"], start=1)]

# ------------------------------------------------------------------------------------------------ quote-to-project
def q2p():
    t = Tab("psf-tab-q2p", "quote-to-project", "Closed-won opportunity -> ERP customer + project, PSA project shell, Jira project + epic, `fabric/v1/project/created`, Teams card. See docs/templates.md.")
    P = "quote-to-project"
    g1 = t.group("q2p-g1", "1. Trigger: opportunity turns Closed Won", 20, 20, 620, 220, "#e3f3d3")
    t.comment("q2p-c1", 160, 60, g1, "Salesforce closed-won (SystemModstamp poll or CDC, durable watermark)", "The salesforce-trigger emits the opportunity with its account and line items once it is Closed Won. Other producers can publish a deal on fabric/v1/opportunity/closed-won.")
    t.add("q2p-sf-trigger", "salesforce-trigger", 200, 110, g1, wires=[["q2p-lo-deal"]], name="Closed Won opportunities", salesforce="psf-salesforce", mode="poll", stage="Closed Won", interval="${FABRIC_Q2P_POLL_SECONDS}", where="", replayFrom="-1", once=True)
    t.add("q2p-mqtt-in", "fabric-mqtt-in", 200, 170, g1, wires=[["q2p-unwrap"], []], name="fabric/v1/opportunity/closed-won", broker="psf-broker", store="psf-store", topic="fabric/v1/opportunity/closed-won", qos="1", outputs=2)
    t.add("q2p-unwrap", "change", 440, 170, g1, wires=[["q2p-lo-deal"]], name="deal = event data", rules=[{"t": "set", "p": "correlationId", "pt": "msg", "to": "payload.correlationid", "tot": "msg"}, {"t": "set", "p": "payload", "pt": "msg", "to": "payload.data", "tot": "msg"}])
    link(t, "q2p-lo-deal", "q2p-li-deal", 580, 140, 80, 320, g1, None, "deal")
    g2 = t.group("q2p-g2", "2. Validate account + contract data, route to the ERP, plan every write", 20, 260, 860, 160, "#dbe9f6")
    t.groups[g2]["nodes"].append("q2p-li-deal"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["g"] = g2
    t.comment("q2p-c2", 300, 300, g2, "Nothing is written before the deal is complete; run key = opportunity id", "process-step q2p-plan: validates (tax registration, billing entity, currency, address, lines, delivery manager), maps tax + currency for the ERP of the billing entity (routing table in the node), builds the PSA project shell, staffing placeholders, Jira project/epic and every write's idempotency key. Output 2: what is missing -> sales-ops exception. Output 3: duplicate trigger (no-op).")
    t.add("q2p-plan", "process-step", 260, 360, g2, wires=[["q2p-w-cust"], ["q2p-lo-missing"], ["q2p-dup"]], name="validate + plan", store="psf-store", step="q2p-plan", routing="", directory=json.dumps(DEMO_PEOPLE), outputs=3)
    t.add("q2p-dup", "debug", 560, 405, g2, name="duplicate trigger: no-op", active=True, tosidebar=True, console=False, complete="duplicate", targetType="msg", statusVal="", statusType="auto")
    t.add("q2p-w-cust", "process-step", 500, 330, g2, wires=[["q2p-lo-erp"]], name="next: ERP customer", store="psf-store", step="q2p-write", write="erpCustomer", outputs=1)
    link(t, "q2p-lo-erp", "q2p-li-erp", 700, 330, 80, 610, g2, None, "ERP customer")
    t.add("q2p-lo-missing", "link out", 440, 372, g2, name="missing data", mode="link", links=["q2p-li-missing"])
    g3 = t.group("q2p-g3", "3. Legal customer + project in the ERP of the billing entity (through the outbox)", 20, 440, 1200, 340, "#fdf0d5")
    t.groups[g3]["nodes"].append("q2p-li-erp"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-erp")]["g"] = g3
    t.comment("q2p-c3", 330, 480, g3, "NWA-US -> NetSuite customer + job, NWA-UK / NWA-DE -> Business Central customer + project (numbers from BC's number series, bill-to customer + task), NWA-FR -> legacy ERP (customer master kept on-prem)")
    t.add("q2p-erp-switch", "switch", 230, 610, g3, wires=[["q2p-ns"], ["q2p-bc-uk"], ["q2p-bc-de"], ["q2p-legacy"], ["q2p-noroute"]], name="ERP of the billing entity", property="erpTarget", propertyType="msg", rules=[{"t": "eq", "v": "netsuite:1", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA UK", "vt": "str"}, {"t": "eq", "v": "businessCentral:NWA DE", "vt": "str"}, {"t": "eq", "v": "legacy:FR01", "vt": "str"}, {"t": "else"}], checkall="false", repair=False, outputs=5)
    t.add("q2p-ns", "netsuite", 520, 540, g3, wires=[["q2p-w-nsjob"]], name="NetSuite: upsert customer", netsuite="psf-netsuite", operation="upsertCustomer", query="", recordType="", pageSize=1000)
    t.add("q2p-w-nsjob", "process-step", 760, 540, g3, wires=[["q2p-ns-job"]], name="next: NetSuite job", store="psf-store", step="q2p-write", write="erpProject", outputs=1)
    t.add("q2p-ns-job", "netsuite", 1000, 540, g3, wires=[["q2p-lo-psa"]], name="NetSuite: project (job)", netsuite="psf-netsuite", operation="createProject", query="", recordType="", pageSize=1000)
    t.add("q2p-bc-uk", "business-central", 520, 590, g3, wires=[["q2p-w-bcproj-uk"]], name="BC UK: upsert customer", businessCentral="psf-bc-uk", operation="upsertCustomer", entitySet="", filter="")
    t.add("q2p-w-bcproj-uk", "process-step", 760, 590, g3, wires=[["q2p-bc-uk-proj"]], name="next: BC UK project", store="psf-store", step="q2p-write", write="erpProject", outputs=1)
    t.add("q2p-bc-uk-proj", "business-central", 1000, 590, g3, wires=[["q2p-lo-psa"]], name="BC UK: project", businessCentral="psf-bc-uk", operation="createProject", entitySet="", filter="")
    t.add("q2p-bc-de", "business-central", 520, 640, g3, wires=[["q2p-w-bcproj-de"]], name="BC DE: upsert customer", businessCentral="psf-bc-de", operation="upsertCustomer", entitySet="", filter="")
    t.add("q2p-w-bcproj-de", "process-step", 760, 640, g3, wires=[["q2p-bc-de-proj"]], name="next: BC DE project", store="psf-store", step="q2p-write", write="erpProject", outputs=1)
    t.add("q2p-bc-de-proj", "business-central", 1000, 640, g3, wires=[["q2p-lo-psa"]], name="BC DE: project", businessCentral="psf-bc-de", operation="createProject", entitySet="", filter="")
    t.add("q2p-legacy", "change", 520, 690, g3, wires=[["q2p-lo-psa"]], name="legacy ERP: customer kept on-prem", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "{\"id\":\"on-prem\",\"note\":\"NWA-FR customers are maintained in the legacy ERP; invoices name the customer code\"}", "tot": "json"}])
    t.add("q2p-noroute", "change", 520, 740, g3, wires=[["q2p-lo-noroute"]], name="no ERP for this entity", rules=[{"t": "set", "p": "error", "pt": "msg", "to": "{\"message\":\"the routing table sends this billing entity to an ERP this flow has no node for\"}", "tot": "json"}])
    link(t, "q2p-lo-psa", "q2p-li-psa", 1140, 615, 80, 900, g3, None, "PSA + Jira")
    g4 = t.group("q2p-g4", "4. PSA project shell, Jira delivery space, project.created, Teams", 20, 800, 1420, 200, "#e8e0f5")
    t.groups[g4]["nodes"].append("q2p-li-psa"); t.nodes[[n["id"] for n in t.nodes].index("q2p-li-psa")]["g"] = g4
    t.comment("q2p-c4", 420, 840, g4, "Each write carries q2p:<opportunity>:<step> as idempotency key: a retry or replay never creates twice", "Kantata: workspace (external reference = project id), stories = workstreams from the opportunity lines, budget, billing schedule. Jira: project (key from customer + opportunity) and an epic. Then the canonical project goes on the bus and the delivery channel gets a card. The KPI run ends (lead time closed-won -> active).")
    t.add("q2p-w-psa", "process-step", 220, 900, g4, wires=[["q2p-kantata"]], name="next: PSA project", store="psf-store", step="q2p-write", write="psaProject", outputs=1)
    t.add("q2p-kantata", "kantata", 450, 900, g4, wires=[["q2p-w-jp"]], name="Kantata: project shell", kantata="psf-kantata", operation="createProjectShell", collection="workspaces", pollSeconds=60, output="entry", maxRecords=5000, workspaceId="")
    t.add("q2p-w-jp", "process-step", 680, 900, g4, wires=[["q2p-jira-p"]], name="next: Jira project", store="psf-store", step="q2p-write", write="jiraProject", outputs=1)
    t.add("q2p-jira-p", "jira", 900, 900, g4, wires=[["q2p-w-je"]], name="Jira: project", jira="psf-jira", operation="createProject", projectKey="", issueType="Epic", jql="", limit=1000)
    t.add("q2p-w-je", "process-step", 1110, 900, g4, wires=[["q2p-jira-e"]], name="next: Jira epic", store="psf-store", step="q2p-write", write="jiraEpic", outputs=1)
    t.add("q2p-jira-e", "jira", 1320, 900, g4, wires=[["q2p-complete"]], name="Jira: epic", jira="psf-jira", operation="createEpic", projectKey="", issueType="Epic", jql="", limit=1000)
    t.add("q2p-complete", "process-step", 450, 960, g4, wires=[["q2p-pub", "q2p-w-notify"]], name="project active + KPI", store="psf-store", step="q2p-complete", outputs=1)
    t.add("q2p-pub", "fabric-mqtt-out", 720, 940, g4, name="fabric/v1/project/created", broker="psf-broker", topic="fabric/v1/project/created", qos="1", retain=False)
    t.add("q2p-w-notify", "process-step", 720, 980, g4, wires=[["q2p-teams"]], name="next: Teams card", store="psf-store", step="q2p-write", write="notify", outputs=1)
    t.add("q2p-teams", "teams-notify", 960, 980, g4, wires=[[]], name="Teams: delivery channel", store="psf-store", title="PS Fabric", format="adaptive", ratePerSecond=1, maxAttempts=6)
    t.nodes[-1]["id"] = "psf-q2p-teams"; t.groups[g4]["nodes"][-1] = "psf-q2p-teams"
    t.nodes[[n["id"] for n in t.nodes].index("q2p-w-notify")]["wires"] = [["psf-q2p-teams"]]
    g5 = t.group("q2p-g5", "5. Errors -> exception queue (owner team from the ownership matrix)", 20, 1020, 1000, 250, "#f8d7da")
    t.comment("q2p-c5", 300, 1060, g5, "Missing deal data -> sales-ops (replay re-reads the deal); delivery failures -> owner of the step", "The plan step's second output carries each missing field. After the data is fixed in Salesforce, replay the exception (console or admin API): the opportunity is read again and the run completes. Permanent write failures (after the outbox's retries) land here through the Catch node.")
    t.add("q2p-li-missing", "link in", 80, 1120, g5, name="missing data", links=["q2p-lo-missing"], wires=[["q2p-exc-sales"]])
    exc(t, "q2p-exc-sales", 300, 1120, g5, P, "validate", "sales-ops", "validation", True, wires=[[], ["q2p-refetch-q"]])
    t.add("q2p-refetch-q", "change", 520, 1120, g5, wires=[["q2p-refetch"]], name="SOQL: the deal again", rules=[{"t": "set", "p": "query", "pt": "msg", "to": "\"SELECT Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Billing_Model__c, Delivery_Manager_Id__c, Delivery_Manager_Email__c, LastModifiedDate, Account.Id, Account.Name, Account.External_Id__c, Account.Billing_Entity__c, Account.Tax_Registration__c, Account.CurrencyIsoCode, Account.BillingStreet, Account.BillingCity, Account.BillingPostalCode, Account.BillingCountry, (SELECT Workstream__c, Role__c, Hours__c, Rate__c, SortOrder FROM OpportunityLineItems) FROM Opportunity WHERE Id = '\" & payload.opportunityId & \"'\"", "tot": "jsonata"}])
    t.add("q2p-refetch", "salesforce", 740, 1120, g5, wires=[["q2p-refetch-deal"]], name="Salesforce: read the deal", salesforce="psf-salesforce", operation="query", soql="", paging="all")
    t.add("q2p-refetch-deal", "change", 740, 1160, g5, wires=[["q2p-lo-redeal"]], name="deal = {opportunity, account}", rules=[{"t": "set", "p": "payload", "pt": "msg", "to": "{\"opportunity\": payload[0], \"account\": payload[0].Account}", "tot": "jsonata"}, {"t": "set", "p": "replay", "pt": "msg", "to": "true", "tot": "bool"}])
    t.add("q2p-lo-redeal", "link out", 920, 1160, g5, name="deal (replay)", mode="link", links=["q2p-li-deal"])
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["links"] = ["q2p-lo-deal", "q2p-lo-redeal"]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-deal")]["wires"] = [["q2p-plan"]]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-erp")]["wires"] = [["q2p-erp-switch"]]
    t.nodes[[n["id"] for n in t.nodes].index("q2p-li-psa")]["wires"] = [["q2p-w-psa"]]
    t.add("q2p-catch", "catch", 120, 1180, g5, wires=[["q2p-exc-int"]], name="any step failed", scope=None, uncaught=False)
    exc(t, "q2p-exc-int", 300, 1180, g5, P, "", "", "permanent", False)
    # a billing entity the routing table sends to an ERP this tab has no node for: straight to the run team
    t.add("q2p-lo-noroute", "link out", 700, 740, g3, name="no ERP route", mode="link", links=["q2p-li-noroute"])
    t.add("q2p-li-noroute", "link in", 80, 1230, g5, name="no ERP route", links=["q2p-lo-noroute"], wires=[["q2p-exc-int"]])
    return t.nodes
