/**
 * `npm run bench` [--quick] [--scenario <name>[,<name>...]] [--entries N] [--with-100k] [--without-1m] [--retention]
 * [--sizes N[,N...]] (--sizes: the scaling scenario's points instead of its default ones, e.g. 300000 to iterate)
 * (--retention: the scaling scenario's runtimes purge their logs as they run, see time-to-cash.ts retentionEnv)
 * Scenarios: broker, delivery, time-to-cash (with its three baselines), scaling, quote-to-project, shared-quota.
 * Prints one markdown table; writes bench/results/latest.json (every figure + the machine).
 * Exit code 1 when a scenario FAILED (lost / duplicated / did not finish); missed goals do not fail the run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { table, type ScenarioResult } from './lib/report';
import { machine, round } from './lib/util';
import { brokerScenario } from './scenarios/broker';
import { deliveryScenario } from './scenarios/delivery';
import { timeToCashScenario, scalingScenario } from './scenarios/time-to-cash';
import { quoteToProjectScenario } from './scenarios/quote-to-project';
import { sharedQuotaScenario } from './scenarios/shared-quota';

interface Args {
  quick: boolean;
  scenarios: string[];
  entries?: number;
  with100k: boolean;
  without1m: boolean;
  retention: boolean;
  sizes?: number[];
}

const ALL = ['delivery', 'broker', 'time-to-cash', 'scaling', 'quote-to-project', 'shared-quota'];

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const s = get('scenario');
  const scenarios = s ? s.split(',').map((x) => x.trim()) : ALL;
  for (const name of scenarios) if (!ALL.includes(name)) throw new Error(`unknown scenario ${name}; one of ${ALL.join(', ')}`);
  const entries = get('entries');
  const sizesRaw = get('sizes');
  const sizes = sizesRaw ? sizesRaw.split(',').map(Number) : undefined;
  if (sizes?.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sizes takes positive integers separated by commas, got "${sizesRaw}"`);
  return { quick: argv.includes('--quick'), scenarios, entries: entries ? Number(entries) : undefined, with100k: argv.includes('--with-100k'), without1m: argv.includes('--without-1m'), retention: argv.includes('--retention'), sizes };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const results: ScenarioResult[] = [];
  const log = (m: string) => console.error(`[bench ${round((Date.now() - started) / 1000, 0)}s] ${m}`);
  const run = async (name: string, fn: () => Promise<ScenarioResult>) => {
    if (!args.scenarios.includes(name)) return;
    log(`${name}: start`);
    try {
      const r = await fn();
      results.push(r);
      log(`${name}: ${r.status}`);
    } catch (err) {
      log(`${name}: FAILED ${(err as Error).stack ?? err}`);
      results.push({ name, status: 'FAILED', note: (err as Error).message.split('\n')[0], rows: [], figures: { error: String((err as Error).stack ?? err) } });
    }
  };
  await run('delivery', () => deliveryScenario({ quick: args.quick }));
  await run('broker', () => brokerScenario({ quick: args.quick }));
  await run('time-to-cash', () => timeToCashScenario({ quick: args.quick, entries: args.entries }));
  await run('scaling', () => scalingScenario({ quick: args.quick, with100k: args.with100k, without1m: args.without1m, retention: args.retention, sizes: args.sizes }));
  await run('quote-to-project', () => quoteToProjectScenario({ quick: args.quick }));
  await run('shared-quota', () => sharedQuotaScenario({ quick: args.quick }));

  const out = {
    at: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    seconds: round((Date.now() - started) / 1000, 0),
    machine: machine(),
    results,
  };
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(out, null, 2));
  const m = out.machine as Record<string, unknown>;
  const loads = (l: unknown) => (Array.isArray(l) ? l.join(' / ') : '?');
  console.log(`\nPS Fabric benchmarks (${out.mode} mode, ${out.seconds} s) on ${m.cpuModel}, ${m.cores} cores, ${m.ramMb} MB RAM, Node ${m.node}; load average (1/5/15 min) at start ${loads(m.loadAvgAtStart)}, at end ${loads(m.loadAvgAtEnd)}\n`);
  console.log(table(results));
  console.log(`\nevery figure: bench/results/latest.json`);
  process.exit(results.some((r) => r.status === 'FAILED') ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
