/**
 * `fabric-store` config node: the durable store (DESIGN.md section 5) and its services for the nodes that name it.
 *
 * Opens the store through the shared registry (one instance per file, however many config nodes point at it)
 * and exposes it with the services bundle: `node.store`, `node.services` and the shortcuts `node.inbox`,
 * `node.idempotency`, `node.exceptions`, `node.audit`. Opening is synchronous, so nodes constructed after
 * this one can use them at once. Releases its handle on close; the last user closes the file.
 *
 * Which file: the node's `path` if set; else the runtime's `settings.fabric.storePath` (so the nodes and the
 * PS Fabric runtime share one store); else `FABRIC_STORE_PATH`; else `<userDir>/ps-fabric.sqlite`.
 * Relative paths are taken from the Node-RED user directory.
 */
import { openFabric, type FabricHandle } from '../../lib/fabric/services';
import { DAY_MS } from '../../lib/idempotency';
import { resolveStorePath } from '../../lib/fabric/store-path';
import type { StoreOptions } from '../../lib/store/registry';
import { redactConnectionString } from '../../lib/store/postgres-store';
import type { Node, NodeAPI } from './red-types';
import type { FabricStoreNode } from './types';
import { registerXrefRoutes } from '../xref-routes';

const DEFAULT_RETENTION_DAYS = 7;

interface FabricStoreConfig {
  id: string;
  name?: string;
  kind?: string;
  path?: string;
  retentionDays?: string | number;
  /** PostgreSQL: postgres://host:5432/database (user and password in the node's credentials). */
  url?: string;
  schema?: string;
}

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`fabric-store.${key}`, subs);
  registerXrefRoutes(RED);

  function FabricStore(this: FabricStoreNode, config: FabricStoreConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    node.kind = config.kind === 'postgres' ? 'postgres' : 'sqlite';
    const users = new Map<string, Node>();
    let handle: FabricHandle | undefined;

    const days = Number(config.retentionDays ?? DEFAULT_RETENTION_DAYS);
    const retentionDays = Number.isFinite(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS;
    if (retentionDays !== days) node.warn(t('errors.badRetention', { value: String(config.retentionDays), days: DEFAULT_RETENTION_DAYS }));

    // Which store: PostgreSQL from this node (URL + credentials), or - for SQLite with no file of its own - the
    // runtime's store (PostgreSQL in a scale-out runtime, settings.fabric.store), else the SQLite file.
    const runtimeStore = (RED.settings.fabric as { store?: StoreOptions } | undefined)?.store;
    let options: StoreOptions;
    if (node.kind === 'postgres') {
      const url = (config.url ?? '').trim();
      let connectionString = url;
      try {
        const u = new URL(url);
        if (!/^postgres(ql)?:$/.test(u.protocol)) throw new Error('not a postgres:// URL');
        const creds = (node as unknown as { credentials?: { user?: string; password?: string } }).credentials ?? {};
        if (creds.user) u.username = encodeURIComponent(creds.user);
        if (creds.password) u.password = encodeURIComponent(creds.password);
        connectionString = u.toString();
      } catch {
        connectionString = '';
      }
      node.storePath = `${redactConnectionString(url)}#${(config.schema ?? '').trim() || 'public'}`;
      options = { kind: 'postgres', connectionString, schema: (config.schema ?? '').trim() || undefined };
    } else if (!(config.path ?? '').trim() && runtimeStore?.kind === 'postgres') {
      node.kind = 'postgres';
      node.storePath = `${redactConnectionString(runtimeStore.connectionString)}#${runtimeStore.schema ?? 'public'}`;
      options = runtimeStore;
    } else {
      node.storePath = resolveStorePath(config.path, { userDir: RED.settings.userDir, runtimeStorePath: RED.settings.fabric?.storePath });
      options = { kind: 'sqlite', path: node.storePath };
    }
    try {
      if (options.kind === 'postgres' && !options.connectionString) throw new Error(t('errors.badUrl'));
      // an instance presence when the runtime has a user dir (it keeps the instance id): under `npm start` the runtime
      // has already started it on this store, in a plain Node-RED this node does
      const userDir = RED.settings.userDir as string | undefined;
      handle = openFabric(options, { idempotencyRetentionMs: retentionDays * DAY_MS, ...(userDir ? { instance: { userDir } } : {}) });
      node.store = handle.store;
      node.services = handle.services;
      node.inbox = handle.services.inbox;
      node.idempotency = handle.services.idempotency;
      node.exceptions = handle.services.exceptions;
      node.audit = handle.services.audit;
      node.log(t('log.opened', { path: node.storePath }));
      // PostgreSQL connects in the background: report a wrong URL or password on the node, not only on first use
      (handle.store as { ready?: Promise<void> }).ready?.catch((err: unknown) => {
        node.openError = t('errors.openFailed', { path: node.storePath, error: err instanceof Error ? err.message : String(err) });
        node.error(node.openError);
      });
    } catch (err) {
      node.openError = t('errors.openFailed', { path: node.storePath, error: err instanceof Error ? err.message : String(err) });
      node.error(node.openError);
    }

    node.requireServices = () => {
      if (node.services) return node.services;
      throw new Error(node.openError ?? t('errors.notOpen'));
    };
    node.register = (user) => {
      users.set(user.id, user);
    };
    node.deregister = (user) => {
      users.delete(user.id);
    };

    node.on('close', (_removed, done) => {
      const releasing = handle;
      handle = undefined;
      node.store = node.services = node.inbox = node.idempotency = node.exceptions = node.audit = undefined;
      if (!releasing) {
        done();
        return;
      }
      releasing.release().then(done, (err: unknown) => {
        node.error(t('errors.closeFailed', { error: err instanceof Error ? err.message : String(err) }));
        done();
      });
    });
  }

  (RED.nodes.registerType as (type: string, ctor: unknown, options: unknown) => void)('fabric-store', FabricStore, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
