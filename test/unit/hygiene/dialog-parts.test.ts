/**
 * Dialog parts several nodes share (nodes/dialog/*.html) are written once and filled into each node's dialog by the
 * build: every marker in a source dialog becomes the part's rows, with the node's own catalog keys, in the dialog
 * Node-RED loads (dist/nodes/<type>/<type>.html).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const MARKER = /<!-- psf:dialog ([a-z-]+) -->/g;

describe('hygiene: shared dialog parts', () => {
  const types = fs.readdirSync(path.join(ROOT, 'nodes')).filter((t) => fs.existsSync(path.join(ROOT, 'nodes', t, `${t}.html`)));

  it('every connection config dialog takes its rate, concurrency and attempts rows from the one part', () => {
    const users = types.filter((t) => fs.readFileSync(path.join(ROOT, 'nodes', t, `${t}.html`), 'utf8').includes('<!-- psf:dialog connection-limits -->'));
    assert.deepEqual(users.sort(), types.filter((t) => /-config$/.test(t) && t !== 'ownership-config').sort());
  });

  const withParts = types.map((type) => ({ type, parts: [...fs.readFileSync(path.join(ROOT, 'nodes', type, `${type}.html`), 'utf8').matchAll(MARKER)].map((m) => m[1]) })).filter((t) => t.parts.length);
  for (const { type, parts } of withParts) {
    it(`${type}: the built dialog has every part it names, with its own keys, and no marker left`, () => {
      const built = fs.readFileSync(path.join(ROOT, 'dist', 'nodes', type, `${type}.html`), 'utf8');
      assert.doesNotMatch(built, MARKER);
      assert.doesNotMatch(built, /__type__/);
      for (const part of parts) {
        const rows = fs.readFileSync(path.join(ROOT, 'nodes', 'dialog', `${part}.html`), 'utf8').replace(/__type__/g, type);
        assert.ok(built.includes(rows), `${type}.html lacks the rows of nodes/dialog/${part}.html`);
      }
    });
  }
});
