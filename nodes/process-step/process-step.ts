/**
 * `process-step`: one step of a PS Fabric process template that needs the process core (lib/processes) and no
 * generic node fits. Thin: it translates msg <-> the core. The step is chosen in the dialog:
 *
 *  quote-to-project
 *   - q2p-plan      deal (msg.payload: Salesforce {opportunity, account, lineItems?, contract?} or a canonical deal)
 *                   -> out 1 msg.plan + KPI start (run key = opportunity id; a completed run's repeat goes to out 3, an
 *                   unfinished one continues: lib/processes/quote-to-project runDecision);
 *                   out 2: what is missing, for the exception queue (msg.error.details = field problems, owner sales-ops)
 *   - q2p-write     prepares the next write of msg.plan for a connector node: msg.payload = request, msg.operation,
 *                   msg.idempotencyKey, msg.recordKey (keeps the previous connector answer in msg.results)
 *   - q2p-complete  active project -> msg.payload = CloudEvent project.created, KPI complete (lead time)
 *  time-to-cash
 *   - t2c-plan      canonical time entries / expenses (msg.payload array or one, or an array of complete msgs from a
 *                   join) + project context (msg.projects or the Kantata workspace context on each entry) -> out 1 one
 *                   msg per invoice write (batched), out 2 one msg per blocked entry (master data -> billing-ops). The
 *                   entries of each new invoice are assigned to it in the store before its msg leaves; entries already
 *                   assigned to an invoice not yet posted send that invoice's stored write again (t2c.planAndAssign). Each
 *                   new msg carries a share of the source messages' inbox identities (lib/inbox shareInboxHandOver):
 *                   a source message is marked processed once every invoice / exception with its entries is durable
 *   - t2c-posted    after the ERP write: msg.payload = invoice.posted CloudEvent, msg.markInvoiced = PSA request, KPI
 *  change-order-to-billing
 *   - co-plan       amendment -> out 1 ready (msg.payload = ERP request, msg.coPlan), out 2 parked (waiting for its
 *                   project; retried by the node itself), out 3 exception
 *   - co-complete   -> msg.payload = CloudEvent contract.amended; audit erp.billing-schedule.not-updated when the ERP has no schedule API
 *  performance-to-reporting
 *   - rollup        msg.payload {timeEntries, projects, people, invoices, from, to} -> figures, KPI unbilled hours
 *   - reconcile     msg.payload {customer: {crm, erp, psa}, project: {...}, expectedIn?} -> reports, KPI reconciliation rate
 *   - kpi           -> msg.payload = every KPI (lib/processes/kpi.ts)
 */
import { businessAttributes, withSpan } from '../../lib/telemetry';
import { installTraceHooks } from '../trace-hooks';
import { holdInboxHandOver, inboxRefOf, markInboxProcessed, releaseInboxHandOver, shareInboxHandOver, type InboxRef } from '../../lib/inbox';
import { messageRecordKey } from '../../lib/exceptions';
import { errorMessage, resolveStore as storeNode, type Node, type NodeAPI, type NodeMessage } from '../node-red-api';
import { toEnvelope } from '../../lib/model';
import { ProcessStepError, routeFor, routingTable, type ErpRoutingTable } from '../../lib/processes/common';
import * as q2p from '../../lib/processes/quote-to-project';
import * as t2c from '../../lib/processes/time-to-cash';
import * as co from '../../lib/processes/change-order';
import * as rep from '../../lib/processes/reporting';
import { kpiFor, MASTER_DATA_STEP } from '../../lib/processes/kpi';
import type { Json } from '../../lib/store/store';

interface StepConfig {
  id: string;
  name?: string;
  store?: string;
  step: string;
  /** q2p-write: which planned write (erpCustomer, psaProject, jiraProject, jiraEpic, notify). */
  write?: string;
  /** JSON override of the ERP routing table (lib/processes/erp-routing.default.json). */
  routing?: string;
  /** q2p-plan: the firm's people as a JSON array (lib/processes/quote-to-project parseDirectory); empty = the CRM's email only. */
  directory?: string;
  batchSize?: string | number;
  maxLines?: string | number;
  retrySeconds?: string | number;
  maxWaits?: string | number;
  source?: string;
}

