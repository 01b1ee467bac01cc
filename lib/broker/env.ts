import fs from 'node:fs';
import path from 'node:path';
import type { BrokerOptions, PersistenceKind } from './broker';
import { loadAuthConfig, AuthMode } from './acl';

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/** Broker options from the FABRIC_MQTT_* environment variables (documented in docs/runtime.md). */
export function brokerOptionsFromEnv(userDir: string, env: NodeJS.ProcessEnv = process.env): BrokerOptions {
  const persistence = (env.FABRIC_MQTT_PERSISTENCE ?? 'level') as PersistenceKind;
  if (persistence !== 'level' && persistence !== 'memory') throw new Error(`FABRIC_MQTT_PERSISTENCE must be "level" or "memory", got "${persistence}"`);
  const authMode = (env.FABRIC_MQTT_AUTH ?? 'loopback') as AuthMode;
  if (!['loopback', 'required', 'off'].includes(authMode)) throw new Error(`FABRIC_MQTT_AUTH must be loopback, required or off, got "${authMode}"`);
  const portRaw = env.FABRIC_MQTT_PORT;
  return {
    host: env.FABRIC_MQTT_HOST ?? '127.0.0.1',
    port: portRaw === 'off' ? false : intEnv(env, 'FABRIC_MQTT_PORT', 1883),
    persistence,
    persistenceDir: env.FABRIC_MQTT_PERSISTENCE_DIR ?? path.join(userDir, 'mqtt'),
    auth: loadAuthConfig(env),
    authMode,
    maxPacketBytes: intEnv(env, 'FABRIC_MQTT_MAX_PACKET_BYTES', 1024 * 1024),
    maxTopicLevels: intEnv(env, 'FABRIC_MQTT_MAX_TOPIC_LEVELS', 16),
    concurrency: intEnv(env, 'FABRIC_MQTT_CONCURRENCY', 100),
    drainTimeoutMs: intEnv(env, 'FABRIC_MQTT_DRAIN_TIMEOUT_MS', 10000),
    shedQos0: env.FABRIC_MQTT_SHED_QOS0 !== 'false',
    tls: tlsOptionsFromEnv(env),
  };
}

/**
 * FABRIC_BROKER_THREAD: `on` (default) runs the broker in a worker thread (broker-thread.ts), `off` in the runtime's
 * main thread. A separate switch, not a BrokerOptions field: it chooses how startBroker is run, not how it behaves.
 */
export function brokerThreadFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = (env.FABRIC_BROKER_THREAD ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'on') return true;
  if (raw === 'off') return false;
  throw new Error(`FABRIC_BROKER_THREAD must be "on" or "off", got "${env.FABRIC_BROKER_THREAD}"`);
}

/**
 * FABRIC_MQTT_MAX_LOOP_DELAY_MS: how late the event loop may be before the runtime's MQTT connections stop reading
 * (event-loop-gate.ts); default 50, `0` = never pause.
 */
export const DEFAULT_MAX_LOOP_DELAY_MS = 50;

export function maxLoopDelayFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FABRIC_MQTT_MAX_LOOP_DELAY_MS?.trim();
  if (!raw) return DEFAULT_MAX_LOOP_DELAY_MS;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`FABRIC_MQTT_MAX_LOOP_DELAY_MS must be a number of ms >= 0 (0 = off), got "${raw}"`);
  return ms;
}

/** The MQTTS listener: on when FABRIC_MQTTS_CERT and FABRIC_MQTTS_KEY name PEM files. */
function tlsOptionsFromEnv(env: NodeJS.ProcessEnv): BrokerOptions['tls'] {
  const certFile = env.FABRIC_MQTTS_CERT;
  const keyFile = env.FABRIC_MQTTS_KEY;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('FABRIC_MQTTS_CERT and FABRIC_MQTTS_KEY must be set together (PEM files of the MQTTS certificate and its key)');
  const read = (name: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${name}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    host: env.FABRIC_MQTTS_HOST ?? env.FABRIC_MQTT_HOST ?? '127.0.0.1',
    port: intEnv(env, 'FABRIC_MQTTS_PORT', 8883),
    cert: read('FABRIC_MQTTS_CERT', certFile),
    key: read('FABRIC_MQTTS_KEY', keyFile),
    ca: env.FABRIC_MQTTS_CA ? read('FABRIC_MQTTS_CA', env.FABRIC_MQTTS_CA) : undefined,
  };
}
