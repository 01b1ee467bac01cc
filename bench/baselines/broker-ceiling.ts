/**
 * Baseline "broker-ceiling": the same messages through the same broker (the runtime's embedded aedes with level
 * persistence) to a plain mqtt.js subscriber (persistent session, QoS 1) in the harness process. No Node-RED
 * work: the subscriber only reads the entry id of each TE line.
 */
import { connect, record, type Tally } from '../lib/mqtt-load';
import type { MqttClient } from 'mqtt';

export async function brokerCeilingSubscriber(url: string, topic: string, t: Tally, seqOf: (entryId: string) => number): Promise<MqttClient> {
  const sub = await connect(url, 'bench-broker-ceiling', false);
  sub.on('message', (_topic, payload) => record(t, seqOf(payload.toString('utf8').split(';', 2)[1])));
  await sub.subscribeAsync(topic, { qos: 1 });
  return sub;
}
