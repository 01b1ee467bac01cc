/**
 * Quote-to-project crash (issue 14, item 5d): a burst of closed-won deals through the deployed templates (as `npm start`
 * deploys them), the vendor sandboxes in a process of their own (support/vendors.ts), the runtime SIGKILLed three
 * times while the deals are being provisioned, at points chosen by progress counted at the vendors (customers, then
 * PSA workspaces, then Jira projects of the burst's deals), restarted on the same user dir, then drained until every
 * run completed. Counted at the vendors' inspection endpoints, per deal: exactly one ERP customer and one ERP project
 * (NetSuite and Business Central; the legacy FR01 route keeps the customer on-prem and creates none), one Kantata
 * workspace, one Jira project and one epic; every run completed (process instance `completed`).
 *
 * Deals are published at QoS 1 on `fabric/v1/opportunity/closed-won` (the template's second trigger), each with a new
 * account, spread over NWA-US (NetSuite), NWA-UK / NWA-DE (Business Central) and NWA-FR (legacy ERP); three open seed
 * opportunities are closed in the Salesforce sandbox at the same time and come through salesforce-trigger.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { record } from './support/report';
import { start, kill9, terminate, rng, seed, knob, type Child } from './support/child';
import { json, mqttUser, startVendors, type VendorsChild } from './support/vendors';
import { applyTemplateEnv } from '../../runtime/templates';
import { ACCOUNTS, OPPORTUNITIES } from '../../sandbox/seed/firm';
import { tempDir } from '../support/tmp';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';

const START = path.resolve(__dirname, '..', '..', 'runtime', 'start.js');
/** One seed opportunity per route: NWA-US (NetSuite), NWA-UK and NWA-DE (Business Central), NWA-FR (legacy ERP). */
const TEMPLATES = ['006Hs00000GlobexEHR', '006Hs00000ThamesCRM', '006Hs00000BavariaCL', '006Hs00000LumiereOM'];

/** The Epic issue type of the Jira sandbox (sandbox/jira ISSUE_TYPES). */
const JIRA_EPIC = '10000';

/** Open seed opportunities closed in the Salesforce sandbox during the burst: they come through salesforce-trigger. */
const SALESFORCE_DEALS = ['006Hs00000GlobexEHR', '006Hs00000ThamesCRM', '006Hs00000BavariaCL'];

/**
 * `customerToken`: what names the deal's customer in the ERP's record. NetSuite customers carry the account's external
 * id; Business Central customers (number series) only the account's legal name and tax registration (the token).
 */
interface Deal { oppId: string; accountExt: string; customerToken: string; entity: string; event?: Record<string, unknown> }

function salesforceDeal(oppId: string): Deal {
  const a = ACCOUNTS.find((x) => x.sfId === OPPORTUNITIES.find((o) => o.sfId === oppId)!.accountSfId)!;
  const bc = a.billingEntity === 'NWA-UK' || a.billingEntity === 'NWA-DE';
  return { oppId, accountExt: a.externalId, customerToken: bc && a.taxRegistration ? a.taxRegistration : a.externalId, entity: a.billingEntity };
}

/** Letters from the sequence number, so the accounts' names (and the 3 letters the Jira key takes) differ. */
const letters = (n: number) => Array.from({ length: 3 }, (_, k) => String.fromCharCode(65 + (Math.floor(n / 26 ** (2 - k)) % 26))).join('');

