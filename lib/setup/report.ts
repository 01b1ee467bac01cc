/**
 * How a vendor's setup check collects what it found: steps in the order they ran, problems with their fix, and the
 * result the registry stamps. `ok` follows from the problems (no `error`), so a check cannot report ok and an error.
 */
import type { CheckStep, SetupProblem, VendorCheckResult } from './types';

export class SetupReport {
  private readonly steps: CheckStep[] = [];
  private readonly found: SetupProblem[] = [];
  headroom?: Record<string, unknown>;

  constructor(private readonly vendor: string) {}

  /** Records a step; ok unless a problem of severity `error` was added for it (before or after). */
  step(check: string, detail?: string): void {
    this.steps.push({ check, ok: true, ...(detail ? { detail } : {}) });
  }

  /** A step not run because an earlier one failed (e.g. no describe without a login). */
  skipped(check: string, because: string): void {
    this.steps.push({ check, ok: false, detail: `not checked: ${because}` });
  }

  problem(p: SetupProblem): void {
    this.found.push(p);
  }

  get problems(): readonly SetupProblem[] {
    return this.found;
  }

  hasErrors(check?: string): boolean {
    return this.found.some((p) => p.severity === 'error' && (check === undefined || p.check === check));
  }

  result(): VendorCheckResult {
    const checks = this.steps.map((s) => (s.ok && this.hasErrors(s.check) ? { ...s, ok: false } : s));
    return { vendor: this.vendor, ok: !this.hasErrors() && checks.every((c) => c.ok), checks, problems: [...this.found], ...(this.headroom ? { headroom: this.headroom } : {}) };
  }
}

/** The message of whatever a vendor call threw (FabricErrors carry the vendor's words in `message`). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The HTTP status a FabricError or axios error carries, when it has one. */
export function errorStatus(err: unknown): number | undefined {
  const e = err as { status?: unknown; response?: { status?: unknown } } | null;
  const s = e?.status ?? e?.response?.status;
  return typeof s === 'number' ? s : undefined;
}
