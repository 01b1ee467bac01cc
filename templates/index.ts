/**
 * The template files (flows/*.json) and the builder of each: the only source of the templates. `npm run build` writes
 * them (scripts/build.js); test/unit/flows/template-drift.test.ts fails when the committed files differ.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FlowNode } from './kit';
import { sharedConfig } from './shared-config';
import { quoteToProject } from './quote-to-project';
import { timeToCash } from './time-to-cash';
import { changeOrderToBilling } from './change-order-to-billing';
import { performanceToReporting } from './performance-to-reporting';
import { dashboard } from './dashboard';
import { experienceApi } from './experience-api';

/** File name in flows/ -> its builder. `_config.json` holds the config nodes the other files share. */
export const TEMPLATE_BUILDERS: Readonly<Record<string, () => FlowNode[]>> = {
  '_config.json': sharedConfig,
  'quote-to-project.json': quoteToProject,
  'time-to-cash.json': timeToCash,
  'change-order-to-billing.json': changeOrderToBilling,
  'performance-to-reporting.json': performanceToReporting,
  'dashboard.json': dashboard,
  'experience-api.json': experienceApi,
};

/** A flow file's text as the editor's export writes it (2-space JSON, final newline). */
export function flowFileText(nodes: FlowNode[]): string {
  return JSON.stringify(nodes, null, 2) + '\n';
}

/** Every template file's text, by file name. */
export function renderTemplates(): Map<string, string> {
  return new Map(Object.entries(TEMPLATE_BUILDERS).map(([file, build]) => [file, flowFileText(build())]));
}

/** Writes flows/*.json from the builders; a flow file no builder writes is an error (it would be a second source). */
export function writeTemplates(dir: string): string[] {
  const rendered = renderTemplates();
  fs.mkdirSync(dir, { recursive: true });
  const strays = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !rendered.has(f));
  if (strays.length) throw new Error(`${dir}: ${strays.join(', ')} written by no builder (templates/index.ts TEMPLATE_BUILDERS)`);
  const changed: string[] = [];
  for (const [file, text] of rendered) {
    const target = path.join(dir, file);
    if (fs.existsSync(target) && fs.readFileSync(target, 'utf8') === text) continue;
    fs.writeFileSync(target, text);
    changed.push(file);
  }
  return changed;
}
