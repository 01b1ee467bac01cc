import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { IPublishPacket } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../lib/broker';
import { FabricMqttConnection } from '../../../lib/broker/connection';
import { EventLoopGate, sharedEventLoopGate } from '../../../lib/broker/event-loop-gate';
import { maxLoopDelayFromEnv } from '../../../lib/broker/env';
import { waitFor } from '../../support/wait';

describe('FabricMqttConnection: subscriptions on connect', function () {
  this.timeout(20000);
  let broker: RunningBroker;
  const conns: FabricMqttConnection[] = [];
  beforeEach(async () => {
    broker = await startBroker({ port: 0, persistence: 'memory' });
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) await c.close();
    await broker.close();
  });

  const subscribedTo = (clientId: string, filter: string) => {
    const c = (broker.aedes.clients as Record<string, any>)[clientId];
    return !!c?.subscriptions?.[filter];
  };

  it('subscribes a changed topic even when the broker still has the persistent session', async () => {
    const clientId = 'psfabric-resub-test';
    const first = new FabricMqttConnection({ url: broker.url!, clientId, clean: false, reconnectPeriodMs: 100 });
    conns.push(first);
    first.subscribe('node-1', 'legacy/v1/old', 1, async () => {});
    await waitFor(() => subscribedTo(clientId, 'legacy/v1/old'), 'the first subscription');
    await first.close();
    conns.splice(0);

    // the same client id comes back (a redeploy, a restart) with the node's topic changed: the session is present
    const got: IPublishPacket[] = [];
    const second = new FabricMqttConnection({ url: broker.url!, clientId, clean: false, reconnectPeriodMs: 100 });
    conns.push(second);
    let sessionPresent: boolean | undefined;
    broker.aedes.once('connackSent', (packet: any) => (sessionPresent = packet.sessionPresent));
    second.subscribe('node-1', 'legacy/v1/new', 1, async (packet) => {
      got.push(packet);
    });
    await waitFor(() => second.connected && subscribedTo(clientId, 'legacy/v1/new'), 'the changed topic to be subscribed after reconnecting');
    assert.equal(sessionPresent, true, 'the broker kept the persistent session (the case that used to skip subscribing)');

    const pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
    try {
      await pub.publishAsync('legacy/v1/new', '{"id":1}', { qos: 1 });
      await waitFor(() => got.length === 1, 'the message on the new topic');
      assert.equal(got[0].topic, 'legacy/v1/new');
    } finally {
      await pub.endAsync(true);
    }
  });
});

