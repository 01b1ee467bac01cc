/**
 * Comments and messages that send a reader to a document name one the repository has: every `docs/<page>.md` and
 * every top-level `<NAME>.md` mentioned in the sources exists (a comment pointing to a missing file is worse than none).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const DIRS = ['lib', 'nodes', 'runtime', 'sandbox', 'templates', 'test', 'bench', 'scripts'];

function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|js|html|vue)$/.test(e.name) ? [p] : [];
  });
}

describe('hygiene: references to documents', () => {
  it('every docs/*.md and top-level *.md the sources mention exists', () => {
    const missing: string[] = [];
    for (const file of DIRS.flatMap((d) => sources(path.join(ROOT, d)))) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?<![\w/.-])((?:docs\/[\w./-]+)|(?:[A-Z][A-Z_-]+))\.md\b/g)) {
        const ref = `${m[1]}.md`;
        if (!fs.existsSync(path.join(ROOT, ref))) missing.push(`${path.relative(ROOT, file)}: ${ref}`);
      }
    }
    assert.deepEqual([...new Set(missing)], [], `documents named but not in the repository:\n${missing.join('\n')}`);
  });
});
