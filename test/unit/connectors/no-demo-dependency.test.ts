/**
 * Product code works for any firm: nothing in lib/ or nodes/ imports the sandboxes (their seed is the demo firm), and
 * the package does not ship them. Read from the sources, so a new import fails here before it reaches a tenant.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js)$/.test(entry.name)) out.push(p);
  }
  return out;
}

describe('product code does not depend on the demo firm', () => {
  it('no module under lib/ or nodes/ imports sandbox/', () => {
    const offenders: string[] = [];
    for (const file of [...sources(path.join(ROOT, 'lib')), ...sources(path.join(ROOT, 'nodes'))]) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)['"]([^'"]+)['"]/g)) {
        const target = path.resolve(path.dirname(file), m[1]);
        if (m[1].startsWith('.') && path.relative(ROOT, target).split(path.sep)[0] === 'sandbox') offenders.push(`${path.relative(ROOT, file)} -> ${m[1]}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('the package ships no sandbox code or seed', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.deepEqual(pkg.files.filter((f) => /sandbox/.test(f)), []);
  });
});