describe('FabricMqttConnection: backpressure', function () {
  this.timeout(20000);
  let broker: RunningBroker;
  let pub: mqtt.MqttClient;
  const conns: FabricMqttConnection[] = [];
  beforeEach(async () => {
    broker = await startBroker({ port: 0, persistence: 'memory' });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) await c.close();
    await pub.endAsync(true);
    await broker.close();
  });

  async function publishMany(topic: string, n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, (_, i) => pub.publishAsync(topic, JSON.stringify({ i }), { qos: 1 })));
  }

  it('reads no more than maxUnacked QoS 1 messages while their commits are pending, and the rest after', async () => {
    const commits: Array<() => void> = [];
    let dispatched = 0;
    const conn = new FabricMqttConnection({ url: broker.url!, clientId: 'psfabric-bound-test', clean: false, maxUnacked: 8, loopGate: null });
    conns.push(conn);
    conn.subscribe('node-1', 'bound/test', 1, () => {
      dispatched += 1;
      return new Promise<void>((resolve) => commits.push(resolve));
    });
    await waitFor(() => conn.connected && !!(broker.aedes.clients as Record<string, any>)['psfabric-bound-test']?.subscriptions?.['bound/test'], 'the connection and its subscription');
    // the two ends of the subscriber's TCP connection: what the broker wrote, what the client has read
    const brokerSide = (broker.aedes.clients as Record<string, any>)['psfabric-bound-test'].conn as { bytesWritten: number };
    const clientSide = (conn as unknown as { client: { stream: { bytesRead: number } } }).client.stream;
    const before = brokerSide.bytesWritten;
    // a QoS 1 PUBLISH: fixed header, remaining length (one byte here), topic length + topic, packet id, payload
    const sent = Array.from({ length: 30 }, (_, i) => 1 + 1 + 2 + 'bound/test'.length + 2 + JSON.stringify({ i }).length).reduce((a, b) => a + b, 0);
    await publishMany('bound/test', 30);
    // all 30 written by the broker and read by the client's socket: the 9th and later are in mqtt.js, which would have
    // handed the 9th on by now (same turn) if it did not wait for a commit
    await waitFor(() => dispatched === 8 && brokerSide.bytesWritten >= before + sent && clientSide.bytesRead >= brokerSide.bytesWritten, 'the first 8 messages dispatched, all 30 read by the client');
    assert.equal(dispatched, 8, 'the 9th message waits for a commit');
    await waitFor(() => {
      commits.splice(0).forEach((commit) => commit());
      return dispatched === 30;
    }, 'every message once the commits complete');
  });

  it('an event-loop gate defers reading while the loop is late and lets it go when the loop has caught up', async () => {
    const gate = new EventLoopGate(30, 250); // sampled every 250 ms: a late sample keeps the gate shut for 250 ms
    const release = gate.use();
    try {
      const until = Date.now() + 400;
      while (Date.now() < until); // a flow hogging the event loop: the gate's sample comes ~150 ms late
      await waitFor(() => gate.stats.pauses === 1, 'the gate to notice the late event loop');
      let released = false;
      gate.pass(() => (released = true));
      assert.equal(released, false, 'while the loop is late, the next read waits');
      await waitFor(() => released, 'the next read once the loop is on time again');
    } finally {
      release();
    }
  });

  it('an event-loop gate bounds a pause: a loop late for longer than maxPauseMs still reads, in bursts', async () => {
    // a saturated machine: every turn of the loop is 60 ms of work, so every sample is late, for as long as the test runs
    const gate = new EventLoopGate(30, 10, 300, 50);
    const release = gate.use();
    let hogging = true;
    const hog = () => {
      const until = Date.now() + 60;
      while (Date.now() < until);
      if (hogging) setImmediate(hog);
    };
    setImmediate(hog);
    let reads = 0;
    const readNext = () => gate.pass(() => {
      reads += 1;
      setImmediate(readNext);
    });
    try {
      await waitFor(() => gate.stats.pauses >= 1, 'the gate to pause reading');
      readNext();
      // without the bound, nothing would be read until the loop is on time again, i.e. never while the hog runs
      await waitFor(() => gate.stats.bursts >= 2 && reads > 0, 'reads in bursts while the loop stays late', 20000);
      assert.ok(gate.stats.pauses >= 2, `the gate pauses again after a burst (pauses: ${gate.stats.pauses})`);
    } finally {
      hogging = false;
      release();
    }
  });

  it('FABRIC_MQTT_MAX_LOOP_DELAY_MS: 50 ms by default, 0 turns the gate off, anything else is refused', () => {
    assert.equal(maxLoopDelayFromEnv({}), 50);
    assert.equal(maxLoopDelayFromEnv({ FABRIC_MQTT_MAX_LOOP_DELAY_MS: '120' }), 120);
    assert.equal(sharedEventLoopGate({ FABRIC_MQTT_MAX_LOOP_DELAY_MS: '0' }), undefined);
    assert.equal(sharedEventLoopGate({ FABRIC_MQTT_MAX_LOOP_DELAY_MS: '120' })?.maxLagMs, 120);
    assert.throws(() => maxLoopDelayFromEnv({ FABRIC_MQTT_MAX_LOOP_DELAY_MS: 'fast' }), /FABRIC_MQTT_MAX_LOOP_DELAY_MS must be a number of ms >= 0 \(0 = off\), got "fast"/);
  });

  it('delivers every message through a connection with the process-wide gate', async () => {
    const got: number[] = [];
    const conn = new FabricMqttConnection({ url: broker.url!, clientId: 'psfabric-gate-test', clean: false });
    conns.push(conn);
    conn.subscribe('node-1', 'gate/test', 1, async (packet) => {
      got.push(JSON.parse(packet.payload.toString()).i);
    });
    await waitFor(() => conn.connected, 'the connection');
    await publishMany('gate/test', 200);
    await waitFor(() => got.length === 200, 'all 200 messages');
    assert.deepEqual([...got].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
  });
});
