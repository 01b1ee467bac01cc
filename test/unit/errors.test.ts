import assert from 'node:assert/strict';
import { classify, parseRetryAfter, TransientError, PermanentError } from '../../lib/delivery/errors';

describe('error classification', () => {
  it('treats 5xx, 408 and 429 as transient and keeps Retry-After', () => {
    for (const status of [500, 503, 408, 429]) {
      const err = classify({ isAxiosError: true, message: 'x', response: { status, data: { message: 'busy' }, headers: { 'retry-after': '7' } } });
      assert.ok(err instanceof TransientError, `status ${status}`);
      assert.equal(err.retryAfterMs, 7000);
    }
  });
  it('treats other 4xx as permanent with a class a person can act on', () => {
    const err = classify({ response: { status: 400, data: [{ message: 'Required fields are missing: [Name]', errorCode: 'REQUIRED_FIELD_MISSING' }], headers: {} } });
    assert.ok(err instanceof PermanentError);
    assert.equal(err.errorClass, 'validation');
    assert.match(err.message, /REQUIRED_FIELD_MISSING: Required fields are missing: \[Name\]/);
    assert.equal(classify({ response: { status: 401, headers: {} } }).errorClass, 'auth');
    assert.equal(classify({ response: { status: 404, headers: {} } }).errorClass, 'not-found');
  });
  it('treats network failures as transient', () => {
    assert.equal(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).retry, 'transient');
  });
  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-25T10:00:00Z');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 10:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });
});

describe('vendor error bodies', () => {
  it("reads Kantata's errors list", () => {
    const err = classify({ response: { status: 422, data: { errors: [{ type: 'validation', message: 'hours must be positive' }] }, headers: {} } });
    assert.match(err.message, /HTTP 422: validation: hours must be positive/);
  });
});
