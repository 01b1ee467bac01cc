/**
 * The real runtime: startFabric in a temporary user dir on free ports; a flow deployed through the admin API
 * (fabric-mqtt-in -> canonical -> fabric-mqtt-out); MQTT in, canonical event out on the bus. Then the
 * ack-after-commit property with a child process killed (SIGKILL) while its inbox commit is blocked.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import Database from 'better-sqlite3';
import { startFabric, type RunningFabric } from '../../runtime/launcher';
import { startBroker, type RunningBroker, type ThreadedBroker } from '../../lib/broker';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const timeEntries = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'canonical', 'time-entry.json'), 'utf8')) as Array<Record<string, unknown>>;

interface Seen {
  topic: string;
  payload: any;
}

function flowFor(opts: { brokerMode: 'embedded' | 'url'; url?: string; inTopic: string; withCanonical: boolean }): unknown[] {
  const tab = { id: 'tab1', type: 'tab', label: 'integration' };
  const broker = { id: 'brk1', type: 'fabric-broker', name: 'bus', mode: opts.brokerMode, url: opts.url ?? '', clientId: '', clean: false, protocolVersion: '4', keepalive: 60, sharedGroup: '' };
  const inNode = { id: 'in1', type: 'fabric-mqtt-in', z: 'tab1', name: '', broker: 'brk1', store: '', topic: opts.inTopic, qos: '1', maxBytes: 1048576, wires: [[opts.withCanonical ? 'can1' : 'out1'], ['outInvalid']], x: 100, y: 100 };
  const outNode = { id: 'out1', type: 'fabric-mqtt-out', z: 'tab1', name: '', broker: 'brk1', topic: '', qos: '1', retain: false, maxBytes: 1048576, wires: [], x: 500, y: 100 };
  const outInvalid = { id: 'outInvalid', type: 'fabric-mqtt-out', z: 'tab1', name: '', broker: 'brk1', topic: 'test/invalid', qos: '1', retain: false, maxBytes: 1048576, wires: [], x: 500, y: 200 };
  const nodes: unknown[] = [tab, broker, inNode, outNode, outInvalid];
  if (opts.withCanonical) {
    nodes.push({ id: 'can1', type: 'canonical', z: 'tab1', name: '', entity: 'timeentry', mapping: '', event: 'approved', source: '', subject: '', correlationProperty: 'correlationid', idempotencyKey: '', maxBytes: 1048576, wires: [['out1'], ['outCanInvalid']], x: 300, y: 100 });
    nodes.push({ id: 'outCanInvalid', type: 'fabric-mqtt-out', z: 'tab1', name: '', broker: 'brk1', topic: 'test/canonical-invalid', qos: '1', retain: false, maxBytes: 1048576, wires: [], x: 500, y: 300 });
  } else {
    // without canonical, out1 needs a topic of its own
    (outNode as Record<string, unknown>).topic = 'fabric/v1/timeentry/approved';
  }
  return nodes;
}

/** True once the broker has a session for `clientId` subscribed to `filter`. */
function subscribed(aedes: any, clientPrefix: string, filter: string): boolean {
  return Object.values(aedes.clients as Record<string, any>).some((c) => String(c.id).startsWith(clientPrefix) && c.subscriptions && c.subscriptions[filter]);
}

