import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker, RunningBroker } from '../../../lib/broker';
import {
  decodeAck, decodeInvoice, decodeTimeEntries, encodeInvoice, encodeTimeEntry, fromCanonicalInvoice, fromCanonicalTimeEntry, legacyInvoiceNo,
  LegacyFormatError, LegacyTimeEntry, toCanonicalTimeEntry, TOPICS,
} from '../../../lib/connectors/legacy-erp/codec';
import { LegacyErpClient } from '../../../lib/connectors/legacy-erp/client';
import { LegacyErpSimulator, seedLegacyTimeEntries } from '../../../sandbox/legacy-erp/simulator';
import { validate } from '../../../lib/model/validator';
import { waitFor } from '../../support/wait';
import { FabricError } from '../../../lib/delivery/errors';

const entry: LegacyTimeEntry = { entryId: 'FR-TE-000123', consultantCode: 'CON-011', projectCode: 'FR01-LUM-OM', date: '2026-11-16', hours: 7.5, rate: 155, currency: 'EUR', billable: true, approvedAt: '2026-11-17T09:30:00Z', description: 'Atelier; gestion\ncommandes' };

const canonicalInvoice = {
  id: 'INV-FR-2026-0001', version: 1, number: 'INV-FR-2026-0001', accountId: 'ACC-4001', billingEntity: 'NWA-FR', projectId: 'FR01-LUM-OM', currency: 'EUR',
  issueDate: '2026-11-30', dueDate: '2026-12-30', status: 'posted',
  lines: [
    { lineNumber: 1, description: 'Camille Durand 2026-11-16', quantity: 7.5, unitPrice: { amount: 155, currency: 'EUR' }, amount: { amount: 1162.5, currency: 'EUR' }, sourceRefs: [{ type: 'timeentry', id: 'LEG-FR-TE-000001' }] },
    { lineNumber: 2, description: 'Hugo Martin 2026-11-16', quantity: 8, unitPrice: { amount: 120, currency: 'EUR' }, amount: { amount: 960, currency: 'EUR' }, sourceRefs: [{ type: 'timeentry', id: 'LEG-FR-TE-000002' }] },
  ],
  subtotal: { amount: 2122.5, currency: 'EUR' }, taxTotal: { amount: 424.5, currency: 'EUR' }, total: { amount: 2547, currency: 'EUR' },
};

describe('legacy ERP flat-format codec', () => {
  it('round-trips a time entry and maps it to a canonical TimeEntry the model accepts', () => {
    const line = encodeTimeEntry(entry);
    assert.equal(line, 'TE;FR-TE-000123;CON-011;FR01-LUM-OM;20261116;000750;000015500;EUR;Y;20261117093000;Atelier, gestion commandes');
    const { records, errors } = decodeTimeEntries(line + '\r\n');
    assert.deepEqual(errors, []);
    assert.deepEqual(records[0], { ...entry, description: 'Atelier, gestion commandes' });
    const canonical = toCanonicalTimeEntry(records[0]);
    const v = validate('TimeEntry', canonical);
    assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
    assert.equal(fromCanonicalTimeEntry(canonical).entryId, 'FR-TE-000123');
  });

  it('reports malformed lines with line, field, position and what was expected', () => {
    const payload = [
      encodeTimeEntry(entry),
      'TE;FR-TE-2;CON-011;FR01-LUM-OM;20261131;07.50;000015500;eur;X;20261117093000;x',
      'TE;too;few',
      'ZZ;1',
    ].join('\n');
    const { records, errors } = decodeTimeEntries(payload);
    assert.equal(records.length, 1);
    const at = (line: number, field: string) => errors.find((e) => e.line === line && e.field === field);
    assert.deepEqual(at(2, 'date'), { line: 2, field: 'date', position: 5, expected: 'a date YYYYMMDD', got: '20261131' });
    assert.equal(at(2, 'hours')!.expected, '6 digits with 2 implied decimals');
    assert.equal(at(2, 'currency')!.got, 'eur');
    assert.equal(at(2, 'billable')!.expected, 'Y or N');
    assert.equal(at(3, 'fieldCount')!.expected, '11 fields for TE');
    assert.equal(at(4, 'recordType')!.got, 'ZZ');
    const err = new LegacyFormatError(errors);
    assert.equal(err.errorClass, 'validation');
    assert.ok(err.details!.some((d) => d.path === '/lines/2/date'));
  });

  it('round-trips an invoice posting from a canonical Invoice and checks counts and totals', () => {
    const legacy = fromCanonicalInvoice(canonicalInvoice);
    const text = encodeInvoice(legacy);
    assert.match(text, /^IH;INV-FR-2026-0001;ACC-4001;FR01-LUM-OM;20261130;20261230;EUR;000000212250;000000042450;2\r\nIL;INV-FR-2026-0001;1;FR-TE-000001;/);
    assert.deepEqual(decodeInvoice(text).invoice, legacy);
    const wrongTotal = text.replace('000000212250', '000000212251');
    assert.equal(decodeInvoice(wrongTotal).errors[0].field, 'netTotal');
    const wrongCount = text.replace(';2\r\n', ';3\r\n');
    assert.equal(decodeInvoice(wrongCount).errors[0].field, 'lineCount');
    assert.throws(() => fromCanonicalInvoice({ ...canonicalInvoice, billingEntity: 'NWA-UK' }), (e: FabricError) => e.details![0].path === '/billingEntity');
  });

  it('gives invoices of one month distinct, stable numbers within the ERP\'s 20 characters', () => {
    const a = 'INV-NWA-FR-ACC-4001-FR01-LUM-OM-2026-11-1';
    const b = 'INV-NWA-FR-ACC-4001-FR01-LUM-OM-2026-11-2';
    assert.ok(legacyInvoiceNo(a).length <= 20 && legacyInvoiceNo(b).length <= 20);
    assert.notEqual(legacyInvoiceNo(a), legacyInvoiceNo(b));
    assert.equal(legacyInvoiceNo(a), legacyInvoiceNo(a));
    assert.match(legacyInvoiceNo(a), /^INV-NWA-FR-[0-9A-Z]{8}$/);
    assert.equal(legacyInvoiceNo('INV-FR-2026-0001'), 'INV-FR-2026-0001');
    const posted = encodeInvoice(fromCanonicalInvoice({ ...canonicalInvoice, number: a }));
    assert.equal(decodeInvoice(posted).errors.length, 0);
  });
});

