/**
 * Jira Cloud platform REST v3 sandbox, mounted at `/jira` (so the site URL is `<sandbox>/jira`).
 * Shapes follow shared/contracts/jira/jira-platform-swagger-v3.v3.json: CreateProjectDetails ->
 * 201 ProjectIdentifiers, IssueUpdateDetails -> 201 CreatedIssue, IssueBean, SearchAndReconcileResults
 * (nextPageToken paging), User, errors as ErrorCollection `{ errorMessages, errors }`.
 * Auth: basic `email:apiToken` or `Authorization: Bearer <oauth token>`.
 * The description (and any rich-text field) must be an ADF document, checked structurally.
 * As strict as Jira where it matters to a connector:
 *  - `leadAccountId` must be an existing account (user search / user by id answer who exists);
 *  - company-managed (classic) projects require Epic Name (`customfield_10011`, found through `GET /field` or
 *    createmeta) on an Epic; a field not on the create screen is refused ("cannot be set");
 *  - the integration user's permissions (`/mypermissions`) are enforced: creating a project needs Administer Jira,
 *    reading projects and issues Browse Projects, creating issues Create Issues (and Browse Projects), and user
 *    search answers nothing without Browse users and groups; `DELETE /_sandbox/permissions/<KEY>` takes one away;
 *  - `DELETE /_sandbox/fields/<customfield id>` deletes a custom field (gone from `/field` and every create screen);
 *    the reset restores fields and permissions;
 *  - `/search/jql` is eventually consistent: an issue created or changed in the last `searchLagMs` (control settings,
 *    default 2000) is not found unless its id is in `reconcileIssues`, as Jira documents for read-after-write.
 */
import crypto from 'node:crypto';
import express from 'express';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';
import { ACCOUNTS, OPPORTUNITIES, CONSULTANTS } from '../seed/firm';
import { validateAdf, textToAdf } from '../../lib/connectors/jira/adf';

export const JIRA_EMAIL = 'integration@northwind-advisory.example';
export const JIRA_API_TOKEN = 'jira-sandbox-api-token';
export const JIRA_OAUTH_TOKEN = 'jira-sandbox-oauth-token';
export const JIRA_ACCOUNT_ID = '712020:5f0c1e2d-psfabric-integration';
/** The site's Epic Name custom field (company-managed projects). */
export const EPIC_NAME_FIELD = 'customfield_10011';

/** Per-sandbox behaviour a test may change. */
export interface JiraSandboxSettings {
  /** How long a created issue stays invisible to `/search/jql` unless reconciled (ms). */
  searchLagMs: number;
}
const controls = new WeakMap<Sandbox, { settings: JiraSandboxSettings }>();
export function jiraControl(sb: Sandbox): { settings: JiraSandboxSettings } {
  const c = controls.get(sb);
  if (!c) throw new Error('not a Jira sandbox');
  return c;
}

