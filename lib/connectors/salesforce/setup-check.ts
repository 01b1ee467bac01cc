/**
 * The Salesforce setup check (docs/setup-check.md): the login works, the configured API version is served, every
 * object, field and child relationship the templates read exists under the org's names (the `fieldNames` setting)
 * with a usable type and is readable by the integration user, the objects the deployed nodes write are createable /
 * updateable, and the daily API request allocation has headroom. Problems name the fix in Salesforce Setup's words.
 *
 * A field the user cannot see (Field-Level Security) is absent from describe exactly like a field that does not
 * exist, so one problem names both fixes.
 */
import type { SalesforceClient } from './client';
import { CUSTOM_OBJECTS, type SalesforceNames } from './opportunity';
import { SetupReport, errorStatus, errorText } from '../../setup/report';
import type { VendorCheckResult } from '../../setup/types';

export interface SalesforceSetupSettings {
  /** The org's names of custom fields / objects / relationships, keyed by the default names (config `fieldNames`). */
  names?: SalesforceNames;
  /** What the deployed `salesforce` nodes of this connection write (fixed sObject and operation). */
  writes?: Array<{ sobject: string; operation: string }>;
}

type Kind = 'text' | 'number' | 'date' | 'datetime' | 'reference' | 'boolean';
const TYPES: Record<Kind, string[]> = {
  text: ['string', 'textarea', 'email', 'picklist', 'multipicklist', 'combobox', 'phone', 'url', 'id', 'reference'],
  number: ['double', 'currency', 'int', 'long', 'percent'],
  date: ['date'],
  datetime: ['datetime'],
  reference: ['reference'],
  boolean: ['boolean'],
};
const TYPE_WORDS: Record<Kind, string> = { text: 'Text or Picklist', number: 'Number, Currency or Percent', date: 'Date', datetime: 'Date/Time', reference: 'Lookup Relationship', boolean: 'Checkbox' };

/** A field the templates read: `error` when a template fails without it, `warning` with the documented fallback. */
interface FieldNeed {
  name: string;
  kind: Kind;
  severity: 'error' | 'warning';
  /** Why the templates need it / what happens without it. */
  why: string;
}

interface ObjectNeed {
  /** Default API name (mapped through `names` for custom objects). */
  object: string;
  severity: 'error' | 'warning';
  why: string;
  fields: FieldNeed[];
  /** Child relationships read in the same query (default names). */
  children?: Array<{ name: string; severity: 'error' | 'warning'; why: string }>;
}

const need = (name: string, kind: Kind, severity: 'error' | 'warning', why: string): FieldNeed => ({ name, kind, severity, why });

/** What the templates read (lib/connectors/salesforce/opportunity.ts, the change-order and reporting queries). */
export const SALESFORCE_NEEDS: ObjectNeed[] = [
  {
    object: 'Opportunity',
    severity: 'error',
    why: 'the closed-won trigger reads it',
    fields: [
      need('StageName', 'text', 'error', 'the trigger selects Closed Won deals by it'),
      need('Amount', 'number', 'error', 'the deal value'),
      need('CloseDate', 'date', 'error', 'the deal date'),
      need('Billing_Model__c', 'text', 'error', 'the billing type (time-and-materials, fixed-fee, retainer) of the project'),
      need('Delivery_Manager_Id__c', 'text', 'error', 'the project needs a delivery manager'),
      need('Delivery_Manager_Email__c', 'text', 'error', "the delivery manager's Jira account is found by email"),
      need('CurrencyIsoCode', 'text', 'warning', "without multi-currency every deal is in the org's default currency"),
    ],
    children: [
      { name: 'OpportunityLineItems', severity: 'error', why: 'the deal lines (products) staff the project' },
      { name: CUSTOM_OBJECTS.contracts, severity: 'warning', why: 'without it deals have no contract and no billing schedule' },
    ],
  },
  {
    object: 'Account',
    severity: 'error',
    why: 'the customer of each deal',
    fields: [
      need('External_Id__c', 'text', 'error', 'the legal customer needs a stable external id'),
      need('Billing_Entity__c', 'text', 'error', 'it routes the customer to its ERP'),
      need('Tax_Registration__c', 'text', 'error', 'an invoiceable customer needs a tax registration'),
      need('BillingStreet', 'text', 'error', 'the billing address'),
      need('BillingCity', 'text', 'error', 'the billing address'),
      need('BillingPostalCode', 'text', 'error', 'the billing address'),
      need('BillingCountry', 'text', 'error', 'the billing address'),
    ],
  },
  {
    object: 'OpportunityLineItem',
    severity: 'error',
    why: 'the deal lines',
    fields: [
      need('Workstream__c', 'text', 'warning', 'without it a line is named by its Description or Name'),
      need('Role__c', 'text', 'warning', 'without it lines carry no role'),
      need('Hours__c', 'number', 'warning', 'without it the line Quantity counts as hours'),
      need('Rate__c', 'number', 'warning', 'without it the line Sales Price is the hourly rate'),
    ],
  },
  {
    object: 'Contract',
    severity: 'warning',
    why: 'the billing schedule of a deal',
    fields: [need('Billing_Frequency__c', 'text', 'warning', 'without it invoices are monthly'), need('Total_Value__c', 'number', 'warning', 'a retainer is the opportunity amount without it')],
  },
  {
    object: CUSTOM_OBJECTS.milestones,
    severity: 'warning',
    why: 'fixed-fee deals are billed by its milestones',
    fields: [need('Contract__c', 'reference', 'warning', 'it links a milestone to its contract'), need('Milestone_Date__c', 'date', 'warning', 'the due date'), need('Amount__c', 'number', 'warning', 'the milestone amount')],
  },
  {
    object: CUSTOM_OBJECTS.amendments,
    severity: 'error',
    why: 'the change-order template reads approved amendments',
    fields: [
      need('Contract__c', 'reference', 'error', 'it links an amendment to its contract'),
      need('Opportunity__c', 'reference', 'error', 'it links an amendment to its deal'),
      need('Amendment_Type__c', 'text', 'error', 'the kind of change'),
      need('Amount_Change__c', 'number', 'error', 'the change in value'),
      need('Hours_Change__c', 'number', 'error', 'the change in hours'),
      need('Effective_Date__c', 'date', 'error', 'when the change applies'),
      need('Status__c', 'text', 'error', 'the template reads Approved amendments'),
    ],
  },
];

