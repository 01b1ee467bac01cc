/**
 * OpenAPI 3.1 description of the experience APIs, generated from the canonical JSON Schemas (2020-12, the
 * dialect OpenAPI 3.1 uses natively). The canonical schemas are inlined under components.schemas with their
 * relative `$ref`s (`common.json#/$defs/id`) rewritten to local ones (`#/components/schemas/Common/$defs/id`),
 * so any OpenAPI 3.1 tool resolves them without fetching the `$id` URLs.
 */
import { getCanonicalModel } from '../model/validator';
import { ENTITIES, SCHEMA_BASE, type EntityName } from '../model/entities';
import { API_RESOURCES, REQUESTS_SCOPE } from './resources';
import { DEFAULT_DEPRECATIONS, findDeprecation, type Deprecation } from './versioning';

type Obj = Record<string, unknown>;

export interface OpenApiOptions {
  /** Server URL, e.g. `http://127.0.0.1:1880`; default relative `/`. */
  serverUrl?: string;
  title?: string;
  version?: string;
  deprecations?: Deprecation[];
}

/** Component name of a schema `$id`: `.../v1/time-entry.json` -> `TimeEntry`, v2 -> `TimeEntryV2`, common -> `Common`. */
export function componentName(id: string): string {
  const m = /\/v(\d+)\/([a-z-]+)\.json$/.exec(id);
  if (!m) throw new Error(`not a canonical schema id: ${id}`);
  const base = m[2].split('-').map((p) => p[0].toUpperCase() + p.slice(1)).join('');
  return m[1] === '1' ? base : `${base}V${m[1]}`;
}

function rewriteRefs(node: unknown, baseId: string): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, baseId));
  if (!node || typeof node !== 'object') return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node as Obj)) {
    if (k === '$ref' && typeof v === 'string') {
      const [target, fragment = ''] = v.split('#');
      const abs = target ? new URL(target, baseId).href : baseId;
      out[k] = `#/components/schemas/${componentName(abs)}${fragment}`;
    } else if (k === '$id' || k === '$schema') {
      continue;
    } else {
      out[k] = rewriteRefs(v, baseId);
    }
  }
  return out;
}

