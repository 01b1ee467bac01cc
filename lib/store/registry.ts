/**
 * One Store instance per physical store, shared by everything in the process that names it.
 *
 * Two fabric-store config nodes (or a config node and the runtime's health check) pointing at the same
 * SQLite file must share one connection: two better-sqlite3 handles on one file in one process would
 * compete for the write lock and each cache its own statements. Users take a handle and release it;
 * the store is closed when the last handle is released.
 *
 * PostgreSQL (`kind: 'postgres'`, lib/store/postgres-store.ts): identity = connection string without its
 * password + schema, so every node and the runtime in one process share one pool. Opening stays synchronous
 * (a config node's constructor needs `node.store` at once): the pool connects and migrates in the background
 * and every method awaits the store's `ready` promise. `openStoreReady` is the async variant for callers that
 * want a wrong URL to fail at start-up (the runtime).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from './store';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store';
import { PostgresStore, redactConnectionString, type PostgresStoreOptions } from './postgres-store';

export interface SqliteOpenOptions extends SqliteStoreOptions {
  kind: 'sqlite';
}
/** PostgreSQL (scale-out): `connectionString` e.g. postgres://fabric:secret@db:5432/fabric; tables in `schema` (default public). */
export interface PostgresOpenOptions extends PostgresStoreOptions {
  kind: 'postgres';
}
export type StoreOptions = SqliteOpenOptions | PostgresOpenOptions;
export type StoreKind = StoreOptions['kind'];

export interface StoreHandle {
  readonly store: Store;
  /** Identity of the physical store (e.g. `sqlite:/abs/path.sqlite`); equal ids share one instance. */
  readonly id: string;
  /** Gives this handle back; the store closes when the last handle is released. Idempotent per handle. */
  release(): Promise<void>;
}

interface StoreFactory<O extends StoreOptions> {
  identity(options: O): string;
  create(options: O): Store;
}

/** Resolves symlinks of the directory (when it exists) so two spellings of one file share an instance. */
function canonicalSqlitePath(file: string): string {
  if (file === ':memory:') return file;
  const absolute = path.resolve(file);
  try {
    return path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
  } catch {
    return absolute;
  }
}

const factories: { [K in StoreKind]: StoreFactory<Extract<StoreOptions, { kind: K }>> } = {
  sqlite: {
    identity: (options) => `sqlite:${canonicalSqlitePath(options.path)}`,
    create: (options) => new SqliteStore({ ...options, path: canonicalSqlitePath(options.path) }),
  },
  postgres: {
    // the password is not part of the identity (it appears in health output); one database + schema = one pool
    identity: (options) => `postgres:${redactConnectionString(options.connectionString)}#${options.schema?.trim() || 'public'}`,
    create: (options) => {
      if (!options.connectionString) throw new Error('a PostgreSQL store needs a connection string (postgres://user:password@host:5432/database)');
      return new PostgresStore(options);
    },
  },
};

interface Shared {
  store: Store;
  users: number;
  /** Set while the last user's release is closing the store, so a concurrent open waits and reopens. */
  closing?: Promise<void>;
}

const shared = new Map<string, Shared>();

function factoryFor<K extends StoreKind>(kind: K): StoreFactory<Extract<StoreOptions, { kind: K }>> {
  const factory = factories[kind];
  if (!factory) throw new Error(`unknown store kind "${String(kind)}" (expected one of ${Object.keys(factories).join(', ')})`);
  return factory;
}

/** Takes a handle on the store `options` names, opening it on first use. Throws when it cannot be opened. */
export function openStore(options: StoreOptions): StoreHandle {
  const factory = factoryFor(options.kind) as StoreFactory<StoreOptions>;
  const id = factory.identity(options);
  let entry = shared.get(id);
  if (!entry || entry.closing) {
    // A store still closing is replaced by a fresh instance: better-sqlite3 closes synchronously, so the
    // old handle is already gone by the time this runs.
    entry = { store: factory.create(options), users: 0 };
    shared.set(id, entry);
  }
  entry.users += 1;
  const mine = entry;
  let released = false;
  return {
    store: mine.store,
    id,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      mine.users -= 1;
      if (mine.users > 0) return;
      if (shared.get(id) === mine) shared.delete(id);
      mine.closing = mine.store.close();
      await mine.closing;
    },
  };
}

/**
 * Like openStore, but resolves only once the store is usable (PostgreSQL: connected and migrated), so a
 * runtime can fail at start-up on a wrong URL instead of on first use. On failure the handle is released.
 */
export async function openStoreReady(options: StoreOptions): Promise<StoreHandle> {
  const handle = openStore(options);
  try {
    await (handle.store as Store & { ready?: Promise<void> }).ready;
  } catch (err) {
    await handle.release().catch(() => {});
    throw err;
  }
  return handle;
}

/** How many handles are out for a store id (0 when closed); for health checks and tests. */
export function storeUsers(id: string): number {
  return shared.get(id)?.users ?? 0;
}
