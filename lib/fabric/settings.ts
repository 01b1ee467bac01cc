/**
 * How a number from a node's dialog is read, one rule for every node and step: an empty field, something that is not
 * a number, zero or a negative number means the default. Every number in the dialogs is a count, a rate or a
 * duration, for which zero or less is no setting (a rate of 0 would stop a connection; the engine's "unlimited" is for
 * tests and benchmarks, not a dialog choice).
 */
export function positiveSetting(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
