import { choice, nodeSettings, text } from '../settings';

/** The settings of an `ownership-config` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface OwnershipConfig {
  id: string;
  name?: string;
  /** `default` or `custom`. */
  source?: 'default' | 'custom';
  /** Edited matrix (JSON text) when source is `custom`. */
  matrix?: string;
}

export const OWNERSHIP_CONFIG = nodeSettings<OwnershipConfig>()({
  type: 'ownership-config',
  settings: {
    name: text('PS Fabric ownership'),
    source: choice(['default', 'custom'], 'default'),
    // the matrix's own checks run on Validate and at deploy (lib/governance OwnershipMatrix)
    matrix: text('', { check: { is: 'json', shape: 'object', has: ['systems', 'teams', 'entities'] }, when: { setting: 'source', equals: 'custom' } }),
  },
});
