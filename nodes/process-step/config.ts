import { STEP_DEFAULTS, STEPS } from '../../lib/processes/steps';
import { choice, configNode, JSON_OBJECT, nodeSettings, number, ports, text } from '../settings';
import type { StepConfig } from '../../lib/processes/steps';
import type { QuoteToProjectPlan } from '../../lib/processes/quote-to-project';

type Q2pWrites = QuoteToProjectPlan['writes'];
/** q2p-write: the planned write it sends (every one of the plan's, in the dialog's order). */
const Q2P_WRITES = { erpCustomer: true, psaProject: true, jiraProject: true, erpProject: true, jiraEpic: true, notify: true } satisfies Record<keyof Q2pWrites, true>;

/** The settings of a `process-step` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ProcessStepConfig extends StepConfig {
  id: string;
  name?: string;
  store?: string;
}

export const PROCESS_STEP = nodeSettings<ProcessStepConfig>()({
  type: 'process-step',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    step: text('q2p-plan', { required: true, check: { is: 'oneOf', values: Object.keys(STEPS) } }),
    write: choice(Object.keys(Q2P_WRITES) as Array<keyof Q2pWrites>, 'erpCustomer'),
    // no dialog row: the events' CloudEvents source (default the step's process flow)
    source: text(),
    routing: text('', { check: JSON_OBJECT }),
    directory: text('', { check: { is: 'json', shape: 'array' } }),
    batchSize: number(STEP_DEFAULTS.batchSize, { blank: true }),
    maxLines: number(STEP_DEFAULTS.maxLines, { blank: true }),
    retrySeconds: number(STEP_DEFAULTS.retrySeconds, { blank: true }),
    maxWaits: number(STEP_DEFAULTS.maxWaits, { blank: true }),
    outputs: ports(3),
  },
});
