/**
 * The trace context over the bus, in a real Node-RED runtime against a real MQTT v5 broker (mosquitto, started here on
 * a free port; aedes, the embedded broker, speaks MQTT 3.1.1 only, where the envelope's traceparent carries the
 * context instead - see test/integration/templates/traces.test.ts): fabric-mqtt-out
 * publishes the msg's trace context as user properties (`traceparent`, `tracestate`), fabric-mqtt-in continues it on
 * the msg it emits (`msg._fabricTrace`): passed through unchanged while tracing is off, as a CONSUMER span below the
 * producer's span while it is on (real SDK, in-memory exporter).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { SpanKind } from '@opentelemetry/api';
import { freePort } from '../support/ports';
import { parseTraceparent } from '../../lib/telemetry';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { startTestTracing } from '../support/tracing';
import { helper } from '../support/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = ['fabric-store/fabric-store', 'fabric-broker/fabric-broker', 'fabric-mqtt-in/fabric-mqtt-in', 'fabric-mqtt-out/fabric-mqtt-out'].map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const TOPIC = 'fabric/v1/project/created';
const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('trace context over MQTT v5 user properties (fabric-mqtt-out -> broker -> fabric-mqtt-in)', function () {
  this.timeout(30000);
  const broker = { url: '' };
  let mosquitto: ChildProcess | undefined;
  let confDir: ReturnType<typeof tempDir> | undefined;
  let spy: MqttClient;
  let tmp: ReturnType<typeof tempDir>;
  const seen: IPublishPacket[] = [];

  before(async function () {
    const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => fs.existsSync(p));
    if (!bin) {
      console.log('      skipped: no mosquitto binary (MQTT v5 broker) on this machine');
      this.skip();
    }
    const port = await freePort();
    confDir = tempDir('psfabric-mosquitto-');
    const conf = path.join(confDir.dir, 'mosquitto.conf');
    fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    mosquitto = spawn(bin!, ['-c', conf], { stdio: 'ignore' });
    broker.url = `mqtt://127.0.0.1:${port}`;
    spy = await waitFor(() => mqtt.connectAsync(broker.url, { reconnectPeriod: 0, clientId: 'trace-spy', protocolVersion: 5 }).catch(() => undefined), 'mosquitto accepting connections', 10000, 50);
    spy.on('message', (_t, _p, packet) => seen.push(packet));
    await spy.subscribeAsync(TOPIC, { qos: 1 });
  });
  after(async () => {
    await spy?.endAsync(true).catch(() => {});
    if (mosquitto && mosquitto.exitCode === null) {
      const exited = new Promise((resolve) => mosquitto!.once('exit', resolve));
      mosquitto.kill('SIGTERM');
      await exited;
    }
    confDir?.cleanup();
  });
  beforeEach(() => {
    seen.length = 0;
    tmp = tempDir('psfabric-trace-mqtt-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  async function load(): Promise<Msg[]> {
    await helper.load(nodes, [
      { id: 'store', type: 'fabric-store', kind: 'sqlite', path: path.join(tmp.dir, 'fabric.sqlite') },
      { id: 'bus', type: 'fabric-broker', mode: 'url', url: broker.url, clientId: `psfabric-trace-${Date.now()}`, clean: true, protocolVersion: '5', keepalive: 60 },
      { id: 'out', type: 'fabric-mqtt-out', broker: 'bus', topic: TOPIC, qos: '1' },
      { id: 'in', type: 'fabric-mqtt-in', broker: 'bus', store: 'store', topic: TOPIC, qos: '1', wires: [['ok'], []] },
      { id: 'ok', type: 'helper' },
    ]);
    const received: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => received.push(m));
    // fabric-mqtt-in is subscribed once a probe published after the deploy reaches it (probes are ignored below)
    await waitFor(() => (helper.getNode('bus') as any)?.connection?.connected, 'fabric-broker connected', 10000);
    await waitFor(async () => {
      await spy.publishAsync(TOPIC, JSON.stringify({ probe: true }), { qos: 1 });
      return received.some((m) => m.payload?.probe === true);
    }, 'fabric-mqtt-in subscribed', 10000, 100);
    return received;
  }

  it('tracing off: the msg trace context is published as user properties and comes out unchanged', async () => {
    const received = await load();
    helper.getNode('out').receive({ payload: { specversion: '1.0', id: 'e1', data: { id: 'PRJ-1' } }, _fabricTrace: { traceparent: TP, tracestate: 'psf=1' } });
    const msg = await waitFor(() => received.find((m) => !m.payload?.probe), 'the msg from fabric-mqtt-in', 10000);
    const packet = await waitFor(() => seen.find((p) => !p.payload.toString().includes('probe')), 'the published packet', 10000);
    assert.deepEqual({ ...packet.properties?.userProperties }, { traceparent: TP, tracestate: 'psf=1' });
    assert.deepEqual(msg._fabricTrace, { traceparent: TP, tracestate: 'psf=1' });
  });

  it('tracing on: a PRODUCER span below the msg context, and a CONSUMER span below it on the receiving side', async () => {
    const tracing = startTestTracing();
    try {
      const received = await load();
      helper.getNode('out').receive({ payload: { specversion: '1.0', id: 'e2', data: { id: 'PRJ-2' } }, _fabricTrace: { traceparent: TP } });
      const msg = await waitFor(() => received.find((m) => !m.payload?.probe), 'the msg from fabric-mqtt-in', 10000);
      const packet = await waitFor(() => seen.find((p) => !p.payload.toString().includes('probe')), 'the published packet', 10000);
      // the PRODUCER span ends with the broker's PUBACK, which may come after the subscriber already has the message
      // (the subscription probes were traced too, each in a trace of its own)
      const { producer, consumer } = await waitFor(() => {
        const p = tracing.spans().find((s) => s.kind === SpanKind.PRODUCER);
        const c = tracing.spans().find((s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === '0af7651916cd43dd8448eb211c80319c');
        return p && c ? { producer: p, consumer: c } : undefined;
      }, `a PRODUCER and a CONSUMER span (have: ${tracing.spans().map((s) => s.name).join(', ')})`, 10000);
      assert.equal(producer.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(producer.parentSpanContext?.spanId, 'b7ad6b7169203331');
      const sent = parseTraceparent((packet.properties?.userProperties as Record<string, string>).traceparent);
      assert.equal(sent?.spanId, producer.spanContext().spanId, 'the user properties name the PRODUCER span');
      assert.equal(consumer.parentSpanContext?.spanId, producer.spanContext().spanId);
      assert.equal(parseTraceparent(msg._fabricTrace?.traceparent)?.spanId, consumer.spanContext().spanId, 'the msg continues from the CONSUMER span');
    } finally {
      await tracing.stop();
    }
  });
});
