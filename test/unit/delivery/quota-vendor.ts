/**
 * A vendor for the shared-quota tests built on the real sandbox frame (sandbox/core/sandbox.ts: its concurrency
 * limit, window quota and limit observations): every write is applied once per idempotency key, as an ERP upsert by
 * external id is, and answers after `holdMs` so that writes overlap.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sandbox } from '../../../sandbox/core/sandbox';

export class QuotaVendor {
  readonly sandbox = new Sandbox({ name: 'quota', seed: () => ({ effects: {} }), errorBody: (status, message) => ({ status, message }) });
  /** Requests that reached the route (after the sandbox's fault checks), per idempotency key. */
  readonly received = new Map<string, number>();
  /** Arrival order of the route's requests (idempotency keys). */
  readonly order: string[] = [];
  /** Arrival times at the route (ms). */
  readonly arrivedAt: number[] = [];
  holdMs = 30;
  url = '';
  private server!: http.Server;

  async start(): Promise<this> {
    this.sandbox.router.use((req, res) => {
      const key = String(req.headers['idempotency-key'] ?? req.path);
      this.order.push(key);
      this.arrivedAt.push(Date.now());
      this.received.set(key, (this.received.get(key) ?? 0) + 1);
      setTimeout(() => {
        const effects = this.sandbox.collection<{ key: string; applied: number }>('effects');
        if (!effects[key]) effects[key] = { key, applied: 1 };
        res.json({ id: `q-${key}` });
      }, this.holdMs);
    });
    this.server = http.createServer(this.sandbox.app);
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  effects(): number {
    return Object.keys(this.sandbox.collection('effects')).length;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
