/**
 * An accepted experience-API write handed to the process layer: the `fabric/v1/<entity>/requested` CloudEvent (id and
 * correlation id = the tracking id) and the caller's 202 with where to follow the request. The body passed the schema
 * of its API version (api-gate); a v2 time entry is converted to the current canonical version (versioning.ts), and
 * what v1 has no field for (workLocation) travels as the envelope extension `worklocation`, so nothing is lost.
 */
import { toEnvelope, type CloudEvent } from '../model';
import { convert } from './versioning';

export const EXPERIENCE_API_SOURCE = '/ps-fabric/experience-api';

export interface HandOver {
  publish: { topic: string; payload: CloudEvent & { requestedby: string; worklocation?: unknown } };
  response: { statusCode: 202; headers: Record<string, string>; payload: { trackingId: string; status: 'accepted'; statusUrl: string } };
}

export function requestedHandOver(req: { entity: string; schemaVersion: number; data: Record<string, unknown>; trackingId: string; consumerId: string }): HandOver {
  const data = convert(req.entity, req.data, req.schemaVersion, 1);
  const extension = req.entity === 'timeentry' && req.schemaVersion === 2 ? { worklocation: req.data.workLocation } : {};
  const event = toEnvelope({
    entity: req.entity,
    event: 'requested',
    version: 1,
    source: EXPERIENCE_API_SOURCE,
    id: req.trackingId,
    data,
    correlationid: req.trackingId,
    idempotencykey: `${req.entity}:${String(data.id)}:v${String(data.version)}`,
  });
  const statusUrl = `/api/v1/requests/${req.trackingId}`;
  return {
    publish: { topic: `fabric/v1/${req.entity}/requested`, payload: { ...event, requestedby: req.consumerId, ...extension } },
    response: { statusCode: 202, headers: { Location: statusUrl }, payload: { trackingId: req.trackingId, status: 'accepted', statusUrl } },
  };
}
