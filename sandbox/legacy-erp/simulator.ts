/**
 * The legacy on-prem ERP of NWA-FR (company FR01), simulated: an MQTT client with a persistent session
 * (fixed client id, clean=false, QoS 1 both ways) that
 *  - publishes approved time entries as `TE` flat lines on `legacy/fr01/time/out` (the seed's FR entries,
 *    or `publishBatch(n, ratePerSecond)` with ids `<runId>-<seq>` so a benchmark can check exactly-once);
 *  - consumes invoice postings (`IH` + `IL` lines) on `legacy/fr01/invoice/in`, keeps them, and answers
 *    with an `AK` line on `legacy/fr01/invoice/ack` (`OK` with its document number, or `ER` with a code);
 *    a re-posted invoice number is acknowledged with the document it already has (no second document).
 * Inspection: optional HTTP port (`GET /invoices`, `GET /published`, `GET /rejected`, `POST /publish {count, rate}`,
 * `POST /publish-seed`, `PUT /unknown-customers {codes}`: postings for these customers are answered `ER;CUST404`) and/or a JSON file written after each change.
 *
 * Standalone: node dist/sandbox/legacy-erp/simulator.js --url mqtt://127.0.0.1:1883 [--username u --password p]
 *   [--http-port 8190] [--state-file legacy-erp.json] [--publish-seed] [--publish N --rate R [--run-id B1]] [--exit-after-publish]
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import mqtt, { MqttClient } from 'mqtt';
import { CONSULTANTS } from '../seed/firm';
import { decodeInvoice, encodeAck, encodeTimeEntry, LegacyInvoice, LegacyTimeEntry, LineError, TOPICS } from '../../lib/connectors/legacy-erp/codec';

export interface SimulatorOptions {
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  httpPort?: number;
  stateFile?: string;
  /** Invoices for these customer codes are rejected with `ER;CUST404` (to test the error path). */
  unknownCustomers?: string[];
}

export interface ReceivedInvoice {
  invoice: LegacyInvoice;
  documentNo: string;
  receivedAt: string;
  deliveries: number;
}

export interface SimulatorState {
  invoices: Record<string, ReceivedInvoice>;
  rejected: { receivedAt: string; payload: string; errors: LineError[] }[];
  published: number;
  documentSeq: number;
}

/** The FR entity's approved time, deterministic: two consultants on the Lumière project, 2-20 Nov 2026 weekdays. */
export function seedLegacyTimeEntries(): LegacyTimeEntry[] {
  const out: LegacyTimeEntry[] = [];
  const fr = CONSULTANTS.filter((c) => c.homeEntity === 'NWA-FR');
  let n = 0;
  for (let day = 2; day <= 20; day++) {
    const date = `2026-11-${String(day).padStart(2, '0')}`;
    const wd = new Date(`${date}T12:00:00Z`).getUTCDay();
    if (wd === 0 || wd === 6) continue;
    for (const c of fr) {
      n += 1;
      out.push({
        entryId: `FR-TE-${String(n).padStart(6, '0')}`, consultantCode: c.id, projectCode: 'FR01-LUM-OM', date,
        hours: [7.5, 8, 6, 4][n % 4], rate: c.billRate, currency: 'EUR', billable: true,
        approvedAt: `${date}T17:30:00Z`, description: ['Atelier gestion des commandes', 'Intégration OMS', 'Recette', 'Documentation'][n % 4],
      });
    }
  }
  return out;
}

export class LegacyErpSimulator {
  state: SimulatorState = { invoices: {}, rejected: [], published: 0, documentSeq: 0 };
  private client?: MqttClient;
  private server?: http.Server;
  httpUrl?: string;

  constructor(readonly opts: SimulatorOptions) {
    if (opts.stateFile && fs.existsSync(opts.stateFile)) {
      try {
        this.state = JSON.parse(fs.readFileSync(opts.stateFile, 'utf8'));
      } catch {
        /* start empty */
      }
    }
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.opts.url, {
      clientId: this.opts.clientId ?? 'legacy-erp-fr01',
      clean: false,
      username: this.opts.username,
      password: this.opts.password,
      reconnectPeriod: 500,
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic === TOPICS.invoiceIn) this.onInvoice(payload.toString('utf8'));
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(TOPICS.invoiceIn, { qos: 1 });
    if (this.opts.httpPort !== undefined) await this.startHttp(this.opts.httpPort);
  }

  private onInvoice(payload: string): void {
    const { invoice, errors } = decodeInvoice(payload);
    if (!invoice) {
      this.state.rejected.push({ receivedAt: new Date().toISOString(), payload, errors });
      const no = /^IH;([^;]*)/.exec(payload)?.[1] || 'UNKNOWN';
      const first = errors[0];
      this.ack({ invoiceNo: /^[A-Za-z0-9._/-]{1,20}$/.test(no) ? no : 'UNKNOWN', ok: false, reference: 'FORMAT', message: first ? `line ${first.line} ${first.field}: expected ${first.expected}` : 'unreadable posting' });
      this.persist();
      return;
    }
    if ((this.opts.unknownCustomers ?? []).includes(invoice.customerCode)) {
      this.ack({ invoiceNo: invoice.invoiceNo, ok: false, reference: 'CUST404', message: `customer ${invoice.customerCode} unknown in FR01` });
      return;
    }
    const existing = this.state.invoices[invoice.invoiceNo];
    if (existing) {
      existing.deliveries += 1;
      this.ack({ invoiceNo: invoice.invoiceNo, ok: true, reference: existing.documentNo, message: 'duplicate posting, already booked' });
    } else {
      this.state.documentSeq += 1;
      const documentNo = `FR01-${String(this.state.documentSeq).padStart(7, '0')}`;
      this.state.invoices[invoice.invoiceNo] = { invoice, documentNo, receivedAt: new Date().toISOString(), deliveries: 1 };
      this.ack({ invoiceNo: invoice.invoiceNo, ok: true, reference: documentNo, message: 'booked' });
    }
    this.persist();
  }

