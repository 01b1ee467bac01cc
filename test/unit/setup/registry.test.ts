/**
 * The setup check registry (lib/setup): a check that throws is a failed result naming why, never an exception out;
 * concurrent runs of one connection share one call; a redeployed (deregistered) connection's result is dropped;
 * the dashboard rows are keyed by connection name; and `ok` cannot be true next to an error.
 */
import assert from 'node:assert/strict';
import { SetupChecks } from '../../../lib/setup/registry';
import { SetupReport } from '../../../lib/setup/report';
import type { VendorCheckResult } from '../../../lib/setup/types';

const clean: VendorCheckResult = { vendor: 'salesforce', ok: true, checks: [{ check: 'auth', ok: true }], problems: [] };

describe('setup check registry', () => {
  it('a check that throws becomes a failed result that says why and what to do', async () => {
    const checks = new SetupChecks();
    checks.register({ connection: 'c1', name: 'SF', vendor: 'salesforce', connectionName: 'salesforce:SF', run: () => Promise.reject(new Error('getaddrinfo ENOTFOUND example.my.salesforce.com')) });
    const r = (await checks.run('c1'))!;
    assert.equal(r.ok, false);
    assert.equal(r.connection, 'c1');
    assert.equal(r.problems[0].severity, 'error');
    assert.match(r.problems[0].what, /could not run: getaddrinfo ENOTFOUND/);
    assert.match(r.problems[0].fix, /reachable/);
    assert.deepEqual(checks.summaries().map((s) => [s.connection, s.ok, s.errors]), [['salesforce:SF', false, 1]]);
  });

  it('runs of one connection in progress are joined; unknown ids are undefined', async () => {
    const checks = new SetupChecks();
    let calls = 0;
    let finish: (r: VendorCheckResult) => void = () => undefined;
    checks.register({ connection: 'c1', name: 'SF', vendor: 'salesforce', connectionName: 'salesforce:SF', run: () => ((calls += 1), new Promise<VendorCheckResult>((resolve) => (finish = resolve))) });
    const a = checks.run('c1');
    const b = checks.run('c1');
    assert.equal(a, b);
    finish(clean);
    assert.equal((await a)!.ok, true);
    assert.equal(calls, 1);
    assert.equal(checks.run('nope'), undefined);
  });

  it('a result that arrives after the connection was deregistered is not kept', async () => {
    const checks = new SetupChecks();
    let finish: (r: VendorCheckResult) => void = () => undefined;
    const off = checks.register({ connection: 'c1', name: 'SF', vendor: 'salesforce', connectionName: 'salesforce:SF', run: () => new Promise<VendorCheckResult>((resolve) => (finish = resolve)) });
    const p = checks.run('c1')!;
    off();
    finish(clean);
    await p;
    assert.deepEqual(checks.results(), []);
    assert.equal(checks.has('c1'), false);
  });

  it('a report is not ok when a step found an error, and warnings keep it ok', () => {
    const report = new SetupReport('jira');
    report.step('auth');
    report.step('fields');
    report.problem({ check: 'fields', what: 'x', fix: 'y', severity: 'warning' });
    assert.equal(report.result().ok, true);
    report.problem({ check: 'auth', what: 'refused', fix: 'token', severity: 'error' });
    const r = report.result();
    assert.equal(r.ok, false);
    assert.deepEqual(r.checks.map((c) => [c.check, c.ok]), [['auth', false], ['fields', true]]);
  });
});
