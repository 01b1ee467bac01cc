/**
 * NetSuite setup check: the login works, REST web services answer, every custom field the config node maps exists in
 * the account's metadata catalog with a usable type, and the integration role may read the records the templates write.
 * Read-only: it creates nothing in the account.
 */
import axios from 'axios';
import type { CheckStep, SetupProblem, VendorCheckResult } from '../../setup/types';
import type { NetSuiteClient } from './client';
import { NETSUITE_CUSTOM_FIELD_KINDS, type NetSuiteCustomFields } from './mapping';

export interface NetSuiteCheckSettings {
  customFields: NetSuiteCustomFields;
}

/** What each absent field does to the templates (docs/connectors/netsuite.md). */
const WITHOUT: Record<keyof NetSuiteCustomFields, { severity: SetupProblem['severity']; effect: string }> = {
  sourceRefs: { severity: 'error', effect: 'time-to-cash cannot post invoices to NetSuite (each is refused to the exception queue): a line could not say which time it bills' },
  billingCap: { severity: 'warning', effect: 'a change order that sets a time-and-materials cap is refused to the exception queue' },
  billingSchedule: { severity: 'warning', effect: 'the contract billing schedule is not stored on the project in NetSuite (the job billing type still is)' },
  budgetAmount: { severity: 'warning', effect: 'the project budget amount is not written to NetSuite (the budgeted hours still are)' },
};

/** The records the templates write and the role permission each needs (Setup > Users/Roles > Manage Roles > <role> > Permissions). */
const PERMISSIONS: Array<{ record: string; permission: string }> = [
  { record: 'customer', permission: 'Lists > Customers (Full)' },
  { record: 'job', permission: 'Lists > Projects (Full)' },
  { record: 'timebill', permission: 'Transactions > Track Time (Full)' },
  { record: 'invoice', permission: 'Transactions > Invoice (Full)' },
  { record: 'employee', permission: 'Lists > Employees (View)' },
];

function statusOf(err: unknown): number | undefined {
  return axios.isAxiosError(err) ? err.response?.status : (err as { status?: number })?.status;
}

function errorText(err: unknown): string {
  const data = axios.isAxiosError(err) ? (err.response?.data as Record<string, any> | undefined) : undefined;
  const detail = data?.['o:errorDetails']?.[0];
  return detail ? `${detail['o:errorCode'] ?? ''} ${detail.detail ?? ''}`.trim() : (err as Error).message;
}

