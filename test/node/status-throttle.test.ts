/**
 * Per-message node status updates are coalesced (nodes/status-throttle.ts): a burst shows a few updates per second
 * and always ends on the latest value, checked on the helper itself and on a legacy-erp node in Node-RED.
 */
import assert from 'node:assert/strict';
import { mock } from 'node:test';
import { throttleStatus } from '../../nodes/status-throttle';
import { encodeTimeEntry } from '../../lib/connectors/legacy-erp/codec';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper, catalogTranslator } from '../support/node-red';

const translate = catalogTranslator('legacy-erp');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const legacyErpModule = require('../../nodes/legacy-erp/legacy-erp') as (RED: any) => unknown;
const legacyErp = (RED: any) => legacyErpModule(Object.assign(Object.create(RED), { _: translate }));
helper.init(require.resolve('node-red'));

describe('status throttling', function () {
  this.timeout(30000);

  it('shows the first update at once, folds a burst into one trailing update with the last value', async () => {
    const shown: number[] = [];
    const status = throttleStatus<number>((n) => shown.push(n), 100);
    let built = 0;
    status.update(() => { built++; return 1; });
    assert.deepEqual(shown, [1], 'the first update of a quiet period is not delayed');
    for (let n = 2; n <= 1000; n++) status.update(() => { built++; return n; });
    assert.deepEqual(shown, [1], 'updates within the interval wait');
    await waitFor(() => shown.length === 2, 'the trailing update');
    assert.deepEqual(shown, [1, 1000], 'one trailing update, carrying the latest value');
    assert.equal(built, 2, 'a status that is never shown is never built (no translation per message)');
    status.update(1001);
    await waitFor(() => shown.length === 3, 'the next update');
    assert.equal(shown[2], 1001);
    status.cancel();
  });

  it('show() is immediate and drops a pending update; cancel() drops it for good', () => {
    // the clock is the test's: the cancelled update's interval is over when the test says so, not after a sleep
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    try {
      const shown: string[] = [];
      const status = throttleStatus<string>((s) => shown.push(s), 50);
      status.update('count 1');
      status.update('count 2');
      status.show('broker down');
      assert.deepEqual(shown, ['count 1', 'broker down']);
      status.update('count 3');
      status.cancel();
      mock.timers.tick(80);
      assert.deepEqual(shown, ['count 1', 'broker down'], 'a cancelled update is never shown');
      status.update('count 4');
      assert.deepEqual(shown, ['count 1', 'broker down', 'count 4']);
    } finally {
      mock.timers.reset();
    }
  });

  describe('legacy-erp decodeTime in Node-RED', () => {
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => {
      tmp = tempDir('psfabric-status-throttle-');
      helper.settings({ userDir: tmp.dir });
    });
    afterEach(async () => {
      await helper.unload();
      tmp.cleanup();
    });

    it('a burst of 2,000 messages updates the status a few times per second and ends on the final counts', async () => {
      await helper.load(legacyErp, [
        { id: 'leg', type: 'legacy-erp', mode: 'decodeTime', wires: [['ok'], ['bad']] },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
      ]);
      const leg = helper.getNode('leg');
      const statuses: Array<{ at: number; text: string }> = [];
      const original = leg.status.bind(leg);
      leg.status = (s: { text?: string }) => {
        statuses.push({ at: Date.now(), text: String(s.text ?? '') });
        return original(s);
      };
      let ok = 0;
      helper.getNode('ok').on('input', () => ok++);
      const n = 2000;
      const started = Date.now();
      for (let i = 1; i <= n; i++) {
        const line = encodeTimeEntry({ entryId: `FR-${i}`, consultantCode: 'CON-011', projectCode: 'FR01-LUM-OM', date: '2026-11-16', hours: 8, rate: 155, currency: 'EUR', billable: true, approvedAt: '2026-11-17T09:00:00Z', description: 'x' });
        leg.receive({ payload: Buffer.from(`${line}\r\n`) });
      }
      await waitFor(() => ok === n, `${n} decoded entries`);
      await waitFor(() => statuses.at(-1)?.text.includes(String(n)), `the status to show ${n} ok`);
      const elapsed = Date.now() - started;
      assert.equal(statuses.at(-1)!.text, `${n} ok, 0 with errors`);
      // 250 ms interval: one leading update per interval plus one trailing
      assert.ok(statuses.length <= Math.ceil(elapsed / 250) + 2, `${statuses.length} status updates for ${n} messages in ${elapsed} ms`);
      assert.ok(statuses.length < n / 10);
    });
  });
});
