/**
 * The suite's one table: each scenario records its figures here; a root `after` hook (registered when this
 * module is first loaded by a test file) prints them once, after every scenario ran. Set RELIABILITY_REPORT=<file>
 * to also write them as JSON (docs/reliability.md's table is taken from such a run).
 */
import fs from 'node:fs';

export interface ScenarioFigures {
  scenario: string;
  /** Writes (or messages) that had to reach the target. */
  writes: number;
  /** SIGKILLs, plus graceful restarts/redeploys noted in `notes`. */
  kills: number;
  /** Re-sends the target received for a key it had already applied (absorbed by the idempotency key / dedupe): harmless. */
  resendsAbsorbed: number;
  /** Business effects that happened more than once (e.g. an entry on two invoice lines, an effect under a second key): must be 0. */
  duplicatedEffects: number;
  /** Expected effects missing at the target: must be 0. */
  lost: number;
  exceptions: number;
  /** Most requests the target saw in any sliding 1 s window ('' where not measured). */
  maxRate: number | '';
  notes?: string;
  /** Set when the scenario's assertions failed (the figures are still shown). */
  failed?: boolean;
}

const rows: ScenarioFigures[] = [];

export function record(figures: ScenarioFigures): void {
  const i = rows.findIndex((r) => r.scenario === figures.scenario);
  if (i >= 0) rows[i] = figures;
  else rows.push(figures);
}

export function table(): string {
  const head = ['scenario', 'writes', 'kills', 're-sends absorbed', 'duplicated effects', 'lost', 'exceptions', 'max rate/s', 'notes'];
  const body = rows.map((r) => [r.scenario + (r.failed ? ' (FAILED)' : ''), String(r.writes), String(r.kills), String(r.resendsAbsorbed), String(r.duplicatedEffects), String(r.lost), String(r.exceptions), String(r.maxRate), r.notes ?? '']);
  const all = [head, ...body];
  const widths = head.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const line = (row: string[]) => '| ' + row.map((cell, c) => cell.padEnd(widths[c])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

after(function () {
  if (rows.length === 0) return;
  console.log('\nPS Fabric reliability suite\n' + table() + '\n');
  if (process.env.RELIABILITY_REPORT) fs.writeFileSync(process.env.RELIABILITY_REPORT, JSON.stringify(rows, null, 2));
});
