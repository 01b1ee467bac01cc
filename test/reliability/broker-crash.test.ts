/**
 * Broker crash (issue 14 item 5 b): the whole runtime, its embedded broker included, is SIGKILLed while the legacy ERP
 * publishes valid TE lines to it at QoS 1. The runtime is `npm start`'s topology: dist/runtime/start.js with the
 * templates it deploys, the broker embedded with its level persistence (in a worker thread by default), the vendor
 * sandboxes and the legacy ERP simulator in this process (so the kill cannot erase their state). The publisher is a
 * real mqtt.js client; the runtime is killed at the moment the publisher has seen K PUBACKs (progress, not time), once
 * publishing one line at a time and once with 64 in flight (and that again with the broker in the main thread). After
 * the restart the publisher re-sends every line it has no PUBACK for, as the legacy ERP does, then the rest. Every
 * line must end on exactly one invoice line booked by the legacy ERP simulator; a PUBACKed line missing there is a
 * line the broker acknowledged and lost.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { applyTemplateEnv } from '../../runtime/templates';
import { startSandboxes, type RunningSandboxes } from '../../sandbox/server';
import { LegacyErpSimulator } from '../../sandbox/legacy-erp/simulator';
import { CONSULTANTS } from '../../sandbox/seed/firm';
import { encodeTimeEntry, TOPICS } from '../../lib/connectors/legacy-erp/codec';
import { record } from './support/report';
import { kill9, knob, terminate } from './support/child';
import { startRuntime, type RuntimeChild } from './support/runtime';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

interface Line {
  id: string;
  payload: string;
  sends: number;
  acked: boolean;
}

const FR = CONSULTANTS.filter((c) => c.homeEntity === 'NWA-FR');

const say = (m: string) => {
  if (process.env.RELIABILITY_VERBOSE) console.log(`[broker-crash ${new Date().toISOString().slice(11, 23)}] ${m}`);
};

function line(id: string, i: number): Line {
  const c = FR[i % FR.length];
  const payload = encodeTimeEntry({ entryId: id, consultantCode: c.id, projectCode: 'FR01-LUM-OM', date: `2026-11-${String(1 + (i % 28)).padStart(2, '0')}`, hours: 8, rate: c.billRate, currency: 'EUR', billable: true, approvedAt: '2026-11-30T18:00:00Z', description: `Broker crash line ${i}` });
  return { id, payload, sends: 0, acked: false };
}

/**
 * Sends every line not yet acknowledged, `window` at a time, in order; `onAck` runs synchronously on each PUBACK.
 * Resolves when every line is acknowledged or the connection is gone (the lines without PUBACK stay unacknowledged).
 */
