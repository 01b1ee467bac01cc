/**
 * The process steps behind the `process-step` node, one function per step (docs/CONVENTIONS.md: the node is thin).
 * The step names are the node's `step` setting, as the templates in flows/ use them.
 */
import { coComplete, coPlan } from './change-order';
import { StepInputError, type StepContext, type StepMsg, type StepResult } from './context';
import { q2pComplete, q2pPlan, q2pWrite } from './quote-to-project';
import { kpiSnapshot, reconcile, reconcileLists, reconcileRequest, rollup, rollupInput } from './reporting';
import { t2cPlan, t2cPosted } from './time-to-cash';

export * from './context';
export { ParkedAmendmentRetry } from './change-order';

export type Step = (msg: StepMsg, ctx: StepContext) => Promise<StepResult>;

export const STEPS: Readonly<Record<string, Step>> = {
  'q2p-plan': q2pPlan,
  'q2p-write': q2pWrite,
  'q2p-complete': q2pComplete,
  't2c-plan': t2cPlan,
  't2c-posted': t2cPosted,
  'co-plan': coPlan,
  'co-complete': coComplete,
  'rollup-input': rollupInput,
  rollup,
  'reconcile-request': reconcileRequest,
  'reconcile-lists': reconcileLists,
  reconcile,
  kpi: kpiSnapshot,
};

/** The step function of a `step` setting; an unknown one is a StepInputError (`unknownStep`). */
export function stepNamed(step: string): Step {
  const fn = Object.prototype.hasOwnProperty.call(STEPS, step) ? STEPS[step] : undefined;
  if (!fn) throw new StepInputError('unknownStep', { step }, `unknown step ${step}`);
  return fn;
}
