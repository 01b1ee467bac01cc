/**
 * The runtime wires its broker into retention (runtime/launcher.ts, lib/broker/redelivery.ts): after a restart, an
 * inbox entry is kept while the broker still holds a message for one of the runtime's own sessions from before the
 * restart, and goes once that session has taken the message. Real runtime (startFabric: broker in its worker thread,
 * level persistence, SQLite file store), started twice on one user dir.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const DAY = 86_400_000;
const SESSION = 'psfabric-retention-held';

describe('runtime: retention keeps what its broker may still re-send', function () {
  this.timeout(90000);
  let tmp: ReturnType<typeof tempDir>;
  let fabric: RunningFabric | undefined;
  const start = () => startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: false, logLevel: 'warn', initialFlows: [], env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'retention-test-secret', FABRIC_RETENTION_INBOX_DAYS: '1' } });

  before(() => {
    tmp = tempDir('psfabric-retention-rt-');
  });
  after(async () => {
    await fabric?.stop();
    tmp.cleanup();
  });

  it('holds the inbox purge after a restart until the session has taken what the broker kept for it', async () => {
    fabric = await start();
    // a runtime session (internal user, persistent) subscribes, goes away, and a message is queued for it
    const session = await mqtt.connectAsync(fabric.mqttUrl!, { clientId: SESSION, clean: false, reconnectPeriod: 0, ...fabric.mqttCredentials });
    await session.subscribeAsync('test/held', { qos: 1 });
    await session.endAsync();
    const pub = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0, ...fabric.mqttCredentials });
    await pub.publishAsync('test/held', JSON.stringify({ n: 1 }), { qos: 1 });
    await pub.endAsync();
    await waitFor(async () => (await fabric!.broker.heldForRedelivery())?.clientIds.includes(SESSION), 'the message to be queued for the session');
    await fabric.stop();

    fabric = await start();
    const store = fabric.fabric.store;
    await store.inboxAdd({ source: 'mqtt:t', messageId: 'long-ago', payload: null, receivedAt: Date.now() - 3 * DAY });
    await store.inboxMarkProcessed('mqtt:t', 'long-ago');
    const retention = fabric.fabric.services.retention!;
    const held = await retention.runOnce();
    assert.deepEqual(held.inboxHeld, { since: 0, clientIds: [SESSION] }, 'queued before the restart: of any age');
    assert.equal(held.purged['inbox-processed'], undefined);
    assert.ok(await store.inboxGet('mqtt:t', 'long-ago'), 'kept while the broker may re-send something older');

    const back = await mqtt.connectAsync(fabric.mqttUrl!, { clientId: SESSION, clean: false, reconnectPeriod: 0, ...fabric.mqttCredentials });
    const got: string[] = [];
    back.on('message', (_t, p) => got.push(p.toString()));
    try {
      await waitFor(() => got.length === 1, 'the queued message after the restart');
      await waitFor(async () => (await fabric!.broker.heldForRedelivery()) === undefined, 'the PUBACK to clear it');
    } finally {
      await back.endAsync();
    }
    const after = await retention.runOnce();
    assert.equal(after.purged['inbox-processed'], 1);
    assert.equal(await store.inboxGet('mqtt:t', 'long-ago'), undefined);
  });
});
