/**
 * API and schema versions of the experience APIs, and the one conversion shipped so far:
 * TimeEntry v1 <-> v2 (v2 adds the required `workLocation`).
 *
 * Policy (docs/versioning.md): a new major version is served side by side with the previous one; the previous
 * one is marked deprecated (RFC 9745 `Deprecation` header, `Link rel="deprecation"` and `rel="successor-version"`)
 * and retired no earlier than its announced `Sunset` date (RFC 8594).
 */

export const WORK_LOCATIONS = ['client-site', 'office', 'remote', 'unspecified'] as const;
export type WorkLocation = (typeof WORK_LOCATIONS)[number];

/** What an upgraded v1 entry says about where the work was done: we do not know, and say so. */
export const DEFAULT_WORK_LOCATION: WorkLocation = 'unspecified';

type Obj = Record<string, unknown>;

/** TimeEntry v1 -> v2: adds `workLocation` (given, or `unspecified`). Never mutates its input. */
export function timeEntryV1toV2(v1: Obj, workLocation: WorkLocation = DEFAULT_WORK_LOCATION): Obj {
  if (!v1 || typeof v1 !== 'object' || Array.isArray(v1)) throw new TypeError('timeEntryV1toV2 expects a TimeEntry object');
  const out: Obj = { ...v1 };
  if (out.workLocation === undefined) out.workLocation = workLocation;
  return out;
}

/** TimeEntry v2 -> v1: drops `workLocation` (v1 has no place for it). Never mutates its input. */
export function timeEntryV2toV1(v2: Obj): Obj {
  if (!v2 || typeof v2 !== 'object' || Array.isArray(v2)) throw new TypeError('timeEntryV2toV1 expects a TimeEntry object');
  const { workLocation: _dropped, ...rest } = v2;
  void _dropped;
  return rest;
}

/** Converts a canonical record between schema versions; identity when the versions are equal. */
export function convert(entity: string, data: Obj, from: number, to: number): Obj {
  if (from === to) return data;
  const name = entity.toLowerCase().replace(/[-_\s]/g, '');
  if (name === 'timeentry') {
    if (from === 1 && to === 2) return timeEntryV1toV2(data);
    if (from === 2 && to === 1) return timeEntryV2toV1(data);
  }
  throw new Error(`no conversion for ${entity} from v${from} to v${to}`);
}

/** A deprecated API version of one resource (or of every resource when `resource` is omitted). */
export interface Deprecation {
  /** API version as in the path, e.g. `v1`. */
  version: string;
  /** Resource path segment, e.g. `time-entries`; omitted = the whole version. */
  resource?: string;
  /** When it was (or will be) deprecated, ISO date/time. */
  deprecatedAt: string;
  /** When it stops answering, ISO date/time; at least six months after deprecatedAt (docs/versioning.md). */
  sunset?: string;
  /** Path of the successor, e.g. `/api/v2/time-entries`. */
  successor?: string;
  /** Page that explains the deprecation. */
  link?: string;
}

/** The shipped deprecations: TimeEntry v1 is superseded by v2. */
export const DEFAULT_DEPRECATIONS: Deprecation[] = [
  {
    version: 'v1',
    resource: 'time-entries',
    deprecatedAt: '2026-07-01T00:00:00Z',
    sunset: '2027-01-01T00:00:00Z',
    successor: '/api/v2/time-entries',
    link: '/api/v1/openapi.json',
  },
];

/** The deprecation that applies to a version + resource, if any. */
export function findDeprecation(list: Deprecation[], version: string, resource: string | undefined): Deprecation | undefined {
  return list.find((d) => d.version === version && (d.resource === undefined || d.resource === resource));
}

/** Response headers for a deprecated endpoint: `Deprecation: @<epoch seconds>`, `Sunset: <HTTP-date>`, `Link`. */
export function deprecationHeaders(d: Deprecation): Record<string, string> {
  const headers: Record<string, string> = {};
  const at = Date.parse(d.deprecatedAt);
  if (!Number.isNaN(at)) headers['Deprecation'] = `@${Math.floor(at / 1000)}`;
  if (d.sunset) {
    const s = Date.parse(d.sunset);
    if (!Number.isNaN(s)) headers['Sunset'] = new Date(s).toUTCString();
  }
  const links: string[] = [];
  if (d.link) links.push(`<${d.link}>; rel="deprecation"`);
  if (d.successor) links.push(`<${d.successor}>; rel="successor-version"`);
  if (links.length) headers['Link'] = links.join(', ');
  return headers;
}
