from .common import *

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
    t.comment("co-c2b", 700, 350, g2, "Business Central / legacy ERP: no billing-schedule API -> PSA budget only; audit + note on the event", "Business Central API v2.0 projects carry number and name only (no planning lines, no billing schedule, no end date); the legacy ERP interface takes customers and invoices. For those projects the plan has no ERP write: the PSA budget is updated, contract.amended carries the amended schedule and its amendment description says the ERP schedule was not updated, and 'contract amended' writes an audit entry erp.billing-schedule.not-updated (Project/<id>) for billing ops. See docs/templates.md.")
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
