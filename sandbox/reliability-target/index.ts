/**
 * The reliability suite's target system (test/reliability): a vendor-like sandbox on the shared frame
 * (sandbox/core/sandbox.ts: fault injection, request log), mounted at `/reliability` only when a test asks for it
 * (`startSandboxes({ vendors: [reliabilityTarget] })`); it is NOT in the default VENDORS list.
 *
 * `POST /reliability/effects` applies a write idempotently, keyed by the `Idempotency-Key` header (else the body's
 * `externalId`, else its `id`), the way a vendor's upsert-by-external-id does. It records, per key, every arrival that
 * reached the vendor logic (`received`) and the one effect (`effects`), so "exactly once" is checked from the server's
 * side: `effects[key]` exists once for every expected key, and `received[key] - 1` are re-sends absorbed by the key.
 *
 * Besides the frame's faults (503 error rate, 429 with Retry-After, outage window, applied before the vendor logic):
 * - `ackLossRate` (0..1): the write IS applied, then answered 503 (a lost response), so the sender must re-send
 *   and the key must absorb it;
 * - a body with `"poison": "permanent"` is answered 422 (validation), `"poison": "transient"` 500, always.
 *
 * Every arrival (faulted or not) is time-stamped by the frame's request log (`arrivals()`) for the rate check (`maxRate`: the most arrivals
 * in any sliding 1-second window).
 */
import express from 'express';
import { Sandbox } from '../core/sandbox';
import type { VendorSandboxFactory } from '../core/sandbox';

export interface Effect {
  key: string;
  id?: string;
  appliedAt: number;
  body: unknown;
}

/** The target: the frame's Sandbox plus the counters the reliability suite checks. */
export class ReliabilityTarget extends Sandbox {
  /** key -> arrivals that reached the vendor logic (faulted requests excluded). */
  received = new Map<string, number>();
  /** key -> the one applied effect. */
  effects = new Map<string, Effect>();
  ackLossRate = 0;
  /** Applied-then-503 answers sent. */
  ackLosses = 0;

  constructor(opts: { statePath?: string } = {}) {
    super({
      name: 'reliability',
      seed: () => ({}),
      statePath: opts.statePath,
      errorBody: (status, message) => ({ error: { status, message } }),
      faultExempt: [/^\/_sandbox\//, /^\/_stats/],
      // the frame's request log (written before fault injection) is where arrivals are time-stamped
      requestLogSize: 200_000,
    });
    this.router.post('/effects', (req: express.Request, res: express.Response) => this.apply(req, res));
    this.router.get('/_stats', (_req, res) => {
      res.json({ effects: this.effects.size, received: [...this.received.values()].reduce((a, b) => a + b, 0), duplicates: this.duplicates(), maxRate: this.maxRate() });
    });
  }

  private apply(req: express.Request, res: express.Response): void {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const header = req.get('idempotency-key');
    const key = header || (typeof body.externalId === 'string' ? body.externalId : undefined) || (typeof body.id === 'string' ? body.id : undefined);
    if (!key) {
      res.status(400).json({ error: { status: 400, message: 'an Idempotency-Key header or an externalId/id is required' } });
      return;
    }
    this.received.set(key, (this.received.get(key) ?? 0) + 1);
    if (body.poison === 'permanent') {
      res.status(422).json({ error: { status: 422, message: `record ${key} is invalid: field "poison" is not accepted` } });
      return;
    }
    if (body.poison === 'transient') {
      res.status(500).json({ error: { status: 500, message: 'internal error while processing this record' } });
      return;
    }
    let effect = this.effects.get(key);
    const duplicate = effect !== undefined;
    if (!effect) {
      effect = { key, id: typeof body.id === 'string' ? body.id : undefined, appliedAt: Date.now(), body };
      this.effects.set(key, effect);
    }
    if (this.ackLossRate > 0 && Math.random() < this.ackLossRate) {
      this.ackLosses += 1;
      res.status(503).json({ error: { status: 503, message: 'applied, but the answer was lost' } });
      return;
    }
    res.status(duplicate ? 200 : 201).json({ key, id: effect.id ?? null, appliedAt: effect.appliedAt, duplicate });
  }

  /** Arrivals beyond the first that reached the vendor logic, summed over keys (re-sends absorbed by the key). */
  duplicates(): number {
    let n = 0;
    for (const c of this.received.values()) n += Math.max(0, c - 1);
    return n;
  }

  /** Epoch ms of every request to /effects, faulted or not, in arrival order (the frame's request log). */
  arrivals(since = 0): number[] {
    return this.requests()
      .filter((r) => r.method === 'POST' && /\/effects(\?|$)/.test(r.path) && r.at >= since)
      .map((r) => r.at);
  }

  /** The most arrivals in any window [t, t + windowMs) (two pointers over the sorted arrival times). */
  maxRate(windowMs = 1000, since = 0): number {
    const a = this.arrivals(since);
    let best = 0;
    let lo = 0;
    for (let hi = 0; hi < a.length; hi++) {
      while (a[hi] - a[lo] >= windowMs) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    return best;
  }

  /** Effects whose id (business id) is `id`. */
  effectsForId(id: string): Effect[] {
    return [...this.effects.values()].filter((e) => e.id === id);
  }

  override reset(): void {
    super.reset();
    this.received.clear();
    this.effects.clear();
    this.ackLossRate = 0;
    this.ackLosses = 0;
  }
}

export const reliabilityTarget: VendorSandboxFactory = {
  name: 'reliability',
  // state stays in memory: the suite inspects it in-process and starts a fresh target per scenario
  create: () => new ReliabilityTarget(),
};
