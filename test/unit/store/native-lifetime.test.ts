import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

// Node.js 24 + better-sqlite3 12: freeing a native Statement/Database in a GC aborted the process
// ("Assertion failed: (env) != nullptr" in node::RemoveEnvironmentCleanupHook); lib/store/sqlite-store.ts keeps them
// alive until exit. The churn runs in a child process so that an abort fails this test instead of killing mocha.
describe('better-sqlite3 native objects and the garbage collector', () => {
  it('survives GCs after stores were closed and statements dropped, and exits cleanly', function () {
    this.timeout(60_000);
    const child = spawnSync(process.execPath, [path.join(__dirname, 'gc-churn.js')], { encoding: 'utf8', timeout: 50_000 });
    const output = `${child.stdout}${child.stderr}`.slice(-2000);
    assert.equal(child.signal, null, `killed by ${child.signal}: ${output}`);
    assert.equal(child.status, 0, output);
    assert.match(child.stdout, /^done/);
  });
});
