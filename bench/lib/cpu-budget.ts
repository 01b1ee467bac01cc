/**
 * A CPU budget of its own for a bench child (`BENCH_INSTANCE_CPU=0.4`: 40 % of one core), through a cgroup of its
 * own: as if the child ran on its own small node, so a multi-instance figure measures the instances rather than the
 * cores they share with PostgreSQL and the sandboxes. cgroup v1 (`cpu` controller: cpu.cfs_quota_us over
 * cpu.cfs_period_us) or v2 (`cpu.max`); where neither can be written (not root, a read-only /sys/fs/cgroup), the
 * budget says why and the child runs without one.
 */
import fs from 'node:fs';
import path from 'node:path';

const V1_ROOT = '/sys/fs/cgroup/cpu';
const V2_ROOT = '/sys/fs/cgroup';
/**
 * The budget's accounting period. A process that spends its quota early in a period is stopped until the next one:
 * with the kernel's default 100 ms, a 0.25-core instance stands still for 75 ms at a time, every answer it waits for
 * waits that long, and it holds several times the vendor slots a slower core would. A 10 ms period spreads the same
 * budget finely, closer to a small node of its own.
 */
const PERIOD_US = 10_000;
export const BUDGET_PERIOD_MS = PERIOD_US / 1000;

export interface CpuBudget {
  /** `cgroup-v1` / `cgroup-v2` when the budget is enforced, `none` when it could not be (see `note`). */
  readonly mode: 'cgroup-v1' | 'cgroup-v2' | 'none';
  /** Cores the child may use (0.4 = 40 % of one core). */
  readonly cores: number;
  readonly note?: string;
  /** How often and for how long (ms) the kernel held the child back for its budget, since the budget was made. */
  throttled(): { periods: number; throttledPeriods: number; throttledMs: number } | undefined;
  /** Moves the child back to the parent cgroup and removes the budget's cgroup (idempotent). */
  remove(): void;
}

/**
 * Parses `BENCH_INSTANCE_CPU`, one budget or several separated by commas (`0.25,0.4`: the budgeted phases run once
 * per budget): none when unset or 0; a clear error for anything but positive numbers of cores.
 */
export function instanceCpusFromEnv(value = process.env.BENCH_INSTANCE_CPU): number[] {
  if (value === undefined || value.trim() === '' || value.trim() === '0') return [];
  return value.split(',').map((part) => {
    const cores = Number(part.trim());
    if (part.trim() === '' || !Number.isFinite(cores) || cores <= 0) throw new RangeError(`BENCH_INSTANCE_CPU must be positive numbers of cores separated by commas (0.4 = 40 % of one core), got ${JSON.stringify(value)}`);
    return cores;
  });
}

function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Which cgroup layout can carry a budget here, or why none can. */
function layout(): { mode: 'cgroup-v1' | 'cgroup-v2'; root: string } | { mode: 'none'; note: string } {
  if (fs.existsSync(path.join(V1_ROOT, 'cpu.cfs_quota_us'))) {
    return writable(path.join(V1_ROOT, 'cgroup.procs')) ? { mode: 'cgroup-v1', root: V1_ROOT } : { mode: 'none', note: `${V1_ROOT} is not writable (needs root)` };
  }
  const controllers = path.join(V2_ROOT, 'cgroup.controllers');
  if (fs.existsSync(controllers)) {
    if (!fs.readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) return { mode: 'none', note: 'cgroup v2 without the cpu controller' };
    return writable(path.join(V2_ROOT, 'cgroup.subtree_control')) ? { mode: 'cgroup-v2', root: V2_ROOT } : { mode: 'none', note: `${V2_ROOT} is not writable (needs root)` };
  }
  return { mode: 'none', note: 'no cgroup cpu controller at /sys/fs/cgroup' };
}

/** Puts process `pid` (all its threads) in a new cgroup named `name` limited to `cores`. */
export function cpuBudget(name: string, pid: number, cores: number): CpuBudget {
  const where = layout();
  if (where.mode === 'none') return { mode: 'none', cores, note: where.note, throttled: () => undefined, remove: () => {} };
  const dir = path.join(where.root, name);
  const quota = Math.max(1000, Math.round(cores * PERIOD_US));
  let removed = false;
  const stat = () => {
    try {
      const fields = Object.fromEntries(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')));
      // v1: nr_periods, nr_throttled, throttled_time (ns); v2: nr_periods, nr_throttled, throttled_usec
      const ms = fields.throttled_time !== undefined ? Number(fields.throttled_time) / 1e6 : Number(fields.throttled_usec) / 1e3;
      return { periods: Number(fields.nr_periods), throttledPeriods: Number(fields.nr_throttled), throttledMs: Math.round(ms) };
    } catch {
      return undefined;
    }
  };
  try {
    if (where.mode === 'cgroup-v2') {
      // the cpu controller must be enabled for the root's children; harmless when it already is
      fs.writeFileSync(path.join(where.root, 'cgroup.subtree_control'), '+cpu');
    }
    fs.mkdirSync(dir);
    if (where.mode === 'cgroup-v1') {
      fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
    } else {
      fs.writeFileSync(path.join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    }
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  } catch (err) {
    try {
      fs.rmdirSync(dir);
    } catch {
      /* never made */
    }
    return { mode: 'none', cores, note: `${where.mode} at ${dir} failed: ${(err as Error).message}`, throttled: () => undefined, remove: () => {} };
  }
  const start = stat();
  return {
    mode: where.mode,
    cores,
    throttled() {
      const now = stat();
      if (!now || !start) return undefined;
      return { periods: now.periods - start.periods, throttledPeriods: now.throttledPeriods - start.throttledPeriods, throttledMs: now.throttledMs - start.throttledMs };
    },
    remove() {
      if (removed) return;
      removed = true;
      // a cgroup with processes cannot be removed: hand any still in it back to the parent first
      try {
        for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            fs.writeFileSync(path.join(where.root, 'cgroup.procs'), p);
          } catch {
            /* exited meanwhile */
          }
        }
        fs.rmdirSync(dir);
      } catch (err) {
        console.error(`[bench] could not remove cgroup ${dir}: ${(err as Error).message}`);
      }
    },
  };
}
