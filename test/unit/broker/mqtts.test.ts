import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { startBroker, RunningBroker } from '../../../lib/broker';
import { brokerOptionsFromEnv } from '../../../lib/broker/env';
import { tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with the machine's openssl. */
function makePki(dir: string): Record<'caCert' | 'caKey' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const f = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=psfabric-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who === 'server' ? 'localhost' : 'legacy-erp-fr01'}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`));
    run('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-out', f(`${who}.pem`), ...(who === 'server' ? ['-extfile', f('server.ext')] : []));
  }
  return { caCert: f('ca.pem'), caKey: f('ca.key'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

describe('embedded broker: MQTTS listener for on-prem systems', function () {
  this.timeout(30000);
  let tmp: ReturnType<typeof tempDir>;
  let pki: ReturnType<typeof makePki>;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];

  before(function () {
    if (!hasOpenssl()) this.skip();
    tmp = tempDir('psfabric-mqtts-');
    pki = makePki(tmp.dir);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await broker?.close();
    broker = undefined;
  });
  after(() => tmp?.cleanup());

  it('is off unless a certificate is configured, and refuses half a configuration', () => {
    assert.equal(brokerOptionsFromEnv(tmp.dir, {}).tls, undefined);
    assert.throws(() => brokerOptionsFromEnv(tmp.dir, { FABRIC_MQTTS_CERT: pki.serverCert }), /FABRIC_MQTTS_CERT and FABRIC_MQTTS_KEY must be set together/);
    assert.throws(() => brokerOptionsFromEnv(tmp.dir, { FABRIC_MQTTS_CERT: '/nonexistent.pem', FABRIC_MQTTS_KEY: pki.serverKey }), /FABRIC_MQTTS_CERT: cannot read \/nonexistent.pem/);
  });

  it('carries MQTT over TLS with broker authentication, and refuses a client with wrong credentials', async () => {
    const opts = brokerOptionsFromEnv(tmp.dir, { FABRIC_MQTTS_CERT: pki.serverCert, FABRIC_MQTTS_KEY: pki.serverKey, FABRIC_MQTTS_PORT: '0', FABRIC_MQTT_AUTH: 'required', FABRIC_MQTT_USERS: JSON.stringify({ users: [{ username: 'legacy-fr01', password: 'fr01-secret', publish: ['legacy/fr01/#'], subscribe: ['legacy/fr01/#'] }] }) });
    broker = await startBroker({ ...opts, port: false, persistence: 'memory' });
    assert.match(broker.tlsUrl ?? '', /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const ca = fs.readFileSync(pki.caCert);
    const sub = await mqtt.connectAsync(broker.tlsUrl!, { ca, username: 'legacy-fr01', password: 'fr01-secret', reconnectPeriod: 0 });
    clients.push(sub);
    const got: string[] = [];
    sub.on('message', (_t, p) => got.push(p.toString()));
    await sub.subscribeAsync('legacy/fr01/time/out', { qos: 1 });
    await sub.publishAsync('legacy/fr01/time/out', 'TE;FR-TE-000001', { qos: 1 });
    await waitFor(() => got.length === 1, 'the message over TLS');
    assert.equal(got[0], 'TE;FR-TE-000001');
    await assert.rejects(mqtt.connectAsync(broker.tlsUrl!, { ca, username: 'legacy-fr01', password: 'wrong', reconnectPeriod: 0 }));
    // a client that does not trust our CA does not even get to MQTT
    await assert.rejects(mqtt.connectAsync(broker.tlsUrl!, { username: 'legacy-fr01', password: 'fr01-secret', reconnectPeriod: 0, connectTimeout: 5000 }));
  });

  it('requires a client certificate signed by the configured CA (mutual TLS)', async () => {
    const opts = brokerOptionsFromEnv(tmp.dir, { FABRIC_MQTTS_CERT: pki.serverCert, FABRIC_MQTTS_KEY: pki.serverKey, FABRIC_MQTTS_CA: pki.caCert, FABRIC_MQTTS_PORT: '0', FABRIC_MQTT_AUTH: 'off' });
    broker = await startBroker({ ...opts, port: false, persistence: 'memory' });
    const ca = fs.readFileSync(pki.caCert);
    const withCert = await mqtt.connectAsync(broker.tlsUrl!, { ca, cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey), reconnectPeriod: 0 });
    clients.push(withCert);
    assert.equal(withCert.connected, true);
    await assert.rejects(mqtt.connectAsync(broker.tlsUrl!, { ca, reconnectPeriod: 0, connectTimeout: 5000 }));
  });
});
