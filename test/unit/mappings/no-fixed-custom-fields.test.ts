/**
 * Custom field ids are a tenant's, so product code names none outside the documented defaults of the mapping settings:
 * no NetSuite `custentity_` / `custcol_` script id except the defaults in lib/connectors/netsuite/mapping.ts, and no
 * Kantata `custom_field_id` literal anywhere. Read from the sources, so a new constant fails here before it reaches a tenant.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');
const DEFAULTS = path.join('lib', 'connectors', 'netsuite', 'mapping.ts');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : /\.ts$/.test(e.name) ? [path.join(dir, e.name)] : []));
}

describe('product code names no tenant custom field ids', () => {
  it('NetSuite script ids only as the mapping defaults; Kantata custom field ids nowhere', () => {
    const offenders: string[] = [];
    for (const file of [...sources(path.join(ROOT, 'lib')), ...sources(path.join(ROOT, 'nodes'))]) {
      const rel = path.relative(ROOT, file);
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/\bcust(entity|col|body)_\w+/.test(line) && rel !== DEFAULTS && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`${rel}:${i + 1} ${line.trim().slice(0, 100)}`);
        if (/custom_field_id['"]?\s*:\s*['"]?\d+/.test(line)) offenders.push(`${rel}:${i + 1} ${line.trim().slice(0, 100)}`);
      });
    }
    assert.deepEqual(offenders, []);
    assert.match(fs.readFileSync(path.join(ROOT, DEFAULTS), 'utf8'), /DEFAULT_NETSUITE_CUSTOM_FIELDS/);
  });
});
