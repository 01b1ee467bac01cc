/**
 * Scenario 5: the embedded broker with the persistence it uses in production (aedes-persistence-level) vs the
 * same broker with aedes' in-memory persistence. QoS 1, one publisher, one subscriber (persistent session, as
 * fabric-mqtt-in uses), the broker alone in a child process, the clients in this process.
 */
import { connect, publishQos1, record, tally } from '../lib/mqtt-load';
import type { ScenarioResult } from '../lib/report';
import { round, rssSampler, startChild, waitFor } from '../lib/util';

interface Run {
  persistence: string;
  msgsPerSec: number;
  lost: number;
  duplicated: number;
  peakRssMb: number;
  seconds: number;
}

async function runOnce(persistence: 'level' | 'memory', count: number): Promise<Run> {
  const profDir = process.env.BENCH_CPU_PROF; // the broker child runs with --cpu-prof, one profile per round
  const child = await startChild('broker', { BENCH_PERSISTENCE: persistence }, [], profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=broker-${persistence}-${count}-${Date.now()}.cpuprofile`] : []);
  const rss = rssSampler(child.proc.pid!);
  try {
    const url = child.ready.url as string;
    const sub = await connect(url, `bench-sub-${persistence}`, false);
    const t = tally(count);
    sub.on('message', (_topic, payload) => record(t, Number(payload.toString('utf8', 0, 12).trim())));
    await sub.subscribeAsync('bench/broker/#', { qos: 1 });
    const pub = await connect(url, `bench-pub-${persistence}`, true);
    const body = 'x'.repeat(200); // ~ a legacy TE line
    const started = Date.now();
    await publishQos1(pub, 'bench/broker/te', count, (i) => `${String(i).padEnd(12)}${body}`, 256);
    await waitFor(() => t.unique >= count, `${count} messages at the subscriber`, 15_000, 5).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100)); // late duplicates
    const seconds = (t.lastAt - started) / 1000;
    await pub.endAsync();
    await sub.endAsync();
    return { persistence, msgsPerSec: round(t.unique / seconds, 0), lost: count - t.unique, duplicated: t.duplicates, peakRssMb: rss.stop().peakMb, seconds: round(seconds, 2) };
  } finally {
    await child.stop();
  }
}

export async function brokerScenario(opts: { quick: boolean; count?: number }): Promise<ScenarioResult> {
  const count = opts.count ?? (opts.quick ? 2_000 : 20_000);
  // warm-up of the code paths (not measured), then memory and level alternately
  await runOnce('memory', Math.min(1000, count));
  // alternating rounds, best of each: the machine is shared, a single round is at the mercy of the neighbours
  const rounds: Run[] = [];
  for (let r = 0; r < (opts.quick ? 1 : 2); r++) rounds.push(await runOnce('memory', count), await runOnce('level', count));
  const best = (p: string) => rounds.filter((x) => x.persistence === p).sort((a, b) => b.msgsPerSec - a.msgsPerSec)[0];
  const memory = { ...best('memory'), lost: Math.max(...rounds.filter((x) => x.persistence === 'memory').map((x) => x.lost)), duplicated: Math.max(...rounds.filter((x) => x.persistence === 'memory').map((x) => x.duplicated)) };
  const level = { ...best('level'), lost: Math.max(...rounds.filter((x) => x.persistence === 'level').map((x) => x.lost)), duplicated: Math.max(...rounds.filter((x) => x.persistence === 'level').map((x) => x.duplicated)) };
  const ratio = level.msgsPerSec / memory.msgsPerSec;
  const failed = memory.lost + memory.duplicated + level.lost + level.duplicated > 0;
  return {
    name: 'broker',
    status: failed ? 'FAILED' : 'ok',
    figures: { count, rounds, memory, level, ratio: round(ratio, 3) },
    rows: [
      { scenario: '5 broker', figure: `QoS 1 msgs/s, level persistence (${count} msgs)`, value: level.msgsPerSec, unit: 'msg/s', baseline: `aedes in memory ${memory.msgsPerSec} msg/s`, ratio, goal: '>= 0.50', met: ratio >= 0.5 && !failed },
      { scenario: '5 broker', figure: 'lost / duplicated (level, memory)', value: `${level.lost}/${level.duplicated}, ${memory.lost}/${memory.duplicated}`, goal: '0', met: !failed },
      { scenario: '5 broker', figure: 'broker peak RSS (level)', value: level.peakRssMb, unit: 'MB' },
    ],
  };
}
