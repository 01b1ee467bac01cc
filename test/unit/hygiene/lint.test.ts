/**
 * ESLint (typescript-eslint, eslint.config.mjs) over every TypeScript source: a lint error fails `npm test`, and each
 * problem is listed with file, line and rule so it can be fixed without running ESLint by hand.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

describe('hygiene: ESLint', function () {
  it('reports no problem in lib, nodes, runtime, sandbox, bench and test', async function () {
    this.timeout(240000);
    const eslint = new ESLint({ cwd: ROOT });
    const results = await eslint.lintFiles(['lib', 'nodes', 'runtime', 'sandbox', 'bench', 'test', 'settings.ts']);
    const linted = results.length;
    assert.ok(linted > 200, `ESLint linted only ${linted} files: is eslint.config.mjs ignoring the sources?`);
    const problems = results.flatMap((r) => r.messages.map((m) => `${path.relative(ROOT, r.filePath)}:${m.line}:${m.column} ${m.ruleId ?? 'eslint'}: ${m.message}`));
    assert.deepEqual(problems, [], `ESLint problems (run \`npx eslint .\`):\n${problems.join('\n')}`);
  });
});
