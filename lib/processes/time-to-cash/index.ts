/**
 * time-to-cash (docs/templates.md): approved time (and expenses) from the PSA or the legacy ERP ->
 *   validate (project known and open, billable, rate card) -> de-duplicate -> group per customer, project
 *   and billing period -> one invoice per group, one line per source entry (each line's sourceRefs name the
 *   entry) -> the ERP of the billing entity -> mark the entries invoiced in their source -> `invoice.posted`.
 *
 * Exactly once: an invoice's entries are durably ASSIGNED to it before its ERP write leaves this module
 * (`planAndAssign`: one store transaction records invoice id -> entry ids + the whole InvoiceWrite and entry id ->
 * invoice id, all or nothing, with a unique member per scope so two runs or instances never assign one entry twice).
 * Whatever a replay brings (the same entries in another order, other batches, some already posted), an entry that is
 * assigned gets its invoice's stored write sent again, unchanged (same id, lines and idempotency key), and an entry
 * on a posted invoice is skipped as billed; only unassigned entries are planned. The id of a new invoice is a hash
 * of its group and entry ids, but its stability comes from the assignment, not from planning the same partition
 * again. Large groups are split into parts with at most `maxLinesPerInvoice` lines, and writes are released in
 * batches so ERP quotas hold (the outbox's per-connection rate limit does the rest).
 */
import type { IdempotencyService } from '../../idempotency';
import type { Json, Store } from '../../store/store';
import {
  DEFAULT_ERP_ROUTING, addDays, endOfMonth, money, monthOf, routeFor, stableHash,
  type ErpRoute, type ErpRoutingTable, type ErpSystem, type FieldProblem,
} from '../common';

export const PROCESS = 'time-to-cash';
/** Who fixes master data (projects, customers, rate cards) that blocks invoicing. */
export const MASTER_DATA_OWNER = 'billing-ops';

export interface Money {
  amount: number;
  currency: string;
}
/** Canonical TimeEntry (time-entry.v1.json), the fields read here. */
export interface TimeEntry {
  id: string;
  version?: number;
  person: { id: string; name?: string };
  projectId: string;
  date: string;
  hours: number;
  role: string;
  billable: boolean;
  rate?: { amount: number; currency: string; unit?: string };
  status: string;
  approvedAt?: string;
  notes?: string;
  invoiceId?: string;
  externalIds?: Record<string, string>;
}
/** Canonical Expense (expense.v1.json), the fields read here. */
export interface Expense {
  id: string;
  person: { id: string };
  projectId: string;
  date: string;
  category: string;
  amount: Money;
  billable: boolean;
  status: string;
  description?: string;
  invoiceId?: string;
  externalIds?: Record<string, string>;
}

/** Master data of a project as the invoicing needs it (from the PSA workspace or the ERP). */
export interface ProjectContext {
  projectId: string;
  accountId?: string;
  billingEntity?: string;
  currency?: string;
  /** planned | active | on-hold | completed | cancelled; only active (or planned) projects are invoiced. */
  status?: string;
  name?: string;
  /** The ERP's own project id / number, when it has one. */
  erpProjectId?: string;
  /** PSA workspace id (to mark entries invoiced). */
  psaWorkspaceId?: string;
  /** role -> hourly rate of the contract's rate card; entries without a rate take it, others must match it. */
  rateCard?: Record<string, number>;
  paymentTermsDays?: number;
}

export type EntrySource = 'kantata' | 'legacy' | 'other';

export function sourceOf(entry: { id: string; externalIds?: Record<string, string> }): EntrySource {
  if (entry.id.startsWith('KAN-') || entry.externalIds?.kantata) return 'kantata';
  if (entry.id.startsWith('LEG-') || entry.externalIds?.legacy) return 'legacy';
  return 'other';
}

