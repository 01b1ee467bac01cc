/**
 * node-red-node-test-helper, typed for the node tests (the package ships no types), and a translator over the shipped
 * message catalogs: the helper's RED._ returns the key, so tests that check status text translate it the way users
 * read it.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface TestHelper {
  init(nodeRedPath: string): void;
  settings(settings: Record<string, unknown>): void;
  load(node: unknown, flow: Array<Record<string, unknown>>, credentials?: Record<string, unknown>): Promise<void>;
  unload(): Promise<void>;
   
  getNode(id: string): any;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper') as TestHelper;

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Translates catalog keys (`status.done`) with `__name__` substitutions from locales/en-US/<name>.json of the given nodes. */
export function catalogTranslator(...names: string[]): (key: string, subs?: Record<string, unknown>) => string {
  const messages: Record<string, unknown> = Object.assign({}, ...names.map((name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'locales', 'en-US', `${name}.json`), 'utf8'))));
  return (key, subs) => {
    const text = key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), messages);
    if (typeof text !== 'string') return key;
    return text.replace(/__(\w+)__/g, (_m, k: string) => String(subs?.[k] ?? ''));
  };
}

/** A node module whose RED._ answers from the shipped catalogs (the helper's answers the key), for status and error text. */
export function translated(mod: unknown, ...names: string[]): unknown {
  const translate = catalogTranslator(...names);
  return (RED: object) => (mod as (red: object) => unknown)(Object.assign(Object.create(RED), { _: translate }));
}
