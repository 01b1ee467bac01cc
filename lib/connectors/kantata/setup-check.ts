/**
 * Kantata setup check: the login works, the API v1 envelope is served, every mapped custom field exists as a Project
 * (Workspace) field of a text value type, and the connection may read projects and time. Read-only.
 */
import type { CheckStep, SetupProblem, VendorCheckResult } from '../../setup/types';
import type { FabricError } from '../../delivery/errors';
import { parseEnvelope, type KantataClient, type KRecord } from './client';
import { isCustomFieldId, REQUIRED_KANTATA_CUSTOM_FIELDS, type KantataCustomField, type KantataCustomFields } from './mapping';

export interface KantataCheckSettings {
  customFields: KantataCustomFields;
}

/** What each absent field does to the templates (docs/connectors/kantata.md). */
const WITHOUT: Record<KantataCustomField, string> = {
  billingEntity: 'quote-to-project cannot create project shells (refused to the exception queue) and time-to-cash cannot route the time to an ERP',
  accountExternalId: 'quote-to-project cannot create project shells (refused to the exception queue) and time-to-cash cannot invoice the time',
  opportunityId: 'project shells are created without the opportunity; reconciliation matches projects by their external reference only',
  erpProjectId: 'invoices do not name the ERP project; time-to-cash looks the project up by its id',
};
/** Kantata value types a text value can be stored in. */
const TEXT_TYPES = ['string', 'text'];
const WHERE = 'Kantata: Settings > Custom Fields > Projects';

export async function checkSetup(client: KantataClient, settings: KantataCheckSettings): Promise<VendorCheckResult> {
  const checks: CheckStep[] = [];
  const problems: SetupProblem[] = [];
  const done = () => ({ vendor: 'kantata', ok: !problems.some((p) => p.severity === 'error'), checks, problems });

  try {
    const me = parseEnvelope(await client.request('GET', '/users/me'), 'users').records[0];
    checks.push({ check: 'auth', ok: true, detail: `${client.config.auth.type === 'token' ? 'application token' : 'authorization-code login'} accepted by ${client.config.baseUrl}` });
    checks.push({ check: 'api-version', ok: !!me, detail: me ? `API v1 serves the connection's user ${me.full_name ?? me.id}` : 'GET /api/v1/users/me answered without a user' });
    if (!me) problems.push({ check: 'api-version', what: `${client.config.baseUrl}/api/v1 did not answer as the Kantata OX API v1`, fix: 'Set the base URL to https://api.mavenlink.com (or your Kantata API host); /api/v1 is appended', where: 'kantata-config: base URL', severity: 'error' });
  } catch (err) {
    const e = err as FabricError;
    checks.push({ check: 'auth', ok: false, detail: e.message });
    problems.push({
      check: 'auth',
      what: `Kantata refused the login (${e.status ? `HTTP ${e.status}: ` : ''}${e.message})`,
      fix: client.config.auth.type === 'token'
        ? "Generate a new token on the application's page (app.mavenlink.com/oauth/applications > the application > token) and paste it into the config node"
        : 'Authorize the application again (docs/connectors/kantata.md: authorization code -> refresh token) and store the new refresh token; check the client id and secret on the application\'s page',
      where: 'kantata-config: login',
      severity: 'error',
    });
    return done();
  }

  let everyField: KRecord[];
  try {
    everyField = await client.all('custom_fields');
  } catch (err) {
    const e = err as FabricError;
    checks.push({ check: 'fields', ok: false, detail: e.message });
    problems.push({ check: 'fields', what: `the custom fields could not be read (${e.message})`, fix: 'Give the connection\'s user Account Administrator or a role that may view custom fields (Settings > Members > permissions)', where: WHERE, severity: 'error' });
    return done();
  }
  const fields = everyField.filter((f) => String(f.subject_type ?? 'Workspace').toLowerCase() === 'workspace');
  const fieldProblems: string[] = [];
  for (const [key, value] of Object.entries(settings.customFields) as Array<[KantataCustomField, string | null]>) {
    const required = REQUIRED_KANTATA_CUSTOM_FIELDS.includes(key);
    if (value === null) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `the kantata-config setting Custom fields > ${key} is empty, so ${WITHOUT[key]}`, fix: `Create a Project custom field of type Text (e.g. "${key}") and put its id or name in the setting Custom fields > ${key}`, where: WHERE, severity: 'warning' });
      continue;
    }
    const matches = isCustomFieldId(value) ? fields.filter((f) => String(f.id) === value) : fields.filter((f) => String(f.name).trim().toLowerCase() === value.toLowerCase());
    const field = matches[0];
    if (!field) {
      fieldProblems.push(key);
      const other = isCustomFieldId(value) ? everyField.find((f) => String(f.id) === value) : undefined;
      problems.push({
        check: 'fields',
        what: other
          ? `custom field ${value} (setting Custom fields > ${key}) is a ${other.subject_type} field, not a Project field`
          : `no Project custom field ${isCustomFieldId(value) ? `with id ${value}` : `named "${value}"`} (setting Custom fields > ${key}); ${required ? 'until there is one' : 'without it'}, ${WITHOUT[key]}`,
        fix: `Create a Project custom field of type Text named "${isCustomFieldId(value) ? key : value}" (Settings > Custom Fields > Projects > Add field), or put the id or name of the field your account uses in the setting Custom fields > ${key}${required ? '' : ', or "" to run without it'}`,
        where: WHERE,
        severity: required ? 'error' : 'warning',
      });
      continue;
    }
    if (matches.length > 1) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `${matches.length} Project custom fields are named "${value}" (ids ${matches.map((f) => f.id).join(', ')}): PS Fabric would use ${field.id}`, fix: `Put the id of the right one in the setting Custom fields > ${key}, or rename the others`, where: WHERE, severity: 'warning' });
    }
    const type = String(field.value_type ?? '');
    if (!TEXT_TYPES.includes(type.toLowerCase())) {
      fieldProblems.push(key);
      problems.push({ check: 'fields', what: `custom field ${field.id} "${field.name}" (setting Custom fields > ${key}) has value type ${type}; PS Fabric stores text (ids and codes) in it`, fix: `Create a Project custom field of type Text and name it in the setting Custom fields > ${key}`, where: WHERE, severity: 'error' });
    }
  }
  checks.push({ check: 'fields', ok: fieldProblems.length === 0, detail: fieldProblems.length ? `to fix: ${fieldProblems.join(', ')}` : 'every mapped Project custom field exists with a text value type' });

  const denied: string[] = [];
  for (const collection of ['workspaces', 'time_entries']) {
    try {
      await client.page(collection, { per_page: 1 });
    } catch (err) {
      const e = err as FabricError;
      if (e.status !== 403 && e.status !== 401) throw err;
      denied.push(collection);
      problems.push({ check: 'permissions', what: `the connection's user may not read ${collection.replace('_', ' ')} (${e.message})`, fix: 'Give the user the Account Administrator role, or Project Lead access to every project PS Fabric creates and reads (Settings > Members)', where: 'Kantata: Settings > Members', severity: 'error' });
    }
  }
  checks.push({ check: 'permissions', ok: denied.length === 0, detail: denied.length ? `denied: ${denied.join(', ')}` : 'projects and time entries readable' });
  return done();
}
