/**
 * QoS 1 load over MQTT: a publisher with a bounded window of unacknowledged PUBLISHes, and a plain mqtt.js
 * subscriber that records arrival times and counts lost / duplicated sequence numbers.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface PublishResult {
  /** Time each message was handed to the publisher (epoch ms, index = seq). */
  sentAt: Float64Array;
  startedAt: number;
  endedAt: number;
}

/** Publishes `count` messages with `payloadOf(i)` on `topic` at QoS 1, at most `window` unacknowledged. */
export async function publishQos1(client: MqttClient, topic: string, count: number, payloadOf: (i: number) => string | Buffer, window = 200, startAt = 0): Promise<PublishResult> {
  const sentAt = new Float64Array(count);
  const startedAt = Date.now();
  let next = startAt;
  let acked = 0;
  let failed: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    let inflight = 0;
    const pump = () => {
      while (inflight < window && next < count) {
        const i = next++;
        inflight++;
        sentAt[i] = Date.now();
        client.publish(topic, payloadOf(i), { qos: 1 }, (err) => {
          inflight--;
          if (err && !failed) {
            failed = err;
            return reject(err);
          }
          acked++;
          if (acked === count - startAt) resolve();
          else pump();
        });
      }
    };
    if (count - startAt <= 0) resolve();
    else pump();
  });
  return { sentAt, startedAt, endedAt: Date.now() };
}

export interface Tally {
  received: Uint8Array;
  receivedAt: Float64Array;
  unique: number;
  duplicates: number;
  unexpected: number;
  lastAt: number;
}

export function tally(count: number): Tally {
  return { received: new Uint8Array(count), receivedAt: new Float64Array(count), unique: 0, duplicates: 0, unexpected: 0, lastAt: 0 };
}

export function record(t: Tally, seq: number, at = Date.now()): void {
  if (!Number.isInteger(seq) || seq < 0 || seq >= t.received.length) {
    t.unexpected++;
    return;
  }
  if (t.received[seq]) t.duplicates++;
  else {
    t.received[seq] = 1;
    t.receivedAt[seq] = at;
    t.unique++;
  }
  t.lastAt = at;
}

export async function connect(url: string, clientId: string, clean = true): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, clean, reconnectPeriod: 0, protocolVersion: 4 });
}