const SYSTEM_FIELDS: Array<{ id: string; key: string; name: string; custom: boolean; schema: Record<string, unknown> }> = [
  { id: 'summary', key: 'summary', name: 'Summary', custom: false, schema: { type: 'string', system: 'summary' } },
  { id: 'description', key: 'description', name: 'Description', custom: false, schema: { type: 'string', system: 'description' } },
  { id: 'labels', key: 'labels', name: 'Labels', custom: false, schema: { type: 'array', items: 'string', system: 'labels' } },
  { id: 'issuetype', key: 'issuetype', name: 'Issue Type', custom: false, schema: { type: 'issuetype', system: 'issuetype' } },
  { id: 'project', key: 'project', name: 'Project', custom: false, schema: { type: 'project', system: 'project' } },
  { id: 'parent', key: 'parent', name: 'Parent', custom: false, schema: { type: 'issuelink', system: 'parent' } },
  { id: 'priority', key: 'priority', name: 'Priority', custom: false, schema: { type: 'priority', system: 'priority' } },
  { id: 'assignee', key: 'assignee', name: 'Assignee', custom: false, schema: { type: 'user', system: 'assignee' } },
  { id: 'duedate', key: 'duedate', name: 'Due date', custom: false, schema: { type: 'date', system: 'duedate' } },
  // a custom field every Jira Cloud site has besides Epic Name: a setting may name it by mistake
  { id: 'customfield_10015', key: 'customfield_10015', name: 'Start date', custom: true, schema: { type: 'date', custom: 'com.atlassian.jira.plugin.system.customfieldtypes:datepicker', customId: 10015 } },
];
const EPIC_NAME = { id: EPIC_NAME_FIELD, key: EPIC_NAME_FIELD, name: 'Epic Name', custom: true, schema: { type: 'string', custom: 'com.pyxis.greenhopper.jira:gh-epic-label', customId: 10011 } };
/** The create screen of an issue type in a project: system fields, plus Epic Name (required) on a classic project's Epic. */
function createScreen(project: Record<string, any>, issueTypeId: string, epicNameExists = true): Array<{ fieldId: string; name: string; required: boolean; schema: Record<string, unknown>; key: string; hasDefaultValue: boolean; operations: string[] }> {
  const fields = SYSTEM_FIELDS.filter((f) => f.id !== 'parent' || issueTypeId !== '10000').map((f) => ({ fieldId: f.id, key: f.key, name: f.name, schema: f.schema, required: ['summary', 'issuetype', 'project'].includes(f.id), hasDefaultValue: false, operations: ['set'] }));
  if (epicNameExists && issueTypeId === '10000' && (project.style ?? 'classic') === 'classic') fields.push({ fieldId: EPIC_NAME.id, key: EPIC_NAME.key, name: EPIC_NAME.name, schema: EPIC_NAME.schema, required: true, hasDefaultValue: false, operations: ['set'] });
  return fields;
}

/** The permissions `/mypermissions` answers about (Jira's keys), all granted to the integration user in the seed. */
const PERMISSIONS: Record<string, { id: string; name: string; type: 'GLOBAL' | 'PROJECT'; description: string }> = {
  ADMINISTER: { id: '0', name: 'Administer Jira', type: 'GLOBAL', description: 'Create and administer projects, issue types, fields, workflows, and schemes for all projects.' },
  USER_PICKER: { id: '27', name: 'Browse users and groups', type: 'GLOBAL', description: 'View and select users or groups from the user picker, and share issues.' },
  BROWSE_PROJECTS: { id: '10', name: 'Browse Projects', type: 'PROJECT', description: 'Ability to browse projects and the issues within them.' },
  CREATE_ISSUES: { id: '11', name: 'Create Issues', type: 'PROJECT', description: 'Ability to create issues.' },
  ADMINISTER_PROJECTS: { id: '23', name: 'Administer Projects', type: 'PROJECT', description: 'Ability to administer a project in Jira.' },
  EDIT_ISSUES: { id: '12', name: 'Edit Issues', type: 'PROJECT', description: 'Ability to edit issues.' },
};

const ISSUE_TYPES = [
  { id: '10000', name: 'Epic', hierarchyLevel: 1, subtask: false },
  { id: '10001', name: 'Story', hierarchyLevel: 0, subtask: false },
  { id: '10002', name: 'Task', hierarchyLevel: 0, subtask: false },
  { id: '10003', name: 'Sub-task', hierarchyLevel: -1, subtask: true },
  { id: '10004', name: 'Bug', hierarchyLevel: 0, subtask: false },
];

type Rec = Record<string, any>;

export function jiraErrors(messages: string[], errors: Record<string, string> = {}): { errorMessages: string[]; errors: Record<string, string> } {
  return { errorMessages: messages, errors };
}

function accountIdOf(consultantId: string): string {
  return `712020:${consultantId.toLowerCase()}-0000-4000-8000-nwa`;
}

