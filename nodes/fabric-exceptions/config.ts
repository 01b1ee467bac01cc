import { configNode, nodeSettings, text } from '../settings';

/** The settings of a `fabric-exceptions` node (its editor dialog). */
export interface ExceptionsConfig {
  id: string;
  name?: string;
  store?: string;
}

export const FABRIC_EXCEPTIONS = nodeSettings<ExceptionsConfig>()({
  type: 'fabric-exceptions',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
  },
});
