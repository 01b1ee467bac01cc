/**
 * A real local HTTP server standing in for a vendor in the delivery tests: records every request
 * (server-side arrival time, idempotency key, body), tracks concurrency, and answers through a
 * replaceable `respond` function.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface VendorRequest {
  at: number;
  method: string;
  path: string;
  key: string;
  body: any;
  headers: http.IncomingHttpHeaders;
}
export interface VendorAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
}
export type Responder = (req: VendorRequest, n: number) => VendorAnswer | Promise<VendorAnswer>;

export class Vendor {
  readonly requests: VendorRequest[] = [];
  current = 0;
  maxConcurrent = 0;
  respond: Responder = (req) => ({ status: 200, body: { id: 'v-' + req.key, ok: true } });
  private server!: http.Server;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = Date.now();
        this.current += 1;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.current);
        const text = Buffer.concat(chunks).toString('utf8');
        const entry: VendorRequest = {
          at,
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          key: String(req.headers['idempotency-key'] ?? ''),
          body: text ? JSON.parse(text) : undefined,
          headers: req.headers,
        };
        this.requests.push(entry);
        const n = this.requests.length;
        void Promise.resolve(this.respond(entry, n)).then(async (answer) => {
          if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
          this.current -= 1;
          res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
          res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  keys(): string[] {
    return this.requests.map((r) => r.key);
  }

  /** How many times each key was received. */
  counts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const k of this.keys()) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
