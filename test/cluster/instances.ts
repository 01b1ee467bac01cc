/**
 * PS Fabric runtime instances for the cluster tests: `runtime/start.js` children on one PostgreSQL schema, each with a
 * user dir of its own that survives its restarts (a restarted instance keeps its id, flows and credentials).
 */
import path from 'node:path';
import { Client } from 'pg';
import mqtt from 'mqtt';
import { freePort } from '../support/ports';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';
import { kill9, start, type Child } from '../reliability/support/child';
import { prepareUserDir } from '../reliability/support/runtime';

const START = path.resolve(__dirname, '..', '..', 'runtime', 'start.js');

export interface ClusterInstanceOptions {
  /** Names the instances' temp dirs. */
  prefix: string;
  flows: unknown[];
  pgUrl: string;
  schema: string;
  credentialSecret: string;
  /** The test's own settings (broker, leases, heartbeats). */
  env?: Record<string, string>;
  /** Writes what else an instance's new user dir needs (e.g. flows_cred.json). */
  prepare?: (userDir: string, name: string) => void;
  /** The test's clean-up lists: every child started and every dir made is added. */
  children: Child[];
  dirs: Array<ReturnType<typeof tempDir>>;
}

/** Returns `start(name)`: starts instance `name` (again, with its user dir) and waits until its /healthz answers 200. */
export function clusterInstances(o: ClusterInstanceOptions): (name: string) => Promise<Child & { url: string }> {
  const { children, dirs } = o;
  const userDirs = new Map<string, string>();
  return async (name: string): Promise<Child & { url: string }> => {
    let userDir = userDirs.get(name);
    if (!userDir) {
      const dir = tempDir(`${o.prefix}-${name}-`);
      dirs.push(dir);
      prepareUserDir(dir.dir, o.flows);
      o.prepare?.(dir.dir, name);
      userDirs.set(name, (userDir = dir.dir));
    }
    const port = await freePort();
    const child = await start(START, {
      FABRIC_USER_DIR: userDir,
      FABRIC_PORT: String(port),
      FABRIC_MQTT_PORT: 'off',
      FABRIC_MQTT_PERSISTENCE: 'memory',
      FABRIC_SANDBOXES: 'off',
      FABRIC_STORE_KIND: 'postgres',
      FABRIC_STORE_URL: o.pgUrl,
      FABRIC_STORE_SCHEMA: o.schema,
      FABRIC_INSTANCE_ID: name,
      FABRIC_LOG_LEVEL: process.env.CLUSTER_VERBOSE ? 'info' : 'error',
      FABRIC_CREDENTIAL_SECRET: o.credentialSecret,
      ...o.env,
    }, undefined, 90000);
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`)).status === 200, `instance ${name} to be healthy`, 60000, 100);
    return { ...child, url };
  };
}

/** A cluster test's clean-up: kills every instance, removes their dirs and drops the test's schema. */
export async function removeCluster(o: { children: Child[]; dirs: Array<ReturnType<typeof tempDir>>; pgUrl: string | undefined; schema: string }): Promise<void> {
  for (const c of o.children) await kill9(c).catch(() => {});
  for (const d of o.dirs) d.cleanup();
  if (o.schema && o.pgUrl) {
    const pg = new Client({ connectionString: o.pgUrl });
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS "${o.schema}" CASCADE`).catch(() => {});
    await pg.end();
  }
}

/**
 * Why a cluster test cannot run here (undefined: it can): PostgreSQL, and the MQTT broker where the test needs one,
 * must answer. `mqttUrl`: absent, the test needs no broker; null, it needs one and none is set.
 */
export async function clusterUnreachable(o: { pgUrl: string | undefined; mqttUrl?: string | null }): Promise<string | undefined> {
  if (!o.pgUrl) return 'FABRIC_TEST_PG_URL (or FABRIC_TEST_PG_CLUSTER_URL) not set';
  if (o.mqttUrl === null || o.mqttUrl === '') return 'FABRIC_TEST_MQTT_URL not set';
  const pg = new Client({ connectionString: o.pgUrl, connectionTimeoutMillis: 3000 });
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (err) {
    return `PostgreSQL at FABRIC_TEST_PG_URL does not answer (${(err as Error).message})`;
  } finally {
    await pg.end().catch(() => {});
  }
  if (o.mqttUrl) {
    try {
      const c = await mqtt.connectAsync(o.mqttUrl, { connectTimeout: 3000, reconnectPeriod: 0 });
      await c.endAsync();
    } catch (err) {
      return `the MQTT broker at FABRIC_TEST_MQTT_URL does not answer (${(err as Error).message})`;
    }
  }
  return undefined;
}
