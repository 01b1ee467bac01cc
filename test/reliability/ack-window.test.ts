/**
 * Ack window: the real runtime (dist/runtime/start.js, a child process) runs fabric-mqtt-in -> canonical -> delivery
 * (outbox) on a real SQLite file; QoS 1 messages come from a broker in the test process. It is SIGKILLed
 *  A. between receiving QoS 1 messages and committing them (the inbox commit is held by a SQLite write lock taken
 *     here, as in test/integration/runtime.test.ts, but with a batch of messages and counted at the target), and
 *  B. after the commit and PUBACK, while the messages are still inside the flow (a delay node before the delivery).
 * After a restart every message must reach the target exactly once.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../lib/broker';
import { record } from './support/report';
import { kill9, terminate, knob } from './support/child';
import { startTarget, type RunningTarget } from './support/target';
import { prepareUserDir, reliabilityFlow, startRuntime, subscribed, timeEntry, type RuntimeChild } from './support/runtime';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const CLIENTS = ['psfabric-rel-ack-a', 'psfabric-rel-ack-b'];

describe('reliability: ack window (runtime SIGKILLed around the inbox commit)', function () {
  const K = knob('RELIABILITY_ACK_MESSAGES', 20);
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  let broker: RunningBroker;
  let pub: MqttClient;
  let runtime: RuntimeChild | undefined;
  let acks = 0;
  const figures = { scenario: '3 ack window', writes: 0, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as const, notes: '' };
  const notes: string[] = [];

  before(async () => {
    tmp = tempDir('psfabric-rel-ack-');
    t = await startTarget();
    broker = await startBroker({ port: 0, persistence: 'memory' });
    broker.aedes.on('ack', (_packet: unknown, client: any) => {
      if (CLIENTS.includes(client?.id)) acks++;
    });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'rel-ack-publisher' });
  });
  after(async () => {
    await kill9(runtime);
    await pub?.endAsync(true).catch(() => {});
    await broker?.close();
    await t?.close();
    tmp?.cleanup();
  });

  function check(ids: string[], part: string): void {
    const missingIds = ids.filter((id) => t.target.effectsForId(id).length === 0);
    const twice = ids.filter((id) => t.target.effectsForId(id).length > 1);
    figures.writes += ids.length;
    figures.lost += missingIds.length;
    figures.duplicatedEffects += twice.length;
    figures.resendsAbsorbed = t.target.duplicates();
    notes.push(`${part}: ${ids.length - missingIds.length}/${ids.length} delivered`);
    figures.notes = notes.join('; ');
    assert.deepEqual(missingIds, [], `${part}: ${missingIds.length} of ${ids.length} messages never reached the target`);
    assert.deepEqual(twice, [], `${part}: applied under two keys`);
  }

  it(`A: ${K} messages received but not committed when the runtime is killed are redelivered and delivered once`, async function () {
    const userDir = path.join(tmp.dir, 'a');
    const topic = 'legacy/v1/ack-a';
    prepareUserDir(userDir, reliabilityFlow({ brokerUrl: broker.url!, targetUrl: t.url, topic, clientId: CLIENTS[0] }));
    runtime = await startRuntime(userDir);
    await waitFor(() => subscribed(broker.aedes, CLIENTS[0], topic), 'the runtime to subscribe', 30000);
    const ids = Array.from({ length: K }, (_, i) => `TE-ACKA-${i}`);
    try {
      const locker = new Database(path.join(userDir, 'fabric.sqlite'));
      locker.exec('BEGIN EXCLUSIVE');
      const outBefore = broker.stats.messagesOut;
      const acksBefore = acks;
      for (const id of ids) await pub.publishAsync(topic, JSON.stringify(timeEntry(id)), { qos: 1 });
      await waitFor(() => broker.stats.messagesOut > outBefore, 'the first message to reach the runtime');
      const inbox = locker.prepare('SELECT COUNT(*) AS n FROM inbox').get() as { n: number };
      assert.equal(acks, acksBefore, `PUBACK before the inbox commit (inbox rows ${inbox.n})`);
      await kill9(runtime);
      figures.kills += 1;
      assert.equal(acks, acksBefore, 'PUBACK before the inbox commit');
      assert.equal(ids.filter((id) => t.target.effectsForId(id).length > 0).length, 0);
      locker.exec('ROLLBACK');
      locker.close();
      runtime = await startRuntime(userDir);
      await waitFor(() => ids.every((id) => t.target.effectsForId(id).length > 0), 'every message at the target after the restart', 60000, 50).catch(() => undefined);
      check(ids, 'A (before commit)');
    } finally {
      if (runtime) await terminate(runtime);
      runtime = undefined;
    }
  });

  it(`B: ${K} messages committed and acknowledged but still inside the flow when the runtime is killed are delivered once`, async function () {
    const userDir = path.join(tmp.dir, 'b');
    const topic = 'legacy/v1/ack-b';
    prepareUserDir(userDir, reliabilityFlow({ brokerUrl: broker.url!, targetUrl: t.url, topic, delayMs: 5000, clientId: CLIENTS[1] }));
    runtime = await startRuntime(userDir);
    await waitFor(() => subscribed(broker.aedes, CLIENTS[1], topic), 'the runtime to subscribe', 30000);
    const ids = Array.from({ length: K }, (_, i) => `TE-ACKB-${i}`);
    try {
      const acksBefore = acks;
      for (const id of ids) await pub.publishAsync(topic, JSON.stringify(timeEntry(id)), { qos: 1 });
      await waitFor(() => acks >= acksBefore + K, 'the runtime to commit and acknowledge every message', 30000);
      await kill9(runtime);
      figures.kills += 1;
      runtime = await startRuntime(userDir);
      // the delay node holds messages 5 s: wait well past it
      await waitFor(() => ids.every((id) => t.target.effectsForId(id).length > 0), 'every message at the target after the restart', 20000, 100).catch(() => undefined);
      check(ids, 'B (committed, in the flow)');
    } catch (err) {
      record({ ...figures, failed: true });
      throw err;
    } finally {
      if (runtime) await terminate(runtime);
      runtime = undefined;
    }
  });

  after(() => {
    if (figures.writes > 0 || figures.kills > 0) record({ ...figures, failed: figures.lost > 0 });
  });
});
