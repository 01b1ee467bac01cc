/**
 * The builders in templates/ are the only source of flows/*.json: `npm run build` writes the files, and this test fails
 * when what is committed (the git index: staged counts) differs from what the builders produce, so a hand edit of a
 * flow file or a builder change without its regenerated file is caught. Fix: `npm run build`, then `git add flows/`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { renderTemplates, TEMPLATE_BUILDERS } from '../../../templates';
import { Tab } from '../../../templates/kit';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

describe('templates: flows/*.json come from the builders', () => {
  const rendered = renderTemplates();

  it('every committed flow file is what its builder writes, byte for byte', function () {
    let tracked: string[];
    try {
      tracked = git('ls-files', '--', 'flows').split('\n').filter(Boolean);
    } catch {
      this.skip(); // not a git checkout (an unpacked package): there is no committed copy to compare
      return;
    }
    const flowFiles = tracked.filter((f) => /^flows\/[^/]+\.json$/.test(f)).map((f) => f.slice('flows/'.length));
    assert.deepEqual([...flowFiles].sort(), Object.keys(TEMPLATE_BUILDERS).sort(), 'flows/*.json in git = the files templates/index.ts builds');
    const stale = flowFiles.filter((f) => git('show', `:flows/${f}`) !== rendered.get(f));
    assert.deepEqual(stale, [], `committed flows differ from the builders' output: run npm run build and git add flows/ (or move an editor export into the builder: docs/templates.md)`);
  });

  it('flows/ holds the flow files only (no second generator beside the builders)', () => {
    const other = fs.readdirSync(path.join(ROOT, 'flows')).filter((f) => !f.endsWith('.json'));
    assert.deepEqual(other, []);
  });

  it('the files on disk are the builders\' output (what npm start deploys)', () => {
    for (const [file, text] of rendered) assert.equal(fs.readFileSync(path.join(ROOT, 'flows', file), 'utf8'), text, `flows/${file}`);
  });
});

describe('templates: builders are typed by the nodes\' config interfaces', () => {
  it('a setting a node does not read, or of the wrong type, does not compile (checked by tsc through @ts-expect-error)', () => {
    const t = new Tab('psf-tab-type-probe', { label: 'probe', disabled: false, info: '' });
    const g = t.group('probe-g', { name: 'probe', style: {}, x: 0, y: 0, w: 100, h: 100 });
    // @ts-expect-error process-step has no setting `stepName`
    g.node('process-step', 'probe-1', [50, 50], { name: 'probe', step: 'kpi', stepName: 'kpi' }, [[]]);
    // @ts-expect-error fabric-exception's replay is a boolean
    g.node('fabric-exception', 'probe-2', [50, 90], { name: 'probe', replay: 'yes' }, [[], []]);
    assert.equal(t.build().length, 4);
  });
});
