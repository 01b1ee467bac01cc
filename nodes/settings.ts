/** How a node reads the numbers of its dialog: one rule for all (lib/fabric/settings.ts `positiveSetting`). */
import type { ConnectionLimits } from '../lib/delivery/types';
import { positiveSetting } from '../lib/fabric/settings';

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
