/**
 * The services bundle: one InboxWriter, IdempotencyService, ExceptionQueue and AuditTrail per store, so
 * every node on a store shares the same commit grouping, the same replayer registrations and the same
 * event stream (dashboards listening on `exceptions` see every node's exceptions).
 *
 * `openFabric` is what config nodes and the runtime use: it takes a store handle from the registry and the
 * shared services, and its `release()` flushes the services before the last user closes the store.
 */
import { AuditTrail } from '../audit';
import { InstancePresence, heartbeatFromEnv, resolveInstanceId } from '../cluster/instance';
import { ExceptionQueue, type OwnerResolver } from '../exceptions';
import { activeOwnershipMatrix } from '../governance/write-ownership';
import { IdempotencyService } from '../idempotency';
import { InboxWriter, type InboxWriterOptions } from '../inbox';
import { RetentionService, retentionFromEnv, type RetentionSettings } from '../retention';
import { openStore, type StoreOptions } from '../store/registry';
import type { Store } from '../store/store';

export interface FabricServices {
  readonly store: Store;
  readonly inbox: InboxWriter;
  readonly idempotency: IdempotencyService;
  readonly exceptions: ExceptionQueue;
  readonly audit: AuditTrail;
  /** Background retention of the store's logs; undefined when retention is off. */
  readonly retention?: RetentionService;
  /** This runtime instance on the store (heartbeat, lease owner), when the store was opened with `instance`. */
  presence?: InstancePresence;
}

export interface FabricServiceOptions {
  /** Retention of idempotency keys; when the bundle already exists it is updated (the latest deploy wins). */
  idempotencyRetentionMs?: number;
  idempotencyPurgeIntervalMs?: number;
  /** Used only when the bundle is created. */
  inbox?: InboxWriterOptions;
  resolveOwner?: OwnerResolver;
  /** Used only when the bundle is created; default: the FABRIC_RETENTION_* environment (lib/retention). */
  retention?: RetentionSettings;
  /**
   * Run an instance presence on the store (lib/cluster/instance.ts): identity from FABRIC_INSTANCE_ID or kept in
   * `userDir`. The first opener that passes it starts it; the presence lives as long as the bundle.
   */
  instance?: { userDir?: string; env?: NodeJS.ProcessEnv };
}

interface Bundle {
  services: FabricServices;
  users: number;
}

const bundles = new WeakMap<Store, Bundle>();

/**
 * Who owns an exception that names no owner: the team the deployed ownership matrix gives its entity (the recordKey's
 * `Invoice/...` -> finance-ops), so a failed write reaches the team that can fix the record; else the default team.
 */
const ownerFromMatrix: OwnerResolver = (_process, _step, entity) => {
  if (!entity) return undefined;
  try {
    return activeOwnershipMatrix().ownerTeam(entity);
  } catch {
    return undefined; // not an entity of the matrix (e.g. `Digest/...`)
  }
};

function bundleFor(store: Store, options: FabricServiceOptions): Bundle {
  let bundle = bundles.get(store);
  if (!bundle) {
    const audit = new AuditTrail(store);
    const retention = options.retention ?? retentionFromEnv();
    const services: FabricServices = {
      store,
      audit,
      inbox: new InboxWriter(store, options.inbox),
      idempotency: new IdempotencyService(store, { retentionMs: options.idempotencyRetentionMs, purgeIntervalMs: options.idempotencyPurgeIntervalMs }),
      exceptions: new ExceptionQueue(store, { audit, resolveOwner: options.resolveOwner ?? ownerFromMatrix }),
      retention: retention.enabled
        ? new RetentionService(store, retention.policy, {
          intervalMs: retention.intervalMs,
          batchSize: retention.batchSize,
          onError: (err) => console.warn(`[ps-fabric retention] a run failed; the next one goes on: ${err instanceof Error ? err.message : String(err)}`),
        })
        : undefined,
    };
    services.retention?.start();
    bundle = { services, users: 0 };
    bundles.set(store, bundle);
  } else {
    if (options.idempotencyRetentionMs !== undefined) bundle.services.idempotency.setDefaultRetention(options.idempotencyRetentionMs);
    if (options.resolveOwner) bundle.services.exceptions.setOwnerResolver(options.resolveOwner);
  }
  if (options.instance && !bundle.services.presence) {
    const env = options.instance.env ?? process.env;
    const presence = new InstancePresence({ store, id: resolveInstanceId({ env, userDir: options.instance.userDir }), heartbeatMs: heartbeatFromEnv(env) });
    bundle.services.presence = presence;
    void presence.start();
  }
  return bundle;
}

/** The shared services of a store someone else manages the lifetime of (e.g. a node given `config.store`). */
export function servicesFor(store: Store, options: FabricServiceOptions = {}): FabricServices {
  return bundleFor(store, options).services;
}

export interface FabricHandle {
  readonly services: FabricServices;
  readonly store: Store;
  /** Gives the handle back; the last one flushes the inbox writer, stops timers and closes the store. Idempotent. */
  release(): Promise<void>;
}

/** Opens (or joins) a store through the registry, with its shared services. */
export function openFabric(storeOptions: StoreOptions, serviceOptions: FabricServiceOptions = {}): FabricHandle {
  const storeHandle = openStore(storeOptions);
  let bundle: Bundle;
  try {
    bundle = bundleFor(storeHandle.store, serviceOptions);
  } catch (err) {
    void storeHandle.release();
    throw err;
  }
  bundle.users += 1;
  let released = false;
  return {
    services: bundle.services,
    store: storeHandle.store,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      bundle.users -= 1;
      if (bundle.users === 0) {
        bundles.delete(storeHandle.store);
        try {
          await bundle.services.presence?.stop();
          await bundle.services.inbox.close();
        } finally {
          await bundle.services.retention?.stop();
          bundle.services.idempotency.close();
          bundle.services.exceptions.removeAllListeners();
        }
      }
      await storeHandle.release();
    },
  };
}