// ------------------------------------------------------------------------------------------ validation
export interface BlockedEntry {
  entry: TimeEntry | Expense;
  kind: 'timeentry' | 'expense';
  problems: FieldProblem[];
  /** `master-data`: the project / customer / rate card is wrong (billing-ops); `entry`: the entry itself. */
  cause: 'master-data' | 'entry';
}
export interface Classified {
  billable: Array<{ kind: 'timeentry'; entry: TimeEntry; rate: number } | { kind: 'expense'; entry: Expense; rate?: undefined }>;
  skipped: Array<{ id: string; reason: string }>;
  blocked: BlockedEntry[];
  duplicates: string[];
}

/**
 * Sorts entries into billable, skipped (not billable, not approved, already invoiced) and blocked (a problem a
 * person must fix). `alreadyBilled` lets the caller pass ids it knows are invoiced (the idempotency store).
 */
export function classifyEntries(
  input: { timeEntries?: TimeEntry[]; expenses?: Expense[] },
  projects: Record<string, ProjectContext>,
  opts: { alreadyBilled?: (id: string) => boolean; routing?: ErpRoutingTable } = {},
): Classified {
  const out: Classified = { billable: [], skipped: [], blocked: [], duplicates: [] };
  const seen = new Set<string>();
  const routing = opts.routing ?? DEFAULT_ERP_ROUTING;
  const projectProblems = (kind: string, id: string, projectId: string): FieldProblem[] => {
    const p = projects[projectId];
    const problems: FieldProblem[] = [];
    const add = (path: string, message: string) => problems.push({ record: kind, recordId: id, path, message });
    if (!p) {
      add('/projectId', `project ${projectId} is not known to the PSA / ERP master data (no customer or billing entity to invoice)`);
      return problems;
    }
    if (!p.accountId) add('/projectId', `project ${projectId} has no customer (account) in the master data`);
    if (!p.billingEntity) add('/projectId', `project ${projectId} has no billing entity`);
    else if (!routeFor(p.billingEntity, routing)) add('/projectId', `project ${projectId}'s billing entity ${p.billingEntity} has no ERP in the routing table`);
    if (p.status && !['active', 'planned'].includes(p.status)) add('/projectId', `project ${projectId} is ${p.status}, not open for invoicing`);
    return problems;
  };
  for (const entry of input.timeEntries ?? []) {
    if (seen.has(entry.id)) {
      out.duplicates.push(entry.id);
      continue;
    }
    seen.add(entry.id);
    if (entry.status === 'billed' || entry.invoiceId || opts.alreadyBilled?.(entry.id)) {
      out.skipped.push({ id: entry.id, reason: 'already invoiced' });
      continue;
    }
    if (entry.status !== 'approved') {
      out.skipped.push({ id: entry.id, reason: `not approved (${entry.status})` });
      continue;
    }
    if (!entry.billable) {
      out.skipped.push({ id: entry.id, reason: 'not billable' });
      continue;
    }
    const master = projectProblems('timeentry', entry.id, entry.projectId);
    if (master.length) {
      out.blocked.push({ entry, kind: 'timeentry', problems: master, cause: 'master-data' });
      continue;
    }
    const p = projects[entry.projectId];
    const problems: FieldProblem[] = [];
    const card = p.rateCard?.[entry.role];
    let rate = entry.rate?.amount;
    if (rate === undefined || rate === null) {
      if (card !== undefined) rate = card;
      else problems.push({ record: 'timeentry', recordId: entry.id, path: '/rate', message: `has no rate and the rate card of ${entry.projectId} has none for role ${entry.role}` });
    } else if (card !== undefined && Math.abs(card - rate) > 0.005) {
      problems.push({ record: 'timeentry', recordId: entry.id, path: '/rate/amount', message: `${rate} differs from the rate card's ${card} for ${entry.role} on ${entry.projectId}` });
    } else if (!(rate > 0)) {
      problems.push({ record: 'timeentry', recordId: entry.id, path: '/rate/amount', message: 'a billable entry needs a rate above 0' });
    }
    if (!(entry.hours > 0)) problems.push({ record: 'timeentry', recordId: entry.id, path: '/hours', message: 'must be more than 0' });
    if (entry.rate?.currency && p.currency && entry.rate.currency !== p.currency) problems.push({ record: 'timeentry', recordId: entry.id, path: '/rate/currency', message: `${entry.rate.currency} differs from the project currency ${p.currency}` });
    if (problems.length) {
      out.blocked.push({ entry, kind: 'timeentry', problems, cause: problems.some((x) => x.message.includes('rate card')) ? 'master-data' : 'entry' });
      continue;
    }
    out.billable.push({ kind: 'timeentry', entry, rate: rate! });
  }
  for (const entry of input.expenses ?? []) {
    if (seen.has(entry.id)) {
      out.duplicates.push(entry.id);
      continue;
    }
    seen.add(entry.id);
    if (entry.status === 'billed' || entry.invoiceId || opts.alreadyBilled?.(entry.id)) {
      out.skipped.push({ id: entry.id, reason: 'already invoiced' });
      continue;
    }
    if (entry.status !== 'approved' || !entry.billable) {
      out.skipped.push({ id: entry.id, reason: entry.billable ? `not approved (${entry.status})` : 'not billable' });
      continue;
    }
    const master = projectProblems('expense', entry.id, entry.projectId);
    if (master.length) {
      out.blocked.push({ entry, kind: 'expense', problems: master, cause: 'master-data' });
      continue;
    }
    out.billable.push({ kind: 'expense', entry });
  }
  return out;
}

