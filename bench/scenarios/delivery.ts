/**
 * Scenario 4: delivery overhead. Durable outbox writes/s (persist, lease, attempt, acknowledge, audit) to a
 * sandbox endpoint vs plain axios calls to the same endpoint, in the same child process, alternating rounds.
 * The sandbox runs in its own child process. Correctness: the sandbox must have received exactly N writes per round.
 */
import type { ScenarioResult } from '../lib/report';
import { round, startChild } from '../lib/util';
import { teamsWorkflowUrl } from '../../sandbox/teams';

export async function deliveryScenario(opts: { quick: boolean; count?: number }): Promise<ScenarioResult> {
  const count = opts.count ?? (opts.quick ? 300 : 2_000);
  const concurrency = 8;
  const sandboxes = await startChild('sandboxes', { BENCH_VENDORS: 'teams' });
  const profDir = process.env.BENCH_CPU_PROF; // the delivery child runs with --cpu-prof too
  const subject = await startChild('delivery', {}, [], profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=delivery-${count}.cpuprofile`] : []);
  try {
    const url = teamsWorkflowUrl(sandboxes.ready.url, 'psfabric-delivery');
    const received = async () => (await sandboxes.request<{ count: number }>({ type: 'count', vendor: 'teams', collection: 'messages' })).count;
    const rounds: Array<{ kind: string; perSec: number; lost: number; duplicated: number; failures: number; commits?: number; storeWrites?: number }> = [];
    const runs = ['axios', 'outbox'];
    await subject.request({ type: 'axios', url, count: 100, concurrency }); // warm-up
    await subject.request({ type: 'outbox', url, count: 100, concurrency });
    for (const kind of runs) {
      const before = await received();
      const r = await subject.request<{ ms: number; failures: number; commits?: number; storeWrites?: number }>({ type: kind, url, count, concurrency });
      const got = (await received()) - before;
      rounds.push({ kind, perSec: round(count / (r.ms / 1000), 0), lost: Math.max(0, count - got), duplicated: Math.max(0, got - count), failures: r.failures, ...(r.commits !== undefined ? { commits: r.commits, storeWrites: r.storeWrites } : {}) });
    }
    const best = (k: string) => Math.max(...rounds.filter((r) => r.kind === k).map((r) => r.perSec));
    const axiosRate = best('axios');
    const outboxRate = best('outbox');
    const ratio = outboxRate / axiosRate;
    const bad = rounds.reduce((n, r) => n + r.lost + r.duplicated + r.failures, 0);
    return {
      name: 'delivery',
      status: bad ? 'FAILED' : 'ok',
      figures: { count, concurrency, rounds, axiosPerSec: axiosRate, outboxPerSec: outboxRate, ratio: round(ratio, 3) },
      rows: [
        { scenario: '4 delivery', figure: `durable outbox writes/s (${count}, concurrency ${concurrency})`, value: outboxRate, unit: 'w/s', baseline: `plain axios ${axiosRate} w/s`, ratio, goal: '>= 0.70', met: ratio >= 0.7 && !bad },
        ...rounds.filter((r) => r.kind === 'outbox' && r.commits).map((r) => ({ scenario: '4 delivery', figure: 'store writes / commits (fsyncs) per outbox write (group commit)', value: `${r.storeWrites} / ${r.commits} = ${round(r.storeWrites! / count, 1)} / ${round(r.commits! / count, 2)}` })),
        { scenario: '4 delivery', figure: 'lost / duplicated / failed writes', value: rounds.map((r) => `${r.lost}/${r.duplicated}/${r.failures}`).join(', '), goal: '0', met: bad === 0 },
      ],
    };
  } finally {
    await subject.stop();
    await sandboxes.stop();
  }
}
