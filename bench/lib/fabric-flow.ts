/**
 * The PS Fabric subject of scenario 1 while the time-to-cash template (flows/time-to-cash.json) is not in the
 * tree: the product pieces that exist, wired for legacy (FR01) entries, ONE invoice per entry (no grouping):
 *   fabric-mqtt-in (inbox commit, then PUBACK; TE lines are not JSON -> output 2 carries the raw text)
 *   -> legacy-erp decodeTime -> canonical (timeentry/approved, schema validation, CloudEvent)
 *   -> fabric-idempotent (store-backed de-duplication) -> function (canonical Invoice, one line per entry)
 *   -> legacy-erp encodeInvoice -> function (text to Buffer, so fabric-mqtt-out does not JSON-quote it)
 *   -> fabric-mqtt-out (QoS 1) to legacy/fr01/invoice/in, where the legacy ERP simulator books it.
 * 7 nodes after the MQTT-in node (the Node-RED ceiling gets the same number of hops).
 */
export const FABRIC_FALLBACK_HOPS = 7;

export const INVOICE_FROM_ENTRY = `const te = msg.payload.data;
const amount = Math.round(te.hours * te.rate.amount * 100) / 100;
const due = new Date(Date.parse(te.date + 'T00:00:00Z') + 30 * 86400000).toISOString().slice(0, 10);
const no = String(te.externalIds && te.externalIds.legacy || te.id).slice(0, 20);
msg.payload = {
  id: no, number: no, billingEntity: 'NWA-FR', accountId: 'C-FR-LUMIERE', projectId: te.projectId,
  issueDate: te.date, dueDate: due, currency: te.rate.currency, subtotal: { amount, currency: te.rate.currency },
  taxTotal: { amount: 0, currency: te.rate.currency },
  lines: [{ lineNumber: 1, description: te.notes || '', quantity: te.hours, unitPrice: te.rate, amount: { amount, currency: te.rate.currency }, sourceRefs: [{ entity: 'TimeEntry', id: te.id }] }]
};
return msg;`;

export function fabricFallbackFlow(opts: { topic: string }): unknown[] {
  const z = 'bench-fab';
  const tab = { id: z, type: 'tab', label: 'bench: PS Fabric pieces (time-to-cash fallback)' };
  const broker = { id: 'bench-fab-broker', type: 'fabric-broker', name: 'bus', mode: 'embedded', url: '', clientId: 'bench-fabric', clean: false, protocolVersion: '4', keepalive: 60, sharedGroup: '' };
  const store = { id: 'bench-fab-store', type: 'fabric-store', name: 'store', kind: 'sqlite', path: '', retentionDays: 7 };
  const fn = (id: string, name: string, func: string, next: string) => ({ id, type: 'function', z, name, func, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[next]], x: 400, y: 200 });
  return [
    tab,
    broker,
    store,
    { id: 'bench-fab-in', type: 'fabric-mqtt-in', z, name: '', broker: broker.id, store: store.id, topic: opts.topic, qos: '1', maxBytes: 1048576, wires: [['bench-fab-decode'], ['bench-fab-decode']], x: 120, y: 100 },
    { id: 'bench-fab-decode', type: 'legacy-erp', z, name: '', mode: 'decodeTime', topic: '', wires: [['bench-fab-canonical'], []], x: 300, y: 100 },
    { id: 'bench-fab-canonical', type: 'canonical', z, name: '', entity: 'timeentry', mapping: '', event: 'approved', source: '', subject: '', correlationProperty: 'correlationid', idempotencyKey: '', maxBytes: 1048576, wires: [['bench-fab-idem'], []], x: 500, y: 100 },
    { id: 'bench-fab-idem', type: 'fabric-idempotent', z, name: '', store: store.id, keySource: 'envelope', expression: '', scope: '', retentionHours: '', repeats: 'output', outputs: 2, wires: [['bench-fab-invoice'], []], x: 700, y: 100 },
    fn('bench-fab-invoice', 'invoice per entry', INVOICE_FROM_ENTRY, 'bench-fab-encode'),
    { id: 'bench-fab-encode', type: 'legacy-erp', z, name: '', mode: 'encodeInvoice', topic: '', wires: [['bench-fab-buffer'], []], x: 300, y: 300 },
    fn('bench-fab-buffer', 'to bytes', 'msg.payload = Buffer.from(msg.payload, "utf8");\nreturn msg;', 'bench-fab-out'),
    { id: 'bench-fab-out', type: 'fabric-mqtt-out', z, name: '', broker: broker.id, topic: '', qos: '1', retain: false, maxBytes: 1048576, wires: [], x: 700, y: 300 },
  ];
}
