import assert from 'node:assert/strict';
import { isSecretKey, redact, redactString, REDACTED } from '../../../lib/redaction';

describe('redaction', () => {
  it('replaces values of secret-looking keys at any depth and leaves business fields alone', () => {
    const input = {
      name: 'Acme GmbH',
      idempotencyKey: 'te-1042:v3',
      tokenCount: undefined,
      credentials: { username: 'svc', password: 'hunter2' },
      headers: { Authorization: 'Basic c3ZjOmh1bnRlcjI=', 'X-Api-Key': 'k', Cookie: 'sid=1', 'Set-Cookie': 'a=b', 'content-type': 'application/json' },
      oauth: { client_secret: 's', access_token: 'a', refresh_token: 'r', consumerKey: 'ck', tokenSecret: 'ts' },
      nested: [{ api_key: 'x', apiKey: 'y', private_key: '-----BEGIN', signature: 'sig', sessionId: 's1', pwd: 'p', author: 'Jane' }],
      emptySecret: '',
      nullSecret: null,
      amount: 1200.5,
      billable: true,
    };
    const out = redact(input) as Record<string, unknown>;
    assert.equal(out.name, 'Acme GmbH');
    assert.equal(out.idempotencyKey, 'te-1042:v3');
    assert.equal('tokenCount' in out, false, 'undefined is dropped as JSON does');
    assert.equal(out.credentials, REDACTED);
    assert.deepEqual(out.headers, { Authorization: REDACTED, 'X-Api-Key': REDACTED, Cookie: REDACTED, 'Set-Cookie': REDACTED, 'content-type': 'application/json' });
    assert.deepEqual(out.oauth, { client_secret: REDACTED, access_token: REDACTED, refresh_token: REDACTED, consumerKey: REDACTED, tokenSecret: REDACTED });
    assert.deepEqual(out.nested, [{ api_key: REDACTED, apiKey: REDACTED, private_key: REDACTED, signature: REDACTED, sessionId: REDACTED, pwd: REDACTED, author: 'Jane' }]);
    assert.equal(out.emptySecret, '', 'nothing to hide in an empty value');
    assert.equal(out.nullSecret, null);
    assert.equal(out.amount, 1200.5);
    assert.equal(out.billable, true);
    assert.equal(input.credentials.password, 'hunter2', 'the input is not modified');
  });

  it('masks credentials inside string values', () => {
    const out = redact({
      note: 'called with Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc and Basic dXNlcjpwYXNz',
      url: 'https://svc:hunter2@erp.example.com/api?client_id=1&access_token=abc123&page=2',
      body: 'grant_type=client_credentials&client_secret=s3cr3t&scope=x',
      jwt: 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl',
    }) as Record<string, string>;
    assert.equal(out.note, 'called with Bearer [redacted] and Basic [redacted]');
    assert.equal(out.url, 'https://svc:[redacted]@erp.example.com/api?client_id=1&access_token=[redacted]&page=2');
    assert.equal(out.body, 'grant_type=client_credentials&client_secret=[redacted]&scope=x');
    assert.equal(out.jwt, REDACTED);
  });

  it('is safe against __proto__ and constructor keys: copies them as data, pollutes nothing', () => {
    const hostile = JSON.parse('{"__proto__": {"isAdmin": true, "password": "x"}, "constructor": {"prototype": {"polluted": 1}}, "a": 1}');
    const out = redact(hostile) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal((out as { isAdmin?: boolean }).isAdmin, undefined);
    assert.equal(({} as { isAdmin?: boolean; polluted?: number }).isAdmin, undefined);
    assert.equal(JSON.stringify(out), '{"__proto__":{"isAdmin":true,"password":"[redacted]"},"constructor":{"prototype":{"polluted":1}},"a":1}');
  });

  it('survives cycles, deep nesting and values JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, 1];
    assert.deepEqual(redact(cyclic), { name: 'loop', self: '[circular]', list: ['[circular]', 1] });
    const shared = { v: 1 };
    assert.deepEqual(redact({ a: shared, b: shared }), { a: { v: 1 }, b: { v: 1 } }, 'a shared object is not a cycle');
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const text = JSON.stringify(redact(deep));
    assert.match(text, /nested too deeply/);
    assert.deepEqual(redact({
      when: new Date('2026-12-01T00:00:00Z'), big: 10n, buf: Buffer.from('abc'), fn: () => 1, nan: NaN, arr: [undefined, () => 1],
      err: new Error('password=x'), map: new Map([['token', 'x'], ['k', 'v']]), set: new Set([1, 2]),
    }), {
      when: '2026-12-01T00:00:00.000Z', big: '10', buf: '[binary 3 bytes]', nan: null, arr: [null, null],
      err: { name: 'Error', message: 'password=[redacted]' }, map: { token: REDACTED, k: 'v' }, set: [1, 2],
    });
    assert.equal(redact(undefined), null);
    assert.equal(redact('Bearer abc'), 'Bearer [redacted]');
  });

  it('redactString masks key=value, key: value and JSON secrets in log lines', () => {
    assert.equal(redactString('login failed for svc password=hunter2 retry=3'), 'login failed for svc password=[redacted] retry=3');
    assert.equal(redactString('sent {"client_secret":"abc\\"def","id":7}'), 'sent {"client_secret":"[redacted]","id":7}');
    assert.equal(redactString('Authorization: Bearer abc.def'), 'Authorization: Bearer [redacted]');
    assert.equal(redactString('headers x-api-key: 12345, accept: json'), 'headers x-api-key: [redacted], accept: json');
    assert.equal(redactString('mqtt://fabric:pa55@broker:1883'), 'mqtt://fabric:[redacted]@broker:1883');
    assert.equal(redactString('invoice INV-7 posted for 1,200.00 EUR'), 'invoice INV-7 posted for 1,200.00 EUR');
  });

  it('recognises secret key names', () => {
    for (const key of ['password', 'PASSWORD', 'db_password', 'clientSecret', 'x-api-key', 'apikey', 'refresh-token', 'privateKey', 'private key', 'webhookSignature', 'credential', 'Proxy-Authorization']) {
      assert.ok(isSecretKey(key), key);
    }
    for (const key of ['author', 'authority', 'idempotencyKey', 'key', 'passenger', 'customerId', 'description']) {
      assert.ok(!isSecretKey(key), key);
    }
  });

  it('stays linear on hostile input (long runs of name or scheme characters)', () => {
    const n = 60_000;
    for (const text of ['x'.repeat(n), 'a.'.repeat(n / 2), 'a-'.repeat(n / 2), 'password'.repeat(n / 8), '"password'.repeat(n / 9), 'a:b@'.repeat(n / 4), 'http://a'.repeat(n / 8)]) {
      const started = Date.now();
      redactString(text);
      redact({ text });
      assert.ok(Date.now() - started < 1500, `${text.slice(0, 12)}... took ${Date.now() - started} ms`);
    }
    // still masked after bounding the patterns
    assert.equal(redactString('amqp://svc:hunter2@mq.example/vhost'), `amqp://svc:${REDACTED}@mq.example/vhost`);
    assert.match(redactString('client_secret=abc123&x=1'), new RegExp(`client_secret=\\${REDACTED.slice(0, 1)}`));
  });
});