describe('PS Fabric runtime (integration)', function () {
  this.timeout(60000);
  let tmp: { dir: string; cleanup(): void };
  let fabric: RunningFabric;
  let bus: MqttClient;
  const seen: Seen[] = [];

  before(async () => {
    tmp = tempDir('psfabric-runtime-');
    fabric = await startFabric({ userDir: tmp.dir, port: 0, mqttPort: 0, sandboxes: false, logLevel: 'warn', env: { ...process.env, FABRIC_CREDENTIAL_SECRET: 'integration-test-secret' } });
    // the runtime's own identity: anonymous clients may not publish legacy/# nor read fabric/v1/# (docs/security.md)
    bus = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0, ...fabric.mqttCredentials });
    bus.on('message', (topic, payload) => {
      let parsed: unknown = payload.toString();
      try {
        parsed = JSON.parse(payload.toString());
      } catch {
        /* keep text */
      }
      seen.push({ topic, payload: parsed });
    });
    await bus.subscribeAsync(['fabric/v1/#', 'test/#'], { qos: 1 });
  });

  after(async () => {
    await bus?.endAsync(true).catch(() => {});
    await fabric?.stop();
    tmp?.cleanup();
  });

  it('reports health on /healthz', async () => {
    const res = await fetch(`${fabric.url}/healthz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.status, 'ok');
    assert.equal(body.broker.ok, true);
    // every broker counter, those added later included (the wait-throughs of the runtime's own slow connections)
    for (const key of Object.keys(fabric.broker.stats)) assert.equal(typeof body.broker[key], 'number', `/healthz broker.${key}`);
    assert.equal(body.broker.internalDrainWaits, 0);
    assert.equal(body.broker.slowClientsDisconnected, 0);
    assert.equal(body.store.ok, true);
    assert.equal(body.flows.state, 'started');
  });

  it('serves the editor titled PS Fabric with the PS Fabric nodes in the palette', async () => {
    const page = await (await fetch(`${fabric.url}/`)).text();
    assert.match(page, /<title>PS Fabric<\/title>/);
    const nodes = (await (await fetch(`${fabric.url}/nodes`, { headers: { Accept: 'application/json' } })).json()) as Array<{ types: string[]; enabled: boolean }>;
    const types = nodes.flatMap((n) => (n.enabled ? n.types : []));
    for (const type of ['fabric-broker', 'fabric-mqtt-in', 'fabric-mqtt-out']) assert.ok(types.includes(type), `${type} not loaded: ${types.join(', ')}`);
  });

  it('deploys a flow through the admin API and turns an MQTT message into a canonical event on the bus', async () => {
    const hasCanonical = ((await (await fetch(`${fabric.url}/nodes`, { headers: { Accept: 'application/json' } })).json()) as Array<{ types: string[] }>).some((n) => n.types.includes('canonical'));
    const res = await fetch(`${fabric.url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v2' },
      body: JSON.stringify({ flows: flowFor({ brokerMode: 'embedded', inTopic: 'legacy/v1/timeentry', withCanonical: hasCanonical }) }),
    });
    assert.equal(res.status, 200, await res.text());
    // the runtime's broker runs in a worker thread: ask it, there is no aedes instance on this side
    await waitFor(async () => (await fabric.broker.clientSubscriptions('psfabric-')).some((s) => s.topic === 'legacy/v1/timeentry'), 'the flow to subscribe');

    const entry = timeEntries[0];
    await bus.publishAsync('legacy/v1/timeentry', JSON.stringify(entry), { qos: 1 });
    const out = await waitFor(() => seen.find((m) => m.topic === 'fabric/v1/timeentry/approved'), 'the canonical event on the bus');
    if (hasCanonical) {
      assert.equal(out.payload.specversion, '1.0');
      assert.match(out.payload.type, /timeentry\.approved/);
      assert.equal(out.payload.data.id, entry.id);
    } else {
      assert.equal(out.payload.id, entry.id);
    }
  });

  it('sends malformed JSON to output 2 with a clear error and keeps running', async () => {
    await bus.publishAsync('legacy/v1/timeentry', '{"id": "TE-BROKEN", hours: }', { qos: 1 });
    const bad = await waitFor(() => seen.find((m) => m.topic === 'test/invalid'), 'the invalid message on output 2');
    assert.equal(typeof bad.payload, 'string'); // fabric-mqtt-out serialises msg.payload (the raw text) as JSON
    assert.match(bad.payload, /TE-BROKEN/);
    const res = await fetch(`${fabric.url}/healthz`);
    assert.equal(res.status, 200);
  });

  it('does not emit a redelivered (already committed) message twice', async () => {
    const entry = { ...timeEntries[0], id: 'TE-DUP-1' };
    const before = seen.filter((m) => m.topic === 'fabric/v1/timeentry/approved').length;
    await bus.publishAsync('legacy/v1/timeentry', JSON.stringify(entry), { qos: 1 });
    await bus.publishAsync('legacy/v1/timeentry', JSON.stringify(entry), { qos: 1, dup: true });
    const marker = { ...timeEntries[0], id: 'TE-DUP-MARKER' };
    await bus.publishAsync('legacy/v1/timeentry', JSON.stringify(marker), { qos: 1 });
    const idOf = (m: Seen) => m.payload?.data?.id ?? m.payload?.id;
    await waitFor(() => seen.some((m) => idOf(m) === 'TE-DUP-MARKER'), 'the marker message');
    // fabric-mqtt-in handles messages one at a time, so both copies of TE-DUP-1 were decided before the marker
    const copies = seen.filter((m) => idOf(m) === 'TE-DUP-1');
    assert.equal(copies.length, 1);
    assert.equal(seen.filter((m) => m.topic === 'fabric/v1/timeentry/approved').length, before + 2);
  });

  // kept last in this block: the crash disconnects `bus` (it does not reconnect)
  it('reports degraded while the broker worker thread is down, restarts it, and the flow works again', async function () {
    const broker = fabric.broker as Partial<ThreadedBroker>;
    if (!broker.crashWorkerForTest) this.skip(); // FABRIC_BROKER_THREAD=off: nothing to crash
    broker.crashWorkerForTest!();
    const down = await waitFor(async () => {
      const res = await fetch(`${fabric.url}/healthz`);
      return res.status === 503 ? ((await res.json()) as any) : undefined;
    }, '/healthz to report the dead broker');
    assert.equal(down.status, 'degraded');
    assert.equal(down.broker.ok, false);
    await waitFor(async () => (await fetch(`${fabric.url}/healthz`)).status === 200, '/healthz to be ok after the restart', 15000);

    // the flow's fabric-broker reconnects on its own; a new bus client sees its output
    const bus2 = await mqtt.connectAsync(fabric.mqttUrl!, { reconnectPeriod: 0, ...fabric.mqttCredentials });
    try {
      const got: Seen[] = [];
      bus2.on('message', (topic, payload) => got.push({ topic, payload: JSON.parse(payload.toString()) }));
      await bus2.subscribeAsync('fabric/v1/timeentry/approved', { qos: 1 });
      await waitFor(async () => (await fabric.broker.clientSubscriptions('psfabric-')).some((s) => s.topic === 'legacy/v1/timeentry'), 'the flow to resubscribe', 15000);
      await bus2.publishAsync('legacy/v1/timeentry', JSON.stringify({ ...timeEntries[0], id: 'TE-AFTER-RESTART' }), { qos: 1 });
      await waitFor(() => got.some((m) => (m.payload?.data?.id ?? m.payload?.id) === 'TE-AFTER-RESTART'), 'the canonical event after the broker restart', 15000);
    } finally {
      await bus2.endAsync(true);
    }
  });
});

