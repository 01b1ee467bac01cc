import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker, type RunningBroker } from '../../../lib/broker';
import { FabricMqttConnection } from '../../../lib/broker/connection';
import { waitFor } from '../../support/wait';

/**
 * broker.ts, "Slow internal clients": a subscriber that stops reading (here: its commits are pending, as the runtime's
 * own connection when its flows are behind) fills its socket; an ordinary client is disconnected after the drain
 * timeout, the runtime's own connection (BrokerUser.internal) is waited for and then gets everything, once.
 */
describe('broker: a slow internal client is waited for, not disconnected', function () {
  this.timeout(60000);
  const DRAIN_TIMEOUT_MS = 200;
  // enough bytes to fill the subscriber's socket buffers on loopback (a few MB each way) many times over
  const COUNT = 600;
  const PAYLOAD = Buffer.alloc(64 * 1024, 'x');
  let broker: RunningBroker;
  let pub: mqtt.MqttClient;
  const conns: FabricMqttConnection[] = [];

  beforeEach(async () => {
    broker = await startBroker({
      port: 0,
      persistence: 'memory',
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      authMode: 'off',
      auth: {
        users: [
          { username: 'runtime', password: 'runtime-pw', publish: ['#'], subscribe: ['#'], internal: true },
          { username: 'outsider', password: 'outsider-pw', publish: ['#'], subscribe: ['#'] },
        ],
      },
    });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) await c.close();
    await pub.endAsync(true);
    await broker.close();
  });

  /** A persistent-session subscriber whose handler (the inbox commit) waits until `release()`; one commit at a time. */
  function stalledSubscriber(username: string, topic: string) {
    let released = false;
    const pending: Array<() => void> = [];
    const seen: number[] = [];
    const conn = new FabricMqttConnection({
      url: broker.url!, clientId: `psfabric-${username}`, username, password: `${username}-pw`, clean: false, maxUnacked: 1, loopGate: null, reconnectPeriodMs: 100,
    });
    conns.push(conn);
    conn.subscribe('node-1', topic, 1, (packet) => {
      seen.push((packet.payload as Buffer).readUInt32BE(0));
      return released ? Promise.resolve() : new Promise<void>((resolve) => pending.push(resolve));
    });
    const release = () => {
      released = true;
      pending.splice(0).forEach((commit) => commit());
    };
    return { conn, seen, release };
  }

  function publishAll(topic: string): Promise<unknown> {
    return Promise.all(Array.from({ length: COUNT }, (_, i) => {
      const payload = Buffer.from(PAYLOAD);
      payload.writeUInt32BE(i, 0);
      return pub.publishAsync(topic, payload, { qos: 1 });
    }));
  }

  it('an ordinary client whose socket does not drain is disconnected after the drain timeout', async () => {
    const sub = stalledSubscriber('outsider', 'drain/outsider');
    await waitFor(() => sub.conn.connected, 'the subscriber');
    const published = publishAll('drain/outsider');
    await waitFor(() => broker.stats.slowClientsDisconnected >= 1, 'the broker to disconnect the stalled subscriber');
    sub.release();
    await published;
  });

  it('the runtime\'s own connection stays connected through drain timeouts and then gets every message once', async () => {
    const sub = stalledSubscriber('runtime', 'drain/runtime');
    await waitFor(() => sub.conn.connected, 'the subscriber');
    const published = publishAll('drain/runtime');
    await waitFor(() => broker.stats.internalDrainWaits >= 3, 'three drain timeouts of the stalled internal subscriber');
    assert.equal(broker.stats.slowClientsDisconnected, 0, 'the internal subscriber was not disconnected');
    assert.equal(sub.conn.connected, true);
    assert.equal(sub.seen.length, 1, 'it read nothing while its commit was pending');

    sub.release();
    await published;
    await waitFor(() => sub.seen.length >= COUNT, `all ${COUNT} messages`);
    assert.deepEqual([...sub.seen].sort((a, b) => a - b), Array.from({ length: COUNT }, (_, i) => i), 'each message exactly once, none redelivered');
    assert.equal(broker.stats.slowClientsDisconnected, 0);
  });
});
