/**
 * Jira Cloud platform REST v3 client (axios, no Node-RED). Auth: API token (basic `email:token`)
 * or OAuth 2.0 bearer (for OAuth apps the base URL is `https://api.atlassian.com/ex/jira/<cloudId>`).
 *
 * Writes (operation names for `ConnectionHandle.submit`), each lookup-then-create so a retry after a
 * lost answer creates nothing twice (Jira has no idempotency key):
 * - `createProject` {key, ref?, name, projectTypeKey?, leadAccountId | lead: {email, name?}, description?, ...CreateProjectDetails}:
 *   with `ref` (a stable reference such as the PS Fabric project id, written into the description) the project whose
 *   description names it is returned as is, and a proposed key another project already uses is made unique on the
 *   site (`GLXEHR` -> `GLXEHRA`, ...: the configured key pattern); without `ref` an existing key is returned as is. A lead given by email is resolved to its Atlassian account (`GET /user/search`); a lead Jira
 *   does not know fails as validation naming the person (never an invented account id)
 * - `createIssue` {projectKey, issueType ('Epic'|'Story'|'Task'|...), summary, description (ADF doc or plain text), labels?, parentKey?, fields?}:
 *   tagged with the label `psf-<idempotency key>` and found by JQL on it before creating
 * - `createEpic`: `createIssue` with issueType Epic; where the project's create screen has Epic Name (company-managed
 *   projects, found through createmeta, or the configured field id) it is set to the summary
 *
 * `/search/jql` is eventually consistent: an issue created a moment ago may be missing from a search. Every search
 * passes the ids this client created recently as `reconcileIssues`, so the lookup before a create finds an epic the
 * previous attempt created (when its answer arrived; an answer lost in transit leaves the id unknown).
 */
import axios, { AxiosInstance } from 'axios';
import { attachGateToAxios, type RequestGate } from '../../delivery/request-gate';
import crypto from 'node:crypto';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { classify, ValidationError } from '../../delivery/errors';
import { AdfDoc, textToAdf, validateAdf } from './adf';
import { resolvePerson, type ConnectionXref } from '../../xref';

/** The system name of Jira in the cross-reference and the ownership matrix. */
export const JIRA_SYSTEM = 'jira';

export type JiraAuth = { type: 'basic'; email: string; apiToken: string } | { type: 'bearer'; accessToken: string };

export interface JiraConfig {
  /** Site URL, e.g. `https://acme.atlassian.net` or the sandbox `http://127.0.0.1:1881/jira`. */
  baseUrl: string;
  auth: JiraAuth;
  timeoutMs?: number;
  /** Epic Name field id (e.g. `customfield_10011`); default: found in the project's createmeta for Epic. */
  epicNameField?: string;
  /** The site's project key pattern (Jira admin > System > Project key pattern); default letters only, 2-10. */
  keyPattern?: string;
}

/** The operations `execute` writes (through the outbox); the jira node's write list. */
export const JIRA_WRITE_OPERATIONS = ['createProject', 'createEpic', 'createIssue'] as const;

/** Jira Cloud's default project key pattern: an uppercase letter, then uppercase letters, at most 10 in all. */
export const DEFAULT_KEY_PATTERN = '^[A-Z][A-Z]{1,9}$';

/** Jira accepts at most this many ids in `reconcileIssues`. */
const RECONCILE_MAX = 50;

type Rec = Record<string, any>;

