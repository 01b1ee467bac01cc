/**
 * Retry delays for the outbox. Retries are durable (the next attempt time is written to the store),
 * so the delay is computed from the attempt number instead of a stateful backoff object.
 * The formula is the one of cockatiel's `ExponentialBackoff` with `fullJitterGenerator`
 * (AWS "full jitter"): delay = random(0, min(maxDelayMs, baseDelayMs * 2^(attempt-1))).
 */
export function fullJitterDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const exp = Math.min(30, Math.max(0, attempt - 1));
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** exp);
  return Math.floor(random() * ceiling);
}

/**
 * The delay before the next try: the vendor's Retry-After when it gave one (never shortened,
 * capped at `maxRetryAfterMs` so a broken header cannot park an item for days), else full jitter.
 */
export function retryDelay(
  attempt: number,
  limits: { baseDelayMs: number; maxDelayMs: number; maxRetryAfterMs?: number },
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
    return Math.min(retryAfterMs, limits.maxRetryAfterMs ?? 15 * 60_000);
  }
  return fullJitterDelay(attempt, limits.baseDelayMs, limits.maxDelayMs, random);
}