type Msg = NodeMessage & Record<string, any>;
const Q2P_SCOPE = 'quote-to-project';

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`process-step.${key}`, subs);
  installTraceHooks(RED);

  function ProcessStep(this: Node, config: StepConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = storeNode(RED, config.store);
    let routing: ErpRoutingTable;
    let configError: string | undefined;
    try {
      routing = routingTable(config.routing && config.routing.trim() ? JSON.parse(config.routing) : undefined);
    } catch (err) {
      routing = routingTable();
      configError = t('errors.badRouting', { error: errorMessage(err) });
    }
    let directory: q2p.Directory = [];
    if (config.step === 'q2p-plan') {
      try {
        directory = q2p.parseDirectory(config.directory && config.directory.trim() ? JSON.parse(config.directory) : undefined);
      } catch (err) {
        configError = t('errors.badDirectory', { error: errorMessage(err) });
      }
    }
    if (!storeCfg) configError = t('errors.noStore');
    if (configError) node.status({ fill: 'red', shape: 'ring', text: configError });
    else storeCfg!.register(node);
    const source = config.source || `/psfabric/flows/${config.step.startsWith('q2p') ? 'quote-to-project' : config.step.startsWith('t2c') ? 'time-to-cash' : config.step.startsWith('co') ? 'change-order-to-billing' : 'performance-to-reporting'}`;
    let count = 0;
    const services = () => storeCfg!.requireServices();
    const kpi = () => kpiFor(services().store);
    const num = (v: unknown, d: number) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? d : Number(v));

    // ----------------------------------------------------------------------------- change-order parking
    let retryTimer: NodeJS.Timeout | undefined;
    async function planAmendment(msg: Msg, amendment: co.Amendment, attempt: number): Promise<Array<Msg | null>> {
      const projectId = co.projectIdOf(amendment);
      const oppId = amendment.opportunityId ?? projectId?.replace(/^PRJ-/, '');
      const outcome = oppId ? (await services().idempotency.get(Q2P_SCOPE, oppId))?.outcome as Record<string, any> | undefined : undefined;
      const state: co.ProjectState | undefined = outcome?.projectState;
      const plan = co.planAmendment(amendment, state, { attempt, maxWaits: num(config.maxWaits, 6), baseDelayMs: num(config.retrySeconds, 30) * 1000 });
      msg.coPlan = plan;
      msg.process = co.PROCESS;
      msg.correlationId = msg.correlationId ?? `co:${amendment.id}`;
      if (plan.status === 'ready') {
        msg.recordKey = `Project/${plan.projectId}`;
        if (plan.erpWrite) {
          msg.payload = plan.erpWrite.request;
          msg.operation = plan.erpWrite.operation;
          msg.idempotencyKey = plan.erpWrite.idempotencyKey;
          msg.erp = plan.erpWrite.system;
        } else {
          msg.payload = null;
          msg.erp = 'none';
        }
        msg.psaRequest = plan.psaWrite ? { payload: plan.psaWrite.request, operation: plan.psaWrite.operation, idempotencyKey: plan.psaWrite.idempotencyKey } : null;
        return [msg, null, null];
      }
      if (plan.status === 'waiting') {
        await new co.ParkedAmendments(services().store).park({ amendment, attempt, retryAt: plan.retryAt, correlationId: msg.correlationId });
        await markInboxProcessed(msg); // parked durably: the amendment's inbox entry (fabric-mqtt-in) is handed over
        msg.payload = { amendmentId: amendment.id, projectId: plan.projectId, attempt, retryAt: new Date(plan.retryAt).toISOString(), reason: plan.reason };
        return [null, msg, null];
      }
      msg.payload = { amendment } as unknown as Json;
      msg.error = { message: plan.message, details: plan.problems };
      msg.errorClass = plan.errorClass;
      msg.ownerTeam = plan.ownerTeam;
      msg.step = 'plan';
      msg.recordKey = amendment?.id ? `Amendment/${amendment.id}` : messageRecordKey(msg); // no amendment id: the message's own id
      return [null, null, msg];
    }
    if (config.step === 'co-plan' && storeCfg && !configError) {
      const every = Math.max(1, num(config.retrySeconds, 30)) * 1000;
      const tick = async () => {
        const parked = new co.ParkedAmendments(services().store);
        for (const p of await parked.due(Date.now(), 200)) {
          await parked.take(p);
          node.send(await planAmendment({ _msgid: `${p.amendment.id}#${p.attempt + 1}`, correlationId: p.correlationId, retry: { attempt: p.attempt + 1 } }, p.amendment, p.attempt + 1));
        }
      };
      retryTimer = setInterval(() => {
        tick().catch((err) => node.warn(t('errors.retryFailed', { error: errorMessage(err) })));
      }, Math.min(every, 5000));
      retryTimer.unref();
    }

    // ----------------------------------------------------------------------------- steps
    async function run(msg: Msg): Promise<Array<Msg | Msg[] | null> | Msg> {
      switch (config.step) {
        case 'q2p-plan': {
          const input = (msg.payload ?? {}) as Record<string, any>;
          const deal: q2p.CloseWonDeal = input.opportunity?.Id || input.opportunity?.StageName
            ? q2p.dealFromSalesforce({ opportunity: input.opportunity, account: input.account ?? undefined, lineItems: input.lineItems ?? input.lines, contract: input.contract ? { ...input.contract, Billing_Milestones__r: { records: input.billingSchedule ?? [] } } : undefined, directory })
            : q2p.withDirectory(input as q2p.CloseWonDeal, directory);
          const oppId = deal.opportunity?.id ?? 'unknown';
          msg.process = q2p.PROCESS;
          msg.correlationId = msg.correlationId ?? `q2p:${oppId}`;
          try {
            msg.plan = q2p.planQuoteToProject(deal, { routing });
          } catch (err) {
            if (!(err instanceof ProcessStepError)) throw err;
            msg.payload = { opportunityId: oppId, missing: err.problems } as unknown as Json;
            msg.error = { message: err.message, details: err.problems };
            msg.errorClass = 'validation';
            msg.ownerTeam = err.ownerTeam;
            msg.step = 'validate';
            msg.recordKey = err.recordKey ?? messageRecordKey(msg); // no opportunity id: the message's own id, never a shared placeholder
            return [null, msg, null];
          }
          const claim = await services().idempotency.claim(Q2P_SCOPE, oppId);
          if (q2p.runDecision(claim, { replay: !!msg.replay, redelivered: !!msg.redelivered }) === 'duplicate') {
            kpi().duplicate(q2p.PROCESS);
            msg.duplicate = { key: oppId, outcome: claim.existing?.outcome ?? null };
            await markInboxProcessed(msg, services().store); // a completed run's repeat ends here
            return [null, null, msg];
          }
          holdInboxHandOver(msg); // handed over when the run completes (q2p-complete), not at its first write
          await kpi().processStart(q2p.PROCESS, oppId, { startedAt: msg.plan.closedWonAt, correlationId: msg.correlationId, attributes: { billingEntity: msg.plan.project.billingEntity, region: routeFor(msg.plan.project.billingEntity, routing)?.region ?? null, erp: msg.plan.erp.erp } });
          msg.results = {};
          msg.erp = msg.plan.erp.erp;
          msg.erpTarget = `${msg.plan.erp.erp}:${msg.plan.erp.company}`;
          msg.payload = msg.plan;
          return [msg, null, null];
        }
        case 'q2p-write': {
          if (!msg.plan) throw new Error(t('errors.noPlan'));
          if (msg.pendingWrite) msg.results = { ...(msg.results ?? {}), [msg.pendingWrite]: msg.payload };
          const w = msg.plan.writes[config.write ?? ''] as q2p.PlannedWrite | undefined;
          if (!w) throw new Error(t('errors.unknownWrite', { write: String(config.write) }));
          const request = { ...w.request } as Record<string, any>;
          // the epic goes into the project Jira actually has (the key it answered with)
          if (config.write === 'jiraEpic' && msg.results?.jiraProject?.key) request.projectKey = msg.results.jiraProject.key;
          msg.payload = request;
          msg.operation = w.operation;
          msg.idempotencyKey = w.idempotencyKey;
          msg.recordKey = w.recordKey;
          msg.step = w.step;
          msg.pendingWrite = config.write;
          return msg;
        }
        case 'q2p-complete': {
          if (!msg.plan) throw new Error(t('errors.noPlan'));
          if (msg.pendingWrite) msg.results = { ...(msg.results ?? {}), [msg.pendingWrite]: msg.payload };
          delete msg.pendingWrite;
          const plan = msg.plan as q2p.QuoteToProjectPlan;
          const done = q2p.completeProject(plan, msg.results ?? {});
          const projectState: co.ProjectState = {
            projectId: plan.project.id, accountId: plan.account.id, billingEntity: plan.project.billingEntity, currency: plan.project.currency, erp: plan.erp.erp,
            erpProjectId: plan.project.id, psaWorkspaceId: done.project.externalIds?.kantata, contractId: plan.project.contractId, startDate: plan.project.startDate,
            endDate: plan.project.endDate, budget: { amount: plan.project.budget.amount.amount, hours: plan.project.budget.hours },
            billingSchedule: (plan.writes.psaProject.request as Record<string, any>).billingSchedule,
          };
          await services().idempotency.recordOutcome(Q2P_SCOPE, plan.opportunityId, { projectId: plan.project.id, externalIds: done.project.externalIds, projectState } as unknown as Json);
          releaseInboxHandOver(msg);
          await kpi().processComplete(q2p.PROCESS, plan.opportunityId, 'completed', { labels: { billingEntity: plan.project.billingEntity }, attributes: { projectId: plan.project.id, erp: plan.erp.erp, billingEntity: plan.project.billingEntity, region: routeFor(plan.project.billingEntity, routing)?.region ?? null } });
          await services().exceptions.autoResolve?.(`Opportunity/${plan.opportunityId}`, `node:${node.id}`);
          msg.project = done.project;
          msg.payload = toEnvelope({ entity: 'project', event: 'created', source, data: done.project, correlationid: msg.correlationId, idempotencykey: `${plan.runKey}:project-created` });
          msg.topic = 'fabric/v1/project/created';
          msg.notification = plan.writes.notify;
          return msg;
        }
        case 't2c-plan': {
          const given = Array.isArray(msg.payload) ? msg.payload : msg.payload && typeof msg.payload === 'object' && Array.isArray((msg.payload as any).timeEntries) ? (msg.payload as any).timeEntries : [msg.payload];
          // A batch joined as complete messages (the legacy TE lines): each part keeps its own inbox identity, so every
          // source message is handed over once the invoices / exceptions built from its entries are durable.
          const sourcesOf = new Map<string, InboxRef[]>(); // entry id -> inbox entries it came from
          const raw: any[] = [];
          let partRefs = false;
          for (const x of given as any[]) {
            if (x && typeof x === 'object' && typeof x._msgid === 'string' && 'payload' in x) {
              const ref = inboxRefOf(x);
              for (const p of Array.isArray(x.payload) ? x.payload : [x.payload]) {
                raw.push(p);
                const id = (p?.specversion && p.data ? p.data : p)?.id;
                if (ref && typeof id === 'string') {
                  partRefs = true;
                  sourcesOf.set(id, [...(sourcesOf.get(id) ?? []), ref]);
                }
              }
            } else raw.push(x);
          }
          const items = (raw as any[]).map((x) => (x && x.specversion && x.data ? x.data : x)).filter(Boolean);
          const own = inboxRefOf(msg);
          if (own && !partRefs) for (const it of items as Array<{ id?: string }>) if (typeof it.id === 'string') sourcesOf.set(it.id, [...(sourcesOf.get(it.id) ?? []), own]);
          const projects: Record<string, t2c.ProjectContext> = { ...(msg.projects ?? {}) };
          const contexts = [...(raw as any[]), ...((msg.kantata?.items ?? []) as any[])];
          for (const it of contexts) {
            const ctx = it?.workspace ?? it?.context ?? msg.workspace;
            if (ctx?.projectId && !projects[ctx.projectId]) projects[ctx.projectId] = t2c.projectFromWorkspace(ctx);
          }
          // projects set up by quote-to-project (the legacy ERP's projects come from msg.projects / the flow's table)
          const timeEntries = items.filter((x: any) => x.hours !== undefined) as t2c.TimeEntry[];
          const expenses = items.filter((x: any) => x.hours === undefined && x.amount !== undefined) as t2c.Expense[];
          // entries are assigned to their invoices durably before any write leaves; assigned ones bring their stored invoice back
          const plan = await t2c.planAndAssign({ timeEntries, expenses }, projects, services().store, { routing, batchSize: num(config.batchSize, 50), maxLinesPerInvoice: num(config.maxLines, 500) });
          // inbox hand-over: one share per new msg (invoice write, blocked entry); a source message none of them
          // covers (its entries skipped: already billed, duplicate, not billable) needs no durable write
          const refsOf = (ids: string[]) => ids.flatMap((id) => sourcesOf.get(id) ?? []);
          const shares = shareInboxHandOver([...plan.invoices.map((w) => refsOf(w.entryIds)), ...plan.blocked.map((b) => refsOf([b.entry.id]))]);
          const covered = new Set([...plan.invoices.flatMap((w) => w.entryIds), ...plan.blocked.map((b) => b.entry.id)].flatMap((id) => (sourcesOf.get(id) ?? []).map((r) => `${r.source}|${r.messageId}`)));
          const untouched = new Map<string, InboxRef>();
          for (const refs of sourcesOf.values()) for (const r of refs) if (!covered.has(`${r.source}|${r.messageId}`)) untouched.set(`${r.source}|${r.messageId}`, r);
          if (own && !partRefs && sourcesOf.size === 0) untouched.set(`${own.source}|${own.messageId}`, own);
          for (const r of untouched.values()) await markInboxProcessed(r, services().store);
          const out1: Msg[] = [];
          for (const [i, w] of plan.invoices.entries()) {
            if (w.oldestApprovedAt !== undefined) await kpi().processStart(t2c.PROCESS, w.invoice.id, { startedAt: w.oldestApprovedAt, correlationId: msg.correlationId, attributes: { erp: w.erp, lines: w.entryIds.length, billingEntity: w.invoice.billingEntity ?? null, region: w.route.region ?? null } });
            // the request is the payload: not a second copy in msg.invoiceWrite (the ERP node keeps the msg with its outbox write)
            const { request: _request, ...invoiceWrite } = w;
            out1.push({ _msgid: `${msg._msgid}:${w.invoice.id}`, payload: w.request, operation: w.operation, idempotencyKey: w.idempotencyKey, recordKey: w.recordKey, process: t2c.PROCESS, step: 'erp-invoice', erp: w.erp, erpTarget: `${w.erp}:${w.route.company}`, invoiceWrite, correlationId: msg.correlationId ?? `t2c:${w.invoice.id}`, ...(shares[i] ? { _fabricInbox: shares[i] } : {}) });
          }
          const out2: Msg[] = plan.blocked.map((b, j) => ({
            ...(shares[plan.invoices.length + j] ? { _fabricInbox: shares[plan.invoices.length + j] } : {}),
            _msgid: `${msg._msgid}:${b.entry.id}`,
            payload: b.entry as unknown as Json,
            error: { message: `${b.kind} ${b.entry.id} cannot be invoiced: ${b.problems.map((p) => p.message).join('; ')}`, details: b.problems },
            errorClass: 'validation',
            ownerTeam: b.cause === 'master-data' ? t2c.MASTER_DATA_OWNER : 'delivery-ops',
            process: t2c.PROCESS,
            step: b.cause === 'master-data' ? MASTER_DATA_STEP : 'validate',
            recordKey: `${b.kind === 'timeentry' ? 'TimeEntry' : 'Expense'}/${b.entry.id}`,
          }));
          node.status({ fill: 'green', shape: 'dot', text: t('status.t2c', { invoices: plan.invoices.length, lines: plan.totals.lines, blocked: plan.blocked.length }) });
          return [out1, out2];
        }
        case 't2c-posted': {
          const w = msg.invoiceWrite as t2c.InvoiceWrite | undefined;
          if (!w) throw new Error(t('errors.noInvoice'));
          const posted = t2c.postedInvoice(w, msg.payload as Record<string, any>);
          // one transaction (one disk sync) for the invoice's entries instead of one per entry
          await t2c.recordBilled(services().idempotency, w);
          await kpi().processComplete(t2c.PROCESS, w.invoice.id, 'completed', { labels: { erp: w.erp }, attributes: { erp: w.erp, lines: w.entryIds.length, billingEntity: w.invoice.billingEntity ?? null, region: w.route.region ?? null } });
          await services().exceptions.autoResolve?.(w.recordKey, `node:${node.id}`);
          msg.markInvoiced = w.markInvoiced.kantata.timeEntryIds.length + w.markInvoiced.kantata.expenseIds.length > 0
            ? { payload: { timeEntryIds: w.markInvoiced.kantata.timeEntryIds, expenseIds: w.markInvoiced.kantata.expenseIds, workspaceId: w.markInvoiced.kantata.workspaceId, invoiceNumber: w.invoice.id, invoiceDate: w.invoice.issueDate }, operation: 'markInvoiced', idempotencyKey: `t2c:${w.invoice.id}:mark-invoiced` }
            : null;
          msg.payload = toEnvelope({ entity: 'invoice', event: 'posted', source, data: posted, correlationid: msg.correlationId, idempotencykey: `t2c:${w.invoice.id}:posted` });
          msg.topic = 'fabric/v1/invoice/posted';
          return msg;
        }
        case 'co-plan': {
          const raw = (msg.payload ?? {}) as Record<string, any>;
          const amendment: co.Amendment = raw.Amendment_Type__c !== undefined || raw.Amount_Change__c !== undefined ? co.amendmentFromSalesforce(raw) : (raw.amendment ?? raw);
          return planAmendment(msg, amendment, Number(msg.retry?.attempt ?? 1));
        }
        case 'co-complete': {
          const plan = msg.coPlan as co.ReadyPlan | undefined;
          if (!plan || plan.status !== 'ready') throw new Error(t('errors.noPlan'));
          // remember the amended state so the next amendment builds on it
          const oppId = plan.amendment.opportunityId ?? plan.projectId.replace(/^PRJ-/, '');
          const prev = (await services().idempotency.get(Q2P_SCOPE, oppId))?.outcome as Record<string, any> | undefined;
          if (prev?.projectState) await services().idempotency.recordOutcome(Q2P_SCOPE, oppId, { ...prev, projectState: { ...prev.projectState, budget: plan.budget, billingSchedule: plan.billingSchedule, endDate: plan.endDate } } as Json);
          await services().exceptions.autoResolve?.(`Amendment/${plan.amendment.id}`, `node:${node.id}`);
          if (plan.erpNotUpdated) {
            // not silent: the ERP kept its old schedule, so say so where billing ops look (audit trail; the event says it too)
            await services().audit?.append({ actor: `node:${node.id}`, action: 'erp.billing-schedule.not-updated', process: co.PROCESS, correlationId: msg.correlationId, targetSystem: plan.erpNotUpdated.system, recordKey: `Project/${plan.projectId}`, details: { amendmentId: plan.amendment.id, billingEntity: plan.erpNotUpdated.billingEntity, reason: plan.erpNotUpdated.reason, billingSchedule: plan.billingSchedule, budget: plan.budget } as unknown as Json });
            msg.erpNotUpdated = plan.erpNotUpdated;
          }
          msg.payload = toEnvelope({ entity: 'contract', event: 'amended', source, data: plan.contract, correlationid: msg.correlationId, idempotencykey: co.amendedEventKey(plan.amendment) });
          msg.topic = 'fabric/v1/contract/amended';
          return msg;
        }
        case 'rollup': {
          const r = rep.rollup(msg.payload as Parameters<typeof rep.rollup>[0]);
          await kpi().setUnbilledApprovedHours(Object.fromEntries(r.regions.map((x) => [x.region, x.unbilledApprovedHours])));
          msg.payload = r as unknown as Json;
          msg.topic = 'fabric/v1/kpi/rollup';
          return msg;
        }
        case 'reconcile': {
          const input = (msg.payload ?? {}) as Record<string, any>;
          const reports: rep.ReconciliationReport[] = [];
          // optional input.expectedIn[entity][key] = systems that must hold that key (default: every given system),
          // e.g. a customer billed from an ERP that is not read (legacy) is expected only in the CRM and the PSA
          const expected = (input.expectedIn ?? {}) as Record<string, Record<string, rep.ReconSystem[]> | undefined>;
          for (const entity of ['customer', 'project'] as const) {
            if (!input[entity]) continue;
            const systems = input[entity] as Partial<Record<rep.ReconSystem, rep.ReconRecord[]>>;
            const byKey = expected[entity];
            const all = Object.keys(systems) as rep.ReconSystem[];
            reports.push(rep.reconcile(entity, systems, byKey ? { expectedIn: (key) => (byKey[key] ?? all).filter((s) => all.includes(s)) } : {}));
          }
          const rates: Record<string, number> = Object.fromEntries(reports.map((r) => [r.entity, r.rate]));
          rates.overall = rep.overallRate(reports);
          await kpi().setReconciliationRate(rates);
          msg.payload = { reports, rate: rates.overall, ...(input.requestId ? { requestId: String(input.requestId) } : {}), source: input.source === 'read' ? 'read' : 'given' } as unknown as Json;
          msg.topic = 'fabric/v1/kpi/reconciliation';
          return msg;
        }
        case 'kpi': {
          msg.payload = (await kpi().all()) as Json;
          msg.topic = 'fabric/v1/kpi/snapshot';
          return msg;
        }
        default:
          throw new Error(t('errors.unknownStep', { step: config.step }));
      }
    }

    node.on('input', (msg, send, done) => {
      if (configError) {
        done(new Error(configError));
        return;
      }
      // one span per step, in the trace of the msg (nodes/trace-hooks.ts); what it sends continues from this span
      withSpan(`process-step ${config.step}`, {}, async (span) => {
        const out = await run(msg as Msg);
        const m = msg as Msg;
        span?.setAttributes(businessAttributes({ recordKey: m.recordKey, correlationId: m.correlationId ?? m.correlationid, process: m.process, step: config.step }));
        count += 1;
        if (config.step !== 't2c-plan') node.status({ fill: 'green', shape: 'dot', text: t('status.done', { count }) });
        send(out as never);
      }).then(
        () => done(),
        (err: unknown) => {
          node.status({ fill: 'red', shape: 'ring', text: errorMessage(err).slice(0, 60) });
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      if (retryTimer) clearInterval(retryTimer);
      storeCfg?.deregister(node);
      done();
    });
  }

  RED.nodes.registerType('process-step', ProcessStep as never);
};
