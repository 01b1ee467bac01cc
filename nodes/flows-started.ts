/**
 * What a trigger awaits before it replays its inbox on start: a msg sent while a deploy is still creating nodes is
 * dropped by Node-RED, so replayed messages wait for `flows:started` (after every deploy). One listener per runtime.
 */
const startWaiters = new WeakMap<object, Set<() => void>>();

type EventsApi = { on(name: string, fn: () => void): void };

/** Returns the `flowsStarted()` of this runtime (call once per node module, with its RED). */
export function flowsStartedOf(RED: unknown): () => Promise<void> {
  const events = (RED as { events?: EventsApi }).events;
  if (events && !startWaiters.has(events)) {
    const waiters = new Set<() => void>();
    startWaiters.set(events, waiters);
    events.on('flows:started', () => {
      for (const w of [...waiters]) w();
    });
  }
  return () => {
    const waiters = events ? startWaiters.get(events) : undefined;
    return new Promise<void>((resolve) => {
      const go = () => {
        waiters?.delete(go);
        clearTimeout(timer);
        resolve();
      };
      // a runtime without the event (test helpers) or a missed one: go anyway after a while
      const timer = setTimeout(go, waiters ? 10_000 : 0);
      waiters?.add(go);
    });
  };
}