async function sendUnacked(client: MqttClient, lines: Line[], window: number, onAck: () => void): Promise<void> {
  const queue = lines.filter((l) => !l.acked);
  let next = 0;
  // mqtt.js keeps a QoS 1 publish pending across a lost connection (for its own resend): the close ends the wait here
  const lost = new Promise<'lost'>((resolve) => client.once('close', () => resolve('lost')));
  const worker = async () => {
    while (next < queue.length && client.connected) {
      const l = queue[next++];
      l.sends += 1;
      const outcome = await Promise.race([client.publishAsync(TOPICS.timeOut, l.payload, { qos: 1 }).then(() => 'acked' as const, () => 'lost' as const), lost]);
      // connection lost: this line and the rest are re-sent on the next connection
      if (outcome === 'lost') return;
      l.acked = true;
      onAck();
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

const LEGACY = { username: 'legacy-fr01-test', password: 'legacy-fr01-test-password' };

describe('reliability: broker crash (runtime with its embedded broker SIGKILLed while the legacy ERP publishes at QoS 1)', function () {
  const LINES = knob('RELIABILITY_BROKER_LINES', 600);
  let sandboxes: RunningSandboxes;
  let tmp: { dir: string; cleanup(): void };
  let templateEnv: NodeJS.ProcessEnv;
  const running: { runtime?: RuntimeChild; sim?: LegacyErpSimulator; pub?: MqttClient } = {};

  before(async () => {
    tmp = tempDir('psfabric-rel-broker-');
    sandboxes = await startSandboxes({ port: 0 });
    // the legacy ERP is a named client with its own topics only (anonymous clients publish nothing: docs/security.md)
    templateEnv = { FABRIC_MQTT_USERS: JSON.stringify({ users: [{ ...LEGACY, publish: ['legacy/fr01/#'], subscribe: ['legacy/fr01/#'] }] }) };
    applyTemplateEnv(templateEnv, { sandboxUrl: sandboxes.url });
  });
  afterEach(async () => {
    await running.pub?.endAsync(true).catch(() => {});
    await running.sim?.stop().catch(() => {});
    await kill9(running.runtime);
    Object.assign(running, { runtime: undefined, sim: undefined, pub: undefined });
  });
  after(async () => {
    await sandboxes?.close();
    tmp?.cleanup();
  });

  async function scenario(name: string, tag: string, window: number, brokerThread: 'on' | 'off'): Promise<void> {
    const userDir = path.join(tmp.dir, tag);
    const mqttPort = await freePort();
    const url = `mqtt://127.0.0.1:${mqttPort}`;
    // npm start's broker: level persistence, worker thread unless said otherwise; the sandboxes are ours
    const env = { ...templateEnv, FABRIC_MQTT_PORT: String(mqttPort), FABRIC_MQTT_PERSISTENCE: 'level', FABRIC_BROKER_THREAD: brokerThread, FABRIC_LEGACY_ERP: 'off' };
    const lines = Array.from({ length: LINES }, (_, i) => line(`${tag}-${String(i + 1).padStart(6, '0')}`, i));
    const killAt = Math.floor(LINES / 2);
    const figures = { scenario: `9 broker crash ${name}`, writes: LINES, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as const, notes: '' };
    try {
      running.runtime = await startRuntime(userDir, env);
      say('runtime up');
      const sim = new LegacyErpSimulator({ url, clientId: `legacy-erp-fr01-${tag}`, ...LEGACY });
      running.sim = sim;
      await sim.start();
      const billed = (id: string) => {
        let n = 0;
        for (const inv of Object.values(sim.state.invoices)) for (const l of inv.invoice.lines) if (l.sourceEntryId === id) n += 1;
        return n;
      };
      const billedAll = (ids: string[]) => {
        const counts = new Map<string, number>();
        for (const inv of Object.values(sim.state.invoices)) for (const l of inv.invoice.lines) counts.set(l.sourceEntryId, (counts.get(l.sourceEntryId) ?? 0) + 1);
        return ids.map((id) => counts.get(id) ?? 0);
      };
      // the pipeline is up (templates deployed, fabric-mqtt-in subscribed with its persistent session) once a first line is billed
      const probe = line(`${tag}-P00001`, 0);
      running.pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `legacy-erp-te-${tag}`, ...LEGACY });
      await sendUnacked(running.pub, [probe], 1, () => {});
      say('probe acked');
      // On a first start the flows subscribe once the templates are deployed, after /healthz answers: a probe published
      // before that reaches no session and is dropped, as MQTT drops a message nobody subscribes to. So it is sent
      // again every few seconds until it is billed (the same line: the pipeline bills it once).
      let probeSentAt = Date.now();
      await waitFor(async () => {
        if (billed(probe.id) > 0) return true;
        if (Date.now() - probeSentAt > 3000) {
          await sendUnacked(running.pub!, [{ ...probe, acked: false }], 1, () => {});
          probeSentAt = Date.now();
        }
        return false;
      }, 'the probe line to be billed by the legacy ERP', 60000, 100);
      assert.equal(billed(probe.id), 1, 'the probe line, sent again until billed, is billed once');

      say('probe billed');
      // publish; SIGKILL the runtime the moment the publisher holds killAt PUBACKs
      let acks = 0;
      const proc = running.runtime.proc;
      await sendUnacked(running.pub, lines, window, () => {
        if (++acks === killAt) proc.kill('SIGKILL');
        if (acks % 50 === 0) say(`${acks} PUBACKs`);
      });
      await kill9(running.runtime);
      figures.kills += 1;
      const ackedAtKill = new Set(lines.filter((l) => l.acked).map((l) => l.id));
      const ackedBeforeKill = ackedAtKill.size;
      assert.ok(ackedBeforeKill >= killAt && ackedBeforeKill < LINES, `killed after ${ackedBeforeKill} PUBACKs of ${LINES}`);
      await running.pub.endAsync(true);

      say(`killed after ${ackedBeforeKill} PUBACKs`);
      // restart on the same user dir and port; the publisher re-sends what it has no PUBACK for, then the rest
      running.runtime = await startRuntime(userDir, env);
      running.pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `legacy-erp-te-${tag}`, ...LEGACY });
      await sendUnacked(running.pub, lines, window, () => {});
      assert.ok(lines.every((l) => l.acked), 'every line acknowledged after the restart');
      const resent = lines.filter((l) => l.sends > 1).length;
      say(`restarted, all acked, re-sent ${resent}`);

      // a last line after every line is billed: once it is billed too, nothing queued before it is still on its way
      await waitFor(() => billedAll(lines.map((l) => l.id)).every((n) => n > 0), 'every line billed', 120000, 200).catch(() => undefined);
      say('all billed (or timed out)');
      const sentinel = line(`${tag}-S00001`, 1);
      await sendUnacked(running.pub, [sentinel], 1, () => {});
      await waitFor(() => billed(sentinel.id) > 0, 'the sentinel line billed', 60000, 100);

      const counts = billedAll(lines.map((l) => l.id));
      const lost = lines.filter((_, i) => counts[i] === 0);
      const lostAcked = lost.filter((l) => ackedAtKill.has(l.id));
      const twice = lines.filter((_, i) => counts[i] > 1);
      figures.resendsAbsorbed = resent;
      figures.duplicatedEffects = twice.length;
      figures.lost = lost.length;
      figures.notes = `${window} in flight, broker thread ${brokerThread}, killed after ${ackedBeforeKill} PUBACKs; re-sent ${resent}; never billed ${lost.length} (PUBACKed before the kill ${lostAcked.length}); billed twice ${twice.length}`;
      assert.deepEqual(lost.map((l) => l.id).slice(0, 10), [], `${lost.length} lines never billed (${lostAcked.length} of them PUBACKed before the kill and not re-sent)`);
      assert.deepEqual(twice.map((l) => l.id).slice(0, 10), [], `${twice.length} lines billed more than once`);
      record(figures);
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    } finally {
      await running.pub?.endAsync(true).catch(() => {});
      running.pub = undefined;
      await running.sim?.stop().catch(() => {});
      running.sim = undefined;
      if (running.runtime) await terminate(running.runtime);
      running.runtime = undefined;
    }
  }

  it(`one line at a time: every PUBACKed line billed exactly once (${LINES} lines, SIGKILL at half of them)`, async function () {
    await scenario('1 in flight', 'BKA', 1, 'on');
  });

  it(`64 lines in flight: every PUBACKed line billed exactly once (${LINES} lines, SIGKILL at half of them)`, async function () {
    await scenario('64 in flight', 'BKB', 64, 'on');
  });

  it(`64 lines in flight, broker in the main thread (FABRIC_BROKER_THREAD=off): every PUBACKed line billed exactly once`, async function () {
    await scenario('64 in flight, no thread', 'BKC', 64, 'off');
  });
});
