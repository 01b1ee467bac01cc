/**
 * The change-order-to-billing tab (flows/change-order-to-billing.json): Approved contract amendment -> ERP billing schedule (NetSuite) and PSA budget -> contract.amended; an amendment for a project not there yet is parked and retried.
 * The process logic is lib/processes (process-step steps); the tab wires it to the connector nodes.
 */
import { BROKER, type FlowNode, SECTION, sectionStyle, STORE, Tab } from './kit';

export function changeOrderToBilling(): FlowNode[] {
  const t = new Tab('psf-tab-co', { label: 'change-order-to-billing', disabled: false, info: 'Contract amendment in the CRM -> ERP billing schedule + PSA budget -> `fabric/v1/contract/amended`. An amendment for a project not there yet is parked and retried, never lost.' });
  const trigger = t.group('co-g1', { name: '1. Trigger: contract amendment approved in Salesforce', style: sectionStyle(SECTION.trigger), x: 20, y: 20, w: 1100, h: 180 });
  const plan = t.group('co-g2', { name: '2. Plan: new billing schedule + budget; park while the project does not exist', style: sectionStyle(SECTION.plan), x: 20, y: 220, w: 1100, h: 200 });
  const budget = t.group('co-g3', { name: '3. PSA budget, contract.amended', style: sectionStyle(SECTION.publish), x: 20, y: 440, w: 1100, h: 140 });
  const errors = t.group('co-g4', { name: '4. Errors -> exception queue', style: sectionStyle(SECTION.errors), x: 20, y: 600, w: 1100, h: 120 });
  trigger.comment('co-c1', [420, 60], 'Contract_Amendment__c with Status Approved (poll / CDC); or fabric/v1/contract/amendment-approved');
  trigger.node('inject', 'co-tick', [120, 110], { name: 'every minute', props: [{ p: 'payload' }], repeat: '60', crontab: '', once: true, onceDelay: '15', topic: '', payload: '', payloadType: 'date' }, [['co-sf-query']]);
  trigger.node('salesforce', 'co-sf-query', [350, 110], { name: 'Salesforce: approved amendments', salesforce: 'psf-salesforce', operation: 'query', soql: 'SELECT Id, Name, Opportunity__c, Contract__c, Amendment_Type__c, Amount_Change__c, Hours_Change__c, Effective_Date__c, Description__c, External_Id__c FROM Contract_Amendment__c WHERE Status__c = \'Approved\'', paging: 'all' }, [['co-split']]);
  trigger.node('split', 'co-split', [590, 110], { name: 'one per amendment', splt: '\\n', spltType: 'str', arraySplt: 1, arraySpltType: 'len', stream: false, addname: '' }, [['co-once']]);
  trigger.node('fabric-idempotent', 'co-once', [820, 110], { name: 'each amendment once', store: STORE, keySource: 'jsonata', expression: '\'amendment:\' & payload.Id', scope: 'change-order-to-billing', retentionHours: '', repeats: 'drop', outputs: 1 }, [['co-to-plan']]);
  trigger.node('fabric-mqtt-in', 'co-mqtt-in', [170, 160], { name: 'fabric/v1/contract/amendment-approved', broker: BROKER, store: STORE, topic: 'fabric/v1/contract/amendment-approved', qos: '1', outputs: 2 }, [['co-unwrap'], []]);
  trigger.node('change', 'co-unwrap', [460, 160], { name: 'amendment = event data', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.data', tot: 'msg' }] }, [['co-to-plan']]);
  plan.comment('co-c2', [548, 260], 'Project state = outcome of its quote-to-project run; parked amendments are retried with backoff by the node itself, then go to billing-ops');
  plan.node('process-step', 'co-plan', [220, 330], { name: 'plan amendment', store: STORE, step: 'co-plan', retrySeconds: '${FABRIC_CO_RETRY_SECONDS}', maxWaits: 6, outputs: 3 }, [['co-erp-switch'], ['co-parked'], ['co-to-exc']]);
  plan.node('debug', 'co-parked', [480, 370], { name: 'parked (waiting for its project)', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', statusVal: 'payload.reason', statusType: 'msg' }, [[]]);
  plan.node('switch', 'co-erp-switch', [480, 310], { name: 'ERP can take a schedule?', property: 'erp', propertyType: 'msg', rules: [{ t: 'eq', v: 'netsuite', vt: 'str' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 2 }, [['co-ns'], ['co-to-psa']]);
  plan.node('netsuite', 'co-ns', [720, 290], { name: 'NetSuite: billing schedule', netsuite: 'psf-netsuite', operation: 'updateProject', query: '', recordType: '', pageSize: 1000 }, [['co-to-psa']]);
  plan.comment('co-c2b', [860, 370], 'BC / legacy ERP: no schedule API -> PSA budget only', 'Business Central API v2.0 projects carry number and name only (no planning lines, no billing schedule, no end date); the legacy ERP interface takes customers and invoices. For those projects the plan has no ERP write: the PSA budget is updated, contract.amended carries the amended schedule and its amendment description says the ERP schedule was not updated, and \'contract amended\' writes an audit entry erp.billing-schedule.not-updated (Project/<id>) for billing ops. See docs/templates.md.');
  budget.comment('co-c3', [560, 465], 'PSA budget = the amended budget; contract.amended carries the new billing schedule', 'Kantata workspace budget updated through the outbox (idempotency key per amendment). The event says when the ERP kept its old schedule (Business Central / legacy projects).');
  budget.node('change', 'co-psa-prep', [220, 500], { name: 'PSA budget request', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'psaRequest.payload', tot: 'msg' }, { t: 'set', p: 'idempotencyKey', pt: 'msg', to: 'psaRequest.idempotencyKey', tot: 'msg' }, { t: 'set', p: 'operation', pt: 'msg', to: 'updateWorkspace', tot: 'str' }] }, [['co-kantata']]);
  budget.node('kantata', 'co-kantata', [440, 500], { name: 'Kantata: budget', kantata: 'psf-kantata', operation: 'updateWorkspace', collection: 'workspaces', pollSeconds: 60, output: 'entry', maxRecords: 5000, workspaceId: '' }, [['co-complete']]);
  budget.node('process-step', 'co-complete', [660, 500], { name: 'contract amended', store: STORE, step: 'co-complete', outputs: 1 }, [['co-pub']]);
  budget.node('fabric-mqtt-out', 'co-pub', [900, 500], { name: 'fabric/v1/contract/amended', broker: BROKER, topic: 'fabric/v1/contract/amended', qos: '1', retain: false }, [[]]);
  errors.exception('co-exc', [220, 660], { process: 'change-order-to-billing', step: 'plan', owner: 'billing-ops', errorClass: 'validation', replay: true }, [[], ['co-replay-out']]);
  errors.catchAll('co-catch', [480, 660], 'co-exc-int');
  errors.exception('co-exc-int', [700, 660], { process: 'change-order-to-billing', step: '', owner: '', errorClass: 'permanent', replay: false });
  trigger.linkOut('co-to-plan', [1020, 135], 'to plan', ['co-plan-in']);
  plan.linkIn('co-plan-in', [80, 330], 'amendment', ['co-to-plan'], ['co-plan']);
  plan.linkIn('co-replay-in', [80, 380], 'replayed amendment', ['co-replay-out'], ['co-plan']);
  plan.linkOut('co-to-exc', [340, 400], 'to exception queue', ['co-exc-in']);
  plan.linkOut('co-to-psa', [940, 310], 'to PSA budget', ['co-psa-in']);
  budget.linkIn('co-psa-in', [80, 500], 'budget', ['co-to-psa'], ['co-psa-prep']);
  errors.linkIn('co-exc-in', [80, 660], 'plan failed', ['co-to-exc'], ['co-exc']);
  errors.linkOut('co-replay-out', [360, 690], 'replay -> plan', ['co-replay-in']);
  return t.build();
}
