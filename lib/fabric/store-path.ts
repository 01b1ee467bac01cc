import path from 'node:path';

/** File name of the embedded store in the Node-RED user directory when nothing else is configured. */
export const DEFAULT_STORE_FILE = 'ps-fabric.sqlite';

/**
 * Where a fabric-store's SQLite file lives. First match wins: the node's own `path`; the PS Fabric runtime's
 * `settings.fabric.storePath` (so nodes share the runtime's store); env `FABRIC_STORE_PATH`;
 * `<userDir>/ps-fabric.sqlite`. Relative paths are resolved against the user directory.
 */
export function resolveStorePath(
  configured: string | undefined,
  where: { userDir?: string; runtimeStorePath?: string },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const userDir = where.userDir ?? process.cwd();
  const chosen = configured?.trim() || where.runtimeStorePath || env.FABRIC_STORE_PATH || DEFAULT_STORE_FILE;
  return path.resolve(userDir, chosen);
}
