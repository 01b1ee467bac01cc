/**
 * The Jira setup check (docs/setup-check.md): the API token (or OAuth token) is accepted (`/myself`), the site answers
 * REST v3 (`/serverInfo`), the mapped custom fields exist (`/field`: Epic Name and any other mapped field) and a
 * company-managed project's Epic create screen asks for nothing PS Fabric does not fill (createmeta), and the
 * integration user holds what the quote-to-project template needs (`/mypermissions`): Administer Jira (global) to create
 * projects, Browse Projects and Create Issues, and Browse users and groups to find project leads by email.
 */
import type { JiraClient } from './client';
import { SetupReport, errorStatus, errorText } from '../../setup/report';
import type { VendorCheckResult } from '../../setup/types';

export interface JiraSetupSettings {
  /** The configured Epic Name field id (`epicNameField`); empty = found by its type (gh-epic-label). */
  epicNameField?: string;
  /** Other mapped custom fields: what they are for -> field id (e.g. `{ "Start date": "customfield_10015" }`). */
  fields?: Record<string, string>;
}

type Rec = Record<string, any>;

/** The permissions the templates need, with Jira's own names and where an administrator grants them. */
export const JIRA_PERMISSIONS: Array<{ key: string; name: string; why: string; fix: string; where: string; severity: 'error' | 'warning' }> = [
  { key: 'ADMINISTER', name: 'Administer Jira', why: 'quote-to-project creates a Jira project per deal, which needs this global permission', fix: "Settings (⚙) > System > Security: Global permissions > Administer Jira: add a group the integration user belongs to (e.g. jira-admins-<site>), or add the user to such a group in admin.atlassian.com > Directory > Groups.", where: 'Settings (⚙) > System > Global permissions', severity: 'error' },
  { key: 'BROWSE_PROJECTS', name: 'Browse Projects', why: 'the epic is looked up in its project before it is created (no duplicates on a retry)', fix: "In the permission scheme of the projects (Settings (⚙) > Issues > Permission schemes > (scheme) > Browse Projects > Update): grant it to the integration user, a group or a project role it has.", where: 'Settings (⚙) > Issues > Permission schemes', severity: 'error' },
  { key: 'CREATE_ISSUES', name: 'Create Issues', why: 'quote-to-project creates the epic of each project', fix: "In the permission scheme of the projects (Settings (⚙) > Issues > Permission schemes > (scheme) > Create Issues > Update): grant it to the integration user, a group or a project role it has.", where: 'Settings (⚙) > Issues > Permission schemes', severity: 'error' },
  { key: 'USER_PICKER', name: 'Browse users and groups', why: "the project lead is found by email through user search, which answers nothing without it", fix: "Settings (⚙) > System > Security: Global permissions > Browse users and groups: add a group the integration user belongs to.", where: 'Settings (⚙) > System > Global permissions', severity: 'error' },
];

const EPIC_NAME_TYPE = 'com.pyxis.greenhopper.jira:gh-epic-label';

export async function checkSetup(client: JiraClient, settings: JiraSetupSettings = {}): Promise<VendorCheckResult> {
  const report = new SetupReport('jira');
  const site = client.config.baseUrl;

  // ---- authentication
  try {
    const me = await client.myself();
    report.step('auth', `authenticated as ${me.displayName ?? me.accountId}`);
  } catch (err) {
    report.step('auth');
    const status = errorStatus(err);
    const fix =
      client.config.auth.type === 'basic'
        ? "Create an API token for the integration user at id.atlassian.com > Security > Create and manage API tokens > Create API token, and enter it with the user's email address in this config node (Email, API token)."
        : 'Renew the OAuth 2.0 access token of the integration app (developer.atlassian.com > Developer console > (your app) > Authorization) and enter it in this config node; with OAuth the site URL is https://api.atlassian.com/ex/jira/<cloudId>.';
    report.problem({ check: 'auth', what: status === 401 || status === 403 ? `Jira refused the credentials at ${site} (${status}): ${errorText(err)}` : `Jira at ${site} did not answer /rest/api/3/myself: ${errorText(err)}`, fix: status === 401 || status === 403 ? fix : `Check the site URL in this config node (https://<your-site>.atlassian.net) and that this runtime reaches it. ${fix}`, where: 'this config node: Site URL, credentials', severity: 'error' });
    for (const c of ['api-version', 'fields', 'permissions']) report.skipped(c, 'authentication failed');
    return report.result();
  }

  // ---- API version: Jira Cloud serves REST v3 only
  try {
    const info = await client.request<Rec>('GET', '/serverInfo');
    if (info.deploymentType && info.deploymentType !== 'Cloud') {
      report.step('api-version');
      report.problem({ check: 'api-version', what: `${site} is Jira ${info.deploymentType} ${info.version ?? ''}; PS Fabric uses the Jira Cloud platform REST API v3`, fix: 'Point this config node at a Jira Cloud site (https://<your-site>.atlassian.net).', severity: 'error' });
    } else report.step('api-version', `REST v3, Jira ${info.deploymentType ?? 'Cloud'} ${info.version ?? ''}`.trim());
  } catch (err) {
    report.step('api-version');
    report.problem({ check: 'api-version', what: `${site} does not answer the REST API v3 (/rest/api/3/serverInfo): ${errorText(err)}`, fix: 'Check the site URL in this config node (https://<your-site>.atlassian.net, or https://api.atlassian.com/ex/jira/<cloudId> with OAuth).', severity: 'error' });
  }

  await checkFields(report, client, settings);
  await checkPermissions(report, client);
  return report.result();
}