/** Below this share of the daily API requests remaining, the check warns. */
export const LOW_HEADROOM = 0.1;

interface DescribeField {
  name: string;
  type: string;
  label?: string;
  createable?: boolean;
  updateable?: boolean;
}
interface Describe {
  name: string;
  label?: string;
  queryable?: boolean;
  createable?: boolean;
  updateable?: boolean;
  fields: DescribeField[];
  childRelationships: Array<{ relationshipName: string | null }>;
}

const WRITE_OPS: Record<string, 'createable' | 'updateable' | 'both'> = { create: 'createable', update: 'updateable', upsert: 'both' };

function authFix(client: SalesforceClient): string {
  const a = client.config.auth;
  if (a.type === 'client-credentials') return `Check the consumer key and secret in this config node, and in Salesforce Setup > App Manager > (your connected app) > Manage > Edit Policies: enable Client Credentials Flow and set a Run As user. The login URL must be the org's My Domain (${client.config.loginUrl}).`;
  if (a.type === 'jwt') return "Check the consumer key, username and private key in this config node; in Setup > App Manager > (your connected app) > Edit, upload the certificate of this key (Use digital signatures), and under Manage > Edit Policies set Permitted Users to 'Admin approved users are pre-authorized' with the user's profile or permission set added.";
  return "Check the consumer key and secret, the username and the password (with the user's security token appended unless the login IP range allows it) in this config node.";
}

