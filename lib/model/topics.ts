/**
 * Topic taxonomy: `fabric/v<N>/<entity>/<event>`, e.g. `fabric/v1/timeentry/approved`.
 * Entity in topic form (lower case, no dashes), event lower case kebab (`approved`, `created`, `status-changed`).
 */
import { CURRENT_VERSION, EntityName, normalizeEntity, requireEntity } from './entities';

export const TOPIC_ROOT = 'fabric';

const EVENT_RE = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

export interface TopicParts {
  version: number;
  entity: EntityName;
  event: string;
}

/** Throws unless `event` is a lower-case kebab word of at most 64 characters. */
export function requireEventName(event: string): string {
  if (typeof event !== 'string' || event.length > 64 || !EVENT_RE.test(event)) {
    throw new Error(`invalid event name ${JSON.stringify(event)}: use lower-case words joined by dashes, e.g. "approved" or "status-changed"`);
  }
  return event;
}

/** `topicFor('TimeEntry', 'approved')` -> `fabric/v1/timeentry/approved`. Throws on an unknown entity or bad event. */
export function topicFor(entity: string, event: string, version: number = CURRENT_VERSION): string {
  if (!Number.isInteger(version) || version < 1) throw new Error(`invalid version ${String(version)}`);
  return `${TOPIC_ROOT}/v${version}/${requireEntity(entity)}/${requireEventName(event)}`;
}

/** MQTT subscription filter for an entity's events (all when event omitted), e.g. `fabric/v1/timeentry/+`. */
export function subscriptionFor(entity?: string, event?: string, version: number = CURRENT_VERSION): string {
  const e = entity ? requireEntity(entity) : '+';
  const ev = event ? requireEventName(event) : '+';
  return `${TOPIC_ROOT}/v${version}/${e}/${ev}`;
}

/** `fabric/v1/timeentry/approved` -> `{ version: 1, entity: 'timeentry', event: 'approved' }`; undefined if not a taxonomy topic. */
export function parseTopic(topic: string): TopicParts | undefined {
  if (typeof topic !== 'string') return undefined;
  const m = /^fabric\/v([1-9][0-9]*)\/([a-z]+)\/([a-z0-9-]+)$/.exec(topic);
  if (!m) return undefined;
  const entity = normalizeEntity(m[2]);
  if (!entity || entity !== m[2] || !EVENT_RE.test(m[3])) return undefined;
  return { version: Number(m[1]), entity, event: m[3] };
}

/** True for a topic of the taxonomy with a known entity. */
export function isValidTopic(topic: string): boolean {
  return parseTopic(topic) !== undefined;
}

/**
 * Operational topics under `fabric/v<N>/` that carry no canonical entity: the process KPIs (`fabric/v1/kpi/rollup`,
 * `fabric/v1/kpi/reconciliation`, `fabric/v1/kpi/snapshot`, `fabric/v1/kpi/reconcile-request`) and the
 * experience-API request status reports of the process layer (`fabric/v1/request/updated`).
 */
export const OPERATIONAL_TOPIC_KINDS = ['kpi', 'request'] as const;

/** True for a taxonomy topic (`fabric/v<N>/<entity>/<event>`) or an operational one (`fabric/v<N>/kpi/<event>`). */
export function isFabricTopic(topic: string): boolean {
  if (isValidTopic(topic)) return true;
  if (typeof topic !== 'string') return false;
  const m = /^fabric\/v[1-9][0-9]*\/([a-z]+)\/([a-z0-9-]+)$/.exec(topic);
  return !!m && (OPERATIONAL_TOPIC_KINDS as readonly string[]).includes(m[1]) && EVENT_RE.test(m[2]);
}