  /** Customer codes the ERP does not know from now on (their postings are answered `ER;CUST404`); [] = all known. */
  setUnknownCustomers(codes: string[]): void {
    this.opts.unknownCustomers = [...codes];
  }

  private ack(a: { invoiceNo: string; ok: boolean; reference: string; message: string }): void {
    this.client?.publish(TOPICS.invoiceAck, encodeAck(a), { qos: 1 });
  }

  /** Publishes entries one by one at QoS 1, waiting for each PUBACK. */
  async publishEntries(entries: LegacyTimeEntry[], ratePerSecond = 0): Promise<number> {
    const gap = ratePerSecond > 0 ? 1000 / ratePerSecond : 0;
    const started = Date.now();
    for (let i = 0; i < entries.length; i++) {
      if (gap) {
        const due = started + i * gap;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await this.client!.publishAsync(TOPICS.timeOut, encodeTimeEntry(entries[i]), { qos: 1 });
      this.state.published += 1;
    }
    this.persist();
    return entries.length;
  }

  publishSeed(): Promise<number> {
    return this.publishEntries(seedLegacyTimeEntries());
  }

  /** N synthetic approved entries with ids `<runId>-<seq>` (seq 1..N, zero-padded), at `ratePerSecond` (0 = as fast as acks allow). */
  publishBatch(count: number, ratePerSecond = 0, runId = `B${Date.now().toString(36).toUpperCase()}`): Promise<number> {
    const fr = CONSULTANTS.filter((c) => c.homeEntity === 'NWA-FR');
    const entries: LegacyTimeEntry[] = [];
    for (let i = 1; i <= count; i++) {
      const c = fr[i % fr.length];
      const day = 1 + (i % 28);
      entries.push({ entryId: `${runId}-${String(i).padStart(7, '0')}`.slice(0, 20), consultantCode: c.id, projectCode: 'FR01-LUM-OM', date: `2026-11-${String(day).padStart(2, '0')}`, hours: 8, rate: c.billRate, currency: 'EUR', billable: true, approvedAt: '2026-11-30T18:00:00Z', description: `Batch ${runId} entry ${i}` });
    }
    return this.publishEntries(entries, ratePerSecond);
  }

  private persist(): void {
    if (!this.opts.stateFile) return;
    fs.mkdirSync(path.dirname(path.resolve(this.opts.stateFile)), { recursive: true });
    const tmp = this.opts.stateFile + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify(this.state, null, 1));
    fs.renameSync(tmp, this.opts.stateFile);
  }

  private async startHttp(port: number): Promise<void> {
    this.server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const body = raw ? (() => { try { return JSON.parse(raw); } catch { return {}; } })() : {};
        if (req.method === 'GET' && req.url === '/invoices') return send(200, Object.values(this.state.invoices));
        if (req.method === 'GET' && req.url === '/rejected') return send(200, this.state.rejected);
        if (req.method === 'PUT' && req.url === '/unknown-customers') {
          if (!Array.isArray(body.codes)) return send(400, { error: 'codes must be an array of customer codes' });
          this.setUnknownCustomers(body.codes.map(String));
          return send(200, { unknownCustomers: this.opts.unknownCustomers });
        }
        if (req.method === 'GET' && req.url === '/published') return send(200, { published: this.state.published });
        if (req.method === 'POST' && req.url === '/publish-seed') return void this.publishSeed().then((n) => send(200, { published: n }), (e) => send(500, { error: String(e) }));
        if (req.method === 'POST' && req.url === '/publish') {
          const count = Number(body.count ?? 10);
          if (!Number.isInteger(count) || count < 1) return send(400, { error: 'count must be a positive integer' });
          return void this.publishBatch(count, Number(body.rate ?? 0), body.runId).then((n) => send(200, { published: n }), (e) => send(500, { error: String(e) }));
        }
        send(404, { error: 'GET /invoices, /rejected, /published; POST /publish {count, rate, runId}, /publish-seed; PUT /unknown-customers {codes}' });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
    this.httpUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.persist();
    if (this.server) {
      this.server.closeAllConnections?.();
      await new Promise<void>((r) => this.server!.close(() => r()));
      this.server = undefined;
    }
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }
}

function arg(name: string, argv: string[]): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const url = arg('url', argv) ?? process.env.LEGACY_ERP_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  const sim = new LegacyErpSimulator({
    url,
    username: arg('username', argv) ?? process.env.LEGACY_ERP_MQTT_USERNAME,
    password: arg('password', argv) ?? process.env.LEGACY_ERP_MQTT_PASSWORD,
    clientId: arg('client-id', argv),
    httpPort: arg('http-port', argv) !== undefined ? Number(arg('http-port', argv)) : undefined,
    stateFile: arg('state-file', argv),
  });
  await sim.start();
  console.log(`legacy ERP simulator connected to ${url}${sim.httpUrl ? `, inspection on ${sim.httpUrl}` : ''}`);
  if (argv.includes('--publish-seed')) console.log(`published ${await sim.publishSeed()} seed entries on ${TOPICS.timeOut}`);
  const n = arg('publish', argv);
  if (n) {
    const started = Date.now();
    const count = await sim.publishBatch(Number(n), Number(arg('rate', argv) ?? 0), arg('run-id', argv));
    console.log(`published ${count} entries in ${Date.now() - started} ms`);
  }
  if (argv.includes('--exit-after-publish')) {
    await sim.stop();
    return;
  }
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
