import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildOpenApi } from '../../../lib/governance/openapi';

/** A minimal structural check of an OpenAPI 3.1 document (not the full official meta-schema). */
export const OPENAPI_31_META = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['openapi', 'info', 'paths'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    jsonSchemaDialect: { type: 'string', format: 'uri' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string' }, version: { type: 'string' } } },
    servers: { type: 'array', items: { type: 'object', required: ['url'] } },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace', 'parameters', 'summary', 'description', 'servers'] },
        additionalProperties: {
          type: 'object',
          required: ['responses'],
          properties: {
            operationId: { type: 'string' },
            deprecated: { type: 'boolean' },
            security: { type: 'array' },
            parameters: { type: 'array', items: { type: 'object', required: ['name', 'in'], properties: { in: { enum: ['query', 'header', 'path', 'cookie'] } } } },
            responses: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: '^([1-5][0-9X]{2}|default)$' },
              additionalProperties: { type: 'object', required: ['description'] },
            },
          },
        },
      },
    },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object' },
        securitySchemes: {
          type: 'object',
          additionalProperties: { type: 'object', required: ['type'], properties: { type: { enum: ['apiKey', 'http', 'oauth2', 'openIdConnect', 'mutualTLS'] } } },
        },
      },
    },
  },
};

function pointer(doc: unknown, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `non-local $ref ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
}

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

/** An ajv that validates instances against `#/components/schemas/<Name>` of the document. */
export function openApiValidator(doc: Record<string, unknown>) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'urn:psf:openapi', components: doc.components } as object);
  // refs inside are '#/components/...', relative to the document root (the added schema)
  return (name: string, value: unknown) => {
    const fn = ajv.getSchema(`urn:psf:openapi#/components/schemas/${name}`);
    assert.ok(fn, `no schema ${name}`);
    return fn(value) ? [] : (fn.errors ?? []);
  };
}

describe('governance: OpenAPI 3.1 document', () => {
  const doc = buildOpenApi({ serverUrl: 'http://127.0.0.1:1880' });

  it('passes the structural OpenAPI 3.1 check', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const ok = ajv.validate(OPENAPI_31_META, doc);
    assert.ok(ok, JSON.stringify(ajv.errors, null, 1));
  });

  it('resolves every $ref locally', () => {
    const all = refs(doc);
    assert.ok(all.length > 50);
    for (const r of new Set(all)) assert.notEqual(pointer(doc, r), undefined, `unresolved ${r}`);
  });

  it('covers every resource with list and item, create (202) only where writes are taken, and the status and openapi endpoints', () => {
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown>; deprecated?: boolean }>>;
    for (const r of ['customers', 'projects', 'contracts', 'resources', 'time-entries', 'invoices', 'revenue-events']) {
      assert.ok(paths[`/api/v1/${r}`].get.responses['200'], r);
      if (r === 'projects' || r === 'time-entries') assert.ok(paths[`/api/v1/${r}`].post.responses['202'], r);
      else assert.equal(paths[`/api/v1/${r}`].post, undefined, `${r} is read-only`);
      assert.ok(paths[`/api/v1/${r}/{id}`].get.responses['200'], r);
    }
    assert.ok(paths['/api/v2/time-entries'].post);
    assert.equal(paths['/api/v1/time-entries'].post.deprecated, true);
    assert.ok(paths['/api/v1/requests/{trackingId}'].get);
    assert.ok(paths['/api/v1/openapi.json'].get);
    const schemes = (doc.components as { securitySchemes: Record<string, { type: string }> }).securitySchemes;
    assert.equal(schemes.apiKey.type, 'apiKey');
    assert.equal(schemes.bearer.type, 'http');
  });

  it('its component schemas accept the canonical fixtures and refuse broken ones', () => {
    const check = openApiValidator(doc);
    const fixtures = path.join(__dirname, '../../fixtures/canonical');
    const names: Record<string, string> = { account: 'Account', project: 'Project', contract: 'Contract', 'resource-assignment': 'ResourceAssignment', 'time-entry': 'TimeEntry', invoice: 'Invoice', 'revenue-event': 'RevenueEvent', expense: 'Expense' };
    for (const [file, comp] of Object.entries(names)) {
      const records = JSON.parse(fs.readFileSync(path.join(fixtures, `${file}.json`), 'utf8')) as unknown[];
      for (const rec of records) assert.deepEqual(check(comp, rec), [], `${file}`);
    }
    assert.notDeepEqual(check('Project', { id: 'x' }), []);
    const te = JSON.parse(fs.readFileSync(path.join(fixtures, 'time-entry.json'), 'utf8'))[0];
    assert.notDeepEqual(check('TimeEntryV2', te), []);
    assert.deepEqual(check('TimeEntryV2', { ...te, workLocation: 'remote' }), []);
  });
});
