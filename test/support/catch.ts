/**
 * A Node-RED Catch node in a node test: proves an error reaches the flow the way users handle it (a Catch node wired
 * to their exception handling), not only that the node logged it. The helper loads the core `catch` node by itself.
 *
 *   await helper.load([myNode], withCatch(flow));
 *   const errors = caught();
 *   ... helper.getNode('n').receive(bad);
 *   const e = await errors.next((e) => e.source.id === 'n');
 */
import { helper } from './node-red';
import { waitFor } from './wait';

const CATCH_ID = 'catch-all';
const CAUGHT_ID = 'caught';

/** The flow with a Catch node for every node on it (uncaught errors included) wired to a helper node. */
export function withCatch<T extends Record<string, unknown>>(flow: T[]): Array<T | Record<string, unknown>> {
  return [...flow, { id: CATCH_ID, type: 'catch', scope: null, uncaught: false, wires: [[CAUGHT_ID]] }, { id: CAUGHT_ID, type: 'helper' }];
}

export interface CaughtError {
  message: string;
  source: { id: string; type: string; name?: string };
  /** The msg the error came with (msg.error removed). */
  msg: Record<string, unknown>;
}

export interface Caught {
  readonly all: CaughtError[];
  /** Waits for the first caught error that matches (every error when no predicate). */
  next(match?: (e: CaughtError) => boolean, what?: string): Promise<CaughtError>;
}

/** Starts collecting what the Catch node of `withCatch` sends; call after helper.load. */
export function caught(): Caught {
  const all: CaughtError[] = [];
  helper.getNode(CAUGHT_ID).on('input', (msg: Record<string, unknown>) => {
    const { error, ...rest } = msg as { error: { message: string; source: CaughtError['source'] } };
    all.push({ message: error.message, source: error.source, msg: rest });
  });
  return {
    all,
    next: (match = () => true, what = 'an error at the Catch node') => waitFor(() => all.find(match), what),
  };
}