const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const ERROR_RESPONSES = {
  '401': { ...err('not authenticated'), headers: { 'WWW-Authenticate': { schema: { type: 'string' } } } },
  '403': err('missing scope'),
  '429': { ...err('rate limit exceeded'), headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer', minimum: 1 } } } },
};

export function buildOpenApi(opts: OpenApiOptions = {}): Obj {
  const model = getCanonicalModel();
  const schemas: Obj = {};
  for (const id of model.schemaIds()) {
    if (!id.startsWith(SCHEMA_BASE) || /envelope\.json$/.test(id)) continue;
    schemas[componentName(id)] = rewriteRefs(model.schema(id), id);
  }
  schemas.FieldError = {
    type: 'object',
    required: ['path', 'message'],
    properties: { path: { type: 'string', description: 'JSON Pointer into the request body, e.g. /lines/3/hours' }, message: { type: 'string' } },
  };
  schemas.Error = {
    type: 'object',
    required: ['error'],
    properties: { error: { type: 'string' }, errors: { type: 'array', items: { $ref: '#/components/schemas/FieldError' } } },
  };
  schemas.Accepted = {
    type: 'object',
    required: ['trackingId', 'status', 'statusUrl'],
    properties: {
      trackingId: { type: 'string', format: 'uuid' },
      status: { const: 'accepted' },
      statusUrl: { type: 'string' },
    },
  };
  schemas.RequestStatus = {
    type: 'object',
    required: ['trackingId', 'status', 'entity', 'acceptedAt'],
    properties: {
      trackingId: { type: 'string' },
      status: { enum: ['accepted', 'processing', 'completed', 'failed'] },
      entity: { type: 'string' },
      recordId: { type: 'string' },
      acceptedAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      detail: { type: 'string' },
      errors: { type: 'array', items: { $ref: '#/components/schemas/FieldError' }, description: 'failed: the fields that need fixing' },
      references: { type: 'object', additionalProperties: { type: 'string' }, description: 'ids the request produced, e.g. psa (the PSA record), invoice, project' },
    },
  };

  const paths: Obj = {};
  const deps = opts.deprecations ?? DEFAULT_DEPRECATIONS;
  const security = [{ apiKey: [] }, { bearer: [] }];
  for (const r of API_RESOURCES) {
    for (const [version, schemaVersion] of Object.entries(r.versions)) {
      const comp = componentName(`${SCHEMA_BASE}v${schemaVersion}/${ENTITIES[r.entity as EntityName].file}.json`);
      const ref = { $ref: `#/components/schemas/${comp}` };
      const deprecated = findDeprecation(deps, version, r.path) !== undefined;
      const tag = r.title;
      const dep = deprecated ? { deprecated: true } : {};
      paths[`/api/${version}/${r.path}`] = {
        get: {
          operationId: `list_${r.scope}_${version}`,
          summary: `List ${r.title.toLowerCase()}`,
          tags: [tag],
          ...dep,
          security,
          'x-scopes': [`${r.scope}:read`],
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
            { name: 'cursor', in: 'query', schema: { type: 'string', maxLength: 200 } },
          ],
          responses: {
            '200': {
              description: 'a page of records',
              content: { 'application/json': { schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref }, nextCursor: { type: 'string' } } } } },
            },
            ...ERROR_RESPONSES,
          },
        },
        ...(r.readOnly ? {} : { post: {
          operationId: `create_${r.scope}_${version}`,
          summary: `Request the creation or update of a ${r.title.toLowerCase()} record (processed asynchronously)`,
          tags: [tag],
          ...dep,
          security,
          'x-scopes': [`${r.scope}:write`],
          requestBody: { required: true, content: { 'application/json': { schema: ref } } },
          responses: {
            '202': { description: 'accepted; poll statusUrl', headers: { Location: { schema: { type: 'string' } } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } } },
            '400': err('invalid body: field-level errors'),
            '413': err('body too large'),
            '415': err('not JSON'),
            ...ERROR_RESPONSES,
          },
        } }),
      };
      paths[`/api/${version}/${r.path}/{id}`] = {
        get: {
          operationId: `get_${r.scope}_${version}`,
          summary: `Read one ${r.title.toLowerCase()} record`,
          tags: [tag],
          ...dep,
          security,
          'x-scopes': [`${r.scope}:read`],
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' } }],
          responses: { '200': { description: 'the record', content: { 'application/json': { schema: ref } } }, '400': err('invalid id'), '404': err('not found'), ...ERROR_RESPONSES },
        },
      };
    }
  }
  paths['/api/v1/requests/{trackingId}'] = {
    get: {
      operationId: 'get_request_status',
      summary: 'Status of an accepted write',
      tags: ['Requests'],
      security,
      'x-scopes': [`${REQUESTS_SCOPE}:read`],
      parameters: [{ name: 'trackingId', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { '200': { description: 'status', content: { 'application/json': { schema: { $ref: '#/components/schemas/RequestStatus' } } } }, '404': err('unknown tracking id'), ...ERROR_RESPONSES },
    },
  };
  paths['/api/v1/openapi.json'] = {
    get: { operationId: 'get_openapi', summary: 'This document', tags: ['Meta'], security: [], responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } },
  };

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: opts.title ?? 'PS Fabric experience APIs',
      version: opts.version ?? '1.0.0',
      description: 'Governed APIs over the PS Fabric canonical model. Reads are served from the systems of record; writes are validated and handed to the process layer (202 + tracking id). Authenticate with an API key (X-API-Key) or a JWT bearer token; each operation lists the scope it needs in x-scopes.',
    },
    servers: [{ url: opts.serverUrl ?? '/' }],
    security,
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'psf_<keyId>_<secret>, issued by an administrator' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'signed by the configured issuer; scopes in "scope" or "scp"' },
      },
    },
  };
}
