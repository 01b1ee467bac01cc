/** The one result table and bench/results/latest.json. */
export interface Row {
  scenario: string;
  figure: string;
  value: number | string;
  unit?: string;
  baseline?: string;
  ratio?: number;
  goal?: string;
  /** undefined: no goal on this row. */
  met?: boolean;
}

export interface ScenarioResult {
  name: string;
  /** A run that lost or duplicated anything, or could not finish, is FAILED. */
  status: 'ok' | 'FAILED' | 'skipped';
  note?: string;
  rows: Row[];
  figures: Record<string, unknown>;
}

const fmt = (v: number | string | undefined, unit?: string) => (v === undefined ? '' : typeof v === 'number' ? `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1)}${unit ? ' ' + unit : ''}` : `${v}${unit ? ' ' + unit : ''}`);

export function table(results: ScenarioResult[]): string {
  const lines = ['| scenario | figure | value | baseline | ratio | goal | met? |', '|---|---|---|---|---|---|---|'];
  for (const r of results) {
    if (r.rows.length === 0) lines.push(`| ${r.name} | ${r.status}${r.note ? ': ' + r.note : ''} | | | | | |`);
    for (const row of r.rows) {
      const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
      const scen = r.status === 'FAILED' ? `${row.scenario} (FAILED)` : row.scenario;
      lines.push(`| ${scen} | ${row.figure} | ${fmt(row.value, row.unit)} | ${row.baseline ?? ''} | ${row.ratio === undefined ? '' : row.ratio.toFixed(2)} | ${row.goal ?? ''} | ${met} |`);
    }
  }
  return lines.join('\n');
}