/** The label that ties an issue to the idempotency key of the write that created it. */
export function idempotencyLabel(key: string): string {
  const clean = key.replace(/[^A-Za-z0-9_.-]/g, '-');
  return clean.length <= 60 ? `psf-${clean}` : `psf-${crypto.createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export class JiraClient {
  readonly http: AxiosInstance;
  /** Ids of the issues this client created, newest last (sent as reconcileIssues). */
  private readonly created: number[] = [];
  /** createmeta fields per `<project>:<issue type>`. */
  private readonly screens = new Map<string, Rec[]>();

  constructor(readonly config: JiraConfig) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.auth.type === 'basic') headers.authorization = 'Basic ' + Buffer.from(`${config.auth.email}:${config.auth.apiToken}`).toString('base64');
    else headers.authorization = `Bearer ${config.auth.accessToken}`;
    this.http = axios.create({ baseURL: config.baseUrl.replace(/\/$/, '') + '/rest/api/3', timeout: config.timeoutMs ?? 30000, headers });
  }

  async request<T = Rec>(method: string, path: string, opts: { params?: Rec; data?: unknown } = {}): Promise<T> {
    try {
      return (await this.http.request<T>({ method, url: path, params: opts.params, data: opts.data })).data;
    } catch (err) {
      throw classify(err);
    }
  }

  myself(): Promise<Rec> {
    return this.request('GET', '/myself');
  }

  /** The project, or undefined on 404. */
  async getProject(idOrKey: string): Promise<Rec | undefined> {
    try {
      return await this.request('GET', `/project/${encodeURIComponent(idOrKey)}`);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  async getIssue(idOrKey: string): Promise<Rec | undefined> {
    try {
      return await this.request('GET', `/issue/${encodeURIComponent(idOrKey)}`);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  /** Enhanced JQL search (`/search/jql`), following nextPageToken up to `limit` issues. */
  async search(jql: string, opts: { fields?: string[]; limit?: number; pageSize?: number } = {}): Promise<Rec[]> {
    const out: Rec[] = [];
    let nextPageToken: string | undefined;
    const limit = opts.limit ?? 1000;
    do {
      const body: Rec = { jql, maxResults: Math.min(opts.pageSize ?? 100, limit - out.length), fields: opts.fields ?? ['summary', 'issuetype', 'project', 'labels', 'status'] };
      if (this.created.length) body.reconcileIssues = [...this.created];
      if (nextPageToken) body.nextPageToken = nextPageToken;
      const page = await this.request<Rec>('POST', '/search/jql', { data: body });
      out.push(...(page.issues ?? []));
      nextPageToken = page.isLast ? undefined : page.nextPageToken;
    } while (nextPageToken && out.length < limit);
    return out;
  }

  executor(): ConnectionExecutor {
    return { execute: (op, req, ctx) => this.execute(op, req, ctx), attachRequestGate: (gate) => this.useRequestGate(gate) };
  }

  /**
   * Routes every request of this client (token fetches, lookups, writes, async-job polls, reads) through the
   * connection's request gate: one rate-limit token each (lib/delivery/request-gate.ts). Returns the detach function.
   */
  useRequestGate(gate: RequestGate): () => void {
    return attachGateToAxios(this.http, gate);
  }

  async execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as Rec;
    switch (operation) {
      case 'createProject':
        return (await this.createProject(req, ctx)) as Json;
      case 'createEpic':
        return (await this.createIssue({ ...req, issueType: 'Epic' }, ctx)) as Json;
      case 'createIssue':
        return (await this.createIssue(req, ctx)) as Json;
      default:
        throw new ValidationError(`unknown Jira operation "${operation}"`, [{ path: '/operation', message: `expected one of ${JIRA_WRITE_OPERATIONS.join(', ')}` }]);
    }
  }

  /** CreateProjectDetails body from a request (defaults: software project, project-lead assignee). */
  static projectBody(req: Rec): Rec {
    const body: Rec = { projectTypeKey: 'software', assigneeType: 'PROJECT_LEAD', ...req };
    if (req.projectTemplateKey && !req.projectTypeKey) delete body.projectTypeKey;
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return body;
  }

  /**
   * The active Atlassian account of a person, found by email through user search (which matches display names and
   * email addresses). Where the site's privacy settings hide email addresses, a single active human account found
   * for the email is taken; none, or several, fails naming the person and the site.
   */
  async accountIdByEmail(email: string, name?: string, xref?: ConnectionXref): Promise<string> {
    const who = name ? `${name} <${email}>` : email;
    let why = 'no active Atlassian account has this email';
    // the account found once is kept in the cross-reference (person), so a retry, a replay or the next project skips the search
    const resolved = await resolvePerson(xref, JIRA_SYSTEM, email, async () => {
      const users = await this.request<Rec[]>('GET', '/user/search', { params: { query: email, maxResults: 20 } });
      const people = (Array.isArray(users) ? users : []).filter((u) => u.active !== false && (u.accountType ?? 'atlassian') === 'atlassian');
      const exact = people.filter((u) => typeof u.emailAddress === 'string' && u.emailAddress.toLowerCase() === email.toLowerCase());
      const hidden = people.filter((u) => u.emailAddress === undefined);
      const found = exact.length === 1 ? exact[0] : exact.length === 0 && hidden.length === 1 ? hidden[0] : undefined;
      if (exact.length + hidden.length > 1 && !found) why = `${exact.length + hidden.length} accounts match`;
      return found?.accountId ? { id: String(found.accountId) } : undefined;
    });
    if (resolved) return resolved.id;
    throw new ValidationError(`Jira project lead ${who} cannot be resolved on ${this.config.baseUrl}: ${why}. Invite the person to Jira (with access to the product) or map their account id in the process-step's people directory, then replay.`, [{ path: '/lead/email', message: why }]);
  }

  /** The project whose description names `ref` (found by name through project search), if any. */
  async projectByRef(ref: string, name: string): Promise<Rec | undefined> {
    const page = await this.request<Rec>('GET', '/project/search', { params: { query: name.slice(0, 40), expand: 'description', maxResults: 50 } });
    return ((page.values ?? []) as Rec[]).find((p) => typeof p.description === 'string' && p.description.includes(ref));
  }

  /** `key`, or the first variant of it no project on the site uses (a letter appended or, at 10, the last one replaced). */
  async uniqueKey(key: string): Promise<string> {
    const pattern = new RegExp(this.config.keyPattern || DEFAULT_KEY_PATTERN);
    const variants = [key, ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').map((c) => (key.length < 10 ? key + c : key.slice(0, 9) + c))].filter((k) => pattern.test(k));
    for (const candidate of variants) if (!(await this.getProject(candidate))) return candidate;
    throw new ValidationError(`no free Jira project key for ${key} on ${this.config.baseUrl} (pattern ${pattern.source})`, [{ path: '/key', message: 'every variant is taken' }]);
  }

  async createProject(req: Rec, ctx?: ExecutionContext): Promise<Rec> {
    const problems: { path: string; message: string }[] = [];
    const pattern = new RegExp(this.config.keyPattern || DEFAULT_KEY_PATTERN);
    if (typeof req.key !== 'string' || !pattern.test(req.key)) problems.push({ path: '/key', message: `must match the site's project key pattern ${pattern.source}` });
    if (typeof req.name !== 'string' || !req.name.trim()) problems.push({ path: '/name', message: 'required' });
    const leadEmail = typeof req.lead?.email === 'string' && req.lead.email.trim() ? req.lead.email.trim() : undefined;
    if (!req.leadAccountId && !leadEmail) problems.push({ path: '/leadAccountId', message: 'required: the project lead\'s Atlassian account id, or lead.email to find it' });
    if (typeof req.ref === 'string' && req.ref && (typeof req.description !== 'string' || !req.description.includes(req.ref))) problems.push({ path: '/description', message: 'must name the ref, which identifies the project on a retry' });
    if (problems.length) throw new ValidationError('invalid Jira project request', problems);
    const { lead, ref, ...details } = req;
    let key = req.key as string;
    if (typeof ref === 'string' && ref) {
      // the project this ref got on an earlier run (cross-reference), else the one whose description names the ref
      const recorded = await ctx?.xref?.get('project', ref, JIRA_SYSTEM);
      const known = recorded ? await this.getProject(recorded.vendorId) : undefined;
      const mine = known && typeof known.description === 'string' && known.description.includes(ref) ? known : await this.projectByRef(ref, String(req.name));
      if (mine) {
        await ctx?.xref?.record('project', ref, JIRA_SYSTEM, { id: String(mine.id), number: String(mine.key) });
        return { id: Number(mine.id), key: mine.key, self: mine.self, existed: true };
      }
      key = await this.uniqueKey(key);
    } else {
      const existing = await this.getProject(key);
      if (existing) return { id: Number(existing.id), key: existing.key, self: existing.self, existed: true };
    }
    const leadAccountId = req.leadAccountId ?? (await this.accountIdByEmail(leadEmail!, typeof lead?.name === 'string' ? lead.name : undefined, ctx?.xref));
    const created = await this.request<Rec>('POST', '/project', { data: JiraClient.projectBody({ ...details, key, leadAccountId }) });
    if (typeof ref === 'string' && ref && created.id !== undefined) await ctx?.xref?.record('project', ref, JIRA_SYSTEM, { id: String(created.id), number: String(created.key ?? key) });
    return { ...created, existed: false };
  }

  /** IssueUpdateDetails body for a create. */
  static issueBody(req: Rec, extraLabels: string[] = []): Rec {
    const description: AdfDoc | undefined = req.description === undefined || req.description === null ? undefined : typeof req.description === 'string' ? textToAdf(req.description) : req.description;
    const fields: Rec = {
      project: { key: req.projectKey },
      issuetype: req.issueTypeId ? { id: String(req.issueTypeId) } : { name: req.issueType ?? 'Task' },
      summary: req.summary,
      ...(req.fields ?? {}),
    };
    if (description) fields.description = description;
    const labels = [...new Set([...(req.labels ?? []), ...extraLabels])];
    if (labels.length) fields.labels = labels;
    if (req.parentKey) fields.parent = { key: req.parentKey };
    return { fields };
  }

  /** The create screen (createmeta fields) of an issue type in a project; undefined when Jira does not show one. */
  async createScreen(projectKey: string, issueTypeName: string): Promise<Rec[] | undefined> {
    const cacheKey = `${projectKey}:${issueTypeName.toLowerCase()}`;
    if (this.screens.has(cacheKey)) return this.screens.get(cacheKey);
    const project = await this.getProject(projectKey);
    const type = (project?.issueTypes as Rec[] | undefined)?.find((t) => String(t.name).toLowerCase() === issueTypeName.toLowerCase());
    if (!type) return undefined;
    const meta = await this.request<Rec>('GET', `/issue/createmeta/${encodeURIComponent(projectKey)}/issuetypes/${encodeURIComponent(String(type.id))}`, { params: { maxResults: 200 } });
    const fields = (meta.fields ?? meta.results ?? []) as Rec[];
    this.screens.set(cacheKey, fields);
    return fields;
  }

  /** The Epic Name field of a project's Epic create screen: the configured id, or the Epic Name field createmeta lists. */
  async epicNameField(projectKey: string): Promise<string | undefined> {
    const screen = await this.createScreen(projectKey, 'Epic');
    if (!screen) return this.config.epicNameField;
    const found = screen.find((f) => (this.config.epicNameField ? f.fieldId === this.config.epicNameField : f.schema?.custom === 'com.pyxis.greenhopper.jira:gh-epic-label' || f.name === 'Epic Name'));
    return found?.fieldId;
  }

  async createIssue(req: Rec, ctx: ExecutionContext): Promise<Rec> {
    const problems: { path: string; message: string }[] = [];
    if (!req.projectKey) problems.push({ path: '/projectKey', message: 'required' });
    if (typeof req.summary !== 'string' || !req.summary.trim()) problems.push({ path: '/summary', message: 'required' });
    if (!problems.length && String(req.issueType ?? '').toLowerCase() === 'epic') {
      const field = await this.epicNameField(String(req.projectKey));
      if (field && req.fields?.[field] === undefined) req = { ...req, fields: { ...(req.fields ?? {}), [field]: String(req.epicName ?? req.summary).slice(0, 255) } };
    }
    const { epicName: _epicName, ...issue } = req;
    const body = JiraClient.issueBody(issue, [idempotencyLabel(ctx.idempotencyKey)]);
    if (body.fields.description) for (const p of validateAdf(body.fields.description, '/description')) problems.push(p);
    if (problems.length) throw new ValidationError('invalid Jira issue request', problems);
    const label = idempotencyLabel(ctx.idempotencyKey);
    const found = await this.search(`project = "${req.projectKey}" AND labels = "${label}"`, { limit: 1 });
    if (found[0]) return { id: found[0].id, key: found[0].key, self: found[0].self, existed: true };
    const created = await this.request<Rec>('POST', '/issue', { data: body });
    const id = Number(created.id);
    if (Number.isInteger(id)) {
      this.created.push(id);
      if (this.created.length > RECONCILE_MAX) this.created.splice(0, this.created.length - RECONCILE_MAX);
    }
    return { ...created, existed: false };
  }
}
