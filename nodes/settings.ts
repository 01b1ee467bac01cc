/**
 * How a node reads the numbers of its dialog, one rule for all: an empty field, something that is not a number, zero
 * or a negative number means the node's default. Every number in the dialogs is a count, a rate or a duration, for
 * which zero or less is no setting (a rate of 0 would stop a connection; the engine's "unlimited" is for tests and
 * benchmarks, not a dialog choice).
 */
import type { ConnectionLimits } from '../lib/delivery/types';

export function positiveSetting(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

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