export async function checkSetup(client: SalesforceClient, settings: SalesforceSetupSettings = {}): Promise<VendorCheckResult> {
  const report = new SetupReport('salesforce');
  const names = settings.names ?? {};
  const org = (def: string) => names[def] ?? def;
  const version = client.config.apiVersion;

  // ---- authentication
  try {
    await client.login();
    report.step('auth', `logged in to ${client.instanceUrl}`);
  } catch (err) {
    report.step('auth');
    report.problem({ check: 'auth', what: `Salesforce refused the login at ${client.config.loginUrl} (${client.config.auth.type}): ${errorText(err)}`, fix: authFix(client), where: 'this config node: Login URL, Authentication', severity: 'error' });
    for (const c of ['api-version', 'fields', 'permissions', 'quota']) report.skipped(c, 'the login failed');
    return report.result();
  }

  // ---- API version
  try {
    const served = (await client.invoke((conn) => conn.request({ method: 'GET', url: '/services/data/' }) as Promise<Array<{ version: string }>>)).map((v) => String(v.version));
    if (served.includes(version)) report.step('api-version', `v${version} served (org serves ${served[0]}–${served[served.length - 1]})`);
    else {
      report.step('api-version');
      report.problem({ check: 'api-version', what: `The org does not serve REST API version ${version} (it serves ${served.join(', ')})`, fix: `Set API version in this config node to one the org serves, e.g. ${served[served.length - 1]}. Salesforce retires old API versions (see the API End-of-Life notice in the release notes).`, where: 'this config node: API version', severity: 'error' });
      for (const c of ['fields', 'permissions']) report.skipped(c, `API version ${version} is not served`);
    }
  } catch (err) {
    report.step('api-version');
    report.problem({ check: 'api-version', what: `The org's API versions could not be read (GET /services/data/): ${errorText(err)}`, fix: 'Check the instance URL in this config node and that the integration user has the API Enabled permission (Setup > Users > Profiles or Permission Sets > System Permissions > API Enabled).', severity: 'error' });
  }

  // ---- fields and permissions, from describe
  if (!report.hasErrors('api-version')) {
    // only the writes that need object permissions (WRITE_OPS): a node's other operations name no object to check
    const objects = new Set([...SALESFORCE_NEEDS.map((n) => org(n.object)), ...(settings.writes ?? []).filter((w) => Object.hasOwn(WRITE_OPS, w.operation)).map((w) => w.sobject)]);
    const describes = new Map<string, Describe | undefined>();
    let readFailed: string | undefined;
    await Promise.all(
      [...objects].map(async (o) => {
        try {
          describes.set(o, (await client.describe(o)) as Describe | undefined);
        } catch (err) {
          readFailed = `describe ${o}: ${errorText(err)}`;
        }
      }),
    );
    if (readFailed) {
      report.step('fields');
      report.problem({ check: 'fields', what: `The org's schema could not be read (${readFailed})`, fix: 'Grant the integration user the API Enabled permission and read access to the objects below, then check again.', severity: 'error' });
      report.skipped('permissions', 'the schema could not be read');
    } else {
      checkFields(report, describes, org);
      checkPermissions(report, describes, org, settings.writes ?? []);
    }
  }

  // ---- quota headroom
  try {
    const limits = (await client.limits()) as Record<string, { Max?: number; Remaining?: number }>;
    const daily = limits.DailyApiRequests;
    if (!daily || typeof daily.Max !== 'number' || typeof daily.Remaining !== 'number') {
      report.step('quota', 'the org does not report DailyApiRequests');
    } else {
      report.headroom = { dailyApiRequests: { max: daily.Max, remaining: daily.Remaining } };
      report.step('quota', `${daily.Remaining} of ${daily.Max} daily API requests remaining`);
      const fix = "Wait for the rolling 24-hour window to free requests, lower this connection's Requests / s, or buy more API capacity (Setup > Company Information shows the API Requests, Last 24 Hours).";
      if (daily.Remaining <= 0) report.problem({ check: 'quota', what: `The org has used all ${daily.Max} API requests of the last 24 hours; every call fails with REQUEST_LIMIT_EXCEEDED`, fix, severity: 'error' });
      else if (daily.Remaining < daily.Max * LOW_HEADROOM) report.problem({ check: 'quota', what: `Only ${daily.Remaining} of ${daily.Max} daily API requests remain`, fix, severity: 'warning' });
    }
  } catch (err) {
    report.step('quota');
    const status = errorStatus(err);
    report.problem({ check: 'quota', what: `The API limits could not be read (GET /limits${status ? `: ${status}` : ''}): ${errorText(err)}`, fix: 'Grant the integration user the View Setup and Configuration permission (Setup > Permission Sets > System Permissions) so PS Fabric can watch the quota.', severity: 'warning' });
  }
  return report.result();
}

function fieldPath(object: string, field: string): string {
  return `Setup > Object Manager > ${object} > Fields & Relationships > ${field}`;
}