function deal(run: string, seq: number): Deal {
  const o = OPPORTUNITIES.find((x) => x.sfId === TEMPLATES[seq % TEMPLATES.length])!;
  const a = ACCOUNTS.find((x) => x.sfId === o.accountSfId)!;
  const s = String(seq).padStart(4, '0');
  // every deal token has the same length, so one never contains another
  const oppId = `006Q2P${run}${s}`;
  const accountExt = `ACC-Q${run}${s}`;
  const name = `${letters(seq)} ${a.name} ${s}`;
  // a legal entity of its own: its own tax registration (the ERPs find a customer again by it)
  const taxRegistration = a.taxRegistration ? `${a.taxRegistration.slice(0, -4)}${s}` : null;
  const data = {
    opportunity: { Id: oppId, Name: `${o.name} ${s}`, StageName: 'Closed Won', Amount: o.amount, CurrencyIsoCode: o.currency, CloseDate: o.closeDate, Billing_Model__c: o.billingModel, Delivery_Manager_Id__c: o.deliveryManagerId,
      OpportunityLineItems: { records: o.lines.map((l, i) => ({ SortOrder: i + 1, Workstream__c: l.workstream, Role__c: l.role, Hours__c: l.hours, Rate__c: l.rate })) } },
    account: { Id: `001Q2P${run}${s}`, Name: name, External_Id__c: accountExt, BillingStreet: a.street, BillingCity: a.city, BillingPostalCode: a.postalCode, BillingCountry: a.country, CurrencyIsoCode: a.currency, Billing_Entity__c: a.billingEntity, Tax_Registration__c: taxRegistration },
  };
  const bc = a.billingEntity === 'NWA-UK' || a.billingEntity === 'NWA-DE';
  return { oppId, accountExt, customerToken: bc && taxRegistration ? taxRegistration : accountExt, entity: a.billingEntity, event: { specversion: '1.0', id: `rel-cw-${oppId}`, source: '/reliability', type: 'com.psfabric.opportunity.closed-won.v1', time: new Date().toISOString(), correlationid: `rel-${oppId}`, data } };
}

/** Records of a vendor collection, as an array. */
async function records(sb: string, vendor: string, collection: string): Promise<Array<Record<string, unknown>>> {
  return Object.values((await json(`${sb}/${vendor}/_sandbox/records/${collection}`)) as Record<string, Record<string, unknown>>);
}

/** Per token, how many records mention it. */
function countBy(list: Array<Record<string, unknown>>, tokens: string[]): Map<string, number> {
  const out = new Map<string, number>(tokens.map((t) => [t, 0]));
  for (const r of list) {
    const text = JSON.stringify(r);
    for (const t of tokens) if (text.includes(t)) out.set(t, out.get(t)! + 1);
  }
  return out;
}

/** The CRM side publishing closed-won deals: a named client allowed on that topic only. */
const PUBLISHER = mqttUser('rel-q2p-crm', ['fabric/v1/opportunity/closed-won']);

