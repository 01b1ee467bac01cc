import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { IPublishPacket } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../lib/broker';
import { FabricMqttConnection } from '../../../lib/broker/connection';
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