function seed(): Record<string, Record<string, any>> {
  const users: Rec = {
    [JIRA_ACCOUNT_ID]: { accountId: JIRA_ACCOUNT_ID, accountType: 'app', active: true, displayName: 'PS Fabric Integration', emailAddress: JIRA_EMAIL, timeZone: 'UTC', locale: 'en_US' },
  };
  for (const c of CONSULTANTS) users[accountIdOf(c.id)] = { accountId: accountIdOf(c.id), accountType: 'atlassian', active: true, displayName: c.name, emailAddress: c.email, timeZone: 'UTC', locale: 'en_US' };
  const projects: Rec = {};
  const issues: Rec = {};
  let pid = 10000;
  let iid = 10000;
  for (const opp of OPPORTUNITIES.filter((o) => o.delivered)) {
    const account = ACCOUNTS.find((a) => a.sfId === opp.accountSfId)!;
    const key = account.name.replace(/[^A-Za-z]/g, '').toUpperCase().slice(0, 4) + 'D';
    const id = String(++pid);
    projects[key] = { id, key, name: opp.name, projectTypeKey: 'software', style: 'classic', description: `Delivery of ${opp.name}`, leadAccountId: accountIdOf(opp.deliveryManagerId), assigneeType: 'PROJECT_LEAD', issueSeq: 1, created: '2026-11-01T09:00:00.000+0000' };
    const issueId = String(++iid);
    issues[`${key}-1`] = {
      id: issueId, key: `${key}-1`, projectKey: key, issuetypeId: '10000', summary: opp.name, description: textToAdf(`Epic for ${opp.name}.`),
      labels: ['psfabric', `sf-${opp.sfId}`], status: 'In Progress', created: '2026-11-01T09:05:00.000+0000', updated: '2026-11-01T09:05:00.000+0000', extraFields: {},
    };
  }
  const grants = Object.fromEntries(Object.keys(PERMISSIONS).map((k) => [k, true]));
  return { users, projects, issues, _grants: grants, _deletedFields: {}, _counters: { ids: { project: pid, issue: iid } } };
}

