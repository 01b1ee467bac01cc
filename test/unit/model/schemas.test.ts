import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CanonicalModel, ENTITIES, ENTITY_NAMES, getCanonicalModel, modelCompileCount, normalizeEntity, schemaIdFor, summarizeErrors, validate } from '../../../lib/model';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'canonical');

type Json = unknown;
interface Variant {
  entity: string;
  base: number;
  why: string;
  set?: Record<string, Json>;
  remove?: string[];
  expect: Array<{ path: string; message?: string }>;
}

function load(file: string): Record<string, unknown>[] {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${file}.json`), 'utf8'));
}

function unescape(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function patch(doc: Record<string, unknown>, v: Variant): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(doc));
  const walk = (pointer: string): [Record<string, unknown>, string] => {
    const segs = pointer.split('/').slice(1).map(unescape);
    let cur: Record<string, unknown> = copy;
    for (const s of segs.slice(0, -1)) cur = cur[s] as Record<string, unknown>;
    return [cur, segs[segs.length - 1]];
  };
  for (const [p, value] of Object.entries(v.set ?? {})) {
    const [parent, key] = walk(p);
    parent[key] = value;
  }
  for (const p of v.remove ?? []) {
    const [parent, key] = walk(p);
    assert.ok(key in parent, `fixture has ${p}`);
    delete parent[key];
  }
  return copy;
}

describe('canonical model: schemas', () => {
  it('has a v1 schema with a stable $id for each of the nine entities', () => {
    const model = getCanonicalModel();
    assert.equal(ENTITY_NAMES.length, 9);
    for (const name of ENTITY_NAMES) {
      assert.equal(model.schemaId(name), `https://schemas.psfabric.dev/v1/${ENTITIES[name].file}.json`);
      assert.equal(schemaIdFor(name), model.schemaId(name));
      assert.ok(model.versions(name).includes(1));
      assert.equal(model.schema(model.schemaId(name)).$schema, 'https://json-schema.org/draft/2020-12/schema');
    }
  });

  it('accepts every spelling of an entity and refuses unknown ones with the list', () => {
    assert.equal(normalizeEntity('TimeEntry'), 'timeentry');
    assert.equal(normalizeEntity('time-entry'), 'timeentry');
    assert.equal(normalizeEntity('revenue_event'), 'revenueevent');
    assert.equal(normalizeEntity('timesheet'), undefined);
    assert.throws(() => validate('timesheet', {}), /unknown canonical entity "timesheet"; expected one of: account, opportunity/);
  });

  it('compiles the schemas once per process', () => {
    getCanonicalModel();
    const before = modelCompileCount();
    for (let i = 0; i < 20; i++) {
      validate('account', {});
      validate('invoice', {});
    }
    assert.equal(getCanonicalModel(), getCanonicalModel(), 'one shared model');
    assert.equal(modelCompileCount(), before);
  });

  for (const name of ENTITY_NAMES) {
    const file = ENTITIES[name].file;
    it(`every ${ENTITIES[name].title} fixture is valid`, () => {
      const records = load(file);
      assert.ok(records.length >= 3, `${file}.json has at least 3 records`);
      for (const [i, rec] of records.entries()) {
        const res = validate(name, rec);
        assert.deepEqual(res, { ok: true }, `${file}[${i}] ${res.ok ? '' : summarizeErrors(res.errors)}`);
      }
    });
  }

  it('fixtures cover the US, UK and DE entities in USD, GBP and EUR', () => {
    const projects = load('project');
    assert.deepEqual(new Set(projects.map((p) => p.billingEntity)), new Set(['NWA-US', 'NWA-UK', 'NWA-DE']));
    assert.deepEqual(new Set(projects.map((p) => p.currency)), new Set(['USD', 'GBP', 'EUR']));
    assert.ok(projects.some((p) => p.billingType === 'fixed-fee') && projects.some((p) => p.billingType === 'time-and-materials'));
  });

  it('invoice lines trace back to fixture time entries and expenses', () => {
    const te = new Set(load('time-entry').map((t) => t.id));
    const ex = new Set(load('expense').map((e) => e.id));
    const inv = load('invoice')[0] as { lines: Array<{ sourceRefs: Array<{ type: string; id: string }> }> };
    const refs = inv.lines.flatMap((l) => l.sourceRefs);
    assert.ok(refs.some((r) => r.type === 'timeentry' && te.has(r.id)));
    assert.ok(refs.some((r) => r.type === 'expense' && ex.has(r.id)));
  });

  const variants = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'invalid-variants.json'), 'utf8')) as Variant[];
  for (const v of variants) {
    it(`rejects ${v.entity}: ${v.why} -> ${v.expect.map((e) => e.path).join(', ')}`, () => {
      const doc = patch(load(v.entity)[v.base], v);
      const res = validate(v.entity, doc);
      assert.equal(res.ok, false, 'invalid');
      if (res.ok) return;
      assert.deepEqual(
        res.errors.map((e) => e.path).sort(),
        v.expect.map((e) => e.path).sort(),
        `exact error paths; got ${JSON.stringify(res.errors)}`,
      );
      for (const e of v.expect) {
        if (!e.message) continue;
        assert.equal(res.errors.find((x) => x.path === e.path)?.message, e.message);
      }
      for (const e of res.errors) assert.ok(e.message.length > 8 && !/^must match "then"/.test(e.message), 'readable message');
    });
  }

  it('reports the path /lines/3/hours style for nested arrays and a wrong root type', () => {
    const inv = load('invoice')[0] as { lines: Array<Record<string, unknown>> };
    inv.lines[2].quantity = -3;
    const res = validate('invoice', inv);
    assert.deepEqual(res, { ok: false, errors: [{ path: '/lines/2/quantity', message: 'must be >= 0 (got -3)' }] });
    assert.deepEqual(validate('timeentry', [1, 2]), { ok: false, errors: [{ path: '', message: 'must be an object (got array)' }] });
    assert.deepEqual(validate('timeentry', 'x'), { ok: false, errors: [{ path: '', message: 'must be an object (got string "x")' }] });
  });

  it('lists every missing required field of an empty record', () => {
    const res = validate('timeentry', {});
    assert.equal(res.ok, false);
    if (res.ok) return;
    assert.deepEqual(res.errors.map((e) => e.path).sort(), ['/billable', '/date', '/hours', '/id', '/person', '/projectId', '/role', '/status', '/version']);
  });

  it('caps the error list and says how many more there were', () => {
    const te = load('time-entry')[0];
    const junk: Record<string, number> = {};
    for (let i = 0; i < 80; i++) junk[`x${i}`] = i;
    const res = validate('timeentry', { ...te, ...junk }, { maxErrors: 10 });
    assert.equal(res.ok, false);
    if (res.ok) return;
    assert.equal(res.errors.length, 11);
    assert.equal(res.errors[10].message, '... and 70 more errors');
  });

  it('summarises errors in one line for logs', () => {
    assert.equal(
      summarizeErrors([
        { path: '/hours', message: 'must be >= 0 (got -1)' },
        { path: '', message: 'x' },
      ]),
      '2 problems: /hours: must be >= 0 (got -1); (record): x',
    );
  });

  it('keeps later versions beside v1 (v2 files are picked up by $id)', () => {
    const model = new CanonicalModel();
    for (const name of ENTITY_NAMES) {
      for (const v of model.versions(name)) assert.match(model.schemaId(name, v), new RegExp(`/v${v}/${ENTITIES[name].file}\\.json$`));
    }
    assert.throws(() => model.schemaId('invoice', 9), /no schema v9 for Invoice; versions: 1/);
  });
});
