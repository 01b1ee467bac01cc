/**
 * Starts every vendor sandbox on one HTTP server, each under its own path prefix
 * (`/salesforce`, `/netsuite`, `/bc`, `/kantata`, `/jira`, `/teams`), as `npm start` and the tests do.
 */
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Sandbox, VendorSandboxFactory } from './core/sandbox';

export type { VendorSandboxFactory } from './core/sandbox';
import { salesforceSandbox } from './salesforce';
import { kantataSandbox } from './kantata';
import { jiraSandbox } from './jira';
import { teamsSandbox } from './teams';
import { netsuiteSandbox } from './netsuite';
import { businessCentralSandbox } from './business-central';

/** Each vendor module registers itself here; keep the list in DESIGN order. */
export const VENDORS: VendorSandboxFactory[] = [
  salesforceSandbox,
  netsuiteSandbox,
  businessCentralSandbox,
  kantataSandbox,
  jiraSandbox,
  teamsSandbox,
];

export interface RunningSandboxes {
  url: string;
  port: number;
  server: http.Server;
  sandboxes: Record<string, Sandbox>;
  close(): Promise<void>;
}

export async function startSandboxes(opts: { port?: number; host?: string; stateDir?: string; vendors?: VendorSandboxFactory[] } = {}): Promise<RunningSandboxes> {
  const app = express();
  app.disable('x-powered-by');
  const host = opts.host ?? '127.0.0.1';
  let url = '';
  const sandboxes: Record<string, Sandbox> = {};
  const vendors = opts.vendors ?? VENDORS;
  for (const vendor of vendors) {
    const sandbox = vendor.create({
      statePath: opts.stateDir ? path.join(opts.stateDir, `${vendor.name}.json`) : undefined,
      baseUrl: () => `${url}/${vendor.name}`,
    });
    sandboxes[vendor.name] = sandbox;
    app.use(`/${vendor.name}`, sandbox.app);
  }
  app.get('/', (_req, res) => {
    res.json({ sandboxes: Object.keys(sandboxes).map((n) => ({ name: n, url: `${url}/${n}`, inspect: `${url}/${n}/_sandbox/records` })) });
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${host}:${port}`;
  for (const vendor of vendors) vendor.attach?.(server, sandboxes[vendor.name]);
  return {
    url,
    port,
    server,
    sandboxes,
    async close() {
      for (const s of Object.values(sandboxes)) s.close();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
