/**
 * The quote-to-project tab (flows/quote-to-project.json): Closed-won opportunity -> ERP customer + project (ERP of the billing entity), PSA project shell, Jira project + epic, project.created, Teams card.
 * The process logic is lib/processes (process-step steps); the tab wires it to the connector nodes.
 */
import { CONSULTANTS } from '../lib/demo/firm';
import { BROKER, type FlowNode, SECTION, sectionStyle, STORE, Tab } from './kit';

/**
 * The plan step's directory of people (CRM delivery-manager id -> name, email, optionally jiraAccountId / psaUserId):
 * the demo firm's consultants, as the sandboxes know them. A firm replaces it with its own in the node's dialog.
 */
const DEMO_DIRECTORY = CONSULTANTS.map(({ id, name, email }) => ({ id, name, email }));

export function quoteToProject(): FlowNode[] {
  const t = new Tab('psf-tab-q2p', { label: 'quote-to-project', disabled: false, info: 'Closed-won opportunity -> ERP customer + project, PSA project shell, Jira project + epic, `fabric/v1/project/created`, Teams card. See docs/templates.md.' });
  const trigger = t.group('q2p-g1', { name: '1. Trigger: opportunity turns Closed Won', style: sectionStyle(SECTION.trigger), x: 20, y: 20, w: 620, h: 220 });
  const plan = t.group('q2p-g2', { name: '2. Validate account + contract data, route to the ERP, plan every write', style: sectionStyle(SECTION.plan), x: 20, y: 260, w: 860, h: 160 });
  const erp = t.group('q2p-g3', { name: '3. Legal customer + project in the ERP of the billing entity (through the outbox)', style: sectionStyle(SECTION.write), x: 20, y: 440, w: 1200, h: 340 });
  const delivery = t.group('q2p-g4', { name: '4. PSA project shell, Jira delivery space, project.created, Teams', style: sectionStyle(SECTION.publish), x: 20, y: 800, w: 1420, h: 200 });
  const errors = t.group('q2p-g5', { name: '5. Errors -> exception queue (owner team from the ownership matrix)', style: sectionStyle(SECTION.errors), x: 20, y: 1020, w: 1000, h: 250 });
  trigger.comment('q2p-c1', [306, 60], 'Salesforce closed-won (SystemModstamp poll or CDC, durable watermark)', 'The salesforce-trigger emits the opportunity with its account and line items once it is Closed Won. Other producers can publish a deal on fabric/v1/opportunity/closed-won.');
  trigger.node('salesforce-trigger', 'q2p-sf-trigger', [200, 110], { name: 'Closed Won opportunities', salesforce: 'psf-salesforce', mode: 'poll', stage: 'Closed Won', interval: '${FABRIC_Q2P_POLL_SECONDS}', where: '', replayFrom: '-1', once: true }, [['q2p-lo-deal']]);
  trigger.node('fabric-mqtt-in', 'q2p-mqtt-in', [200, 170], { name: 'fabric/v1/opportunity/closed-won', broker: BROKER, store: STORE, topic: 'fabric/v1/opportunity/closed-won', qos: '1', outputs: 2 }, [['q2p-unwrap'], []]);
  trigger.node('change', 'q2p-unwrap', [440, 170], { name: 'deal = event data', rules: [{ t: 'set', p: 'correlationId', pt: 'msg', to: 'payload.correlationid', tot: 'msg' }, { t: 'set', p: 'payload', pt: 'msg', to: 'payload.data', tot: 'msg' }] }, [['q2p-lo-deal']]);
  trigger.linkOut('q2p-lo-deal', [580, 140], 'deal', ['q2p-li-deal']);
  plan.linkIn('q2p-li-deal', [80, 320], 'deal', ['q2p-lo-deal', 'q2p-lo-redeal'], ['q2p-plan']);
  plan.comment('q2p-c2', [317, 300], 'Nothing is written before the deal is complete; run key = opportunity id', 'process-step q2p-plan: validates (tax registration, billing entity, currency, address, lines, delivery manager), maps tax + currency for the ERP of the billing entity (routing table in the node), builds the PSA project shell, staffing placeholders, Jira project/epic and every write\'s idempotency key. Output 2: what is missing -> sales-ops exception. Output 3: duplicate trigger (no-op).');
  plan.node('process-step', 'q2p-plan', [260, 360], { name: 'validate + plan', store: STORE, step: 'q2p-plan', routing: '', directory: JSON.stringify(DEMO_DIRECTORY), outputs: 3 }, [['q2p-w-cust'], ['q2p-lo-missing'], ['q2p-dup']]);
  plan.node('debug', 'q2p-dup', [560, 405], { name: 'duplicate trigger: no-op', active: true, tosidebar: true, console: false, complete: 'duplicate', targetType: 'msg', statusVal: '', statusType: 'auto' }, [[]]);
  plan.node('process-step', 'q2p-w-cust', [500, 330], { name: 'next: ERP customer', store: STORE, step: 'q2p-write', write: 'erpCustomer', outputs: 1 }, [['q2p-lo-erp']]);
  plan.linkOut('q2p-lo-erp', [700, 330], 'ERP customer', ['q2p-li-erp']);
  erp.linkIn('q2p-li-erp', [80, 610], 'ERP customer', ['q2p-lo-erp'], ['q2p-erp-switch']);
  plan.linkOut('q2p-lo-missing', [440, 372], 'missing data', ['q2p-li-missing']);
  erp.comment('q2p-c3', [768, 480], 'NWA-US -> NetSuite customer + job, NWA-UK / NWA-DE -> Business Central customer + project (numbers from BC\'s number series, bill-to customer + task), NWA-FR -> legacy ERP (customer master kept on-prem)');
  erp.node('switch', 'q2p-erp-switch', [230, 610], { name: 'ERP of the billing entity', property: 'erpTarget', propertyType: 'msg', rules: [{ t: 'eq', v: 'netsuite:1', vt: 'str' }, { t: 'eq', v: 'businessCentral:NWA UK', vt: 'str' }, { t: 'eq', v: 'businessCentral:NWA DE', vt: 'str' }, { t: 'eq', v: 'legacy:FR01', vt: 'str' }, { t: 'else' }], checkall: 'false', repair: false, outputs: 5 }, [['q2p-ns'], ['q2p-bc-uk'], ['q2p-bc-de'], ['q2p-legacy'], ['q2p-noroute']]);
  erp.node('netsuite', 'q2p-ns', [520, 540], { name: 'NetSuite: upsert customer', netsuite: 'psf-netsuite', operation: 'upsertCustomer', query: '', recordType: '', pageSize: 1000 }, [['q2p-w-nsjob']]);
  erp.node('process-step', 'q2p-w-nsjob', [760, 540], { name: 'next: NetSuite job', store: STORE, step: 'q2p-write', write: 'erpProject', outputs: 1 }, [['q2p-ns-job']]);
  erp.node('netsuite', 'q2p-ns-job', [1000, 540], { name: 'NetSuite: project (job)', netsuite: 'psf-netsuite', operation: 'createProject', query: '', recordType: '', pageSize: 1000 }, [['q2p-lo-psa']]);
  erp.node('business-central', 'q2p-bc-uk', [520, 590], { name: 'BC UK: upsert customer', businessCentral: 'psf-bc-uk', operation: 'upsertCustomer', entitySet: '', filter: '' }, [['q2p-w-bcproj-uk']]);
  erp.node('process-step', 'q2p-w-bcproj-uk', [760, 590], { name: 'next: BC UK project', store: STORE, step: 'q2p-write', write: 'erpProject', outputs: 1 }, [['q2p-bc-uk-proj']]);
  erp.node('business-central', 'q2p-bc-uk-proj', [1000, 590], { name: 'BC UK: project', businessCentral: 'psf-bc-uk', operation: 'createProject', entitySet: '', filter: '' }, [['q2p-lo-psa']]);
  erp.node('business-central', 'q2p-bc-de', [520, 640], { name: 'BC DE: upsert customer', businessCentral: 'psf-bc-de', operation: 'upsertCustomer', entitySet: '', filter: '' }, [['q2p-w-bcproj-de']]);
  erp.node('process-step', 'q2p-w-bcproj-de', [760, 640], { name: 'next: BC DE project', store: STORE, step: 'q2p-write', write: 'erpProject', outputs: 1 }, [['q2p-bc-de-proj']]);
  erp.node('business-central', 'q2p-bc-de-proj', [1000, 640], { name: 'BC DE: project', businessCentral: 'psf-bc-de', operation: 'createProject', entitySet: '', filter: '' }, [['q2p-lo-psa']]);
  erp.node('change', 'q2p-legacy', [520, 690], { name: 'legacy ERP: customer kept on-prem', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"id":"on-prem","note":"NWA-FR customers are maintained in the legacy ERP; invoices name the customer code"}', tot: 'json' }] }, [['q2p-lo-psa']]);
  erp.node('change', 'q2p-noroute', [520, 740], { name: 'no ERP for this entity', rules: [{ t: 'set', p: 'error', pt: 'msg', to: '{"message":"the routing table sends this billing entity to an ERP this flow has no node for"}', tot: 'json' }] }, [['q2p-lo-noroute']]);
  erp.linkOut('q2p-lo-psa', [1140, 615], 'PSA + Jira', ['q2p-li-psa']);
  delivery.linkIn('q2p-li-psa', [80, 900], 'PSA + Jira', ['q2p-lo-psa'], ['q2p-w-psa']);
  delivery.comment('q2p-c4', [420, 840], 'Each write carries q2p:<opportunity>:<step> as idempotency key: a retry or replay never creates twice', 'Kantata: workspace (external reference = project id), stories = workstreams from the opportunity lines, budget, billing schedule. Jira: project (key from customer + opportunity) and an epic. Then the canonical project goes on the bus and the delivery channel gets a card. The KPI run ends (lead time closed-won -> active).');
  delivery.node('process-step', 'q2p-w-psa', [220, 900], { name: 'next: PSA project', store: STORE, step: 'q2p-write', write: 'psaProject', outputs: 1 }, [['q2p-kantata']]);
  delivery.node('kantata', 'q2p-kantata', [450, 900], { name: 'Kantata: project shell', kantata: 'psf-kantata', operation: 'createProjectShell', collection: 'workspaces', pollSeconds: 60, output: 'entry', maxRecords: 5000, workspaceId: '' }, [['q2p-w-jp']]);
  delivery.node('process-step', 'q2p-w-jp', [680, 900], { name: 'next: Jira project', store: STORE, step: 'q2p-write', write: 'jiraProject', outputs: 1 }, [['q2p-jira-p']]);
  delivery.node('jira', 'q2p-jira-p', [900, 900], { name: 'Jira: project', jira: 'psf-jira', operation: 'createProject', projectKey: '', issueType: 'Epic', jql: '', limit: 1000 }, [['q2p-w-je']]);
  delivery.node('process-step', 'q2p-w-je', [1110, 900], { name: 'next: Jira epic', store: STORE, step: 'q2p-write', write: 'jiraEpic', outputs: 1 }, [['q2p-jira-e']]);
  delivery.node('jira', 'q2p-jira-e', [1320, 900], { name: 'Jira: epic', jira: 'psf-jira', operation: 'createEpic', projectKey: '', issueType: 'Epic', jql: '', limit: 1000 }, [['q2p-complete']]);
  delivery.node('process-step', 'q2p-complete', [450, 960], { name: 'project active + KPI', store: STORE, step: 'q2p-complete', outputs: 1 }, [['q2p-pub', 'q2p-w-notify']]);
  delivery.node('fabric-mqtt-out', 'q2p-pub', [720, 940], { name: 'fabric/v1/project/created', broker: BROKER, topic: 'fabric/v1/project/created', qos: '1', retain: false }, [[]]);
  delivery.node('process-step', 'q2p-w-notify', [720, 980], { name: 'next: Teams card', store: STORE, step: 'q2p-write', write: 'notify', outputs: 1 }, [['psf-q2p-teams']]);
  delivery.node('teams-notify', 'psf-q2p-teams', [960, 980], { name: 'Teams: delivery channel', teams: 'psf-teams-delivery', title: 'PS Fabric' }, [[]]);
  errors.comment('q2p-c5', [404, 1060], 'Missing deal data -> sales-ops (replay re-reads the deal); delivery failures -> owner of the step', 'The plan step\'s second output carries each missing field. After the data is fixed in Salesforce, replay the exception (console or admin API): the opportunity is read again and the run completes. Permanent write failures (after the outbox\'s retries) land here through the Catch node.');
  errors.linkIn('q2p-li-missing', [80, 1120], 'missing data', ['q2p-lo-missing'], ['q2p-exc-sales']);
  errors.exception('q2p-exc-sales', [300, 1120], { process: 'quote-to-project', step: 'validate', owner: 'sales-ops', errorClass: 'validation', replay: true }, [[], ['q2p-refetch-q']]);
  errors.node('change', 'q2p-refetch-q', [520, 1120], { name: 'SOQL: the deal again', rules: [{ t: 'set', p: 'query', pt: 'msg', to: '"SELECT Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Billing_Model__c, Delivery_Manager_Id__c, Delivery_Manager_Email__c, LastModifiedDate, Account.Id, Account.Name, Account.External_Id__c, Account.Billing_Entity__c, Account.Tax_Registration__c, Account.CurrencyIsoCode, Account.BillingStreet, Account.BillingCity, Account.BillingPostalCode, Account.BillingCountry, (SELECT Workstream__c, Role__c, Hours__c, Rate__c, SortOrder FROM OpportunityLineItems) FROM Opportunity WHERE Id = \'" & payload.opportunityId & "\'"', tot: 'jsonata' }] }, [['q2p-refetch']]);
  errors.node('salesforce', 'q2p-refetch', [740, 1120], { name: 'Salesforce: read the deal', salesforce: 'psf-salesforce', operation: 'query', soql: '', paging: 'all' }, [['q2p-refetch-deal']]);
  errors.node('change', 'q2p-refetch-deal', [740, 1160], { name: 'deal = {opportunity, account}', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"opportunity": payload[0], "account": payload[0].Account}', tot: 'jsonata' }, { t: 'set', p: 'replay', pt: 'msg', to: 'true', tot: 'bool' }] }, [['q2p-lo-redeal']]);
  errors.linkOut('q2p-lo-redeal', [920, 1160], 'deal (replay)', ['q2p-li-deal']);
  errors.catchAll('q2p-catch', [120, 1180], 'q2p-exc-int');
  errors.exception('q2p-exc-int', [300, 1180], { process: 'quote-to-project', step: '', owner: '', errorClass: 'permanent', replay: false });
  erp.linkOut('q2p-lo-noroute', [700, 740], 'no ERP route', ['q2p-li-noroute']);
  errors.linkIn('q2p-li-noroute', [80, 1230], 'no ERP route', ['q2p-lo-noroute'], ['q2p-exc-int']);
  return t.build();
}
