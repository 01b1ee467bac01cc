/**
 * `fabric-store` config node: the durable store (docs/store-and-guarantees.md) and its services for the nodes that name it.
 *
 * Opens the store through the shared registry (one instance per file, however many config nodes point at it)
 * and exposes it with the services bundle: `node.store`, `node.services` and the shortcuts `node.inbox`,
 * `node.idempotency`, `node.exceptions`, `node.audit`. Opening is synchronous, so nodes constructed after
 * this one can use them at once. Releases its handle on close; the last user closes the file.
 *
 * Which store: PostgreSQL from the node's URL; else the node's SQLite `path` if set; else the PS Fabric runtime's
 * store (so the nodes and the runtime share one); else `FABRIC_STORE_PATH`; else `<userDir>/ps-fabric.sqlite`
 * (node-red-api.ts runtimeStoreOptions). Relative paths are taken from the Node-RED user directory.
 */
import { openFabric, type FabricHandle } from '../../lib/fabric/services';
import { DAY_MS } from '../../lib/idempotency';
import type { StoreOptions } from '../../lib/store/registry';
import { redactConnectionString } from '../../lib/store/postgres-store';
import { registerNode, runtimeStoreOptions, type FabricStoreNode, type Node, type NodeAPI } from '../node-red-api';
import { positiveSetting } from '../settings';
import { registerXrefRoutes } from '../xref-routes';


import { FABRIC_STORE, type FabricStoreConfig } from './config';

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

    const retentionDays = positiveSetting(config.retentionDays, FABRIC_STORE.defaults.retentionDays);
    if (config.retentionDays !== undefined && config.retentionDays !== '' && retentionDays !== Number(config.retentionDays)) node.warn(t('errors.badRetention', { value: String(config.retentionDays), days: FABRIC_STORE.defaults.retentionDays }));

    // Which store: PostgreSQL from this node (URL + credentials), else the SQLite file of the node, else the runtime's
    // store (PostgreSQL in a scale-out runtime), else the runtime's SQLite file (node-red-api.ts runtimeStoreOptions)
    let options: StoreOptions;
    if (node.kind === 'postgres') {
      const url = (config.url ?? '').trim();
      let connectionString: string;
      try {
        const u = new URL(url);
        if (!/^postgres(ql)?:$/.test(u.protocol)) throw new Error('not a postgres:// URL');
        const creds = node.credentials ?? {};
        if (creds.user) u.username = encodeURIComponent(creds.user);
        if (creds.password) u.password = encodeURIComponent(creds.password);
        connectionString = u.toString();
      } catch {
        connectionString = '';
      }
      options = { kind: 'postgres', connectionString, schema: (config.schema ?? '').trim() || undefined };
      node.storePath = `${redactConnectionString(url)}#${options.schema ?? 'public'}`;
    } else {
      options = runtimeStoreOptions(RED, config.path);
      node.kind = options.kind;
      node.storePath = options.kind === 'postgres' ? `${redactConnectionString(options.connectionString)}#${options.schema ?? 'public'}` : options.path;
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

  registerNode(RED, FABRIC_STORE.type, FabricStore, FABRIC_STORE);
};
