/**
 * Who may originate the events a process acts on as requests: the envelope's `source` must name the part of the
 * runtime that produces them. The broker already lets only the runtime and named clients publish these topics
 * (lib/broker/acl.ts GOVERNED_TOPICS); this second check keeps a message that reached the topic another way (a
 * bridged broker, a named client with too wide a pattern) from acting as an experience-API request or status.
 */
export const AUTHORISED_SOURCES: Readonly<Record<'requested' | 'request.updated', readonly string[]>> = Object.freeze({
  /** `fabric/v1/<entity>/requested`: the experience API's flow (flows/experience-api.json) after the api-gate. */
  requested: Object.freeze(['/ps-fabric/experience-api']),
  /** `fabric/v1/request/updated`: the process layer's fulfilment (lib/governance/fulfilment.ts statusEvent). */
  'request.updated': Object.freeze(['/ps-fabric/process-layer']),
});

export type RequestEventKind = keyof typeof AUTHORISED_SOURCES;

/** Why `envelope` may not be acted on as a `kind` event, or undefined when its source is authorised. */
export function sourceProblem(envelope: unknown, kind: RequestEventKind): string | undefined {
  const source = envelope && typeof envelope === 'object' ? (envelope as { source?: unknown }).source : undefined;
  const allowed = AUTHORISED_SOURCES[kind];
  if (typeof source === 'string' && allowed.includes(source)) return undefined;
  const named = typeof source === 'string' ? `"${source.slice(0, 100)}"` : 'no source';
  return `${kind} event with ${named} refused: only ${allowed.join(', ')} may originate it (docs/security.md, "The bus")`;
}

/** Throws when the envelope's source is not authorised for `kind`. */
export function requireAuthorisedSource(envelope: unknown, kind: RequestEventKind): void {
  const problem = sourceProblem(envelope, kind);
  if (problem) throw new Error(problem);
}