describe('reliability: quote-to-project burst, runtime SIGKILLed x3 while provisioning (deployed templates, vendors in their own process)', function () {
  const DEALS = knob('RELIABILITY_Q2P_DEALS', 48);
  const KILLS = 3;
  this.timeout(900000);
  let tmp: { dir: string; cleanup(): void };
  let vendors: VendorsChild | undefined;
  let runtime: Child | undefined;

  before(async () => {
    tmp = tempDir('psfabric-rel-q2p-');
    vendors = await startVendors();
  });
  after(async () => {
    await kill9(runtime);
    if (vendors) {
      vendors.proc.send({ type: 'stop' });
      await Promise.race([vendors.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      await kill9(vendors);
    }
    tmp?.cleanup();
  });

  it(`provisions ${DEALS} published + ${SALESFORCE_DEALS.length} Salesforce closed-won deals exactly once each across ${KILLS} SIGKILLs mid-provisioning`, async () => {
    const s = seed();
    const random = rng(s);
    const sb = vendors!.url;
    const userDir = path.join(tmp.dir, 'user');
    const db = path.join(userDir, 'fabric.sqlite');
    const mqttPort = await freePort();
    const t0 = Date.now();
    const run = (s % 1296).toString(36).toUpperCase().padStart(2, '0');
    const published = Array.from({ length: DEALS }, (_, i) => deal(run, i));
    const deals = [...published, ...SALESFORCE_DEALS.map(salesforceDeal)];
    const opps = deals.map((d) => d.oppId);
    const TOTAL = deals.length;

    const env: NodeJS.ProcessEnv = {
      FABRIC_USER_DIR: userDir,
      FABRIC_MQTT_PORT: String(mqttPort),
      FABRIC_STORE_PATH: 'fabric.sqlite',
      FABRIC_SANDBOXES: 'off',
      FABRIC_SANDBOX_URL: sb,
      FABRIC_Q2P_POLL_SECONDS: '2',
      FABRIC_T2C_POLL_SECONDS: '3600',
      FABRIC_LOG_LEVEL: process.env.RELIABILITY_VERBOSE ? 'info' : 'error',
      FABRIC_CREDENTIAL_SECRET: 'reliability-suite-secret',
      FABRIC_MQTT_USERS: PUBLISHER.env,
    };
    applyTemplateEnv(env, { sandboxUrl: sb });
    const startRuntime = async (): Promise<Child> => {
      const port = await freePort();
      const child = await start(START, { ...env, FABRIC_PORT: String(port) }, undefined, 120000);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 'the runtime to be healthy', 90000, 200);
      return child;
    };
    const query = <T>(sql: string, ...args: unknown[]): T[] => {
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        return d.prepare(sql).all(...args) as T[];
      } finally {
        d.close();
      }
    };
    const completed = () => new Set(query<{ key: string }>("SELECT key FROM process_instances WHERE process = 'quote-to-project' AND status = 'completed'").map((r) => r.key).filter((k) => opps.includes(k)));
    const inboxed = (source: string) => query<{ n: number }>('SELECT COUNT(*) AS n FROM inbox WHERE source = ?', source)[0].n;
    const outboxOpen = () => query<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'inflight')")[0].n;

    // what the vendors hold for the burst's deals
    const counts = async () => {
      const [nsCust, nsJob, bcCust, bcProj, ws, jp, issues] = await Promise.all([
        records(sb, 'netsuite', 'customer'), records(sb, 'netsuite', 'job'), records(sb, 'bc', 'customers'), records(sb, 'bc', 'projects'),
        records(sb, 'kantata', 'workspaces'), records(sb, 'jira', 'projects'), records(sb, 'jira', 'issues'),
      ]);
      const customers = countBy([...nsCust, ...bcCust], deals.map((d) => d.customerToken));
      const projects = countBy([...nsJob, ...bcProj], opps);
      const epics = issues.filter((i) => i.issuetypeId === JIRA_EPIC);
      return {
        customers, projects,
        workspaces: countBy(ws, opps),
        jiraProjects: countBy(jp, opps.map((o) => `PRJ-${o}`)),
        epics: countBy(epics, opps.map((o) => `sf-${o}`)),
      };
    };
    const present = (m: Map<string, number>) => [...m.values()].filter((n) => n > 0).length;

    const figures = { scenario: '11 quote-to-project crash (templates)', writes: TOTAL, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as number | '', notes: '' };
    const atKill: string[] = [];
    try {
      runtime = await startRuntime();
      // the burst: every deal acknowledged (QoS 1) and in the inbox before the first kill
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `rel-q2p-${s}`, clean: true, reconnectPeriod: 0, ...PUBLISHER.credentials });
      await Promise.all(published.map((d) => client.publishAsync('fabric/v1/opportunity/closed-won', JSON.stringify(d.event), { qos: 1 })));
      await client.endAsync();
      for (const id of SALESFORCE_DEALS) await json(`${sb}/salesforce/_sandbox/close-won/${id}`, 'POST');
      await waitFor(() => inboxed('mqtt:q2p-mqtt-in') >= DEALS && inboxed('salesforce-trigger:q2p-sf-trigger') >= SALESFORCE_DEALS.length, `${DEALS} published + ${SALESFORCE_DEALS.length} Salesforce deals in the inbox`, 60000, 100);

      // kill points by progress at the vendors: customers, then PSA workspaces, then Jira projects of the burst
      const points: Array<{ what: 'customers' | 'workspaces' | 'jiraProjects'; share: number }> = [
        { what: 'customers', share: 0.15 + 0.15 * random() },
        { what: 'workspaces', share: 0.35 + 0.15 * random() },
        { what: 'jiraProjects', share: 0.6 + 0.15 * random() },
      ];
      for (const p of points) {
        const target = Math.max(1, Math.floor(TOTAL * p.share));
        // a run that stalls (provisioning lost) is counted below rather than only timing out here
        const reached = await waitFor(async () => present((await counts())[p.what]) >= target, `${target}/${TOTAL} deals with ${p.what} at the vendors`, 180000, 100)
          .then(() => true, (err: Error) => {
            figures.notes += `stalled before kill ${figures.kills + 1}: ${err.message}; `;
            return false;
          });
        if (!reached) break;
        await kill9(runtime);
        figures.kills += 1;
        const c = await counts();
        atKill.push(`${p.what} ${present(c[p.what])}/${TOTAL} (epics ${present(c.epics)})`);
        runtime = await startRuntime();
      }

      // drain until quiescent: every run completed and nothing left in the outbox
      await waitFor(() => completed().size >= TOTAL && outboxOpen() === 0, `every run completed and the outbox drained (have ${completed().size}/${TOTAL})`, 240000, 250)
        .catch((err: Error) => {
          figures.notes += `not quiescent: ${err.message}; `;
        });

      const c = await counts();
      const erpRouted = new Set(deals.filter((d) => d.entity !== 'NWA-FR').map((d) => d.oppId));
      const erpAccounts = new Set(deals.filter((d) => d.entity !== 'NWA-FR').map((d) => d.customerToken));
      const wrong: string[] = [];
      const check = (what: string, m: Map<string, number>, expected: (token: string) => number) => {
        for (const [token, n] of m) {
          const want = expected(token);
          if (n === want) continue;
          wrong.push(`${what} ${token}: ${n} (expected ${want})`);
          if (n < want) figures.lost += want - n;
          else figures.duplicatedEffects += n - want;
        }
      };
      check('ERP customer', c.customers, (acc) => (erpAccounts.has(acc) ? 1 : 0));
      check('ERP project', c.projects, (opp) => (erpRouted.has(opp) ? 1 : 0));
      check('PSA workspace', c.workspaces, () => 1);
      check('Jira project', c.jiraProjects, () => 1);
      check('Jira epic', c.epics, () => 1);
      const done = completed();
      const unfinished = opps.filter((o) => !done.has(o));
      figures.lost += unfinished.length;
      figures.exceptions = query<{ n: number }>("SELECT COUNT(*) AS n FROM exceptions WHERE status = 'open' AND process = 'quote-to-project'")[0].n;
      // re-sends absorbed: deals re-sent from the inbox after a kill (each write answered from the outbox or, for a
      // write in flight at the kill, found at the vendor by its key), plus writes attempted again after a kill
      const replays = query<{ n: number | null }>("SELECT SUM(replays) AS n FROM inbox WHERE source IN ('mqtt:q2p-mqtt-in', 'salesforce-trigger:q2p-sf-trigger')")[0].n ?? 0;
      const retried = query<{ n: number | null }>("SELECT SUM(attempts - 1) AS n FROM outbox WHERE status = 'delivered' AND process = 'quote-to-project' AND attempts > 1")[0].n ?? 0;
      figures.resendsAbsorbed = replays + retried;
      figures.notes += `seed ${s}; kills at ${atKill.join(', ')}; ${replays} deals re-sent from the inbox, ${retried} writes re-attempted; ${Math.round((Date.now() - t0) / 1000)} s`;
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} per-deal counts wrong at the vendors`);
      assert.deepEqual(unfinished.slice(0, 10), [], `${unfinished.length} runs never completed`);
      assert.equal(figures.kills, KILLS);
      assert.equal(figures.exceptions, 0, 'a crash raised quote-to-project exceptions');
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    }
    record(figures);
    await terminate(runtime);
    runtime = undefined;
  });
});