// ------------------------------------------------------------------------------------------ grouping
export interface InvoiceGroup {
  /** `<accountId>|<projectId>|<period>` */
  key: string;
  accountId: string;
  projectId: string;
  billingEntity: string;
  currency: string;
  /** Billing period `YYYY-MM`. */
  period: string;
  items: Classified['billable'];
}

/** One group per customer, project and monthly billing period; items ordered by date then id (stable). */
export function groupEntries(items: Classified['billable'], projects: Record<string, ProjectContext>): InvoiceGroup[] {
  const groups = new Map<string, InvoiceGroup>();
  for (const item of items) {
    const p = projects[item.entry.projectId];
    const period = monthOf(item.entry.date);
    const key = `${p.accountId}|${p.projectId}|${period}`;
    let g = groups.get(key);
    if (!g) {
      const currency = p.currency ?? (item.kind === 'timeentry' ? item.entry.rate?.currency : item.entry.amount.currency) ?? 'USD';
      g = { key, accountId: p.accountId!, projectId: p.projectId, billingEntity: p.billingEntity!, currency, period, items: [] };
      groups.set(key, g);
    }
    g.items.push(item);
  }
  for (const g of groups.values()) g.items.sort((x, y) => (x.entry.date < y.entry.date ? -1 : x.entry.date > y.entry.date ? 1 : x.entry.id < y.entry.id ? -1 : x.entry.id > y.entry.id ? 1 : 0));
  return [...groups.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

// ------------------------------------------------------------------------------------------ invoices
export interface InvoiceOptions {
  /** Issue date (default: the last day of the billing period). */
  issueDate?: string;
  paymentTermsDays?: number;
  /** Tax rate (%) per billing entity; the ERP recomputes tax, this is the expected figure. Default 0. */
  taxRates?: Record<string, number>;
  /** Split a group into parts of at most this many lines (ERP line limits; default 500). */
  maxLinesPerInvoice?: number;
}

/** Canonical Invoice (invoice.v1.json) for one group (or one part of it). */
export function buildInvoice(group: InvoiceGroup, opts: InvoiceOptions = {}, part?: { items: InvoiceGroup['items'] }): Record<string, any> {
  const items = part?.items ?? group.items;
  const ids = items.map((i) => i.entry.id).sort();
  // the id names its entries only (not a part number, which depends on how a run happened to split the group);
  // it stays the invoice's id because the entries are assigned to it durably (planAndAssign)
  const id = `INV-${group.billingEntity}-${group.period.replace('-', '')}-${stableHash([group.accountId, group.projectId, ids], 10).toUpperCase()}`;
  const issueDate = opts.issueDate ?? endOfMonth(group.period);
  const taxRate = opts.taxRates?.[group.billingEntity] ?? 0;
  const lines = items.map((item, i) => {
    if (item.kind === 'timeentry') {
      const e = item.entry;
      const amount = money(e.hours * item.rate);
      return {
        lineNumber: i + 1,
        description: `${e.date} ${e.person.name ?? e.person.id} — ${e.role}${e.notes ? ': ' + e.notes : ''}`.slice(0, 500),
        role: e.role,
        quantity: e.hours,
        unit: 'hour',
        unitPrice: { amount: item.rate, currency: group.currency },
        amount: { amount, currency: group.currency },
        ...(taxRate ? { taxRate, taxAmount: { amount: money((amount * taxRate) / 100), currency: group.currency } } : {}),
        sourceRefs: [{ type: 'timeentry', id: e.id, hours: e.hours }],
      };
    }
    const x = item.entry;
    return {
      lineNumber: i + 1,
      description: `${x.date} expense ${x.category}${x.description ? ': ' + x.description : ''}`.slice(0, 500),
      quantity: 1,
      unit: 'each',
      unitPrice: { amount: x.amount.amount, currency: group.currency },
      amount: { amount: x.amount.amount, currency: group.currency },
      ...(taxRate ? { taxRate, taxAmount: { amount: money((x.amount.amount * taxRate) / 100), currency: group.currency } } : {}),
      sourceRefs: [{ type: 'expense', id: x.id, amount: { amount: x.amount.amount, currency: group.currency } }],
    };
  });
  const subtotal = money(lines.reduce((s, l) => s + l.amount.amount, 0));
  const taxTotal = money(lines.reduce((s, l) => s + ((l as { taxAmount?: Money }).taxAmount?.amount ?? 0), 0));
  return {
    id,
    version: 1,
    number: id,
    accountId: group.accountId,
    billingEntity: group.billingEntity,
    projectId: group.projectId,
    currency: group.currency,
    issueDate,
    dueDate: addDays(issueDate, opts.paymentTermsDays ?? 30),
    periodStart: `${group.period}-01`,
    periodEnd: endOfMonth(group.period),
    status: 'draft',
    lines,
    subtotal: { amount: subtotal, currency: group.currency },
    taxTotal: { amount: taxTotal, currency: group.currency },
    total: { amount: money(subtotal + taxTotal), currency: group.currency },
  };
}

/** Invoices of a group: one, or several parts when it has more lines than the ERP takes. */
export function invoicesForGroup(group: InvoiceGroup, opts: InvoiceOptions = {}): Record<string, any>[] {
  const max = Math.max(1, opts.maxLinesPerInvoice ?? 500);
  if (group.items.length <= max) return [buildInvoice(group, opts)];
  const parts: Record<string, any>[] = [];
  const of = Math.ceil(group.items.length / max);
  for (let i = 0; i < of; i++) parts.push(buildInvoice(group, opts, { items: group.items.slice(i * max, (i + 1) * max) }));
  return parts;
}

// ------------------------------------------------------------------------------------------ ERP writes
export interface InvoiceWrite {
  invoice: Record<string, any>;
  erp: ErpSystem;
  route: ErpRoute;
  /** Connector operation: netsuite createInvoice, businessCentral createSalesInvoice (posted), legacy postInvoice. */
  operation: string;
  /** = the invoice id: the outbox de-duplicates on it and the ERP uses it as external id / document number. */
  idempotencyKey: string;
  recordKey: string;
  request: Record<string, any>;
  /** The source entries to mark invoiced once the ERP has the invoice, per source system. */
  markInvoiced: { kantata: { timeEntryIds: string[]; expenseIds: string[]; workspaceId?: string }; legacy: string[]; other: string[] };
  entryIds: string[];
  /** Approval time of the oldest entry (posting-latency KPI). */
  oldestApprovedAt?: number;
}

export const ERP_INVOICE_OPERATION: Record<ErpSystem, string> = { netsuite: 'createInvoice', businessCentral: 'createSalesInvoice', legacy: 'postInvoice' };

/** Request body the ERP's connector expects for an invoice. */
export function erpInvoiceRequest(erp: ErpSystem, invoice: Record<string, any>, project?: ProjectContext): Record<string, any> {
  if (erp === 'businessCentral') return { invoice, post: true };
  if (erp === 'legacy') return { invoice };
  // NetSuite: bill against the ERP job only when the PSA knows it; otherwise at customer level (no job lookup)
  if (project?.erpProjectId) return { invoice, projectExternalId: project.erpProjectId };
  const { projectId: _p, ...customerLevel } = invoice;
  return { invoice: customerLevel };
}

export interface TimeToCashPlan {
  process: typeof PROCESS;
  invoices: InvoiceWrite[];
  /** The same writes in batches of `batchSize`, in order (month-end burst: released one batch at a time). */
  batches: InvoiceWrite[][];
  blocked: BlockedEntry[];
  skipped: Classified['skipped'];
  duplicates: string[];
  totals: { entries: number; billable: number; invoices: number; lines: number; amountByCurrency: Record<string, number> };
}

export interface TimeToCashOptions extends InvoiceOptions {
  routing?: ErpRoutingTable;
  alreadyBilled?: (id: string) => boolean;
  /** Invoices per batch (month-end burst); default 50. */
  batchSize?: number;
}

/** The whole run for a set of entries: classify, group, build invoices, route to ERPs, batch. */
export function planTimeToCash(input: { timeEntries?: TimeEntry[]; expenses?: Expense[] }, projects: Record<string, ProjectContext>, opts: TimeToCashOptions = {}): TimeToCashPlan {
  const routing = opts.routing ?? DEFAULT_ERP_ROUTING;
  const classified = classifyEntries(input, projects, { alreadyBilled: opts.alreadyBilled, routing });
  const groups = groupEntries(classified.billable, projects);
  const invoices: InvoiceWrite[] = [];
  const amountByCurrency: Record<string, number> = {};
  let lines = 0;
  for (const g of groups) {
    const route = routeFor(g.billingEntity, routing)!;
    const project = projects[g.projectId];
    const terms = project.paymentTermsDays ?? opts.paymentTermsDays;
    for (const invoice of invoicesForGroup(g, { ...opts, paymentTermsDays: terms })) {
      const refs = (invoice.lines as Array<{ sourceRefs: Array<{ type: string; id: string }> }>).flatMap((l) => l.sourceRefs);
      const mark: InvoiceWrite['markInvoiced'] = { kantata: { timeEntryIds: [], expenseIds: [], workspaceId: project.psaWorkspaceId }, legacy: [], other: [] };
      let oldest: number | undefined;
      for (const ref of refs) {
        const item = g.items.find((i) => i.entry.id === ref.id)!;
        const src = sourceOf(item.entry);
        const native = item.entry.externalIds?.[src === 'kantata' ? 'kantata' : 'legacy'] ?? item.entry.id;
        if (src === 'kantata') (item.kind === 'expense' ? mark.kantata.expenseIds : mark.kantata.timeEntryIds).push(String(native));
        else if (src === 'legacy') mark.legacy.push(String(native));
        else mark.other.push(item.entry.id);
        const approved = item.kind === 'timeentry' && item.entry.approvedAt ? Date.parse(item.entry.approvedAt) : undefined;
        if (approved !== undefined && !Number.isNaN(approved) && (oldest === undefined || approved < oldest)) oldest = approved;
      }
      lines += invoice.lines.length;
      amountByCurrency[invoice.currency] = money((amountByCurrency[invoice.currency] ?? 0) + invoice.total.amount);
      invoices.push({
        invoice,
        erp: route.erp,
        route,
        operation: ERP_INVOICE_OPERATION[route.erp],
        idempotencyKey: `t2c:${invoice.id}`,
        recordKey: `Invoice/${invoice.id}`,
        request: erpInvoiceRequest(route.erp, invoice, project),
        markInvoiced: mark,
        entryIds: refs.map((r) => r.id),
        oldestApprovedAt: oldest,
      });
    }
  }
  return {
    process: PROCESS,
    invoices,
    batches: batch(invoices, opts.batchSize ?? 50),
    blocked: classified.blocked,
    skipped: classified.skipped,
    duplicates: classified.duplicates,
    totals: { entries: (input.timeEntries?.length ?? 0) + (input.expenses?.length ?? 0), billable: classified.billable.length, invoices: invoices.length, lines, amountByCurrency },
  };
}

// ------------------------------------------------------------------------------------------ durable assignment
/** Store scope of invoice assignments: invoice id -> its entry ids and whole InvoiceWrite; entry id -> invoice id. */
export const ASSIGNMENT_SCOPE = 'time-to-cash:invoice';
/** Idempotency scope of the entries on posted invoices (claimed once the ERP has the invoice: `recordBilled`). */
export const BILLED_SCOPE = 'time-to-cash:billed';
/** How long an entry is remembered as billed (longer than any re-delivery or month-end re-run). */
export const BILLED_RETENTION_MS = 400 * 86_400_000;

export type InvoiceStore = Pick<Store, 'assignmentCreate' | 'assignmentsOf' | 'assignmentGet' | 'idempotencyGet'>;

export interface AssignedPlan extends TimeToCashPlan {
  /** Invoices assigned before (by an earlier run, a crashed one, another instance) whose stored write is sent again. */
  resent: string[];
}

/**
 * `planTimeToCash` made durable: entries on a posted invoice are skipped; entries already assigned to an invoice
 * that is not posted yet bring that invoice's stored write back, unchanged; the other entries are planned and
 * each new invoice is assigned its entries in one store transaction before its write is returned. When another run
 * assigned some of an invoice's entries first, the invoice is not stored, those entries bring the other run's
 * invoice back, and the rest are planned again without them. So whatever order, batches or partial billing a replay
 * brings, an entry is on one invoice id with the same lines and idempotency key, however often it is planned.
 */
export async function planAndAssign(
  input: { timeEntries?: TimeEntry[]; expenses?: Expense[] },
  projects: Record<string, ProjectContext>,
  store: InvoiceStore,
  opts: TimeToCashOptions & { now?: () => number } = {},
): Promise<AssignedPlan> {
  const now = opts.now ?? Date.now;
  const all: Array<TimeEntry | Expense> = [...(input.timeEntries ?? []), ...(input.expenses ?? [])];
  const ids = [...new Set(all.map((e) => e?.id).filter((id): id is string => typeof id === 'string'))];
  const at = now();
  const billedFlags = await Promise.all(ids.map(async (id) => Boolean(opts.alreadyBilled?.(id)) || (await store.idempotencyGet(BILLED_SCOPE, id, at)) !== undefined));
  const billed = new Set(ids.filter((_, i) => billedFlags[i]));
  // an entry its source reports invoiced is skipped (classifyEntries) and brings nothing back
  const invoicedAtSource = new Set(all.filter((e) => e && (e.status === 'billed' || e.invoiceId)).map((e) => e.id));
  const owner = await store.assignmentsOf(ASSIGNMENT_SCOPE, ids.filter((id) => !billed.has(id) && !invoicedAtSource.has(id)));
  const resend = new Set(owner.values());
  const assignedBefore = owner.size;
  const first = planTimeToCash(input, projects, { ...opts, alreadyBilled: (id) => billed.has(id) || owner.has(id) });

  const assigned: InvoiceWrite[] = [];
  let pending = first.invoices;
  while (pending.length) {
    const results = await Promise.all(pending.map((w) => store.assignmentCreate(ASSIGNMENT_SCOPE, w.invoice.id, w.entryIds, w as unknown as Json, now())));
    const again = new Set<string>();
    for (const [i, r] of results.entries()) {
      const w = pending[i];
      if (r.assigned) {
        assigned.push(w);
        continue;
      }
      if (r.taken.size === 0) {
        throw new Error(`invoice id ${w.invoice.id} is already stored for other entries (a hash collision of the ids of its ${w.entryIds.length} entries): they were not assigned and are not invoiced; report it to the PS Fabric maintainers`);
      }
      for (const [entry, invoiceId] of r.taken) {
        owner.set(entry, invoiceId);
        resend.add(invoiceId);
      }
      for (const id of w.entryIds) if (!r.taken.has(id)) again.add(id);
    }
    // each round loses at least one entry to another run, so this ends
    pending = again.size
      ? planTimeToCash({ timeEntries: input.timeEntries?.filter((e) => again.has(e.id)), expenses: input.expenses?.filter((e) => again.has(e.id)) }, projects, { ...opts, alreadyBilled: undefined }).invoices
      : [];
  }
  const mine = new Set(assigned.map((w) => w.invoice.id));
  const resent = [...resend].filter((id) => !mine.has(id)).sort();
  const stored = await Promise.all(resent.map(async (id) => {
    const record = await store.assignmentGet(ASSIGNMENT_SCOPE, id);
    if (!record) throw new Error(`invoice ${id} holds entries in the store but its own record is missing, so its write cannot be sent again`);
    return record.data as unknown as InvoiceWrite;
  }));
  const invoices = [...stored, ...assigned];
  const amountByCurrency: Record<string, number> = {};
  for (const w of invoices) amountByCurrency[w.invoice.currency] = money((amountByCurrency[w.invoice.currency] ?? 0) + w.invoice.total.amount);
  return {
    ...first,
    invoices,
    batches: batch(invoices, opts.batchSize ?? 50),
    skipped: first.skipped.filter((x) => !owner.has(x.id)),
    resent,
    totals: {
      ...first.totals,
      billable: first.totals.billable + assignedBefore,
      invoices: invoices.length,
      lines: invoices.reduce((n, w) => n + w.invoice.lines.length, 0),
      amountByCurrency,
    },
  };
}

/** Records an invoice's entries as billed once the ERP has it: replays then skip them (one transaction). */
export function recordBilled(idempotency: Pick<IdempotencyService, 'claimMany'>, write: Pick<InvoiceWrite, 'entryIds'>): Promise<unknown> {
  return idempotency.claimMany(BILLED_SCOPE, write.entryIds, BILLED_RETENTION_MS);
}

export function batch<T>(items: T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/**
 * Paces a month-end burst: how many ERP writes may start now so the vendor quota holds, given the writes
 * already in flight / queued for that ERP (the outbox backlog). The outbox's token bucket enforces the rate;
 * this keeps the backlog bounded so memory and the exception queue stay calm.
 */
export function releasable(queued: number, opts: { maxQueued: number }): number {
  return Math.max(0, opts.maxQueued - queued);
}

/** Project context from a Kantata workspace (lib/connectors/kantata/mapping workspaceContext output). */
export function projectFromWorkspace(ctx: { workspaceId: string; projectId: string; title?: string; currency?: string; billingEntity?: string; accountExternalId?: string; erpProjectId?: string; opportunityId?: string }, status = 'active'): ProjectContext {
  return {
    projectId: ctx.projectId,
    accountId: ctx.accountExternalId,
    billingEntity: ctx.billingEntity,
    currency: ctx.currency,
    status,
    name: ctx.title,
    erpProjectId: ctx.erpProjectId,
    psaWorkspaceId: ctx.workspaceId,
  };
}

/** The invoice.posted event data: the invoice as posted, with the ERP's document id. */
export function postedInvoice(write: InvoiceWrite, erpResult: Record<string, any> | undefined): Record<string, any> {
  const externalIds: Record<string, string> = { ...(write.invoice.externalIds ?? {}) };
  const erpId = erpResult?.id ?? erpResult?.erpDocumentNo ?? erpResult?.number;
  const key = write.erp === 'businessCentral' ? 'businessCentral' : write.erp;
  if (erpId !== undefined && erpId !== null) externalIds[key] = String(erpId);
  return { ...write.invoice, status: 'posted', version: (write.invoice.version ?? 1) + 1, ...(Object.keys(externalIds).length ? { externalIds } : {}) };
}
