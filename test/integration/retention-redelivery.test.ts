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

/** The inbox period: under a second (fractions of a day, as the benchmarks set it). */
const INBOX_DAYS = '0.00001';
const SESSION = 'psfabric-retention-held';

describe('runtime: retention keeps what its broker may still re-send', function () {
  this.timeout(90000);
  let tmp: ReturnType<typeof tempDir>;
  let fabric: RunningFabric | undefined;
  const start = () => startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: false, logLevel: 'warn', initialFlows: [], env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'retention-test-secret', FABRIC_RETENTION_INBOX_DAYS: INBOX_DAYS } });

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
    const handOver = async (messageId: string, receivedAt: number) => {
      await fabric!.fabric.store.inboxAdd({ source: 'mqtt:t', messageId, payload: null, receivedAt });
      await fabric!.fabric.store.inboxMarkProcessed('mqtt:t', messageId);
    };
    // handed over before the message is queued (after a question: the broker notes its counter), and after
    const beforeAt = Date.now() - 1;
    await handOver('before', beforeAt);
    assert.equal(await fabric.broker.heldForRedelivery(), undefined);
    const pub = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0, ...fabric.mqttCredentials });
    await pub.publishAsync('test/held', JSON.stringify({ n: 1 }), { qos: 1 });
    await pub.endAsync();
    await waitFor(async () => (await fabric!.broker.heldForRedelivery())?.clientIds.includes(SESSION), 'the message to be queued for the session');
    const afterAt = Date.now();
    await handOver('after', afterAt);
    await fabric.stop();

    fabric = await start();
    const store = fabric.fabric.store;
    const retention = fabric.fabric.services.retention!;
    await waitFor(() => Date.now() > afterAt + 1000, 'both entries to be older than the inbox period');
    const held = await retention.runOnce();
    const hold = held.inboxHeld as { since: number; clientIds: string[] };
    assert.deepEqual(hold.clientIds, [SESSION]);
    assert.ok(hold.since > beforeAt && hold.since <= afterAt, 'bounded by the notes of the run that queued it');
    assert.equal(held.purged['inbox-processed'], 1);
    assert.equal(await store.inboxGet('mqtt:t', 'before'), undefined, 'older than anything held: it goes');
    assert.ok(await store.inboxGet('mqtt:t', 'after'), 'kept while the broker may re-send a message it could record');
    const health = (await (await fetch(`${fabric.url}/healthz`)).json()) as { retention: { enabled: boolean; lastRun: { inboxHeld: unknown } } };
    assert.equal(health.retention.enabled, true);
    assert.deepEqual(health.retention.lastRun.inboxHeld, hold, '/healthz shows which sessions hold the inbox purge back');

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
    assert.equal(await store.inboxGet('mqtt:t', 'after'), undefined);
  });
});
