/**
 * Business Central setup check: the Entra app gets a token and Business Central lets it in, API v2.0 is served with the
 * configured company, `$metadata` has the entity sets and properties the connector uses, the pages the connector
 * reads through OData v4 are published with their fields, and the number series allow the configured numbering.
 * Read-only.
 */
import axios from 'axios';
import type { CheckStep, SetupProblem, VendorCheckResult } from '../../setup/types';
import type { BusinessCentralConnector } from './index';
import { odataString } from './client';

export interface BcCheckSettings {
  /** The company as configured (name or id). */
  company: string;
  /** Service name of page 456 No. Series, when the firm published it (default `NoSeries`); without it the series cannot be read. */
  noSeriesService?: string;
  /** Number series codes of customers (Sales & Receivables Setup > Customer Nos.) and projects (Projects Setup > Project Nos.). */
  series?: { customers: string; projects: string };
}

/** The config node's *Web services* setting: JSON `{projects?, projectTasks?}` of OData service names. Throws naming the setting. */
export function checkBcWebServices(value: unknown): { projects?: string; projectTasks?: string } | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the Business Central web services setting must be a JSON object such as {"projects":"PSF_Projects","projectTasks":"PSF_ProjectTasks"}');
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k !== 'projects' && k !== 'projectTasks') throw new Error(`the Business Central web services setting names '${k}', which is not one of projects (page 88 Project Card), projectTasks (page 1002 Project Task Lines)`);
    if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,239}$/.test(v)) throw new Error(`the Business Central web services setting gives '${k}' the value ${JSON.stringify(v)}: expected the Service Name of the published page (letters, digits and _), as the Web Services page shows it`);
  }
  return value as { projects?: string; projectTasks?: string };
}

/** The config node's *Number series* setting: JSON `{customers?, projects?, service?}`. Throws naming the setting. */
export function checkBcNumberSeries(value: unknown): Pick<BcCheckSettings, 'series' | 'noSeriesService'> {
  if (value === undefined || value === null || value === '') return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('the Business Central number series setting must be a JSON object such as {"customers":"CUST","projects":"JOB","service":"NoSeries"}');
  const v = value as Record<string, unknown>;
  for (const [k, code] of Object.entries(v)) {
    if (!['customers', 'projects', 'service'].includes(k)) throw new Error(`the Business Central number series setting names '${k}', which is not one of customers, projects, service`);
    const ok = k === 'service' ? typeof code === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,239}$/.test(code) : typeof code === 'string' && /^[A-Za-z0-9_.\-/ ]{1,20}$/.test(code);
    if (!ok) throw new Error(`the Business Central number series setting gives '${k}' the value ${JSON.stringify(code)}: expected ${k === 'service' ? 'the Service Name under which page 456 No. Series is published' : 'a No. Series code of at most 20 characters, as Sales & Receivables Setup / Projects Setup show it'}`);
  }
  return { series: { customers: String(v.customers ?? 'CUST'), projects: String(v.projects ?? 'JOB') }, ...(v.service ? { noSeriesService: String(v.service) } : {}) };
}

/** API v2.0 entity sets and the properties the connector writes or filters on that a Business Central version may lack. */
const API_NEEDS: Record<string, string[]> = {
  customers: ['number', 'displayName', 'taxRegistrationNumber', 'currencyCode', 'taxAreaId'],
  projects: ['number', 'displayName'],
  employees: [],
  timeRegistrationEntries: ['employeeId', 'jobId', 'jobTaskNumber', 'date', 'quantity'],
  salesInvoices: ['customerNumber', 'externalDocumentNumber', 'invoiceDate', 'dueDate', 'currencyCode'],
  salesInvoiceLines: ['lineType', 'description', 'description2', 'quantity', 'unitPrice'],
  taxAreas: [],
};

/** The pages the connector reads and writes as web services, their page ids and the fields it uses. */
const PAGES: Array<{ kind: 'projects' | 'projectTasks'; page: number; caption: string; fields: string[] }> = [
  { kind: 'projects', page: 88, caption: 'Project Card', fields: ['No', 'Description', 'Bill_to_Customer_No'] },
  { kind: 'projectTasks', page: 1002, caption: 'Project Task Lines', fields: ['Job_No', 'Job_Task_No', 'Description', 'Job_Task_Type'] },
];

function statusOf(err: unknown): number | undefined {
  return axios.isAxiosError(err) ? err.response?.status : (err as { status?: number })?.status;
}
function errorText(err: unknown): string {
  const data = axios.isAxiosError(err) ? (err.response?.data as Record<string, any> | undefined) : undefined;
  return String(data?.error?.message ?? (err as Error).message).split('  CorrelationId')[0];
}