describe('acknowledge after commit (child process killed before the commit)', function () {
  this.timeout(120000);
  let tmp: { dir: string; cleanup(): void };
  let broker: RunningBroker;
  let child: ChildProcess | undefined;
  let observer: MqttClient | undefined;

  function startChild(userDir: string, port: number): Promise<ChildProcess> {
    const proc = fork(path.join(ROOT, 'dist', 'runtime', 'start.js'), [], {
      env: {
        ...process.env,
        FABRIC_USER_DIR: userDir,
        FABRIC_PORT: String(port),
        FABRIC_MQTT_PORT: '0',
        FABRIC_SANDBOXES: 'off',
        FABRIC_LOG_LEVEL: 'warn',
        FABRIC_CREDENTIAL_SECRET: 'integration-test-secret',
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      proc.once('message', () => resolve(proc));
      proc.once('exit', (code) => reject(new Error(`runtime child exited early with ${code}`)));
    });
  }

  before(async () => {
    tmp = tempDir('psfabric-ack-');
    broker = await startBroker({ port: 0, persistence: 'memory' });
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await observer?.endAsync(true).catch(() => {});
    await broker?.close();
    tmp?.cleanup();
  });

  it('redelivers a message whose inbox commit never happened, and emits it once after the restart', async () => {
    const userDir = path.join(tmp.dir, 'user');
    fs.mkdirSync(userDir, { recursive: true });
    // the runtime's nodes talk to an external broker (this test's), which outlives the killed runtime
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flowFor({ brokerMode: 'url', url: broker.url, inTopic: 'legacy/v1/ack', withCanonical: false })));
    let acks = 0;
    broker.aedes.on('ack', (_packet: unknown, client: any) => {
      if (String(client?.id).startsWith('psfabric-')) acks++;
    });

    const port1 = await freePort();
    child = await startChild(userDir, port1);
    await waitFor(() => subscribed(broker.aedes, 'psfabric-', 'legacy/v1/ack'), 'the child runtime to subscribe', 30000);

    // Block the runtime's inbox commit: hold SQLite's write lock from here.
    const locker = new Database(path.join(userDir, 'ps-fabric.sqlite'));
    locker.exec('BEGIN EXCLUSIVE');
    observer = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0 });
    const outputs: string[] = [];
    observer.on('message', (_t, p) => outputs.push(p.toString()));
    await observer.subscribeAsync('fabric/v1/timeentry/approved', { qos: 1 });
    const outBefore = broker.stats.messagesOut;
    await observer.publishAsync('legacy/v1/ack', JSON.stringify({ id: 'TE-ACK-1', hours: 3 }), { qos: 1 });
    await waitFor(() => broker.stats.messagesOut > outBefore, 'delivery to the runtime');
    // The runtime now waits on the lock inside its commit; it must not have acknowledged.
    assert.equal(acks, 0, 'PUBACK sent before the inbox commit');
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => (child!.exitCode !== null || child!.signalCode ? resolve() : child!.once('exit', () => resolve())));
    assert.equal(acks, 0, 'PUBACK sent before the inbox commit');
    assert.equal(outputs.length, 0);
    locker.exec('ROLLBACK');
    locker.close();

    // Restart: the broker redelivers to the persistent session, the commit succeeds, the event goes out once.
    child = await startChild(userDir, await freePort());
    await waitFor(() => outputs.length >= 1, 'the redelivered message to come out of the flow', 30000);
    await waitFor(() => acks >= 1, 'the PUBACK after the commit');
    assert.equal(JSON.parse(outputs[0]).id, 'TE-ACK-1');

    // Stop cleanly: SIGTERM, exit code 0.
    const exit = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.equal(outputs.length, 1, 'the message came out more than once');
  });
});
