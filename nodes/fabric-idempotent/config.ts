import { choice, configNode, nodeSettings, number, ports, text } from '../settings';

/** The settings of a `fabric-idempotent` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface IdempotentConfig {
  id: string;
  name?: string;
  store?: string;
  keySource?: 'envelope' | 'jsonata';
  expression?: string;
  /** Scope of the keys; default `node:<id>`. Two nodes with the same scope share keys. */
  scope?: string;
  /** Hours a key is remembered; empty = the store's retention. */
  retentionHours?: string | number;
  repeats?: 'output' | 'drop';
}

export const FABRIC_IDEMPOTENT = nodeSettings<IdempotentConfig>()({
  type: 'fabric-idempotent',
  settings: {
    name: text(),
    store: configNode('fabric-store'),
    keySource: choice(['envelope', 'jsonata'], 'envelope'),
    expression: text('', { check: { is: 'jsonata' }, when: { setting: 'keySource', equals: 'jsonata' } }),
    scope: text(),
    retentionHours: number('', { blank: true, positive: true }),
    repeats: text<'output' | 'drop'>('output'),
    outputs: ports(2),
  },
});
