import { STEP_DEFAULTS, STEPS } from '../../lib/processes/steps';
import { FIRST_VERSION } from '../migrations';
import { configNode, JSON_OBJECT, nodeSettings, number, ports, text } from '../settings';
import type { StepConfig } from '../../lib/processes/steps';

/** The settings of a `process-step` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ProcessStepConfig extends StepConfig {
  id: string;
  name?: string;
  store?: string;
}

export const PROCESS_STEP = nodeSettings<ProcessStepConfig>()({
  type: 'process-step',
  migrations: [FIRST_VERSION],
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    step: text('q2p-plan', { required: true, check: { is: 'oneOf', values: Object.keys(STEPS) } }),
    write: text('erpCustomer'),
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
