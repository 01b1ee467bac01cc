/**
 * Redeploy under traffic: messages are published at a steady pace to the real runtime (fabric-mqtt-in -> canonical ->
 * outbox delivery) while it gets a full deploy (POST /flows, Node-RED-Deployment-Type: full) and then a graceful
 * restart (SIGTERM, start again). Every published id must reach the target exactly once.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../lib/broker';
import { record } from './support/report';
import { kill9, terminate, knob } from './support/child';
import { startTarget, type RunningTarget } from './support/target';
import { prepareUserDir, reliabilityFlow, startRuntime, subscribed, timeEntry, type RuntimeChild } from './support/runtime';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

describe('reliability: redeploy and restart under traffic', function () {
  const N = knob('RELIABILITY_REDEPLOY_MESSAGES', 600);
  const PER_SECOND = 60;
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  let broker: RunningBroker;
  let pub: MqttClient;
  let runtime: RuntimeChild | undefined;

  before(async () => {
    tmp = tempDir('psfabric-rel-redeploy-');
    t = await startTarget();
    broker = await startBroker({ port: 0, persistence: 'memory' });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'rel-redeploy-publisher' });
  });
  after(async () => {
    await kill9(runtime);
    await pub?.endAsync(true).catch(() => {});
    await broker?.close();
    await t?.close();
    tmp?.cleanup();
  });

  it(`loses nothing of ${N} messages across a full deploy and a restart`, async function () {
    const userDir = path.join(tmp.dir, 'user');
    const topic = 'legacy/v1/redeploy';
    const clientId = 'psfabric-rel-redeploy';
    const flows = reliabilityFlow({ brokerUrl: broker.url!, targetUrl: t.url, topic, clientId });
    prepareUserDir(userDir, flows);
    runtime = await startRuntime(userDir);
    await waitFor(() => subscribed(broker.aedes, clientId, topic), 'the runtime to subscribe', 30000);
    const ids = Array.from({ length: N }, (_, i) => `TE-RD-${i}`);
    const figures = { scenario: '5 redeploy + restart', writes: N, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as number | '', notes: '' };
    let deployedAt = -1;
    let restartedAt = -1;
    try {
      const publishing = (async () => {
        for (let i = 0; i < N; i++) {
          await pub.publishAsync(topic, JSON.stringify(timeEntry(ids[i])), { qos: 1 });
          await new Promise((r) => setTimeout(r, 1000 / PER_SECOND));
        }
      })();
      await waitFor(() => t.target.effects.size >= N / 4, 'a quarter delivered', 60000, 20);
      deployedAt = t.target.effects.size;
      const res = await fetch(`${runtime.url}/flows`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v2' },
        body: JSON.stringify({ flows }),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor(() => t.target.effects.size >= N / 2, 'half delivered', 60000, 20);
      restartedAt = t.target.effects.size;
      assert.equal(await terminate(runtime), '0');
      figures.kills += 1;
      runtime = await startRuntime(userDir);
      await publishing;
      await waitFor(() => ids.every((id) => t.target.effectsForId(id).length > 0), 'every message at the target', 60000, 100).catch(() => undefined);
    } finally {
      const missingIds = ids.filter((id) => t.target.effectsForId(id).length === 0);
      figures.lost = missingIds.length;
      figures.duplicatedEffects = ids.filter((id) => t.target.effectsForId(id).length > 1).length;
      figures.resendsAbsorbed = t.target.duplicates();
      figures.maxRate = t.target.maxRate();
      figures.notes = `full deploy after ${deployedAt} delivered, SIGTERM restart after ${restartedAt}${missingIds.length ? `; missing e.g. ${missingIds.slice(0, 3).join(', ')}` : ''}`;
      record({ ...figures, failed: figures.lost > 0 });
    }
    assert.equal(figures.lost, 0, figures.notes);
    if (runtime) assert.equal(await terminate(runtime), '0');
    runtime = undefined;
    void fs;
  });
});
