/**
 * fabric-mqtt-in in a real Node-RED runtime against a real aedes broker: in text format (the legacy ERP's TE lines) an
 * empty or whitespace-only payload carries no line, so nothing downstream would ever hand it over: it goes to output 2
 * with the reason, like a payload over the limit, while a payload with a line passes on output 1 (issue 14, row 4).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../lib/broker';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { helper } from '../support/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = ['fabric-store/fabric-store', 'fabric-broker/fabric-broker', 'fabric-mqtt-in/fabric-mqtt-in'].map((n) => require(`../../nodes/${n}`));
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;  
const TOPIC = 'legacy/fr01/time/out';

describe('fabric-mqtt-in (text format): empty and whitespace-only payloads are invalid', function () {
  this.timeout(30000);
  let broker: RunningBroker;
  let pub: MqttClient;
  let tmp: ReturnType<typeof tempDir>;

  before(async () => {
    broker = await startBroker({ port: 0, persistence: 'memory' });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'mqtt-in-text-test' });
  });
  after(async () => {
    await pub?.endAsync(true).catch(() => {});
    await broker?.close();
  });
  beforeEach(() => {
    tmp = tempDir('psfabric-mqtt-in-text-');
    helper.settings({ userDir: tmp.dir });
  });
  afterEach(async () => {
    await helper.unload();
    tmp.cleanup();
  });

  it('sends "", " " and "\\r\\n\\t" to output 2 with the reason, a TE line to output 1; each entry committed once', async () => {
    await helper.load(nodes, [
      { id: 'store', type: 'fabric-store', kind: 'sqlite', path: path.join(tmp.dir, 'fabric.sqlite') },
      { id: 'bus', type: 'fabric-broker', mode: 'url', url: broker.url, clientId: 'psfabric-mqtt-in-text', clean: false, protocolVersion: '4', keepalive: 60 },
      { id: 'in', type: 'fabric-mqtt-in', broker: 'bus', store: 'store', topic: TOPIC, qos: '1', format: 'text', maxBytes: 1024, wires: [['ok'], ['bad']] },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ]);
    const ok: Msg[] = [];
    const bad: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    helper.getNode('bad').on('input', (m: Msg) => bad.push(m));
    await waitFor(() => broker.aedes.clients['psfabric-mqtt-in-text']?.subscriptions?.[TOPIC], 'the node to subscribe', 10000);
    for (const text of ['', ' ', '\r\n\t', 'TE|0001|line']) await pub.publishAsync(TOPIC, text, { qos: 1 });
    await waitFor(() => ok.length + bad.length === 4, 'all four messages out', 10000);
    assert.deepEqual(ok.map((m) => m.payload), ['TE|0001|line']);
    assert.deepEqual(bad.map((m) => m.payload).sort(), ['', '\r\n\t', ' '].sort());
    // the helper's RED._ answers the catalog key: the reason is the text-format one, naming emptiness
    const catalog = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'locales', 'en-US', 'fabric-mqtt-in.json'), 'utf8'))['fabric-mqtt-in'];
    assert.match(catalog.errors.emptyText, /empty or only whitespace/);
    for (const m of bad) {
      assert.equal(m.error.message, 'fabric-mqtt-in.errors.invalidText');
      assert.deepEqual(m.error.errors.map((e: Msg) => e.message), ['fabric-mqtt-in.errors.emptyText']);
      assert.ok(m._fabricInbox?.messageId, 'carries its inbox identity for the exception path');
    }
    const store = helper.getNode('store').store;
    const pending = await store.inboxPending('mqtt:in', 10);
    assert.equal(pending.length, 4, 'each committed to the inbox (received until a hand-over point marks it)');
  });
});
