import assert from 'node:assert/strict';
import path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const storeNode = require('../../nodes/fabric-store/fabric-store');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const idempotentNode = require('../../nodes/fabric-idempotent/fabric-idempotent');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const exceptionNode = require('../../nodes/fabric-exception/fabric-exception');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const exceptionsNode = require('../../nodes/fabric-exceptions/fabric-exceptions');
import { deliveryFor } from '../../lib/delivery/engine';
import { httpExecutor } from '../../lib/delivery/http-executor';
import type { FabricServices } from '../../lib/fabric/services';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { Vendor } from '../unit/delivery/vendor';

helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const NODES = [storeNode, idempotentNode, exceptionNode, exceptionsNode];

describe('PS Fabric exception and idempotency nodes', function () {
  this.timeout(20000);
  let tmp: { dir: string; cleanup(): void };
  let storeCfg: Msg;

  beforeEach(async () => {
    tmp = tempDir('psfabric-nodes-');
    storeCfg = { id: 'store', type: 'fabric-store', path: path.join(tmp.dir, 'fabric.sqlite') };
    await new Promise<void>((resolve) => helper.startServer(resolve));
  });
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(resolve));
    tmp.cleanup();
  });

  const load = (flow: Msg[]) => helper.load(NODES, [storeCfg, ...flow]);
  const services = (): FabricServices => helper.getNode('store').requireServices();

  /** Collects what arrives at helper nodes. */
  function collector(...ids: string[]): Record<string, Msg[]> {
    const got: Record<string, Msg[]> = {};
    for (const id of ids) {
      got[id] = [];
      helper.getNode(id).on('input', (m: Msg) => got[id].push(m));
    }
    return got;
  }

  describe('fabric-idempotent', () => {
    it('passes the first envelope for an idempotencykey and sends repeats to output 2, durably', async () => {
      await load([
        { id: 'idem', type: 'fabric-idempotent', store: 'store', keySource: 'envelope', repeats: 'output', wires: [['first'], ['repeat']] },
        { id: 'first', type: 'helper' },
        { id: 'repeat', type: 'helper' },
      ]);
      const got = collector('first', 'repeat');
      const idem = helper.getNode('idem');
      const env = (id: string) => ({ payload: { specversion: '1.0', id, type: 'com.psfabric.timeentry.approved.v1', idempotencykey: 'te-1/v1', data: {} } });
      idem.receive(env('e1'));
      await waitFor(() => got.first.length === 1, 'first passes');
      idem.receive(env('e2'));
      await waitFor(() => got.repeat.length === 1, 'repeat on output 2');
      assert.equal(got.first[0].idempotencykey, 'te-1/v1');
      assert.equal(got.repeat[0].duplicate.key, 'te-1/v1');
      assert.equal(got.repeat[0].duplicate.scope, 'node:idem');
      assert.ok(got.repeat[0].duplicate.firstSeenAt > 0);
      assert.equal((await services().idempotency.get('node:idem', 'te-1/v1'))?.key, 'te-1/v1');
    });

    it('keys by a JSONata expression, drops repeats when configured, and errors on a message without a key', async () => {
      await load([
        { id: 'idem', type: 'fabric-idempotent', store: 'store', keySource: 'jsonata', expression: 'payload.line ? payload.order & "-" & payload.line', repeats: 'drop', wires: [['first']] },
        { id: 'first', type: 'helper' },
      ]);
      const got = collector('first');
      const idem = helper.getNode('idem');
      const errors: unknown[] = [];
      idem.on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
      idem.receive({ payload: { order: 'o1', line: 1 } });
      idem.receive({ payload: { order: 'o1', line: 1 } });
      idem.receive({ payload: { order: 'o1', line: 2 } });
      idem.receive({ payload: { nothing: true } });
      await waitFor(() => got.first.length === 2 && errors.length === 1, 'two passed, one error');
      assert.deepEqual(got.first.map((m) => m.idempotencykey), ['o1-1', 'o1-2']);
      assert.match(String((errors[0] as Error).message ?? errors[0]), /gave no string or number|noKeyExpression/);
    });
  });

  describe('fabric-exception', () => {
    it('records the msg (error from a Catch node) and sends it on with msg.exception; replays come out of output 2', async () => {
      await load([
        { id: 'exc', type: 'fabric-exception', store: 'store', process: 'time-to-cash', step: '', owner: 'billing-ops', errorClass: 'validation', replay: true, wires: [['recorded'], ['replays']] },
        { id: 'recorded', type: 'helper' },
        { id: 'replays', type: 'helper' },
      ]);
      const got = collector('recorded', 'replays');
      helper.getNode('exc').receive({
        payload: { specversion: '1.0', type: 'TimeEntry', subject: 'te-9', correlationid: 'corr-1', data: { hours: -1, token: 'secret-abc' } },
        error: { message: 'hours must be >= 0', source: { id: 'x', name: 'validate time entry', type: 'function' } },
      });
      await waitFor(() => got.recorded.length === 1, 'recorded');
      const id = got.recorded[0].exception.id;
      const record = (await services().exceptions.get(id))!;
      assert.equal(record.process, 'time-to-cash');
      assert.equal(record.step, 'validate time entry');
      assert.equal(record.ownerTeam, 'billing-ops');
      assert.equal(record.errorClass, 'validation');
      assert.equal(record.recordKey, 'TimeEntry/te-9');
      assert.equal(record.correlationId, 'corr-1');
      assert.equal(record.message, 'hours must be >= 0');
      assert.equal((record.request as Msg).data.token, '[redacted]');
      await services().exceptions.replay(id, { actor: 'alice', payload: { hours: 2 } });
      await waitFor(() => got.replays.length === 1, 'replay sent out of output 2');
      assert.deepEqual(got.replays[0].payload, { hours: 2 });
      assert.deepEqual(got.replays[0].replay, { exceptionId: id, edited: true, actor: 'alice' });
    });

    it('keys a msg that names no record by its message id: distinct messages are distinct rows, a redelivery updates its own row', async () => {
      await load([
        { id: 'exc', type: 'fabric-exception', store: 'store', process: 'quote-to-project', step: 'validate', owner: 'sales-ops', errorClass: 'validation', wires: [['recorded'], []] },
        { id: 'recorded', type: 'helper' },
      ]);
      const got = collector('recorded');
      const bad = (messageId: string) => ({ payload: { opportunity: { Name: 'no id' } }, error: { message: 'Opportunity.Id is missing' }, _fabricInbox: { source: 'mqtt:q2p-in', messageId } });
      for (const m of [bad('ce:/crm#1'), bad('ce:/crm#2'), bad('ce:/crm#1')]) helper.getNode('exc').receive(m);
      helper.getNode('exc').receive({ _msgid: 'node-red-msg-1', payload: '', error: { message: 'empty payload' } });
      await waitFor(() => got.recorded.length === 4, 'recorded');
      const rows = await services().exceptions.list({ process: 'quote-to-project' });
      assert.deepEqual(rows.map((r) => [r.recordKey, r.occurrences]).sort(), [['Message/ce:/crm#1', 2], ['Message/ce:/crm#2', 1], ['Message/node-red-msg-1', 1]]);
    });
  });

  describe('fabric-exceptions node and admin API', () => {
    let vendor: Vendor;
    beforeEach(async () => {
      vendor = await new Vendor().start();
    });
    afterEach(async () => {
      await vendor.stop();
    });

    async function failedWrite(fixed: { ok: boolean }, key: string, recordKey: string): Promise<number> {
      const engine = deliveryFor(services().store, services(), { log: () => undefined });
      const conn = engine.connection('vendor:nodes') ?? engine.registerConnection('vendor:nodes', httpExecutor({ baseUrl: vendor.url }), { ratePerSecond: 0, maxAttempts: 1 });
      vendor.respond = () => (fixed.ok ? { status: 200, body: { id: 'done' } } : { status: 400, body: { message: 'customer number missing' } });
      await assert.rejects(conn.submit({ operation: 'createInvoice', idempotencyKey: key, request: { n: key }, recordKey, process: 'time-to-cash', step: 'erp-invoice' }));
      const [ex] = await services().exceptions.list({ recordKey });
      return ex.id;
    }

    it('answers list/get/count/discard/replay commands from a flow and reports refusals with done(err)', async () => {
      await load([
        { id: 'q', type: 'fabric-exceptions', store: 'store', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]);
      const got = collector('out');
      const q = helper.getNode('q');
      const errors: unknown[] = [];
      q.on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
      const fixed = { ok: false };
      const a = await failedWrite(fixed, 'inv-1', 'Invoice/1');
      const b = await failedWrite(fixed, 'inv-2', 'Invoice/2');
      q.receive({ topic: 'list', payload: { status: 'open', process: 'time-to-cash' } });
      await waitFor(() => got.out.length === 1, 'list');
      assert.equal(got.out[0].payload.total, 2);
      assert.deepEqual(got.out[0].payload.items.map((r: Msg) => r.id), [b, a]);
      q.receive({ topic: 'discard', payload: { id: a, reason: 'duplicate invoice, handled by hand' } });
      await waitFor(() => got.out.length === 2, 'discard');
      assert.equal(got.out[1].payload.status, 'discarded');
      fixed.ok = true;
      q.receive({ topic: 'replay', payload: { id: b, payload: { n: 'inv-2', customer: 'C-1' } } });
      await waitFor(() => got.out.length === 3, 'replay');
      assert.equal(got.out[2].payload.status, 'replayed');
      await waitFor(async () => (await services().exceptions.get(b))?.status === 'resolved', 'auto-resolved after delivery');
      assert.deepEqual(vendor.requests.at(-1)!.body, { n: 'inv-2', customer: 'C-1' });
      assert.equal(vendor.requests.at(-1)!.key, 'inv-2');
      q.receive({ topic: 'replay', payload: { id: a } });
      q.receive({ topic: 'explode', payload: {} });
      await waitFor(() => errors.length === 2, 'two refusals');
      const messages = errors.map((e) => String((e as Error).message ?? e)).sort();
      assert.match(messages[0], /discarded; only open exceptions/);
      assert.match(messages[1], /unknown command/);
    });

    it('serves the admin HTTP API under /ps-fabric/exceptions', async () => {
      await load([{ id: 'q', type: 'fabric-exceptions', store: 'store', wires: [[]] }]);
      const fixed = { ok: false };
      const a = await failedWrite(fixed, 'inv-a', 'Invoice/a');
      const b = await failedWrite(fixed, 'inv-b', 'Invoice/b');
      const c = await failedWrite(fixed, 'inv-c', 'Invoice/c');

      const list = await helper.request().get('/ps-fabric/exceptions').query({ status: 'open', errorClass: 'validation', limit: 2 }).expect(200);
      assert.equal(list.body.total, 3);
      assert.equal(list.body.items.length, 2);
      const one = await helper.request().get(`/ps-fabric/exceptions/${a}`).expect(200);
      assert.equal(one.body.recordKey, 'Invoice/a');
      assert.equal(one.body.response.body.message, 'customer number missing');
      await helper.request().get('/ps-fabric/exceptions/99999').expect(404);
      await helper.request().get('/ps-fabric/exceptions').query({ status: 'bogus' }).expect(400);

      await helper.request().post(`/ps-fabric/exceptions/${c}/discard`).send({}).expect(400);
      const discarded = await helper.request().post(`/ps-fabric/exceptions/${c}/discard`).send({ reason: 'test data' }).expect(200);
      assert.equal(discarded.body.status, 'discarded');
      await helper.request().post(`/ps-fabric/exceptions/${c}/replay`).send({}).expect(409);

      fixed.ok = true;
      const replayed = await helper.request().post(`/ps-fabric/exceptions/${a}/replay`).send({ payload: { n: 'inv-a', edited: true } }).expect(200);
      assert.equal(replayed.body.status, 'replayed');
      const bulk = await helper.request().post('/ps-fabric/exceptions/replay').send({ process: 'time-to-cash' }).expect(200);
      assert.deepEqual(bulk.body.replayed, [b]);
      await waitFor(async () => (await services().exceptions.count({ status: 'resolved' })) === 2, 'both delivered and resolved');
      const byKey = vendor.counts();
      assert.equal(byKey.get('inv-a'), 2);
      assert.equal(byKey.get('inv-b'), 2);
      assert.equal(byKey.get('inv-c'), 1);
      const audit = await services().audit.list({ action: 'exception.discarded' });
      assert.equal(audit[0].actor, 'admin-api');
    });
  });
});
