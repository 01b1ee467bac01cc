import assert from 'node:assert/strict';
import { FIRST_VERSION, migrate, operationFromMsg, type Migration } from '../../../nodes/migrations';
import { limitsFrom, positiveSetting } from '../../../nodes/settings';

describe('nodes: dialog numbers (one rule)', () => {
  it('a positive number (or its text) is used; empty, not a number, zero and negatives fall back to the default', () => {
    assert.equal(positiveSetting(3, 7), 3);
    assert.equal(positiveSetting('2.5', 7), 2.5);
    for (const v of [undefined, null, '', 'abc', Number.NaN, Infinity, 0, '0', -1, '-4']) assert.equal(positiveSetting(v, 7), 7, String(v));
  });

  it('connection limits follow the same rule over the connector defaults', () => {
    const defaults = { ratePerSecond: 5, concurrency: 2, maxAttempts: 8 };
    assert.deepEqual(limitsFrom({ ratePerSecond: '10', concurrency: 0, maxAttempts: '' }, defaults), { ratePerSecond: 10, concurrency: 2, maxAttempts: 8 });
  });
});

describe('nodes: config migrations', () => {
  const renameTopic: Migration = { version: 2, up: (c) => ({ ...c, topic: c.subject, subject: undefined }) };

  it('runs the migrations above the config version, oldest first, and stamps the last version', () => {
    const config: Record<string, unknown> = { id: 'n1', operation: '', subject: 'a/b' };
    const out = migrate(config, [operationFromMsg(), renameTopic]);
    assert.equal(out.version, 2);
    assert.equal(out.operation, 'msg');
    assert.equal(out.topic, 'a/b');
  });

  it('leaves a current config as it is, and an explicit operation of an old one', () => {
    const current: Record<string, unknown> = { id: 'n1', version: 1, operation: '' };
    assert.deepEqual(migrate(current, [operationFromMsg()]), { id: 'n1', version: 1, operation: '' });
    const explicit: Record<string, unknown> = { id: 'n1', operation: 'get' };
    assert.equal(migrate(explicit, [operationFromMsg()]).operation, 'get');
    const plain: Record<string, unknown> = { id: 'n1' };
    assert.equal(migrate(plain, [FIRST_VERSION]).version, 1);
  });

  it('migrates in place, keeping the properties Node-RED does not enumerate (the node needs them)', () => {
    const config: Record<string, unknown> = { id: 'n1' };
    Object.defineProperty(config, '_flow', { value: 'the flow', enumerable: false });
    const out = migrate(config, [operationFromMsg()]);
    assert.equal(out, config);
    assert.equal((out as { _flow?: string })._flow, 'the flow');
    assert.equal(out.operation, 'msg');
  });
});
