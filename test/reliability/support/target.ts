/** Starts the reliability target (sandbox/reliability-target) on its own sandbox server, in the test process. */
import { startSandboxes, type RunningSandboxes } from '../../../sandbox/server';
import { reliabilityTarget, ReliabilityTarget } from '../../../sandbox/reliability-target';

export interface RunningTarget {
  /** Base URL of the target: `<server>/reliability`. */
  url: string;
  target: ReliabilityTarget;
  server: RunningSandboxes;
  close(): Promise<void>;
}

export async function startTarget(): Promise<RunningTarget> {
  const server = await startSandboxes({ vendors: [reliabilityTarget] });
  const target = server.sandboxes.reliability as ReliabilityTarget;
  return { url: `${server.url}/reliability`, target, server, close: () => server.close() };
}

/** Expected keys missing at the target. */
export function missing(target: ReliabilityTarget, keys: string[]): string[] {
  return keys.filter((k) => !target.effects.has(k));
}

/** Effects under keys the scenario never wrote: the same write applied a second time under another key. */
export function unexpectedEffects(target: ReliabilityTarget, keys: Iterable<string>): number {
  const expected = new Set(keys);
  let n = 0;
  for (const key of target.effects.keys()) if (!expected.has(key)) n++;
  return n;
}
