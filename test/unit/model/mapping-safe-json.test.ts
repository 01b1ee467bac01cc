import assert from 'node:assert/strict';
import { MappingCompileError, MappingEvaluationError, checkValueSafely, compileMapping, mappingCompileCount, parseJsonSafely, validate } from '../../../lib/model';

describe('canonical model: JSONata mapping', () => {
  const kantata = {
    id: '310045871',
    user_id: '2231',
    workspace_id: '1001',
    date_performed: '2026-11-02',
    time_in_minutes: 450,
    billable: true,
    rate_in_cents: 21000,
    currency: 'USD',
    approved: true,
    updated_at: '2026-11-17T09:12:44Z',
  };
  const expr = `{
    "id": "TE-" & id, "version": 1, "updatedAt": updated_at, "externalIds": { "kantata": id },
    "person": { "id": "CON-" & user_id }, "projectId": "PRJ-" & workspace_id, "date": date_performed,
    "hours": time_in_minutes / 60, "role": "Solution Architect", "billable": billable,
    "rate": billable ? { "amount": rate_in_cents / 100, "currency": currency, "unit": "hour" },
    "status": approved ? "approved" : "submitted", "approvedAt": approved ? updated_at
  }`;

  it('maps a vendor record to a valid canonical record', async () => {
    const m = compileMapping(expr);
    const out = await m.evaluate(kantata);
    assert.deepEqual(validate('timeentry', out), { ok: true });
    assert.equal((out as { hours: number }).hours, 7.5);
  });

  it('returns plain JSON (sequences become arrays)', async () => {
    const out = (await compileMapping('{ "ids": items.id }').evaluate({ items: [{ id: 'a' }, { id: 'b' }] })) as { ids: unknown };
    assert.ok(Array.isArray(out.ids));
    assert.deepEqual(Object.keys(out.ids as object), ['0', '1']);
  });

  it('compiles once and evaluates many times', async () => {
    const before = mappingCompileCount();
    const m = compileMapping(expr);
    for (let i = 0; i < 10; i++) await m.evaluate(kantata);
    assert.equal(mappingCompileCount(), before + 1);
  });

  it('treats an empty expression as the identity mapping', async () => {
    const m = compileMapping('   ');
    assert.equal(m.identity, true);
    const input = { a: 1 };
    assert.equal(await m.evaluate(input), input);
  });

  it('reports a syntax error with line, column, position and token', () => {
    assert.throws(
      () => compileMapping('{\n  "id": id,\n  "hours": (time_in_minutes / 60\n}'),
      (err: unknown) => {
        assert.ok(err instanceof MappingCompileError);
        assert.equal(typeof err.position, 'number');
        assert.match(err.message, /^JSONata syntax error at line 4, column \d+ \(position \d+\)/);
        assert.ok(err.code?.startsWith('S0'));
        return true;
      },
    );
    assert.throws(() => compileMapping('$sum(['), /JSONata syntax error at line 1/);
    assert.throws(() => compileMapping('{"a": }'), /near "}"/);
  });

  it('stops a runaway expression (timeout) and deep recursion with a clear error', async () => {
    const loop = compileMapping('($f := function($n){ $f($n + 1) }; $f(0))', { timeoutMs: 100 });
    await assert.rejects(loop.evaluate({}), (err: unknown) => err instanceof MappingEvaluationError && /took longer than 100 ms/.test(err.message));
    const deep = compileMapping('($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))', { maxDepth: 200, timeoutMs: 5000 });
    await assert.rejects(deep.evaluate({}), (err: unknown) => err instanceof MappingEvaluationError && /deeper than 200/.test(err.message));
  });

  it('reports a runtime error with its position', async () => {
    const m = compileMapping('{ "hours": time_in_minutes / 60 }');
    await assert.rejects(m.evaluate({ time_in_minutes: 'lots' }), /mapping failed at line 1, column \d+ .*must be a number|mapping failed.*T2001/);
  });
});

