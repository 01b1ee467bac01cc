import { configNode, flag, nodeSettings, text } from '../settings';

/** The settings of a `fabric-exception` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface ExceptionConfig {
  id: string;
  name?: string;
  store?: string;
  process?: string;
  step?: string;
  owner?: string;
  errorClass?: string;
  message?: string;
  replay?: boolean;
}

export const FABRIC_EXCEPTION = nodeSettings<ExceptionConfig>()({
  type: 'fabric-exception',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    process: text(),
    step: text(),
    owner: text(),
    errorClass: text('permanent'),
    message: text(),
    replay: flag(false),
  },
});
