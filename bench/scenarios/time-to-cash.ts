import type { ScenarioResult } from '../lib/report';
export async function timeToCashScenario(_opts: { quick: boolean; entries?: number }): Promise<ScenarioResult> {
  return { name: 'time-to-cash', status: 'skipped', note: 'not implemented yet', rows: [], figures: {} };
}
export async function scalingScenario(_opts: { quick: boolean; with1m: boolean }): Promise<ScenarioResult> {
  return { name: 'scaling', status: 'skipped', note: 'not implemented yet', rows: [], figures: {} };
}