describe('canonical model: safe JSON input', () => {
  it('parses ordinary JSON', () => {
    const r = parseJsonSafely('{"a":[1,{"b":"c"}]}');
    assert.deepEqual(r, { ok: true, value: { a: [1, { b: 'c' }] }, bytes: 19 });
    assert.equal(parseJsonSafely(Buffer.from('{"x": "ü"}')).ok, true);
  });

  it('reports malformed JSON with line, column and position', () => {
    assert.deepEqual(parseJsonSafely('{\n  "hours": 7.5,\n  "date": \n}'), {
      ok: false,
      errors: [{ path: '', message: 'is not valid JSON: found "}" at line 4, column 1 (position 29), expected a value (object, array, string, number, true, false or null)' }],
    });
    assert.match((parseJsonSafely('{"a": 1') as { errors: Array<{ message: string }> }).errors[0].message, /found the end of the text at line 1, column 8 \(position 7\), expected "," or "}"/);
    assert.match((parseJsonSafely("{'a': 1}") as { errors: Array<{ message: string }> }).errors[0].message, /position 1\), expected a string in double quotes/);
    assert.match((parseJsonSafely('{"a": 1} x') as { errors: Array<{ message: string }> }).errors[0].message, /expected the end of the text/);
    assert.deepEqual(parseJsonSafely(''), { ok: false, errors: [{ path: '', message: 'is empty; expected JSON text' }] });
    assert.deepEqual(parseJsonSafely(42 as unknown as string), { ok: false, errors: [{ path: '', message: 'must be JSON text (got number)' }] });
  });

  it('refuses a 10 MB payload with its size (default limit 1 MB), and honours a configured limit', () => {
    const big = JSON.stringify({ notes: 'x'.repeat(10 * 1024 * 1024) });
    const r = parseJsonSafely(big);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.errors[0].message, /^is too large: 10485772 bytes \(10\.0 MB\); the limit is 1048576 bytes \(1 MB\)$/);
    assert.equal(parseJsonSafely(big, { maxBytes: 20 * 1024 * 1024 }).ok, true);
    assert.equal(parseJsonSafely('{"a":"12345"}', { maxBytes: 10 }).ok, false);
  });

  it('refuses __proto__, constructor and prototype keys with their paths', () => {
    const r = parseJsonSafely('{"id":"TE-1","__proto__":{"isAdmin":true},"lines":[{"a":1},{"constructor":{"prototype":{"x":1}}}]}');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.errors.map((e) => e.path), ['/__proto__', '/lines/1/constructor']);
    assert.match(r.errors[0].message, /forbidden key "__proto__"/);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no pollution');
  });

  it('refuses too-deep nesting (default 64) before parsing, with the position', () => {
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const r = parseJsonSafely(deep);
    assert.deepEqual(r, { ok: false, errors: [{ path: '', message: 'nests deeper than 64 levels of objects/arrays (at line 1, column 65 (position 64))' }] });
    assert.equal(parseJsonSafely('[[["[[[[[[[[[[[[["]]]', { maxDepth: 3 }).ok, true, 'brackets inside strings do not count');
    assert.equal(parseJsonSafely('[[[[1]]]]', { maxDepth: 3 }).ok, false);
  });

  it('checks objects already in memory: forbidden own keys, depth, cycles, size', () => {
    const polluted = JSON.parse('{"a":{"__proto__":{"x":1}}}');
    assert.deepEqual(checkValueSafely(polluted), { ok: false, errors: [{ path: '/a/__proto__', message: 'uses the forbidden key "__proto__" (refused to prevent prototype pollution); rename or remove it' }] });
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100; i++) deep = (deep.n = {}) as Record<string, unknown>;
    const r = checkValueSafely(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.errors[0].message, /nests deeper than 64 levels/);
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    assert.deepEqual(checkValueSafely(cyc), { ok: false, errors: [{ path: '', message: 'contains a circular reference (cannot be serialised as JSON)' }] });
    const shared = { x: 1 };
    assert.equal(checkValueSafely({ a: shared, b: shared }).ok, true, 'a shared object is not a cycle');
    assert.equal(checkValueSafely({ s: 'x'.repeat(2 * 1024 * 1024) }).ok, false);
  });
});