describe('legacy ERP simulator over MQTT (real aedes broker, real mqtt.js)', function () {
  this.timeout(30000);
  let broker: RunningBroker;
  let sim: LegacyErpSimulator;
  before(async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', persistence: 'memory' });
  });
  after(async () => broker.close());
  afterEach(async () => sim?.stop());

  it('publishes the FR entries at QoS 1 to a persistent subscriber, and a batch with unique ids', async () => {
    const received: string[] = [];
    const sub = mqtt.connect(broker.url!, { clientId: 'fabric-test-sub', clean: false });
    sub.on('message', (_t, p) => received.push(p.toString()));
    await new Promise((r) => sub.once('connect', r));
    await sub.subscribeAsync(TOPICS.timeOut, { qos: 1 });
    sim = new LegacyErpSimulator({ url: broker.url!, httpPort: 0 });
    await sim.start();
    const seed = seedLegacyTimeEntries();
    assert.equal(await sim.publishSeed(), seed.length);
    await waitFor(() => received.length === seed.length, 'seed entries');
    // Subscriber offline: its persistent session keeps QoS 1 messages until it comes back.
    await sub.endAsync();
    const published = (await (await fetch(`${sim.httpUrl}/publish`, { method: 'POST', body: JSON.stringify({ count: 250, rate: 0, runId: 'T1' }) })).json()) as any;
    assert.equal(published.published, 250);
    const back = mqtt.connect(broker.url!, { clientId: 'fabric-test-sub', clean: false });
    const ids = new Set<string>();
    back.on('message', (_t, p) => {
      const { records, errors } = decodeTimeEntries(p);
      assert.deepEqual(errors, []);
      for (const r of records) if (r.entryId.startsWith('T1-')) ids.add(r.entryId);
    });
    await waitFor(() => ids.size === 250, 'the batch delivered to the returning persistent session');
    await back.endAsync();
  });

  it('books invoice postings once, acknowledges duplicates with the same document, rejects malformed ones', async () => {
    sim = new LegacyErpSimulator({ url: broker.url!, httpPort: 0, unknownCustomers: ['ACC-9999'] });
    await sim.start();
    const client = new LegacyErpClient({ url: broker.url!, ackTimeoutMs: 5000 });
    try {
      const exec = client.executor();
      const r1 = (await exec.execute('postInvoice', { invoice: canonicalInvoice } as any, { idempotencyKey: 'i1', attempt: 1 })) as any;
      assert.match(r1.erpDocumentNo, /^FR01-\d{7}$/);
      const r2 = (await exec.execute('postInvoice', { invoice: canonicalInvoice } as any, { idempotencyKey: 'i1', attempt: 2 })) as any;
      assert.equal(r2.erpDocumentNo, r1.erpDocumentNo);
      const inv = (await (await fetch(`${sim.httpUrl}/invoices`)).json()) as any;
      assert.equal(inv.length, 1);
      assert.equal(inv[0].deliveries, 2);
      assert.equal(inv[0].invoice.lines.length, 2);
      await assert.rejects(exec.execute('postInvoice', { invoice: { ...canonicalInvoice, id: 'INV-X', number: 'INV-X', accountId: 'ACC-9999' } } as any, { idempotencyKey: 'i2', attempt: 1 }), (e: FabricError) => e.errorClass === 'validation' && /CUST404/.test(e.message));
      // A malformed posting is answered with ER;FORMAT naming the line and field.
      const raw = mqtt.connect(broker.url!);
      await new Promise((r) => raw.once('connect', r));
      const acks: string[] = [];
      raw.on('message', (_t, p) => acks.push(p.toString()));
      await raw.subscribeAsync(TOPICS.invoiceAck, { qos: 1 });
      await raw.publishAsync(TOPICS.invoiceIn, 'IH;INV-BAD;ACC-4001;P;20261130;20261399;EUR;000000000100;000000000000;0\r\n', { qos: 1 });
      const ack = await waitFor(() => acks.map((a) => decodeAck(a).ack).find((a) => a?.invoiceNo === 'INV-BAD'), 'ER ack');
      assert.equal(ack.ok, false);
      assert.equal(ack.reference, 'FORMAT');
      assert.match(ack.message, /line 1 dueDate: expected a date YYYYMMDD/);
      await raw.endAsync();
    } finally {
      await client.close();
    }
  });

  it('times out as a transient error when the ERP is not there', async () => {
    const client = new LegacyErpClient({ url: broker.url!, ackTimeoutMs: 300 });
    try {
      await assert.rejects(client.executor().execute('postInvoice', { invoice: canonicalInvoice } as any, { idempotencyKey: 'i3', attempt: 1 }), (e: FabricError) => e.retry === 'transient');
    } finally {
      await client.close();
    }
  });
});
