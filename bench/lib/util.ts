/**
 * Shared helpers of the benchmark harness: percentiles from sorted arrays, RSS sampling of a child process
 * (/proc/<pid>/status VmHWM/VmRSS), CPU per process and machine per phase (/proc), machine description, child processes with an IPC handshake, waiting.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DIST_BENCH = path.resolve(__dirname, '..');

/** Percentile (nearest rank) of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(values: number[]): { count: number; p50: number; p95: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return { count: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN, mean: s.length ? sum / s.length : NaN };
}

export function round(n: number, digits = 1): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** VmRSS and VmHWM (peak) of a process in MB, from /proc. */
export function readRss(pid: number): { rssMb: number; hwmMb: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples a process' RSS every `everyMs`; `stop()` returns the peak (max of VmHWM and sampled VmRSS). */
export function rssSampler(pid: number, everyMs = 250): { stop(): { peakMb: number; lastMb: number; samples: number } } {
  let peak = 0;
  let last = 0;
  let samples = 0;
  const take = () => {
    const r = readRss(pid);
    if (!r) return;
    samples++;
    last = r.rssMb;
    peak = Math.max(peak, r.hwmMb || 0, r.rssMb || 0);
  };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peakMb: round(peak), lastMb: round(last), samples };
    },
  };
}

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat; undefined once it is gone. */
export function cpuTimeMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces): utime is field 14, stime 15 (1-based)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** Pids of the running processes named `comm` (e.g. every PostgreSQL backend), from /proc. */
export function pidsNamed(comm: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK) is not reachable from Node). */
const CLOCK_TICKS = 100;

/** The whole machine's busy and total CPU time (ms, summed over cores) so far, from /proc/stat. */
function machineCpuMs(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = f[3] + (f[4] ?? 0);
    return { busy: ((total - idle) * 1000) / CLOCK_TICKS, total: (total * 1000) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/**
 * CPU used during one phase: per named process, in % of one core over the phase's wall time, and the whole
 * machine's busy share (% of all cores; includes every other process on the machine, e.g. PostgreSQL and other work).
 * A figure taken while the machine is near 100 % busy is CPU-bound, whatever the code does.
 */
export function cpuMeter(pids: Record<string, number | number[]>): { stop(): { wallMs: number; corePct: Record<string, number>; machineBusyPct: number } } {
  const t0 = performance.now();
  // a group (several processes, e.g. PostgreSQL's) counts the processes alive at the start and still there at the end
  const list = (p: number | number[]) => (Array.isArray(p) ? p : [p]);
  const start = new Map<number, number | undefined>(Object.values(pids).flatMap(list).map((pid) => [pid, cpuTimeMs(pid)]));
  const m0 = machineCpuMs();
  return {
    stop() {
      const wallMs = performance.now() - t0;
      const used = (p: number | number[]) => {
        const alive = list(p).map((pid) => [start.get(pid), cpuTimeMs(pid)] as const).filter(([a, b]) => a !== undefined && b !== undefined);
        // a lone process that is gone is unknown (NaN), not idle
        return alive.length ? alive.reduce((sum, [a, b]) => sum + (b! - a!), 0) : NaN;
      };
      const corePct = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, round((used(p) / wallMs) * 100, 0)]));
      const m1 = machineCpuMs();
      const machineBusyPct = m0 && m1 && m1.total > m0.total ? round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 100, 0) : NaN;
      return { wallMs: round(wallMs, 0), corePct, machineBusyPct };
    },
  };
}

/** Load average when the harness started (this module loads first): other work on the machine skews every figure. */
const LOAD_AT_START = os.loadavg();

/** The V8 heap limit `npm start` and the container image give the runtime (package.json "start", Dockerfile). */
export const SHIPPED_RUNTIME_HEAP_MB = 384;

/**
 * node flags for a PS Fabric runtime child: the shipped heap limit, so the bench measures the product as it runs.
 * BENCH_RUNTIME_HEAP_MB overrides it (0: V8's default, sized from the machine's RAM).
 */
export function fabricRuntimeArgv(): string[] {
  const raw = process.env.BENCH_RUNTIME_HEAP_MB;
  const mb = raw === undefined || raw === '' ? SHIPPED_RUNTIME_HEAP_MB : Number(raw);
  const heap = mb > 0 ? [`--max-old-space-size=${mb}`] : [];
  // BENCH_HEAP_SNAPSHOT_DIR: the runtime writes a heap snapshot there when it nears its heap limit (where the memory is)
  const snapDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  return snapDir ? [...heap, '--heapsnapshot-near-heap-limit=1', `--diagnostic-dir=${snapDir}`] : heap;
}

export function machine(): Record<string, unknown> {
  const load = LOAD_AT_START;
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    ramMb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAvgAtStart: load.map((l) => round(l, 2)),
    loadAvgAtEnd: os.loadavg().map((l) => round(l, 2)),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Child {
  proc: ChildProcess;
  /** The first IPC message (the child's "ready" report). */
  ready: any;
  request<T = any>(msg: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  on(type: string, fn: (msg: any) => void): void;
  stop(): Promise<void>;
}

/**
 * Forks dist/bench/children/<name>.js, waits for its `{ type: 'ready' }` message. Requests carry an `rid` that
 * the child echoes in its `{ type: 'reply', rid }`.
 */
export async function startChild(name: string, env: Record<string, string> = {}, args: string[] = [], execArgv: string[] = []): Promise<Child> {
  const proc = fork(path.join(DIST_BENCH, 'children', `${name}.js`), args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', process.env.BENCH_VERBOSE ? 'inherit' : 'ignore', 'inherit', 'ipc'],
    execArgv,
  });
  let rid = 0;
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  const handlers = new Map<string, (msg: any) => void>();
  let exited = false;
  const ready = await new Promise<any>((resolve, reject) => {
    proc.on('message', (msg: any) => {
      if (msg?.type === 'ready') resolve(msg);
      else if (msg?.type === 'reply' && pending.has(msg.rid)) {
        const p = pending.get(msg.rid)!;
        pending.delete(msg.rid);
        if (msg.error) p.reject(new Error(msg.error));
        else p.resolve(msg);
      } else if (msg?.type && handlers.has(msg.type)) handlers.get(msg.type)!(msg);
    });
    proc.once('exit', (code) => {
      exited = true;
      const err = new Error(`child ${name} exited with ${code}`);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  });
  return {
    proc,
    ready,
    on(type, fn) {
      handlers.set(type, fn);
    },
    request(msg, timeoutMs = 600_000) {
      return new Promise((resolve, reject) => {
        const id = ++rid;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`child ${name}: no reply to ${String(msg.type)} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        proc.send({ ...msg, rid: id });
      });
    },
    async stop() {
      if (exited) return;
      const done = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(t);
    },
  };
}

/** In a child: answers requests with `handler`, sends `{ type: 'ready', ...info }`. */
export function serveParent(handler: (msg: any) => Promise<Record<string, unknown>>, onStop?: () => Promise<void>): { ready(info?: Record<string, unknown>): void } {
  process.on('message', (msg: any) => {
    if (!msg || typeof msg.rid !== 'number') return;
    handler(msg).then(
      (res) => process.send?.({ type: 'reply', rid: msg.rid, ...res }),
      (err) => process.send?.({ type: 'reply', rid: msg.rid, error: (err as Error).stack ?? String(err) }),
    );
  });
  const stop = () => {
    const force = setTimeout(() => process.exit(0), 10_000);
    force.unref();
    (onStop ? onStop() : Promise.resolve()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  return { ready: (info = {}) => process.send?.({ type: 'ready', ...info }) };
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items) }, worker));
}

export function tmpDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
