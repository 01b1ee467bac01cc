import { DEFAULT_MAX_BYTES } from '../../lib/model';
import { ENTITY_NAMES } from '../../lib/model/entities';
import { nodeSettings, number, text } from '../settings';

/** The settings of a `canonical` node (its editor dialog). */
export interface CanonicalConfig {
  id: string;
  name?: string;
  entity?: string;
  /** JSONata from the vendor payload to the canonical entity; empty = payload is already canonical. */
  mapping?: string;
  event?: string;
  source?: string;
  /** Optional JSONata over the canonical record; default the record id. */
  subject?: string;
  /** msg property holding an incoming correlation id; a new UUID when absent. */
  correlationProperty?: string;
  /** Optional JSONata over the canonical record; default `<entity>:<id>:v<version>`. */
  idempotencyKey?: string;
  /** Largest accepted payload in bytes. */
  maxBytes?: number | string;
}

export const CANONICAL = nodeSettings<CanonicalConfig>()({
  type: 'canonical',
  settings: {
    name: text(),
    entity: text('timeentry', { required: true, check: { is: 'oneOf', values: ENTITY_NAMES } }),
    mapping: text('', { check: { is: 'jsonata', blank: true } }),
    // the event part of the topic (lib/model/topics.ts requireEventName)
    event: text('approved', { required: true, check: { is: 'regex', pattern: /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/ } }),
    source: text(),
    subject: text('', { check: { is: 'jsonata', blank: true } }),
    correlationProperty: text('correlationid'),
    idempotencyKey: text('', { check: { is: 'jsonata', blank: true } }),
    maxBytes: number(DEFAULT_MAX_BYTES, { required: true }),
  },
});
