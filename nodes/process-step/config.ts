import type { StepConfig } from '../../lib/processes/steps';

/** The settings of a `process-step` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ProcessStepConfig extends StepConfig {
  id: string;
  name?: string;
  store?: string;
}