export function createJiraSandbox(opts: { statePath?: string; baseUrl?: () => string } = {}): Sandbox {
  const sb = new Sandbox({
    name: 'jira',
    seed,
    statePath: opts.statePath,
    errorBody: (status, message) => (status === 429 ? jiraErrors([message]) : jiraErrors([message])),
    faultExempt: [/^\/_sandbox\//],
  });
  const settings: JiraSandboxSettings = { searchLagMs: 2000 };
  controls.set(sb, { settings });
  const r = sb.router;
  const site = () => (opts.baseUrl ? opts.baseUrl() : '');
  const fail = (res: express.Response, status: number, messages: string[], errors: Record<string, string> = {}) => res.status(status).json(jiraErrors(messages, errors));
  const counters = () => sb.collection<Rec>('_counters').ids as { project: number; issue: number };
  const granted = (key: string) => sb.collection<boolean>('_grants')[key] === true;
  const epicNameExists = () => !sb.collection<boolean>('_deletedFields')[EPIC_NAME_FIELD];
  const noBrowse = (res: express.Response, key: string) => fail(res, 404, [`No project could be found with key '${key}'.`]);

  r.delete('/_sandbox/permissions/:key', (req, res) => {
    if (!PERMISSIONS[req.params.key]) return res.status(404).json({ error: `unknown permission ${req.params.key} (known: ${Object.keys(PERMISSIONS).join(', ')})` });
    sb.collection<boolean>('_grants')[req.params.key] = false;
    sb.changed();
    res.status(204).end();
  });
  r.delete('/_sandbox/fields/:id', (req, res) => {
    if (req.params.id !== EPIC_NAME_FIELD) return res.status(404).json({ error: `no custom field ${req.params.id} (the site has ${EPIC_NAME_FIELD})` });
    sb.collection<boolean>('_deletedFields')[req.params.id] = true;
    sb.changed();
    res.status(204).end();
  });

  r.use('/rest', (req, res, next) => {
    const h = req.header('authorization') ?? '';
    const basic = /^Basic\s+(.+)$/i.exec(h);
    const bearer = /^Bearer\s+(.+)$/i.exec(h);
    if (basic) {
      const [email, token] = Buffer.from(basic[1], 'base64').toString().split(':');
      if (email === JIRA_EMAIL && token === JIRA_API_TOKEN) return next();
    } else if (bearer && bearer[1].trim() === JIRA_OAUTH_TOKEN) return next();
    res.setHeader('WWW-Authenticate', 'OAuth realm="https%3A%2F%2Fsandbox.atlassian.net"');
    fail(res, 401, ['You are not authenticated. Authentication required to perform this operation.']);
  });

  const projectView = (p: Rec): Rec => ({
    expand: 'description,lead,issueTypes,url,projectKeys,permissions,insight',
    self: `${site()}/rest/api/3/project/${p.id}`,
    id: p.id,
    key: p.key,
    name: p.name,
    description: p.description ?? '',
    projectTypeKey: p.projectTypeKey,
    simplified: (p.style ?? 'classic') !== 'classic',
    style: p.style ?? 'classic',
    isPrivate: false,
    assigneeType: p.assigneeType ?? 'PROJECT_LEAD',
    lead: userView(sb.collection<Rec>('users')[p.leadAccountId] ?? { accountId: p.leadAccountId, displayName: 'Unknown', active: false }),
    issueTypes: ISSUE_TYPES.map((t) => ({ self: `${site()}/rest/api/3/issuetype/${t.id}`, id: t.id, name: t.name, subtask: t.subtask, hierarchyLevel: t.hierarchyLevel, description: t.name })),
    avatarUrls: { '48x48': `${site()}/secure/projectavatar?pid=${p.id}` },
    properties: {},
  });
  const userView = (u: Rec): Rec => ({ self: `${site()}/rest/api/3/user?accountId=${encodeURIComponent(u.accountId)}`, accountId: u.accountId, accountType: u.accountType ?? 'atlassian', active: u.active, displayName: u.displayName, ...(u.emailAddress ? { emailAddress: u.emailAddress } : {}), timeZone: u.timeZone ?? 'UTC', locale: u.locale ?? 'en_US', avatarUrls: {} });
  const findProject = (idOrKey: string): Rec | undefined => {
    const projects = sb.collection<Rec>('projects');
    return projects[idOrKey.toUpperCase()] ?? Object.values(projects).find((p) => p.id === idOrKey);
  };
  const issueView = (i: Rec): Rec => {
    const p = sb.collection<Rec>('projects')[i.projectKey];
    const t = ISSUE_TYPES.find((x) => x.id === i.issuetypeId)!;
    return {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: i.id,
      key: i.key,
      self: `${site()}/rest/api/3/issue/${i.id}`,
      fields: {
        summary: i.summary,
        description: i.description ?? null,
        issuetype: { self: `${site()}/rest/api/3/issuetype/${t.id}`, id: t.id, name: t.name, subtask: t.subtask, hierarchyLevel: t.hierarchyLevel },
        project: { self: `${site()}/rest/api/3/project/${p.id}`, id: p.id, key: p.key, name: p.name, projectTypeKey: p.projectTypeKey },
        status: { name: i.status, statusCategory: { key: i.status === 'Done' ? 'done' : i.status === 'To Do' ? 'new' : 'indeterminate' } },
        labels: i.labels ?? [],
        parent: i.parentKey ? { key: i.parentKey } : undefined,
        created: i.created,
        updated: i.updated,
        ...i.extraFields,
      },
    };
  };

  r.get('/rest/api/3/myself', (_req, res) => res.json(userView(sb.collection<Rec>('users')[JIRA_ACCOUNT_ID])));
  r.get('/rest/api/3/mypermissions', (req, res) => {
    const keys = typeof req.query.permissions === 'string' ? req.query.permissions.split(',').map((k) => k.trim()).filter(Boolean) : [];
    if (!keys.length) return fail(res, 400, ["The 'permissions' query parameter is required."]);
    const unknown = keys.filter((k) => !PERMISSIONS[k]);
    if (unknown.length) return fail(res, 400, [`Invalid permission key(s): ${unknown.join(', ')}.`]);
    res.json({ permissions: Object.fromEntries(keys.map((k) => [k, { ...PERMISSIONS[k], key: k, havePermission: granted(k) }])) });
  });
  r.get('/rest/api/3/serverInfo', (_req, res) => res.json({ baseUrl: site(), version: '1001.0.0-SNAPSHOT', deploymentType: 'Cloud', serverTitle: 'PS Fabric Jira sandbox' }));

  // User search as Jira Cloud answers it: `query` matched against display name and email address (prefix of a word
  // or of the address), or `accountId`; one of them is required. A user kept without emailAddress is answered without
  // one, as on a site whose privacy settings hide emails.
  r.get('/rest/api/3/user/search', (req, res) => {
    const query = typeof req.query.query === 'string' ? req.query.query.trim().toLowerCase() : '';
    const accountId = typeof req.query.accountId === 'string' ? req.query.accountId : '';
    if (!query && !accountId) return fail(res, 400, ['The query parameter \'query\' or \'accountId\' is required.']);
    // Jira: calls by users without Browse users and groups return empty search results
    if (!granted('USER_PICKER')) return res.json([]);
    const maxResults = Math.min(Number(req.query.maxResults ?? 50) || 50, 1000);
    const words = (u: Rec) => [String(u.emailAddress ?? '').toLowerCase(), ...String(u.displayName ?? '').toLowerCase().split(/\s+/)];
    const users = Object.values(sb.collection<Rec>('users')).filter((u) => (accountId ? u.accountId === accountId : true) && (!query || words(u).some((w) => w.startsWith(query)) || String(u.displayName ?? '').toLowerCase().startsWith(query)));
    res.json(users.slice(0, maxResults).map(userView));
  });
  // Create user (Jira Cloud: invites the person to the site with access to the given products); an email already on
  // the site is refused. Tests use it to make a person exist after a run failed to find them.
  r.post('/rest/api/3/user', (req, res) => {
    const body = (req.body ?? {}) as Rec;
    const email = typeof body.emailAddress === 'string' ? body.emailAddress.trim() : '';
    if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) return fail(res, 400, [], { emailAddress: 'You must specify a valid email address.' });
    if (!Array.isArray(body.products)) return fail(res, 400, [], { products: 'You must specify the products the user gets access to.' });
    const users = sb.collection<Rec>('users');
    if (Object.values(users).some((u) => String(u.emailAddress ?? '').toLowerCase() === email.toLowerCase())) return fail(res, 400, ['User with this email address already exists.']);
    const accountId = `712020:${crypto.createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 8)}-0000-4000-8000-invited`;
    users[accountId] = { accountId, accountType: 'atlassian', active: true, displayName: typeof body.displayName === 'string' && body.displayName ? body.displayName : email.split('@')[0], emailAddress: email, timeZone: 'UTC', locale: 'en_US' };
    res.status(201).json(userView(users[accountId]));
  });
  r.get('/rest/api/3/user', (req, res) => {
    const u = sb.collection<Rec>('users')[String(req.query.accountId ?? '')];
    if (!u) return fail(res, 404, [`Specified user does not exist or you do not have required permissions`]);
    res.json(userView(u));
  });

  r.get('/rest/api/3/field', (_req, res) => res.json([...SYSTEM_FIELDS, ...(epicNameExists() ? [EPIC_NAME] : [])]));
  // Without Browse Projects a user sees no project and no issue: lists are empty, single reads 404.
  r.use('/rest/api/3', (req, res, next) => {
    if (granted('BROWSE_PROJECTS') || !/^\/(project|issue|search)/.test(req.path)) return next();
    if (req.method === 'GET' && req.path === '/project') return res.json([]);
    if (req.method === 'GET' && req.path === '/project/search') return res.json({ self: `${site()}/rest/api/3/project/search`, maxResults: 50, startAt: 0, total: 0, isLast: true, values: [] });
    if (req.path.startsWith('/search')) return res.json({ isLast: true, issues: [] });
    if (req.method === 'GET' && req.path.startsWith('/project/')) return noBrowse(res, req.path.split('/')[2]);
    if (req.method === 'GET' && req.path.startsWith('/issue/createmeta/')) return noBrowse(res, req.path.split('/')[3]);
    if (req.method === 'GET' && req.path.startsWith('/issue/')) return fail(res, 404, ['Issue does not exist or you do not have permission to see it.']);
    if (req.method === 'POST' && req.path === '/issue') return fail(res, 400, [], { project: 'You do not have permission to create issues in this project.' });
    next();
  });
  r.get('/rest/api/3/issue/createmeta/:projectIdOrKey/issuetypes/:issueTypeId', (req, res) => {
    const p = findProject(req.params.projectIdOrKey);
    if (!p) return fail(res, 404, [`No project could be found with key '${req.params.projectIdOrKey}'.`]);
    const t = ISSUE_TYPES.find((x) => x.id === req.params.issueTypeId);
    if (!t) return fail(res, 404, ['The issue type is not valid for the project.']);
    const fields = createScreen(p, t.id, epicNameExists());
    res.json({ maxResults: 50, startAt: 0, total: fields.length, fields });
  });
  r.get('/rest/api/3/project', (_req, res) => res.json(Object.values(sb.collection<Rec>('projects')).map(projectView)));
  r.get('/rest/api/3/project/search', (req, res) => {
    const startAt = Number(req.query.startAt ?? 0);
    const maxResults = Math.min(Number(req.query.maxResults ?? 50), 100);
    const keys = req.query.keys ? String(req.query.keys).split(',') : undefined;
    // query: a literal matched (case-insensitively) against key and name, as Jira does
    const query = typeof req.query.query === 'string' ? req.query.query.toLowerCase() : '';
    const all = Object.values(sb.collection<Rec>('projects')).filter((p) => (!keys || keys.includes(p.key)) && (!query || p.key.toLowerCase().includes(query) || String(p.name).toLowerCase().includes(query)));
    const values = all.slice(startAt, startAt + maxResults).map(projectView);
    res.json({ self: `${site()}/rest/api/3/project/search`, maxResults, startAt, total: all.length, isLast: startAt + maxResults >= all.length, values });
  });
  r.get('/rest/api/3/project/:idOrKey', (req, res) => {
    const p = findProject(req.params.idOrKey);
    if (!p) return fail(res, 404, [`No project could be found with key '${req.params.idOrKey}'.`]);
    res.json(projectView(p));
  });
  r.post('/rest/api/3/project', (req, res) => {
    if (!granted('ADMINISTER')) return fail(res, 403, ['You must have global administrator rights in order to create projects.']);
    const b = (req.body ?? {}) as Rec;
    if (typeof b !== 'object' || Array.isArray(b)) return fail(res, 400, ['Request body must be a JSON object.']);
    const errors: Record<string, string> = {};
    if (typeof b.key !== 'string' || b.key === '') errors.projectKey = 'You must specify a unique project key, at least 2 characters long.';
    else if (!/^[A-Z][A-Z0-9]{1,9}$/.test(b.key)) errors.projectKey = 'Project keys must start with an uppercase letter, followed by one or more uppercase alphanumeric characters, and be at most 10 characters.';
    else if (findProject(b.key)) errors.projectKey = `Project '${findProject(b.key)!.name}' uses this project key.`;
    if (typeof b.name !== 'string' || b.name.trim() === '') errors.projectName = 'You must specify a valid project name.';
    else if (Object.values(sb.collection<Rec>('projects')).some((p) => p.name.toLowerCase() === b.name.toLowerCase())) errors.projectName = 'A project with that name already exists.';
    if (!b.projectTypeKey && !b.projectTemplateKey) errors.projectTypeKey = 'You must specify a project type or a project template.';
    else if (b.projectTypeKey && !['software', 'service_desk', 'business'].includes(b.projectTypeKey)) errors.projectTypeKey = `Invalid project type key '${b.projectTypeKey}'.`;
    const lead = b.leadAccountId ?? b.lead;
    if (!lead) errors.projectLead = 'You must specify a valid project lead.';
    else if (!sb.collection<Rec>('users')[lead]) errors.projectLead = 'The project lead specified does not exist.';
    if (b.assigneeType !== undefined && !['PROJECT_LEAD', 'UNASSIGNED'].includes(b.assigneeType)) errors.assigneeType = 'Invalid assignee type.';
    if (Object.keys(errors).length) return fail(res, 400, [], errors);
    const c = counters();
    c.project += 1;
    const id = String(c.project);
    // team-managed ("next-gen") projects come from a simplified template; everything else is company-managed (classic)
    const style = typeof b.projectTemplateKey === 'string' && /simplified|team-managed/i.test(b.projectTemplateKey) && !/classic/i.test(b.projectTemplateKey) ? 'next-gen' : 'classic';
    sb.collection<Rec>('projects')[b.key] = { id, key: b.key, name: b.name, projectTypeKey: b.projectTypeKey ?? 'software', style, description: b.description ?? '', leadAccountId: lead, assigneeType: b.assigneeType ?? 'PROJECT_LEAD', issueSeq: 0, created: new Date().toISOString().replace('Z', '+0000') };
    sb.changed();
    res.status(201).json({ self: `${site()}/rest/api/3/project/${id}`, id: Number(id), key: b.key });
  });

  r.post('/rest/api/3/issue', (req, res) => {
    const b = (req.body ?? {}) as Rec;
    const f = b.fields;
    if (!f || typeof f !== 'object') return fail(res, 400, ['The request body must contain "fields" (or "update").']);
    const errors: Record<string, string> = {};
    const p = f.project ? findProject(String(f.project.key ?? f.project.id ?? '')) : undefined;
    if (!f.project) errors.project = 'Specify a valid project ID or key';
    else if (!p) errors.project = 'valid project is required';
    else if (!granted('CREATE_ISSUES')) errors.project = 'You do not have permission to create issues in this project.';
    const t = f.issuetype ? ISSUE_TYPES.find((x) => x.id === String(f.issuetype.id ?? '') || x.name.toLowerCase() === String(f.issuetype.name ?? '').toLowerCase()) : undefined;
    if (!f.issuetype) errors.issuetype = 'Specify an issue type';
    else if (!t) errors.issuetype = 'Specify a valid issue type';
    if (typeof f.summary !== 'string' || f.summary.trim() === '') errors.summary = 'You must specify a summary of the issue.';
    else if (f.summary.length > 255) errors.summary = 'Summary must be less than 255 characters.';
    if (f.description !== undefined && f.description !== null) {
      const problems = validateAdf(f.description);
      if (problems.length) errors.description = `Operation value must be an Atlassian Document (see the Atlassian Document Format): ${problems.map((x) => `${x.path} ${x.message}`).join('; ')}`;
    }
    if (f.labels !== undefined && (!Array.isArray(f.labels) || f.labels.some((l: unknown) => typeof l !== 'string' || /\s/.test(l as string)))) errors.labels = 'Labels must be strings without spaces.';
    let parentKey: string | undefined;
    if (f.parent) {
      parentKey = String(f.parent.key ?? '');
      const parent = sb.collection<Rec>('issues')[parentKey] ?? Object.values(sb.collection<Rec>('issues')).find((i) => i.id === String(f.parent.id));
      if (!parent) errors.parent = 'Could not find issue by id or key.';
      else parentKey = parent.key;
    }
    if (p && t) {
      const screen = createScreen(p, t.id, epicNameExists());
      for (const k of Object.keys(f)) if (!screen.some((x) => x.fieldId === k)) errors[k] = `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`;
      for (const x of screen) if (x.required && x.fieldId.startsWith('customfield_') && (typeof f[x.fieldId] !== 'string' || !f[x.fieldId].trim())) errors[x.fieldId] = `${x.name} is required.`;
    }
    if (Object.keys(errors).length) return fail(res, 400, [], errors);
    const c = counters();
    c.issue += 1;
    p!.issueSeq = (p!.issueSeq ?? 0) + 1;
    const key = `${p!.key}-${p!.issueSeq}`;
    const now = new Date().toISOString().replace('Z', '+0000');
    const extraFields: Rec = {};
    for (const [k, v] of Object.entries(f)) if (!['project', 'issuetype', 'summary', 'description', 'labels', 'parent'].includes(k)) extraFields[k] = v;
    sb.collection<Rec>('issues')[key] = { id: String(c.issue), key, projectKey: p!.key, issuetypeId: t!.id, summary: f.summary, description: f.description ?? null, labels: f.labels ?? [], parentKey, status: 'To Do', created: now, updated: now, indexedAt: Date.now() + settings.searchLagMs, extraFields };
    sb.changed();
    res.status(201).json({ id: String(c.issue), key, self: `${site()}/rest/api/3/issue/${c.issue}` });
  });

  const findIssue = (idOrKey: string): Rec | undefined => sb.collection<Rec>('issues')[idOrKey.toUpperCase()] ?? Object.values(sb.collection<Rec>('issues')).find((i) => i.id === idOrKey);
  r.get('/rest/api/3/issue/:idOrKey', (req, res) => {
    const i = findIssue(req.params.idOrKey);
    if (!i) return fail(res, 404, ['Issue does not exist or you do not have permission to see it.']);
    res.json(issueView(i));
  });

  // Minimal JQL: clauses joined by AND; `field = value`, `field != value`, `field in (a, b)`, `summary ~ "text"`;
  // fields project, issuetype/type, labels, key, status, parent; ORDER BY is accepted and ignored (issues come by id).
  const search = (jql: string, maxResults: number, token: string | undefined, res: express.Response, reconcile: string[] = []) => {
    const text = jql.replace(/\s+order\s+by\s+.*$/i, '').trim();
    const clauses = text === '' ? [] : text.split(/\s+and\s+/i);
    const preds: ((i: Rec) => boolean)[] = [];
    for (const clause of clauses) {
      const m = /^\s*([a-zA-Z]+)\s*(=|!=|~|in|not in)\s*(.+?)\s*$/i.exec(clause);
      if (!m) return fail(res, 400, [`Error in the JQL Query: unable to parse "${clause}".`]);
      const field = m[1].toLowerCase();
      const op = m[2].toLowerCase();
      const unq = (v: string) => v.trim().replace(/^["']|["']$/g, '');
      const values = op.endsWith('in') ? m[3].replace(/^\(|\)$/g, '').split(',').map(unq) : [unq(m[3])];
      const get = (i: Rec): string[] => {
        switch (field) {
          case 'project': {
            const p = sb.collection<Rec>('projects')[i.projectKey];
            return [p.key, p.id, p.name];
          }
          case 'issuetype':
          case 'type':
            return [ISSUE_TYPES.find((t) => t.id === i.issuetypeId)!.name, i.issuetypeId];
          case 'labels':
            return i.labels ?? [];
          case 'key':
          case 'issuekey':
            return [i.key, i.id];
          case 'status':
            return [i.status];
          case 'parent':
            return i.parentKey ? [i.parentKey] : [];
          case 'summary':
            return [i.summary];
          default:
            return ['\u0000unknown'];
        }
      };
      if (!['project', 'issuetype', 'type', 'labels', 'key', 'issuekey', 'status', 'parent', 'summary'].includes(field)) return fail(res, 400, [`Field '${m[1]}' does not exist or you do not have permission to view it.`]);
      const lower = (xs: string[]) => xs.map((x) => String(x).toLowerCase());
      if (op === '~') preds.push((i) => get(i).some((v) => v.toLowerCase().includes(values[0].toLowerCase())));
      else if (op === '=' || op === 'in') preds.push((i) => lower(get(i)).some((v) => lower(values).includes(v)));
      else preds.push((i) => !lower(get(i)).some((v) => lower(values).includes(v)));
    }
    const now = Date.now();
    const visible = (i: Rec) => !(i.indexedAt > now) || reconcile.includes(String(i.id));
    const all = Object.values(sb.collection<Rec>('issues')).filter((i) => visible(i) && preds.every((p) => p(i))).sort((a, b) => Number(a.id) - Number(b.id));
    const start = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) return fail(res, 400, ['The nextPageToken is invalid.']);
    const slice = all.slice(start, start + maxResults);
    const isLast = start + maxResults >= all.length;
    const body: Rec = { isLast, issues: slice.map(issueView) };
    if (!isLast) body.nextPageToken = Buffer.from(String(start + maxResults)).toString('base64url');
    res.json(body);
  };
  const reconcileOf = (v: unknown): string[] => (Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : []).map((x) => String(x).trim()).filter(Boolean);
  r.get('/rest/api/3/search/jql', (req, res) => search(String(req.query.jql ?? ''), Math.min(Number(req.query.maxResults ?? 50), 5000), req.query.nextPageToken as string | undefined, res, reconcileOf(req.query.reconcileIssues)));
  r.post('/rest/api/3/search/jql', (req, res) => {
    const rec = req.body?.reconcileIssues;
    if (rec !== undefined && (!Array.isArray(rec) || rec.length > 50 || rec.some((x: unknown) => !Number.isInteger(Number(x))))) return fail(res, 400, ['reconcileIssues must be a list of at most 50 issue ids.']);
    search(String(req.body?.jql ?? ''), Math.min(Number(req.body?.maxResults ?? 50), 5000), req.body?.nextPageToken, res, reconcileOf(rec));
  });

  r.use('/rest', (req, res) => fail(res, 404, [`null for uri: ${req.originalUrl}`]));
  return sb;
}

export const jiraSandbox: VendorSandboxFactory = {
  name: 'jira',
  create: ({ statePath, baseUrl }) => createJiraSandbox({ statePath, baseUrl }),
};
