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