/** EntitySet name -> its EntityType's property names, from a CSDL document. */
function entitySets(xml: string): Map<string, Set<string>> {
  const types = new Map<string, Set<string>>();
  for (const m of xml.matchAll(/<EntityType\s+Name="([^"]+)"[^>]*>([\s\S]*?)<\/EntityType>/g)) types.set(m[1], new Set([...m[2].matchAll(/<Property\s+Name="([^"]+)"/g)].map((p) => p[1])));
  const out = new Map<string, Set<string>>();
  for (const m of xml.matchAll(/<EntitySet\s+Name="([^"]+)"\s+EntityType="([^"]+)"/g)) out.set(m[1], types.get(m[2].split('.').pop()!) ?? new Set());
  return out;
}

export async function checkSetup(connector: BusinessCentralConnector, settings: BcCheckSettings): Promise<VendorCheckResult> {
  const client = connector.client;
  const checks: CheckStep[] = [];
  const problems: SetupProblem[] = [];
  const done = () => ({ vendor: 'business-central', ok: !problems.some((p) => p.severity === 'error'), checks, problems });

  // ---- auth: Entra token, then Business Central's own permission to let the app in
  try {
    await client.accessToken();
  } catch (err) {
    checks.push({ check: 'auth', ok: false, detail: (err as Error).message });
    problems.push({ check: 'auth', what: `Microsoft Entra ID refused the client credentials (${(err as Error).message})`, fix: 'Check the application (client) id and a current client secret (Entra admin center > App registrations > the app > Certificates & secrets), and that the app has the API permission Dynamics 365 Business Central > Application permissions > API.ReadWrite.All with admin consent granted', where: 'business-central-config: tenant, client id, secret', severity: 'error' });
    return done();
  }
  let companies: Array<Record<string, any>>;
  try {
    companies = (await client.request<{ value: Array<Record<string, any>> }>('GET', 'companies')).data.value ?? [];
    checks.push({ check: 'auth', ok: true, detail: `token accepted by ${client.apiUrl}` });
  } catch (err) {
    const status = statusOf(err);
    checks.push({ check: 'auth', ok: false, detail: errorText(err) });
    if (status === 401 || status === 403) {
      problems.push({ check: 'auth', what: `Business Central refused the app (HTTP ${status}: ${errorText(err)})`, fix: 'In Business Central, open Microsoft Entra Applications, add the client id, set State to Enabled, grant consent and assign permission sets (D365 BUS FULL ACCESS or the sets for customers, projects, time sheets and sales invoices) for the company', where: 'Business Central: Microsoft Entra Applications', severity: 'error' });
    } else {
      problems.push({ check: 'api-version', what: `API v2.0 is not served at ${client.apiUrl} (${status ? `HTTP ${status}: ` : ''}${errorText(err)})`, fix: 'Check the tenant id and the environment name (Business Central admin center > Environments); the base URL stays https://api.businesscentral.dynamics.com', where: 'business-central-config: tenant, environment', severity: 'error' });
    }
    return done();
  }
  const company = companies.find((c) => c.id === settings.company || c.name === settings.company);
  checks.push({ check: 'api-version', ok: !!company, detail: company ? `API v2.0 serves company ${company.name}` : `no company ${settings.company}` });
  if (!company) {
    problems.push({ check: 'api-version', what: `API v2.0 has no company ${JSON.stringify(settings.company)} in this environment (it has ${companies.map((c) => JSON.stringify(c.name)).join(', ') || 'none'})`, fix: 'Put the company name exactly as Business Central shows it (Companies page > Name), or its id, in the config node', where: 'business-central-config: company', severity: 'error' });
    return done();
  }

  // ---- fields: API v2.0 entity sets and properties, then the published pages
  const fieldProblems: string[] = [];
  try {
    const api = entitySets(String((await client.request('GET', '$metadata', { headers: { Accept: 'application/xml' } })).data));
    for (const [set, props] of Object.entries(API_NEEDS)) {
      const have = api.get(set);
      const lacking = have ? props.filter((p) => !have.has(p)) : props;
      if (!have || lacking.length) {
        fieldProblems.push(set);
        problems.push({ check: 'fields', what: have ? `API v2.0 ${set} has no ${lacking.join(', ')}` : `API v2.0 has no entity set ${set}`, fix: 'Update the environment to a current Business Central version (Business Central admin center > Environments > Update), which serves these in API v2.0', where: 'Business Central admin center', severity: 'error' });
      }
    }
  } catch (err) {
    fieldProblems.push('$metadata');
    problems.push({ check: 'fields', what: `API v2.0 $metadata could not be read (${errorText(err)})`, fix: 'Grant the app read access to the API (permission set D365 BASIC or wider)', where: 'Business Central: Microsoft Entra Applications', severity: 'error' });
  }
  const odataRoot = client.apiUrl.replace(/\/api\/v2\.0$/, '/ODataV4');
  let services = new Map<string, Set<string>>();
  try {
    services = entitySets(String((await client.request('GET', `${odataRoot}/$metadata`, { headers: { Accept: 'application/xml' } })).data));
  } catch (err) {
    fieldProblems.push('ODataV4 $metadata');
    problems.push({ check: 'fields', what: `the OData v4 web services' $metadata could not be read (${errorText(err)})`, fix: 'Grant the app access to web services (permission set D365 BASIC or wider)', where: 'Business Central: Microsoft Entra Applications', severity: 'error' });
  }
  for (const page of PAGES) {
    const name = connector.webServices[page.kind];
    const have = services.get(name);
    if (!have) {
      fieldProblems.push(name);
      problems.push({ check: 'fields', what: `page ${page.page} ${page.caption} is not published as web service ${name}; ${page.kind === 'projects' ? 'quote-to-project cannot set the bill-to customer of a project' : 'quote-to-project cannot create the project task time is registered on'}`, fix: `In Business Central, open Web Services, choose New: Object Type Page, Object ID ${page.page} (${page.caption}), Service Name ${name}, Published; or put the service name you use in the config node's web services setting`, where: 'Business Central: Web Services', severity: 'error' });
      continue;
    }
    const lacking = page.fields.filter((f) => !have.has(f));
    if (lacking.length) {
      fieldProblems.push(name);
      problems.push({ check: 'fields', what: `web service ${name} has no ${lacking.join(', ')} (the published page is not page ${page.page} ${page.caption}, or a customisation hides the field)`, fix: `Publish page ${page.page} (${page.caption}) itself as ${name} in Web Services, or show ${lacking.join(', ')} on the customised page`, where: 'Business Central: Web Services', severity: 'error' });
    }
  }
  checks.push({ check: 'fields', ok: fieldProblems.length === 0, detail: fieldProblems.length ? `to fix: ${fieldProblems.join(', ')}` : `API v2.0 entities and web services ${PAGES.map((p) => connector.webServices[p.kind]).join(', ')} as needed` });

  // ---- numbering: the series must assign numbers (series) or take typed ones (manual)
  const series = settings.series ?? { customers: 'CUST', projects: 'JOB' };
  const service = settings.noSeriesService ?? 'NoSeries';
  const needed = connector.numbering === 'manual' ? 'Manual_Nos' : 'Default_Nos';
  const caption = connector.numbering === 'manual' ? 'Manual Nos.' : 'Default Nos.';
  if (!services.has(service)) {
    checks.push({ check: 'numbering', ok: true, detail: `not verified: page 456 No. Series is not published as ${service}` });
    problems.push({ check: 'numbering', what: `the number series cannot be read (page 456 No. Series is not published as web service ${service}), so ${caption} on ${series.customers} and ${series.projects} is not verified for numbering "${connector.numbering}"`, fix: `Check in Business Central: No. Series > ${series.customers} and ${series.projects} > ${caption} is on; or publish page 456 as ${service} in Web Services so the check can read it`, where: 'Business Central: No. Series', severity: 'warning' });
    return done();
  }
  const wrong: string[] = [];
  for (const [what, code] of Object.entries(series)) {
    const rows = await client.request<{ value: Array<Record<string, any>> }>('GET', `${odataRoot}/Company(${encodeURIComponent(odataString(String(company.name)))})/${encodeURIComponent(service)}`, { params: { $filter: `Code eq ${odataString(code)}` } });
    const row = rows.data.value?.[0];
    if (!row || row[needed] !== true) {
      wrong.push(code);
      problems.push({
        check: 'numbering',
        what: row ? `number series ${code} (${what}) does not allow ${caption}, and the config node's numbering is "${connector.numbering}"` : `there is no number series ${code} (${what})`,
        fix: row
          ? connector.numbering === 'manual' ? `Turn on Manual Nos. on No. Series ${code}, or set the config node's numbering to "series" (Business Central assigns the numbers)` : `Turn on Default Nos. on No. Series ${code}, or set the config node's numbering to "manual"`
          : `Create the series or name the one used (Sales & Receivables Setup > Customer Nos.; Projects Setup > Project Nos.) in the check's series setting`,
        where: `Business Central: No. Series > ${code}`,
        severity: 'error',
      });
    }
  }
  checks.push({ check: 'numbering', ok: wrong.length === 0, detail: wrong.length ? `series to fix: ${wrong.join(', ')}` : `${series.customers} and ${series.projects} allow ${caption} (numbering "${connector.numbering}")` });
  return done();
}
