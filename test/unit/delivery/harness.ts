import path from 'node:path';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { DeliveryEngine } from '../../../lib/delivery/engine';
import type { DeliveryEngineOptions, ExtendedLimits } from '../../../lib/delivery/engine';
import type { DeliveryServices } from '../../../lib/delivery/services';
import { httpExecutor } from '../../../lib/delivery/http-executor';
import type { ConnectionHandle } from '../../../lib/delivery/types';
import { tempDir } from '../../support/tmp';
import { servicesFor, type FabricServices } from '../../../lib/fabric/services';
import { Vendor } from './vendor';

/** Fast defaults for tests: no rate limit, tiny backoff, quick breaker. */
export const FAST: Partial<ExtendedLimits> = {
  ratePerSecond: 0,
  concurrency: 4,
  maxAttempts: 5,
  baseDelayMs: 5,
  maxDelayMs: 50,
  breakerThreshold: 50,
  breakerHalfOpenAfterMs: 200,
  attemptTimeoutMs: 5000,
};

export interface Harness {
  dir: string;
  file: string;
  store: SqliteStore;
  vendor: Vendor;
  engine: DeliveryEngine;
  /** The real services bundle (ExceptionQueue, AuditTrail, ...) of the store. */
  services: FabricServices;
  connect(limits?: Partial<ExtendedLimits>, name?: string): ConnectionHandle;
  /** A second engine on a fresh store handle of the same file (a restarted process). */
  reopen(options?: DeliveryEngineOptions, services?: DeliveryServices): { store: SqliteStore; engine: DeliveryEngine };
  cleanup(): Promise<void>;
}

export async function harness(options: DeliveryEngineOptions = {}, given?: DeliveryServices): Promise<Harness> {
  const tmp = tempDir('psfabric-delivery-');
  const file = path.join(tmp.dir, 'fabric.sqlite');
  const store = new SqliteStore({ path: file, synchronous: 'NORMAL' });
  const vendor = await new Vendor().start();
  const opts: DeliveryEngineOptions = { leaseMs: 10_000, sweepMs: 200, log: () => undefined, ...options };
  const services = servicesFor(store);
  const engine = new DeliveryEngine(store, given ?? services, opts);
  const extra: Array<{ store: SqliteStore; engine: DeliveryEngine }> = [];
  const h: Harness = {
    dir: tmp.dir,
    file,
    store,
    vendor,
    engine,
    services,
    connect: (limits = {}, name = 'vendor:test') => engine.registerConnection(name, httpExecutor({ baseUrl: vendor.url }), { ...FAST, ...limits }),
    reopen(o = {}, s) {
      const st = new SqliteStore({ path: file, synchronous: 'NORMAL' });
      const en = new DeliveryEngine(st, s ?? servicesFor(st), { ...opts, ...o });
      extra.push({ store: st, engine: en });
      return { store: st, engine: en };
    },
    async cleanup() {
      await engine.close();
      services.idempotency.close();
      for (const e of extra) await e.engine.close();
      await vendor.stop();
      await store.close().catch(() => undefined);
      for (const e of extra) await e.store.close().catch(() => undefined);
      tmp.cleanup();
    },
  };
  return h;
}
