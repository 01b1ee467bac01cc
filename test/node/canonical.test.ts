import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const canonicalNode = require('../../nodes/canonical/canonical');
import { mappingCompileCount, validateEnvelope } from '../../lib/model';
import { waitFor } from '../support/wait';

helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  

const KANTATA_MAPPING = `{
  "id": "TE-" & id, "version": 1, "updatedAt": updated_at, "externalIds": { "kantata": id },
  "person": { "id": "CON-" & user_id }, "projectId": "PRJ-" & workspace_id, "date": date_performed,
  "hours": time_in_minutes / 60, "role": "Solution Architect", "billable": billable,
  "rate": billable ? { "amount": rate_in_cents / 100, "currency": currency, "unit": "hour" },
  "status": approved ? "approved" : "submitted", "approvedAt": approved ? updated_at
}`;

const kantataEntry = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: '310045871',
  user_id: '002',
  workspace_id: '1001-WMS',
  date_performed: '2026-11-02',
  time_in_minutes: 450,
  billable: true,
  rate_in_cents: 21000,
  currency: 'USD',
  approved: true,
  updated_at: '2026-11-17T09:12:44Z',
  ...over,
});

function flow(config: Record<string, unknown>): Msg[] {
  return [
    { id: 'c1', type: 'canonical', name: 'to canonical', entity: 'timeentry', event: 'approved', mapping: KANTATA_MAPPING, source: '/psfabric/test', wires: [['ok'], ['bad']], ...config },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ];
}

/** Outputs seen since the last load, in order (helper nodes' input listeners are installed once per load). */
let outputs: Array<{ port: 1 | 2; msg: Msg }> = [];
async function load(config: Record<string, unknown>): Promise<void> {
  await helper.load(canonicalNode, flow(config));
  outputs = [];
  helper.getNode('ok').on('input', (msg: Msg) => outputs.push({ port: 1, msg }));
  helper.getNode('bad').on('input', (msg: Msg) => outputs.push({ port: 2, msg }));
}

/** Sends one message and resolves with the output it came out of. */
async function roundTrip(payload: unknown, extra: Msg = {}): Promise<{ port: 1 | 2; msg: Msg }> {
  const seen = outputs.length;
  helper.getNode('c1').receive({ payload, ...extra });
  await waitFor(() => outputs.length > seen, 'an output message');
  return outputs[seen];
}