async function checkFields(report: SetupReport, client: JiraClient, settings: JiraSetupSettings): Promise<void> {
  let fields: Rec[];
  try {
    fields = await client.request<Rec[]>('GET', '/field');
  } catch (err) {
    report.step('fields');
    report.problem({ check: 'fields', what: `The site's fields could not be read (/rest/api/3/field): ${errorText(err)}`, fix: 'Give the integration user Browse Projects on at least one project, then check again.', severity: 'error' });
    return;
  }
  const byId = new Map(fields.map((f) => [String(f.id), f]));
  const customFields = 'Settings (⚙) > Issues > Fields > Custom fields';
  let epicName: string | undefined;
  if (settings.epicNameField) {
    const f = byId.get(settings.epicNameField);
    if (!f) report.problem({ check: 'fields', what: `The Epic Name field ${settings.epicNameField} set in this config node does not exist on the site`, fix: `Set Epic Name field in this config node to the id of the site's Epic Name field (${customFields}: open Epic Name; the id is in the URL as customfield_<n>), or leave it empty to find it by its type.`, where: 'this config node: Epic Name field', severity: 'error' });
    else if (f.schema?.type !== 'string') report.problem({ check: 'fields', what: `${settings.epicNameField} (${f.name}) holds ${f.schema?.type ?? 'unknown'} values; Epic Name is text`, fix: `Set Epic Name field in this config node to the site's Epic Name field (${customFields}).`, where: 'this config node: Epic Name field', severity: 'error' });
    else epicName = settings.epicNameField;
  } else {
    epicName = fields.find((f) => f.schema?.custom === EPIC_NAME_TYPE)?.id;
  }
  for (const [what, id] of Object.entries(settings.fields ?? {})) {
    if (!byId.has(id)) report.problem({ check: 'fields', what: `The field ${id} mapped for ${what} does not exist on the site`, fix: `Create it (${customFields} > Create custom field) and add it to the projects' screens, or map ${what} to the site's field id in this config node.`, where: customFields, severity: 'error' });
  }

  // A company-managed project's Epic create screen: what it requires must be something this connection fills.
  let sample: Rec | undefined;
  try {
    const page = await client.request<Rec>('GET', '/project/search', { params: { maxResults: 50, expand: 'issueTypes' } });
    sample = ((page.values ?? []) as Rec[]).find((p) => p.style === 'classic' || p.simplified === false);
  } catch {
    // no project visible: the permissions check says why
  }
  let screenNote = 'no company-managed project to read an Epic create screen from';
  if (sample) {
    // read now, not from the client's cache of create screens: the check is about the site as it is
    const epicType = ((sample.issueTypes ?? []) as Rec[]).find((t) => String(t.name).toLowerCase() === 'epic');
    const screen = epicType
      ? await client
          .request<Rec>('GET', `/issue/createmeta/${encodeURIComponent(String(sample.key))}/issuetypes/${encodeURIComponent(String(epicType.id))}`, { params: { maxResults: 200 } })
          .then((m) => (m.fields ?? m.results ?? []) as Rec[])
          .catch(() => undefined)
      : undefined;
    if (screen) {
      screenNote = `Epic create screen of ${sample.key} read`;
      const filled = new Set(['summary', 'issuetype', 'project', 'description', 'labels', 'parent', ...(epicName ? [epicName] : []), ...Object.values(settings.fields ?? {})]);
      for (const f of screen) {
        if (f.required && !f.hasDefaultValue && !filled.has(String(f.fieldId))) {
          report.problem({ check: 'fields', what: `The Epic create screen of project ${sample.key} requires ${f.name} (${f.fieldId}), which PS Fabric does not fill: creating epics fails`, fix: `Make ${f.name} optional (Settings (⚙) > Issues > Field configurations > (the projects' configuration) > ${f.name} > Optional) or give it a default value (${customFields} > ${f.name} > Contexts and default value)${f.schema?.custom === EPIC_NAME_TYPE ? ", or set Epic Name field in this config node to it" : ''}.`, where: `project ${sample.key}: Project settings > Issue types > Epic`, severity: 'error' });
        }
      }
      if (epicName && settings.epicNameField && !screen.some((f) => f.fieldId === epicName)) {
        report.problem({ check: 'fields', what: `Epic Name (${epicName}) is not on the Epic create screen of project ${sample.key}: epics are created without it`, fix: `Add it to the screen: Settings (⚙) > Issues > Screens > (the Epic create screen of ${sample.key}'s screen scheme) > Add field > Epic Name.`, where: `Settings (⚙) > Issues > Screens`, severity: 'warning' });
      }
    }
  }
  report.step('fields', `${fields.length} fields read; Epic Name ${epicName ?? 'not on the site (epics get none)'}; ${screenNote}`);
}

async function checkPermissions(report: SetupReport, client: JiraClient): Promise<void> {
  let granted: Record<string, { havePermission?: boolean }>;
  try {
    const answer = await client.request<Rec>('GET', '/mypermissions', { params: { permissions: JIRA_PERMISSIONS.map((p) => p.key).join(',') } });
    granted = answer.permissions ?? {};
  } catch (err) {
    report.step('permissions');
    report.problem({ check: 'permissions', what: `The integration user's permissions could not be read (/rest/api/3/mypermissions): ${errorText(err)}`, fix: 'Check the site URL and credentials in this config node.', severity: 'error' });
    return;
  }
  const missing = JIRA_PERMISSIONS.filter((p) => granted[p.key]?.havePermission !== true);
  for (const p of missing) report.problem({ check: 'permissions', what: `The integration user lacks the ${p.name} permission: ${p.why}`, fix: p.fix, where: p.where, severity: p.severity });
  report.step('permissions', missing.length ? `missing: ${missing.map((p) => p.name).join(', ')}` : JIRA_PERMISSIONS.map((p) => p.name).join(', '));
}