export async function checkSetup(client: NetSuiteClient, settings: NetSuiteCheckSettings): Promise<VendorCheckResult> {
  const checks: CheckStep[] = [];
  const problems: SetupProblem[] = [];
  const done = () => ({ vendor: 'netsuite', ok: !problems.some((p) => p.severity === 'error'), checks, problems });

  // ---- auth + api: the metadata catalog is the cheapest authenticated REST call
  let catalog: string[] = [];
  try {
    const res = await client.request<{ items?: Array<{ name: string }> }>('GET', '/record/v1/metadata-catalog');
    catalog = (res.data.items ?? []).map((i) => String(i.name).toLowerCase());
    checks.push({ check: 'auth', ok: true, detail: `${client.authType === 'tba' ? 'token-based auth' : 'OAuth 2.0 client credentials'} accepted by ${client.baseUrl}` });
  } catch (err) {
    const status = statusOf(err);
    if (status === 401 || status === 403) {
      checks.push({ check: 'auth', ok: false, detail: errorText(err) });
      problems.push({
        check: 'auth',
        what: `NetSuite refused the login (HTTP ${status}: ${errorText(err)})`,
        fix: client.authType === 'tba'
          ? 'Check the consumer key and secret of the integration record (Setup > Integration > Manage Integrations, Token-Based Authentication enabled) and the token id and secret (Setup > Users/Roles > Access Tokens) for a role with the REST Web Services permission; the Login Audit Trail (Setup > Users/Roles > User Management > View Login Audit Trail) says why a login failed'
          : 'Check the client id of the integration record (Setup > Integration > Manage Integrations, Client Credentials (Machine to Machine) Grant enabled), the certificate id and that the uploaded certificate matches the private key (Setup > Integration > OAuth 2.0 Client Credentials (M2M) Setup), and that the mapped role has the REST Web Services and Log in using OAuth 2.0 Access Tokens permissions',
        where: 'netsuite-config: credentials',
        severity: 'error',
      });
    } else {
      checks.push({ check: 'auth', ok: false, detail: `${client.baseUrl} did not answer as NetSuite REST web services: ${errorText(err)}` });
      problems.push({ check: 'auth', what: `NetSuite REST web services at ${client.baseUrl} did not answer (${errorText(err)})`, fix: 'Check the account id and base URL (Setup > Company > Company Information > Company URLs > SuiteTalk (SOAP and REST Web Services)) and that REST Web Services is enabled (Setup > Company > Enable Features > SuiteCloud > SuiteTalk (Web Services) > REST Web Services)', where: 'netsuite-config: account id, base URL', severity: 'error' });
    }
    return done();
  }
  const missingTypes = ['customer', 'job', 'timebill', 'invoice'].filter((t) => !catalog.includes(t));
  checks.push({ check: 'api-version', ok: missingTypes.length === 0, detail: missingTypes.length ? `record types not in the metadata catalog: ${missingTypes.join(', ')}` : 'REST record API v1 serves customer, job, timebill, invoice' });
  if (missingTypes.length) problems.push({ check: 'api-version', what: `the REST record API does not serve ${missingTypes.join(', ')}`, fix: `Enable the features these records need (Setup > Company > Enable Features: Projects > Project Management for job, Employees > Time Tracking for timebill)`, severity: 'error' });

  // ---- fields: each mapped custom field in the record's JSON Schema, with a usable type
  const schemas = new Map<string, Record<string, any> | Error>();
  const schemaOf = async (record: string) => {
    if (!schemas.has(record)) {
      try {
        schemas.set(record, (await client.request('GET', `/record/v1/metadata-catalog/${record}`, { headers: { Accept: 'application/schema+json' } })).data as Record<string, any>);
      } catch (err) {
        schemas.set(record, new Error(errorText(err)));
      }
    }
    return schemas.get(record)!;
  };
  const fieldProblems: string[] = [];
  for (const [key, kind] of Object.entries(NETSUITE_CUSTOM_FIELD_KINDS) as Array<[keyof NetSuiteCustomFields, (typeof NETSUITE_CUSTOM_FIELD_KINDS)[keyof NetSuiteCustomFields]]>) {
    const id = settings.customFields[key];
    const where = kind.sublist ? `${kind.record} lines (${kind.sublist} sublist)` : kind.record === 'job' ? 'project (job)' : kind.record;
    if (!id) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `no ${where} field for ${key}: the netsuite-config setting Custom fields > ${key} is empty, so ${WITHOUT[key].effect}`, fix: `Create a ${kind.createAs} and put its ID in the setting Custom fields > ${key}`, where: 'netsuite-config: Custom fields', severity: WITHOUT[key].severity });
      continue;
    }
    const schema = await schemaOf(kind.record);
    if (schema instanceof Error) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `the metadata catalog of ${kind.record} could not be read (${schema.message})`, fix: 'Grant the integration role access to the record (see the permissions check) and REST Web Services', severity: 'error' });
      continue;
    }
    const props: Record<string, any> = kind.sublist ? (schema.definitions?.[`${kind.record}-${kind.sublist}Element`]?.properties ?? {}) : (schema.properties ?? {});
    const found = Object.entries(props).find(([name]) => name.toLowerCase() === id.toLowerCase());
    if (!found) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `${id} (setting Custom fields > ${key}) does not exist on ${where} in this account, or is not on the form the integration role uses; until it does, ${WITHOUT[key].severity === 'error' ? 'every write that names it fails' : 'writes that name it fail'}`, fix: `Create a ${kind.createAs} with ID ${id.replace(new RegExp(`^${kind.prefix}`, 'i'), '')} (NetSuite prefixes ${kind.prefix}), store value, shown on the preferred form; or put the ID of the field your account uses in the setting Custom fields > ${key}, or "" to run without it (${WITHOUT[key].effect})`, where: kind.record === 'invoice' ? 'Customization > Lists, Records, & Fields > Transaction Line Fields' : 'Customization > Lists, Records, & Fields > Entity Fields', severity: 'error' });
      continue;
    }
    const type = String(found[1]?.type ?? '');
    if (type !== kind.schemaType) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `${id} (setting Custom fields > ${key}) on ${where} has type ${type || 'unknown'}, PS Fabric writes a ${kind.schemaType === 'number' ? 'number (Currency or Decimal Number field)' : 'text (Long Text or Free-Form Text field)'}`, fix: `Change the field's Type, or create a ${kind.createAs} and name it in the setting Custom fields > ${key}`, where: 'Customization > Lists, Records, & Fields', severity: 'error' });
    }
  }
  checks.push({ check: 'fields', ok: fieldProblems.length === 0, detail: fieldProblems.length ? `to fix: ${fieldProblems.join(', ')}` : `custom fields ${Object.values(settings.customFields).filter(Boolean).join(', ')} present with usable types` });

  // ---- permissions: the role may read every record type the templates write, and run SuiteQL
  const denied: string[] = [];
  for (const { record, permission } of PERMISSIONS) {
    try {
      await client.request('GET', `/record/v1/${record}`, { params: { limit: 1 } });
    } catch (err) {
      const status = statusOf(err);
      if (status !== 403 && status !== 401) throw err;
      denied.push(record);
      problems.push({ check: 'permissions', what: `the integration role may not use ${record} records (${errorText(err)})`, fix: `Add the permission ${permission} to the integration role`, where: 'Setup > Users/Roles > Manage Roles > <the integration role> > Permissions', severity: 'error' });
    }
  }
  try {
    await client.suiteqlPage('SELECT id FROM currency', { limit: 1 });
  } catch (err) {
    const status = statusOf(err);
    if (status !== 403 && status !== 401 && status !== 400) throw err;
    denied.push('suiteql');
    problems.push({ check: 'permissions', what: `SuiteQL (currency lookup) is refused: ${errorText(err)}`, fix: 'Add the permissions Setup > REST Web Services (Full) and Lists > Currency (View) to the integration role', where: 'Setup > Users/Roles > Manage Roles > <the integration role> > Permissions', severity: 'error' });
  }
  checks.push({ check: 'permissions', ok: denied.length === 0, detail: denied.length ? `denied: ${denied.join(', ')}` : `${PERMISSIONS.map((p) => p.record).join(', ')} and SuiteQL readable` });
  return done();
}
