/**
 * Baseline "hand-built-peer": the time-to-cash work for legacy (FR01) entries as a competent Node-RED user would
 * build it without PS Fabric: core `mqtt in` (QoS 1, persistent session; mqtt.js acknowledges before the flow
 * runs, i.e. no durability), a function node that parses the flat TE line and does the mapping and checks in
 * plain JavaScript, a function node that builds the invoice posting (IH + IL lines), core `mqtt out` (QoS 1) to
 * the legacy ERP's invoice topic. The input is flat text, not JSON, so there is no `json` node; the ERP of the
 * FR01 billing entity is the legacy ERP over MQTT (lib/processes/erp-routing.default.json), so the write is an
 * `mqtt out`, not an `http request`. No durability, no de-duplication, no validation against the schema.
 */
export const PEER_PARSE = `// TE;entryId;consultant;project;date;hours;rate;currency;billable;approvedAt;description
const f = String(msg.payload).trim().split(';');
if (f.length !== 11 || f[0] !== 'TE') { node.warn('not a TE line: ' + msg.payload); return null; }
const problems = [];
if (!/^[A-Za-z0-9._/-]{1,20}$/.test(f[1])) problems.push('entryId');
if (!/^[A-Za-z0-9._/-]{1,10}$/.test(f[2])) problems.push('consultant');
if (!/^[A-Za-z0-9._/-]{1,20}$/.test(f[3])) problems.push('project');
if (!/^\\d{8}$/.test(f[4])) problems.push('date');
if (!/^\\d{6}$/.test(f[5])) problems.push('hours');
if (!/^\\d{9}$/.test(f[6])) problems.push('rate');
if (!/^[A-Z]{3}$/.test(f[7])) problems.push('currency');
if (f[8] !== 'Y' && f[8] !== 'N') problems.push('billable');
const hours = Number(f[5]) / 100;
if (hours <= 0 || hours > 24) problems.push('hours range');
if (f[8] !== 'Y') problems.push('not billable');
const projects = flow.get('projects') || { 'FR01-LUM-OM': { customer: 'C-FR-LUMIERE', currency: 'EUR', open: true } };
const project = projects[f[3]];
if (!project || !project.open) problems.push('unknown or closed project');
else if (project.currency !== f[7]) problems.push('currency differs from the project');
if (problems.length) { node.warn('rejected ' + f[1] + ': ' + problems.join(', ')); return null; }
msg.entry = {
  id: 'LEG-' + f[1], entryId: f[1], consultant: f[2], projectId: f[3], customer: project.customer,
  date: f[4].slice(0, 4) + '-' + f[4].slice(4, 6) + '-' + f[4].slice(6, 8),
  hours, rate: Number(f[6]) / 100, currency: f[7], description: f[10]
};
return msg;`;

export const PEER_INVOICE = `const e = msg.entry;
const pad = (n, w) => String(Math.round(n * 100)).padStart(w, '0');
const amount = Math.round(e.hours * e.rate * 100) / 100;
const no = e.entryId.slice(0, 20);
const issue = e.date.replace(/-/g, '');
const due = new Date(Date.parse(e.date + 'T00:00:00Z') + 30 * 86400000).toISOString().slice(0, 10).replace(/-/g, '');
const desc = (e.description || '').replace(/[;\\r\\n]/g, ' ').slice(0, 60);
msg.payload = ['IH', no, e.customer, e.projectId, issue, due, e.currency, pad(amount, 12), pad(0, 12), '1'].join(';') + '\\r\\n'
  + ['IL', no, '1', e.entryId, desc, pad(e.hours, 8), pad(e.rate, 9), pad(amount, 12)].join(';') + '\\r\\n';
msg.topic = 'legacy/fr01/invoice/in';
return msg;`;

export function handBuiltPeerFlow(opts: { mqttPort: number; topic: string }): unknown[] {
  const tab = { id: 'bench-peer', type: 'tab', label: 'bench: hand-built peer' };
  const broker = {
    id: 'bench-peer-broker', type: 'mqtt-broker', name: 'local', broker: '127.0.0.1', port: String(opts.mqttPort), clientid: 'bench-peer',
    autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: false, autoUnsubscribe: true,
    birthTopic: '', closeTopic: '', willTopic: '', userProps: '', sessionExpiry: '',
  };
  const fn = (id: string, name: string, func: string, next: string) => ({ id, type: 'function', z: tab.id, name, func, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[next]], x: 400, y: 100 });
  return [
    tab,
    broker,
    { id: 'bench-peer-in', type: 'mqtt in', z: tab.id, name: '', topic: opts.topic, qos: '1', datatype: 'utf8', broker: broker.id, nl: false, rap: true, rh: 0, inputs: 0, wires: [['bench-peer-parse']], x: 120, y: 100 },
    fn('bench-peer-parse', 'parse, map, check', PEER_PARSE, 'bench-peer-invoice'),
    fn('bench-peer-invoice', 'invoice posting', PEER_INVOICE, 'bench-peer-out'),
    { id: 'bench-peer-out', type: 'mqtt out', z: tab.id, name: '', topic: '', qos: '1', retain: 'false', respTopic: '', contentType: '', userProps: '', correl: '', expiry: '', broker: broker.id, wires: [], x: 700, y: 100 },
  ];
}