describe('canonical node', function () {
  this.timeout(20000);
  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('sends a valid record to output 1 as a CloudEvents envelope with the taxonomy topic', async () => {
    await load({});
    const { port, msg } = await roundTrip(kantataEntry(), { correlationid: 'corr-42' });
    assert.equal(port, 1);
    assert.equal(msg.topic, 'fabric/v1/timeentry/approved');
    const env = msg.payload;
    assert.equal(env.type, 'com.psfabric.timeentry.approved.v1');
    assert.equal(env.source, '/psfabric/test');
    assert.equal(env.subject, 'TE-310045871');
    assert.equal(env.dataschema, 'https://schemas.psfabric.dev/v1/time-entry.json');
    assert.equal(env.correlationid, 'corr-42');
    assert.equal(msg.correlationid, 'corr-42');
    assert.equal(env.idempotencykey, 'timeentry:TE-310045871:v1');
    assert.equal(env.data.hours, 7.5);
    assert.deepEqual(validateEnvelope(env), { ok: true });
  });

  it('passes an already-canonical payload through when the mapping is empty, and accepts JSON text', async () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'canonical', 'invoice.json'), 'utf8'))[0];
    await load({ entity: 'invoice', event: 'posted', mapping: '', correlationProperty: '' });
    const { port, msg } = await roundTrip(JSON.stringify(fixture));
    assert.equal(port, 1);
    assert.equal(msg.topic, 'fabric/v1/invoice/posted');
    assert.deepEqual(msg.payload.data, fixture);
    assert.match(msg.payload.correlationid, /^[0-9a-f-]{36}$/, 'a new correlation id');
  });

  it('sends an invalid record to output 2 with the original payload and field errors', async () => {
    await load({});
    const original = kantataEntry({ time_in_minutes: -30, currency: 'usd', date_performed: '02/11/2026' });
    const { port, msg } = await roundTrip(original);
    assert.equal(port, 2);
    assert.deepEqual(msg.payload, original, 'original payload kept');
    assert.equal(msg.error.entity, 'timeentry');
    assert.equal(msg.error.stage, 'validation');
    assert.equal(msg.error.recordId, 'TE-310045871');
    assert.deepEqual(
      msg.error.errors.map((e: Msg) => e.path).sort(),
      ['/date', '/hours', '/rate/currency'],
    );
    assert.equal(msg.error.errors.find((e: Msg) => e.path === '/hours').message, 'must be >= 0 (got -0.5)');
    assert.match(msg.error.message, /^TimeEntry TE-310045871 .*: 3 problems: /);
  });

  it('reports missing required fields by name', async () => {
    await load({ mapping: '' });
    const { port, msg } = await roundTrip({ id: 'TE-1', version: 1 });
    assert.equal(port, 2);
    assert.ok(msg.error.errors.some((e: Msg) => e.path === '/hours' && /missing property "hours"/.test(e.message)));
  });

  it('sends malformed JSON text to output 2 with the position', async () => {
    await load({});
    const text = '{"id": "310045871", "time_in_minutes": 450,, }';
    const { port, msg } = await roundTrip(text);
    assert.equal(port, 2);
    assert.equal(msg.payload, text);
    assert.equal(msg.error.stage, 'input');
    assert.match(msg.error.errors[0].message, /not valid JSON: found "," at line 1, column 44 \(position 43\)/);
  });

  it('refuses wrong payload types, __proto__ keys and a 10 MB payload, and keeps running', async () => {
    await load({});
    let r = await roundTrip(42);
    assert.equal(r.port, 2);
    assert.match(r.msg.error.errors[0].message, /must be a JSON object or JSON text \(got number\)|payloadType/);
    r = await roundTrip('{"id":"1","__proto__":{"polluted":true}}');
    assert.equal(r.port, 2);
    assert.equal(r.msg.error.errors[0].path, '/__proto__');
    assert.equal(({} as Msg).polluted, undefined);
    r = await roundTrip(JSON.parse('{"id":"1","constructor":{"prototype":{"polluted":true}}}'));
    assert.equal(r.port, 2);
    assert.equal(r.msg.error.errors[0].path, '/constructor');
    const big = JSON.stringify(kantataEntry({ notes: 'x'.repeat(10 * 1024 * 1024) }));
    r = await roundTrip(big);
    assert.equal(r.port, 2);
    assert.match(r.msg.error.errors[0].message, /^is too large: \d+ bytes \(10\.0 MB\); the limit is 1048576 bytes/);
    r = await roundTrip(kantataEntry({ notes: 'x'.repeat(10 * 1024 * 1024) }));
    assert.equal(r.port, 2, 'object payloads are size-checked too');
    r = await roundTrip('['.repeat(5000) + ']'.repeat(5000));
    assert.equal(r.port, 2);
    assert.match(r.msg.error.errors[0].message, /nests deeper than 64/);
    r = await roundTrip(kantataEntry());
    assert.equal(r.port, 1, 'still working after bad input');
  });

  it('reports a mapping runtime error on output 2', async () => {
    await load({ mapping: '{ "id": $substring(id, "x") }' });
    const { port, msg } = await roundTrip(kantataEntry());
    assert.equal(port, 2);
    assert.equal(msg.error.stage, 'mapping');
    assert.match(msg.error.errors[0].message, /^mapping failed/);
  });

  it('reports a bad expression at deploy with its position, does not crash, and routes messages to output 2', async () => {
    await load({ mapping: '{ "id": id, "hours": (time_in_minutes / 60 }' });
    const c1 = helper.getNode('c1');
    const errorCalls = await waitFor(() => {
      const calls = (c1.error as { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> }).getCalls().filter((c) => c.thisValue === c1);
      return calls.length ? calls : undefined;
    }, 'node.error at deploy');
    assert.match(String(errorCalls[0].args[0]), /JSONata syntax error at line 1, column \d+ \(position \d+\)/);
    const statusCalls = (c1.status as { getCalls(): Array<{ thisValue: unknown; args: Msg[] }> }).getCalls().filter((c) => c.thisValue === c1);
    assert.equal(statusCalls[statusCalls.length - 1].args[0].fill, 'red');
    const { port, msg } = await roundTrip(kantataEntry());
    assert.equal(port, 2);
    assert.equal(msg.error.stage, 'config');
    assert.match(msg.error.errors[0].message, /JSONata syntax error/);
  });

  it('reports an unknown entity or a bad event name as a configuration error', async () => {
    await load({ entity: 'timesheet' });
    let r = await roundTrip(kantataEntry());
    assert.equal(r.port, 2);
    assert.equal(r.msg.error.stage, 'config');
    await helper.unload();
    await load({ event: 'Approved!' });
    r = await roundTrip(kantataEntry());
    assert.equal(r.port, 2);
    assert.match(r.msg.error.errors[0].message, /invalid event name/);
  });

  it('compiles the expressions once per deploy, not per message', async () => {
    const before = mappingCompileCount();
    await load({ subject: '"time/" & id', idempotencyKey: 'id & "@" & updatedAt' });
    assert.equal(mappingCompileCount(), before + 3, 'mapping, subject and idempotency key compiled at deploy');
    for (let i = 0; i < 5; i++) {
      const { port, msg } = await roundTrip(kantataEntry());
      assert.equal(port, 1);
      assert.equal(msg.payload.subject, 'time/TE-310045871');
      assert.equal(msg.payload.idempotencykey, 'TE-310045871@2026-11-17T09:12:44Z');
    }
    assert.equal(mappingCompileCount(), before + 3, 'no compile per message');
  });

  it('shows valid and invalid counts in its status', async () => {
    await load({});
    const c1 = helper.getNode('c1');
    await roundTrip(kantataEntry());
    await roundTrip(kantataEntry({ time_in_minutes: -1 }));
    const calls = (c1.status as { getCalls(): Array<{ thisValue: unknown; args: Msg[] }> }).getCalls().filter((c) => c.thisValue === c1);
    const last = calls[calls.length - 1].args[0];
    assert.equal(last.fill, 'yellow');
    assert.match(last.text, /"valid":1.*"invalid":1|1 valid, 1 invalid/);
  });
});