function checkFields(report: SetupReport, describes: Map<string, Describe | undefined>, org: (d: string) => string): void {
  let present = 0;
  let absent = 0;
  for (const o of SALESFORCE_NEEDS) {
    const objectName = org(o.object);
    const d = describes.get(objectName);
    if (!d) {
      absent += 1;
      const custom = objectName.endsWith('__c');
      report.problem({
        check: 'fields',
        what: `The org has no object ${objectName}${objectName !== o.object ? ` (mapped from ${o.object})` : ''} visible to the integration user: ${o.why}`,
        fix: custom
          ? `Create the custom object ${objectName} (Setup > Object Manager > Create > Custom Object), or, if it exists under another name, map ${o.object} to it in this config node's Field names; if it exists, give the integration user Read on it (Setup > Permission Sets > (the user's permission set) > Object Settings > ${objectName} > Read).`
          : `Give the integration user Read on ${objectName} (Setup > Permission Sets > (the user's permission set) > Object Settings > ${objectName} > Read).`,
        where: custom ? 'Setup > Object Manager' : 'Setup > Permission Sets',
        severity: o.severity,
      });
      continue;
    }
    const byName = new Map(d.fields.map((f) => [f.name.toLowerCase(), f]));
    for (const f of o.fields) {
      const name = org(f.name);
      const found = byName.get(name.toLowerCase());
      const mapped = name !== f.name ? ` (mapped from ${f.name})` : '';
      if (!found) {
        absent += 1;
        report.problem({
          check: 'fields',
          what: `${objectName}.${name}${mapped} does not exist or is hidden from the integration user by Field-Level Security: ${f.why}`,
          fix: `Create it as a ${TYPE_WORDS[f.kind]} field (Setup > Object Manager > ${objectName} > Fields & Relationships > New), or map ${f.name} to the org's field in this config node's Field names; if it exists, make it visible: ${fieldPath(objectName, name)} > Set Field-Level Security > Visible for the integration user's profile.`,
          where: fieldPath(objectName, name),
          severity: f.severity,
        });
      } else if (!TYPES[f.kind].includes(found.type)) {
        absent += 1;
        report.problem({ check: 'fields', what: `${objectName}.${name}${mapped} is of type ${found.type}; the templates need ${TYPE_WORDS[f.kind]}: ${f.why}`, fix: `Change its type (${fieldPath(objectName, name)} > Change Field Type) to ${TYPE_WORDS[f.kind]}, or map ${f.name} to another field in this config node's Field names.`, where: fieldPath(objectName, name), severity: f.severity });
      } else present += 1;
    }
    for (const c of o.children ?? []) {
      const name = org(c.name);
      if (d.childRelationships.some((r) => r.relationshipName?.toLowerCase() === name.toLowerCase())) {
        present += 1;
        continue;
      }
      absent += 1;
      report.problem({ check: 'fields', what: `${objectName} has no child relationship ${name}${name !== c.name ? ` (mapped from ${c.name})` : ''}: ${c.why}`, fix: `Add a Lookup Relationship to ${objectName} on the child object with Child Relationship Name ${name.replace(/__r$/, '')} (Setup > Object Manager > (child object) > Fields & Relationships > New), or map ${c.name} in this config node's Field names.`, where: `Setup > Object Manager > ${objectName} > Related Lookup Filters / child object`, severity: c.severity });
    }
  }
  report.step('fields', `${present} fields and relationships found${absent ? `, ${absent} missing or unusable` : ''}`);
}

function checkPermissions(report: SetupReport, describes: Map<string, Describe | undefined>, org: (d: string) => string, writes: Array<{ sobject: string; operation: string }>): void {
  const objectSettings = (o: string, access: string) => `Setup > Permission Sets > (the integration user's permission set) > Object Settings > ${o} > Edit > ${access}`;
  let checked = 0;
  for (const o of SALESFORCE_NEEDS) {
    const d = describes.get(org(o.object));
    if (!d) continue;
    checked += 1;
    if (d.queryable === false) report.problem({ check: 'permissions', what: `The integration user cannot query ${d.name}: ${o.why}`, fix: `Grant Read on ${d.name}: ${objectSettings(d.name, 'Object Permissions: Read')}.`, where: objectSettings(d.name, 'Read'), severity: o.severity });
  }
  for (const w of writes) {
    const d = describes.get(w.sobject);
    const need = WRITE_OPS[w.operation];
    if (!need) continue;
    checked += 1;
    if (!d) {
      report.problem({ check: 'permissions', what: `A salesforce node of this connection ${w.operation}s ${w.sobject}, which the org does not have or the integration user cannot see`, fix: `Create ${w.sobject} or give the integration user access to it: ${objectSettings(w.sobject, 'Read, Create, Edit')}.`, severity: 'error' });
      continue;
    }
    const lacks = [...(need !== 'updateable' && d.createable === false ? ['Create'] : []), ...(need !== 'createable' && d.updateable === false ? ['Edit'] : [])];
    if (lacks.length) report.problem({ check: 'permissions', what: `The integration user lacks ${lacks.join(' and ')} on ${d.name}, which a salesforce node of this connection ${w.operation}s`, fix: `Grant ${lacks.join(' and ')}: ${objectSettings(d.name, `Object Permissions: ${lacks.join(', ')}`)}.`, where: objectSettings(d.name, lacks.join(', ')), severity: 'error' });
  }
  report.step('permissions', `object access checked on ${checked} object(s)`);
}
