import type { ScenarioResult } from '../lib/report';
export async function quoteToProjectScenario(_opts: { quick: boolean }): Promise<ScenarioResult> {
  return { name: 'quote-to-project', status: 'skipped', note: 'not implemented yet', rows: [], figures: {} };
}
