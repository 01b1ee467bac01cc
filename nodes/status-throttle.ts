/**
 * Node status updates that happen on every message, coalesced to a few per second.
 *
 * `node.status()` with a translated text costs an i18next lookup and a runtime event (sent to every open editor)
 * per call; a counter updated per message made that ~6 % of the runtime's CPU under load (docs/benchmarks.md).
 * A person reads a status a few times a second at most, so: the first update after a quiet period is shown at once,
 * later ones within `intervalMs` are folded into one trailing update carrying the latest value, so the last value
 * is always what the editor ends up showing. The status is built lazily, only when it is shown.
 */
export interface StatusThrottle<S> {
  /** Shows `status` now, or at the end of the current interval (the latest one wins). */
  update(status: S | (() => S)): void;
  /** Shows `status` now, dropping any pending update (errors, state changes that must not be overtaken). */
  show(status: S | (() => S)): void;
  /** Drops a pending update and stops the timer (the node is closing). */
  cancel(): void;
}

export function throttleStatus<S>(apply: (status: S) => void, intervalMs = 250): StatusThrottle<S> {
  let lastShownAt = -Infinity;
  let pending: (() => S) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const lazy = (status: S | (() => S)): (() => S) => (typeof status === 'function' ? (status as () => S) : () => status);
  const showNow = (make: () => S): void => {
    lastShownAt = Date.now();
    apply(make());
  };
  const flush = (): void => {
    timer = undefined;
    const make = pending;
    pending = undefined;
    if (make) showNow(make);
  };
  const clear = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    pending = undefined;
  };
  return {
    update(status) {
      const wait = lastShownAt + intervalMs - Date.now();
      if (wait <= 0 && !timer) return showNow(lazy(status));
      pending = lazy(status);
      if (!timer) {
        timer = setTimeout(flush, Math.max(0, wait));
        timer.unref?.();
      }
    },
    show(status) {
      clear();
      showNow(lazy(status));
    },
    cancel: clear,
  };
}
