/**
 * A node's settings: how they are declared (`nodeSettings`, below; docs/CONVENTIONS.md *Settings*) and how a node reads
 * the numbers of its dialog, one rule for all (lib/fabric/settings.ts `positiveSetting`).
 */
import type { ConnectionLimits } from '../lib/delivery/types';
import { positiveSetting } from '../lib/fabric/settings';
import { migrationsOf, type Migration } from './migrations';
import type { Credentials } from './node-red-api';

export { positiveSetting };

/** The connection limits a connector's dialog sets. */
export interface LimitsConfig {
  ratePerSecond?: string | number;
  concurrency?: string | number;
  maxAttempts?: string | number;
}

/** The limits of the dialog over the connector's defaults (its vendor's quota). */
export function limitsFrom(cfg: LimitsConfig, defaults: Required<Pick<ConnectionLimits, 'ratePerSecond' | 'concurrency' | 'maxAttempts'>>): Partial<ConnectionLimits> {
  return {
    ratePerSecond: positiveSetting(cfg.ratePerSecond, defaults.ratePerSecond),
    concurrency: positiveSetting(cfg.concurrency, defaults.concurrency),
    maxAttempts: positiveSetting(cfg.maxAttempts, defaults.maxAttempts),
  };
}

/*
 * A node's settings, declared once in its folder (`nodes/<name>/config.ts`), as data: the runtime reads its defaults
 * from the declaration, and `npm run build` (scripts/build.js) writes the editor's `defaults: {...}` (with the
 * validators below as `RED.validators...` calls), the `credentials` and the operation choices into the dialog Node-RED
 * loads. docs/CONVENTIONS.md (*Settings*).
 */

/** How the editor checks a value (the red triangle before deploy). */
export type Check =
  /** a number (or a whole `${ENV_VAR}`); `blank`: empty allowed; `positive`: above zero; `min` / `max` inclusive */
  | { is: 'number'; blank?: boolean; positive?: boolean; min?: number; max?: number }
  /** matches `pattern`; `blank`: empty allowed; `env`: a whole `${ENV_VAR}` allowed (the templates use them) */
  | { is: 'regex'; pattern: RegExp; blank?: boolean; env?: boolean }
  /** empty, or JSON text of an object (with the properties `has`) / an array */
  | { is: 'json'; shape: 'object' | 'array'; has?: readonly string[] }
  /** a JSONata expression that parses */
  | { is: 'jsonata'; blank?: boolean }
  /** one of `values` */
  | { is: 'oneOf'; values: readonly string[]; blank?: boolean }
  /** empty, or a regular expression that compiles */
  | { is: 'regexp' }
  /** empty only when `setting` is set (an older way of configuring the node) */
  | { is: 'orSetting'; setting: string };

export interface Setting<V> {
  value: V;
  /** the editor flags it empty */
  required?: boolean;
  /** the type of config node it names */
  type?: string;
  check?: Check;
  /** the check applies only while another setting has this value (a row the dialog shows in one mode) */
  when?: { setting: string; equals: string };
}

/** Settings of a config interface `C`: its dialog properties (NodeDef's id, type, z and version are not settings). */
export type SettingsOf<C> = { [K in Exclude<keyof C, 'id' | 'type' | 'z' | 'version'>]-?: Setting<NonNullable<C[K]>> };

export interface NodeSettingsSpec<C, S extends SettingsOf<C>> {
  type: string;
  settings: S;
  credentials?: Credentials;
  /** An operation node's choices: the setting that holds the operation and its values in the dialog's order. */
  operations?: { setting: keyof C & string; values: readonly string[] };
}

export interface NodeSettings<C, S extends SettingsOf<C> = SettingsOf<C>> extends NodeSettingsSpec<C, S> {
  /** The default of every setting, as the runtime reads them. */
  defaults: { [K in keyof S]: S[K]['value'] };
  /** The type's config versions, from its list in NODE_MIGRATIONS (nodes/migrations.ts); the build stamps the dialog's `version` default with the last. */
  migrations: readonly Migration[];
}

/** Declares a node's settings, typed by its config interface: `nodeSettings<NetSuiteDef>()({ type, settings })`. */
export function nodeSettings<C>() {
  return <S extends SettingsOf<C>>(spec: NodeSettingsSpec<C, S>): NodeSettings<C, S> => {
    const defaults = Object.fromEntries(Object.entries(spec.settings).map(([k, s]) => [k, (s as Setting<unknown>).value]));
    return { ...spec, defaults: defaults as NodeSettings<C, S>['defaults'], migrations: migrationsOf(spec.type) };
  };
}

/** A text setting. */
export const text = <V extends string = string>(value = '' as V, more: Omit<Setting<V>, 'value'> = {}): Setting<V> => ({ value, ...more });
/**
 * A choice among `values` (a select whose options the build writes: `<!-- psf:options <setting> <group> -->`); unless
 * required, an unset one (a flow written before the setting) is the default.
 */
export const choice = <V extends string>(values: readonly V[], value: V, more: Omit<Setting<V>, 'value' | 'check'> = {}): Setting<V> => ({ value, ...more, check: { is: 'oneOf', values, blank: !more.required } });
/** A number setting (the runtime reads it with `positiveSetting`). */
export const number = <V extends number | '' = number>(value: V, more: { blank?: boolean; positive?: boolean; min?: number; max?: number; required?: boolean } = {}): Setting<V> => {
  const { required, ...check } = more;
  return { value, ...(required ? { required } : {}), check: { is: 'number', ...check } };
};
/** The node's output count (Node-RED's `outputs`, set by the dialog for the mode chosen). */
export const ports = (value: number): Setting<number> => ({ value });
/** A checkbox. */
export const flag = (value: boolean): Setting<boolean> => ({ value });
/** The config node of `type` it names. */
export const configNode = (type: string, required = true, more: Omit<Setting<string>, 'value' | 'type' | 'required'> = {}): Setting<string> => ({ value: '', type, required, ...more });

/** An http(s) URL with a host, or a whole `${ENV_VAR}`; empty unless `required`. */
export const httpUrl = (required = false): Check => ({ is: 'regex', pattern: /^https?:\/\/[^\s/]+\S*$/, env: true, blank: !required });
/** JSON text of an object, or empty. */
export const JSON_OBJECT: Check = { is: 'json', shape: 'object' };

/** The rate, concurrency and attempts rows of a connection (nodes/dialog/connection-limits.html), over its vendor's quota. */
export function connectionLimits(quota: { ratePerSecond: number; concurrency: number; maxAttempts: number }) {
  return { ratePerSecond: number(quota.ratePerSecond), concurrency: number(quota.concurrency), maxAttempts: number(quota.maxAttempts) };
}
