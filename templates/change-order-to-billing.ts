/** The change-order-to-billing tab (flows/change-order-to-billing.json). */
import { Tab, type FlowNode } from './kit';

export function changeOrderToBilling(): FlowNode[] {
  const t = new Tab('psf-tab-co', { label: 'change-order-to-billing', disabled: false, info: 'Contract amendment in the CRM -> ERP billing schedule + PSA budget -> `fabric/v1/contract/amended`. An amendment for a project not there yet is parked and retried, never lost.' });
  const coG1 = t.group('co-g1', { name: '1. Trigger: contract amendment approved in Salesforce', style: { fill: '#e3f3d3', label: true, "fill-opacity": '0.35' }, x: 20, y: 20, w: 1100, h: 180 });
  const coG2 = t.group('co-g2', { name: '2. Plan: new billing schedule + budget; park while the project does not exist', style: { fill: '#dbe9f6', label: true, "fill-opacity": '0.35' }, x: 20, y: 220, w: 1100, h: 200 });
  const coG3 = t.group('co-g3', { name: '3. PSA budget, contract.amended', style: { fill: '#e8e0f5', label: true, "fill-opacity": '0.35' }, x: 20, y: 440, w: 1100, h: 140 });
  const coG4 = t.group('co-g4', { name: '4. Errors -> exception queue', style: { fill: '#f8d7da', label: true, "fill-opacity": '0.35' }, x: 20, y: 600, w: 1100, h: 120 });
  coG1.node('comment', 'co-c1', [420, 60], { name: 'Contract_Amendment__c with Status Approved (poll / CDC); or fabric/v1/contract/amendment-approved', info: '' });
  coG1.node('inject', 'co-tick', [120, 110], { name: 'every minute', props: [{ p: 'payload' }], repeat: '60', crontab: '', once: true, onceDelay: '15', topic: '', payload: '', payloadType: 'date' }, [['co-sf-query']]);
  coG1.node('salesforce', 'co-sf-query', [350, 110], { name: 'Salesforce: approved amendments', salesforce: 'psf-salesforce', operation: 'query', soql: 'SELECT Id, Name, Opportunity__c, Contract__c, Amendment_Type__c, Amount_Change__c, Hours_Change__c, Effective_Date__c, Description__c, External_Id__c FROM Contract_Amendment__c WHERE Status__c = \'Approved\'', paging: 'all' }, [['co-split']]);
  coG1.node('split', 'co-split', [590, 110], { name: 'one per amendment', splt: '\\n', spltType: 'str', arraySplt: 1, arraySpltType: 'len', stream: false, addname: '' }, [['co-once']]);
  coG1.node('fabric-idempotent', 'co-once', [820, 110], { name: 'each amendment once', store: 'psf-store', keySource: 'jsonata', expression: '\'amendment:\' & payload.Id', scope: 'change-order-to-billing', retentionHours: '', repeats: 'drop', outputs: 1 }, [['co-to-plan']]);
  coG1.node('fabric-mqtt-in', 'co-mqtt-in', [170, 160], { name: 'fabric/v1/contract/amendment-approved', broker: 'psf-broker', store: 'psf-store', topic: 'fabric/v1/contract/amendment-approved', qos: '1', outputs: 2 }, [['co-unwrap'], []]);
  coG1.node('change', 'co-unwrap', [460, 160], { name: 'amendment = event data', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'payload.data', tot: 'msg' }] }, [['co-to-plan']]);
  coG2.node('comment', 'co-c2', [548, 260], { name: 'Project state = outcome of its quote-to-project run; parked amendments are retried with backoff by the node itself, then go to billing-ops', info: '' });
  coG2.node('process-step', 'co-plan', [220, 330], { name: 'plan amendment', store: 'psf-store', step: 'co-plan', retrySeconds: '${FABRIC_CO_RETRY_SECONDS}', maxWaits: 6, outputs: 3 }, [['co-erp-switch'], ['co-parked'], ['co-to-exc']]);
  coG2.node('debug', 'co-parked', [480, 370], { name: 'parked (waiting for its project)', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', statusVal: 'payload.reason', statusType: 'msg' }, [[]]);
  coG2.node('switch', 'co-erp-switch', [480, 310], { name: 'ERP can take a schedule?', property: 'erp', propertyType: 'msg', rules: [{ t: 'eq', v: 'netsuite', vt: 'str' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 2 }, [['co-ns'], ['co-to-psa']]);
  coG2.node('netsuite', 'co-ns', [720, 290], { name: 'NetSuite: billing schedule', netsuite: 'psf-netsuite', operation: 'updateProject', query: '', recordType: '', pageSize: 1000 }, [['co-to-psa']]);
  coG2.node('comment', 'co-c2b', [860, 370], { name: 'BC / legacy ERP: no schedule API -> PSA budget only', info: 'Business Central API v2.0 projects carry number and name only (no planning lines, no billing schedule, no end date); the legacy ERP interface takes customers and invoices. For those projects the plan has no ERP write: the PSA budget is updated, contract.amended carries the amended schedule and its amendment description says the ERP schedule was not updated, and \'contract amended\' writes an audit entry erp.billing-schedule.not-updated (Project/<id>) for billing ops. See docs/templates.md.' });
  coG3.node('comment', 'co-c3', [560, 465], { name: 'PSA budget = the amended budget; contract.amended carries the new billing schedule', info: 'Kantata workspace budget updated through the outbox (idempotency key per amendment). The event says when the ERP kept its old schedule (Business Central / legacy projects).' });
  coG3.node('change', 'co-psa-prep', [220, 500], { name: 'PSA budget request', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'psaRequest.payload', tot: 'msg' }, { t: 'set', p: 'idempotencyKey', pt: 'msg', to: 'psaRequest.idempotencyKey', tot: 'msg' }, { t: 'set', p: 'operation', pt: 'msg', to: 'updateWorkspace', tot: 'str' }] }, [['co-kantata']]);
  coG3.node('kantata', 'co-kantata', [440, 500], { name: 'Kantata: budget', kantata: 'psf-kantata', operation: 'updateWorkspace', collection: 'workspaces', pollSeconds: 60, output: 'entry', maxRecords: 5000, workspaceId: '' }, [['co-complete']]);
  coG3.node('process-step', 'co-complete', [660, 500], { name: 'contract amended', store: 'psf-store', step: 'co-complete', outputs: 1 }, [['co-pub']]);
  coG3.node('fabric-mqtt-out', 'co-pub', [900, 500], { name: 'fabric/v1/contract/amended', broker: 'psf-broker', topic: 'fabric/v1/contract/amended', qos: '1', retain: false }, [[]]);
  coG4.node('fabric-exception', 'co-exc', [220, 660], { name: 'exception: billing-ops', store: 'psf-store', process: 'change-order-to-billing', step: 'plan', owner: 'billing-ops', errorClass: 'validation', message: '', replay: true, outputs: 2 }, [[], ['co-replay-out']]);
  coG4.node('catch', 'co-catch', [480, 660], { name: 'any step failed', scope: null, uncaught: false }, [['co-exc-int']]);
  coG4.node('fabric-exception', 'co-exc-int', [700, 660], { name: 'exception: owner from matrix', store: 'psf-store', process: 'change-order-to-billing', step: '', owner: '', errorClass: 'permanent', message: '', replay: false, outputs: 2 }, [[], []]);
  coG1.node('link out', 'co-to-plan', [1020, 135], { name: 'to plan', mode: 'link', links: ['co-plan-in'] }, [[]]);
  coG2.node('link in', 'co-plan-in', [80, 330], { name: 'amendment', links: ['co-to-plan'] }, [['co-plan']]);
  coG2.node('link in', 'co-replay-in', [80, 380], { name: 'replayed amendment', links: ['co-replay-out'] }, [['co-plan']]);
  coG2.node('link out', 'co-to-exc', [340, 400], { name: 'to exception queue', mode: 'link', links: ['co-exc-in'] }, [[]]);
  coG2.node('link out', 'co-to-psa', [940, 310], { name: 'to PSA budget', mode: 'link', links: ['co-psa-in'] }, [[]]);
  coG3.node('link in', 'co-psa-in', [80, 500], { name: 'budget', links: ['co-to-psa'] }, [['co-psa-prep']]);
  coG4.node('link in', 'co-exc-in', [80, 660], { name: 'plan failed', links: ['co-to-exc'] }, [['co-exc']]);
  coG4.node('link out', 'co-replay-out', [360, 690], { name: 'replay -> plan', mode: 'link', links: ['co-replay-in'] }, [[]]);
  return t.build();
}
