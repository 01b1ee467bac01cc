/**
 * Outbox writes of an operation node that complete when no input handler awaits them: a write replayed from the
 * exception queue (admin API, console, fabric-exceptions), or one resumed after a restart. Without this the ERP has
 * the record but the flow after the node never runs (time-to-cash: entries not marked invoiced, no invoice.posted).
 *
 * The node submits its writes with `origin` and `context` (what the msg carried besides its payload); a completion
 * nobody awaits is sent on as the msg the flow would have got from the live write: the context, with the vendor's
 * answer as payload. Live completions stay with the input handler (no second send). Failed completions are left
 * to the exception queue.
 */
import { deliveryFor } from '../lib/delivery/engine';
import type { Json, Store } from '../lib/store/store';
import type { Node } from './node-red-api';

/** msg properties not kept with the write: the request itself (the outbox has it), transport objects, the inbox hand-over. */
const NOT_KEPT = new Set(['_msgid', 'payload', 'req', 'res', '_fabricInbox', '_event', 'error']);

export interface ResumedWrites {
  /** `origin` for `handle.submit`. */
  readonly origin: string;
  /** `context` for `handle.submit`: the msg without its payload, as JSON (undefined when the msg does not serialise). */
  contextOf(msg: Record<string, unknown>): Json | undefined;
  /** Runs the input handler's submit; its completion is the handler's, not resumed. */
  awaiting<T>(idempotencyKey: string, submit: () => Promise<T>): Promise<T>;
  close(): void;
}

export function resumeOutboxWrites(
  node: Pick<Node, 'id' | 'send'>,
  store: Store,
  /** Builds the msg sent for a resumed completion (the caller adds its own markers). */
  resumed: (msg: Record<string, unknown>, item: { id: number; operation: string }) => Record<string, unknown>,
  generateId: () => string,
): ResumedWrites {
  const origin = `node:${node.id}`;
  const live = new Map<string, number>();
  const unlisten = deliveryFor(store).onCompletion(origin, (c) => {
    if (live.has(c.item.idempotencyKey) || !c.ok) return;
    const ctx = (c.item.context ?? {}) as Record<string, unknown>;
    node.send(resumed({ ...ctx, _msgid: generateId(), payload: c.response ?? c.item.response ?? null }, c.item));
  });
  return {
    origin,
    contextOf(msg) {
      const kept: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(msg)) if (!NOT_KEPT.has(k) && typeof v !== 'function') kept[k] = v;
      try {
        return JSON.parse(JSON.stringify(kept)) as Json;
      } catch {
        return undefined; // a circular or exotic msg: a replay completes the write but does not continue the flow
      }
    },
    async awaiting(idempotencyKey, submit) {
      live.set(idempotencyKey, (live.get(idempotencyKey) ?? 0) + 1);
      try {
        return await submit();
      } finally {
        const n = (live.get(idempotencyKey) ?? 1) - 1;
        if (n > 0) live.set(idempotencyKey, n);
        else live.delete(idempotencyKey);
      }
    },
    close: () => unlisten(),
  };
}
