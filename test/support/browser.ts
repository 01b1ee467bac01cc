/**
 * What the browser tests share: the runtime started like `npm start` (dist/runtime/start.js in a child process, so
 * each test file has its own Node-RED beside the one the operations test runs in-process) and Debian's chromium driven
 * by playwright-core with a throw-away profile.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from './ports';
import { tempDir } from './tmp';
import { waitFor } from './wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface RuntimeProcess {
  url: string;
  /** Everything it printed (for a failure message). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the runtime on `userDir` with free ports, no sandboxes, in-memory MQTT persistence and a fresh credential
 * secret (`env` adds to or overrides that), and resolves once its flows have started.
 */
export async function startRuntimeProcess(userDir: string, env: NodeJS.ProcessEnv = {}): Promise<RuntimeProcess> {
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FABRIC_USER_DIR: userDir,
    FABRIC_HOST: '127.0.0.1',
    FABRIC_PORT: String(await freePort()),
    FABRIC_MQTT_PORT: String(await freePort()),
    FABRIC_SANDBOXES: 'off',
    FABRIC_MQTT_PERSISTENCE: 'memory',
    FABRIC_CREDENTIAL_SECRET: crypto.randomBytes(32).toString('hex'),
    FABRIC_LOG_LEVEL: 'warn',
    ...env,
  };
  let output = '';
  const child: ChildProcess = fork(path.join(ROOT, 'dist', 'runtime', 'start.js'), [], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  child.stdout!.on('data', (b) => (output += b.toString()));
  child.stderr!.on('data', (b) => (output += b.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('message', (m: any) => resolve(m.url));
      child.once('exit', (code) => reject(new Error(`runtime exited ${code}: ${output.slice(-2000)}`)));
    });
    await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { flows: { state: string } }).flows.state === 'started', 'flows started', 60000, 200);
    return { url, output: () => output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with a temporary profile, removed on close. */
export async function launchBrowser(viewport = { width: 1280, height: 800 }, profilePrefix = 'psf-chromium-'): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  const profile = tempDir(profilePrefix);
  try {
    const context = await chromium.launchPersistentContext(profile.dir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      close: async () => {
        await context.close().catch(() => {});
        profile.cleanup();
      },
    };
  } catch (err) {
    profile.cleanup();
    throw err;
  }
}
