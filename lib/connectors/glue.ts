/**
 * What the PSA / Jira / Teams config nodes share (no Node-RED import): registering a connector's executor
 * with the store's delivery engine under the config node's limits, and deriving idempotency keys.
 */
import crypto from 'node:crypto';
import { deliveryFor } from '../delivery/engine';
import type { CircuitState, ConnectionExecutor, ConnectionHandle, ConnectionLimits } from '../delivery/types';
import type { Store } from '../store/store';
import { guardWrites } from '../governance/write-ownership';
import { markInboxProcessed } from '../inbox';

/**
 * Registers the executor with the store's delivery engine (exceptions and audit through the store's services).
 * The handle's `submit` checks the ownership matrix first (lib/governance/write-ownership.ts): a write that would
 * overwrite a field owned by another system is refused and sent to the owner team's exception queue.
 */
export function registerConnection(store: Store, services: { exceptions?: unknown; audit?: unknown } | undefined, name: string, executor: ConnectionExecutor, limits: Partial<ConnectionLimits>): StatusHandle {
  const engine = deliveryFor(store, (services ?? {}) as never);
  return withStatus(guardWrites(engine.registerConnection(name, executor, limits), engine.exceptions, { markInbox: (ref) => markInboxProcessed(ref, store) }), store);
}

/** What an operation node shows: the circuit and the connection's outbox backlog (pending + in flight). */
export interface ConnectionStatus {
  circuit: CircuitState;
  backlog: number;
}

/** A connection handle that also reports its outbox backlog (the status fan-out of the connector config nodes). */
export interface StatusHandle extends ConnectionHandle {
  status(): ConnectionStatus;
  /** Called now and on every change of circuit or backlog; returns the unsubscribe function. */
  onStatus(listener: (s: ConnectionStatus) => void): () => void;
}

/** How often a connection with status listeners re-reads its backlog from the store (FABRIC_CONNECTOR_STATUS_MS, default 5 s). */
export function statusRefreshMs(): number {
  const n = Number(process.env.FABRIC_CONNECTOR_STATUS_MS);
  return Number.isFinite(n) && n >= 50 ? n : 5000;
}

/**
 * Adds `status()` / `onStatus()` to a handle: the backlog is read from the store (`outboxBacklog`, this connection's
 * pending + in flight) on an unref'd timer while someone listens, shortly after each submit and when it settles,
 * and on every circuit change. Listeners hear only changes.
 */
export function withStatus(handle: ConnectionHandle, store: Pick<Store, 'outboxBacklog'>, refreshMs = statusRefreshMs()): StatusHandle {
  const listeners = new Set<(s: ConnectionStatus) => void>();
  let current: ConnectionStatus = { circuit: handle.circuitState(), backlog: 0 };
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let reading = false;
  let again = false;
  let closed = false;
  const publish = (next: ConnectionStatus) => {
    if (next.circuit === current.circuit && next.backlog === current.backlog) return;
    current = next;
    for (const l of [...listeners]) {
      try {
        l({ ...current });
      } catch {
        /* a node's status update never breaks the others */
      }
    }
  };
  const refresh = async (): Promise<void> => {
    if (closed || listeners.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const row = (await store.outboxBacklog()).find((b) => b.connection === handle.name);
      if (!closed) publish({ circuit: handle.circuitState(), backlog: row ? row.pending + row.inflight : 0 });
    } catch {
      /* the store is busy or closing: the next tick tries again */
    } finally {
      reading = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  };
  const refreshSoon = () => {
    if (soon || closed || listeners.size === 0) return;
    soon = setTimeout(() => {
      soon = undefined;
      void refresh();
    }, 100);
    soon.unref();
  };
  const stopCircuit = handle.onCircuitState((circuit) => {
    publish({ ...current, circuit });
    refreshSoon();
  });
  const out: StatusHandle = Object.create(handle);
  Object.assign(out, {
    submit(item: Parameters<ConnectionHandle['submit']>[0]) {
      const p = handle.submit(item);
      refreshSoon();
      p.then(refreshSoon, refreshSoon);
      return p;
    },
    call: handle.call.bind(handle),
    circuitState: handle.circuitState.bind(handle),
    onCircuitState: handle.onCircuitState.bind(handle),
    status: () => ({ ...current }),
    onStatus(listener: (s: ConnectionStatus) => void) {
      listeners.add(listener);
      try {
        listener({ ...current });
      } catch {
        /* as above */
      }
      if (!timer && !closed) {
        timer = setInterval(() => void refresh(), refreshMs);
        timer.unref();
      }
      void refresh();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      if (soon) clearTimeout(soon);
      timer = soon = undefined;
      listeners.clear();
      stopCircuit();
      await handle.close();
    },
  });
  return out;
}

/**
 * The node status for a connector: red ring when the circuit is open, yellow when half-open, blue dot with
 * "backlog N" while writes wait in the outbox, else green with `okText`. `t` reads the node's own catalog
 * (keys `status.circuit` and `status.backlog`).
 */
export function connectorStatusView(s: ConnectionStatus, t: (key: string, subs?: Record<string, unknown>) => string, okText: string): { fill: string; shape: string; text: string } {
  const backlog = s.backlog > 0 ? t('status.backlog', { count: s.backlog }) : '';
  if (s.circuit !== 'closed') return { fill: s.circuit === 'open' ? 'red' : 'yellow', shape: 'ring', text: t('status.circuit', { state: s.circuit }) + (backlog ? `, ${backlog}` : '') };
  if (backlog) return { fill: 'blue', shape: 'dot', text: backlog };
  return { fill: 'green', shape: 'dot', text: okText };
}

/** The message's idempotency key, or a stable hash of what is written. */
export function idempotencyKeyFor(msg: { idempotencyKey?: unknown; idempotencykey?: unknown }, operation: string, request: unknown): string {
  const given = msg.idempotencyKey ?? msg.idempotencykey;
  if (typeof given === 'string' && given) return given;
  return `${operation}:${crypto.createHash('sha256').update(JSON.stringify(request ?? null)).digest('hex').slice(0, 40)}`;
}
