/**
 * The runtime keeps the inbox entry of a message its broker retains (runtime/launcher.ts, lib/broker/redelivery.ts):
 * a retained time entry processed by a fabric-mqtt-in flow, the inbox period passed and retention run, then the
 * runtime restarted on its user dir (its trigger subscribes again, aedes re-sends the retained message): the message
 * is a duplicate, not processed a second time. Real runtime (startFabric: broker in its worker thread, level
 * persistence, SQLite file store) and a real flow.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { inboxMessageId } from '../../lib/broker/message-id';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

/** The inbox period: under a second (fractions of a day, as the benchmarks set it). */
const INBOX_DAYS = '0.00001';
const IN_TOPIC = 'legacy/v1/timeentry/#';
const OUT_TOPIC = 'test/retained/out';
const FLOW = [
  { id: 'tab1', type: 'tab', label: 'retained' },
  { id: 'brk1', type: 'fabric-broker', name: 'bus', mode: 'embedded', url: '', clientId: '', clean: false, protocolVersion: '4', keepalive: 60, sharedGroup: '' },
  { id: 'in1', type: 'fabric-mqtt-in', z: 'tab1', name: '', broker: 'brk1', store: '', topic: IN_TOPIC, qos: '1', maxBytes: 1048576, wires: [['out1'], []], x: 100, y: 100 },
  { id: 'out1', type: 'fabric-mqtt-out', z: 'tab1', name: '', broker: 'brk1', topic: OUT_TOPIC, qos: '1', retain: false, maxBytes: 1048576, wires: [], x: 300, y: 100 },
];
const ENTRY_TOPIC = 'legacy/v1/timeentry/te-501';
const ENTRY = JSON.stringify({ id: 'TE-501', hours: 6, project: 'P-77' });
const ENTRY_ID = inboxMessageId(ENTRY_TOPIC, Buffer.from(ENTRY), JSON.parse(ENTRY));

describe('runtime: retention keeps the inbox entries of retained messages', function () {
  this.timeout(90000);
  let tmp: ReturnType<typeof tempDir>;
  let fabric: RunningFabric | undefined;
  const start = () => startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: false, logLevel: 'warn', initialFlows: FLOW, env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'retention-test-secret', FABRIC_RETENTION_INBOX_DAYS: INBOX_DAYS } });

  before(() => {
    tmp = tempDir('psfabric-retention-retained-');
  });
  after(async () => {
    await fabric?.stop();
    tmp.cleanup();
  });

  /** Runs `fn` with a client seeing the flow's output; resolves with the ids it saw once the marker came through. */
  async function outputsUntilMarker(fn: (bus: mqtt.MqttClient) => Promise<void>, marker: string): Promise<string[]> {
    const bus = await mqtt.connectAsync(fabric!.mqttUrl!, { reconnectPeriod: 0, ...fabric!.mqttCredentials });
    const ids: string[] = [];
    bus.on('message', (_topic, payload) => ids.push(String((JSON.parse(payload.toString()) as { id?: unknown }).id)));
    try {
      await bus.subscribeAsync(OUT_TOPIC, { qos: 1 });
      await waitFor(async () => (await fabric!.broker.clientSubscriptions('psfabric-')).some((s) => s.topic === IN_TOPIC), 'the flow to subscribe');
      await fn(bus);
      // fabric-mqtt-in takes messages one at a time: the retained copy, sent at the subscription, was decided first
      await bus.publishAsync('legacy/v1/timeentry/marker', JSON.stringify({ id: marker }), { qos: 1 });
      await waitFor(() => ids.includes(marker), 'the marker through the flow');
      return ids.filter((id) => id !== marker);
    } finally {
      await bus.endAsync();
    }
  }

  it('a retained time entry is processed once across an inbox period and a restart', async () => {
    fabric = await start();
    const first = await outputsUntilMarker((bus) => bus.publishAsync(ENTRY_TOPIC, ENTRY, { qos: 1, retain: true }).then(() => undefined), 'M-1');
    assert.deepEqual(first, ['TE-501']);
    const store = fabric.fabric.store;
    const receivedAt = (await store.inboxGet('mqtt:in1', ENTRY_ID))!.receivedAt;
    await waitFor(() => Date.now() > receivedAt + 1000, 'the entry to be older than the inbox period');
    await waitFor(async () => ((await fabric!.broker.heldForRedelivery())?.clientIds.length ?? 0) === 0, 'the flow to acknowledge');
    const run = await fabric.fabric.services.retention!.runOnce();
    assert.ok(run.inboxHeld && !('error' in run.inboxHeld) && run.inboxHeld.retained === 1, 'the retained entry id kept (the broker in its worker thread)');
    assert.equal((await store.inboxGet('mqtt:in1', ENTRY_ID))?.status, 'processed', 'kept past the inbox period');
    assert.equal(await store.inboxGet('mqtt:in1', inboxMessageId('legacy/v1/timeentry/marker', Buffer.from(JSON.stringify({ id: 'M-1' })), { id: 'M-1' })), undefined, 'the marker (not retained) went');
    await fabric.stop();

    fabric = await start();
    const second = await outputsUntilMarker(async () => {}, 'M-2');
    assert.deepEqual(second, [], 'the retained time entry re-sent at the subscription is a duplicate');
  });
});
