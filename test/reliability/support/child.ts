/** Child processes of the suite: fork, wait for a ready message, SIGKILL and wait for the exit. */
import { fork, type ChildProcess } from 'node:child_process';

export interface Child {
  proc: ChildProcess;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<string>;
}

/** Forks `script`, resolves once it sent a message with `ready: true` (rejects if it exits first). */
export function start(script: string, env: NodeJS.ProcessEnv, onMessage?: (m: any) => void, timeoutMs = 60000): Promise<Child> {
  const proc = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', process.env.RELIABILITY_VERBOSE ? 'inherit' : 'ignore', 'inherit', 'ipc'] });
  const exited = new Promise<string>((resolve) => proc.once('exit', (code, signal) => resolve(signal ?? String(code))));
  if (onMessage) proc.on('message', onMessage);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.on('message', (m: any) => {
      if (m && m.ready) {
        clearTimeout(timer);
        resolve({ proc, exited });
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${how}) before it was ready`));
    });
  });
}

export async function kill9(child: Child | undefined): Promise<void> {
  if (!child) return;
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await child.exited;
}

/** SIGTERM (a graceful stop); resolves with the exit code. */
export async function terminate(child: Child): Promise<string> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGTERM');
  return child.exited;
}

/** A small seeded PRNG (mulberry32), so a failing run can be repeated with RELIABILITY_SEED. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seed(): number {
  const given = Number(process.env.RELIABILITY_SEED);
  return Number.isFinite(given) && process.env.RELIABILITY_SEED ? given : Math.floor(Math.random() * 2 ** 31);
}

/** An env knob with a default (small runs while developing: RELIABILITY_SCALE=0.1). */
export function knob(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  const scale = Number(process.env.RELIABILITY_SCALE);
  const base = process.env[name] && Number.isFinite(v) ? v : dflt;
  return process.env[name] || !(scale > 0) ? base : Math.max(1, Math.round(base * scale));
}
