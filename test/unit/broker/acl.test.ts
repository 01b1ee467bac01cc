import assert from 'node:assert/strict';
import { filterCovered, topicMatches, maySubscribe, mayPublish, parseAuthConfig, stripShare, FrameScanner, PacketTooLargeError } from '../../../lib/broker';

describe('broker ACL matching', () => {
  it('matches topics against filters', () => {
    assert.equal(topicMatches('fabric/v1/+/approved', 'fabric/v1/timeentry/approved'), true);
    assert.equal(topicMatches('fabric/v1/#', 'fabric/v1'), true);
    assert.equal(topicMatches('fabric/v1/+', 'fabric/v1/a/b'), false);
    assert.equal(topicMatches('#', '$SYS/x'), false);
  });
  it('checks that a subscription filter is covered by a pattern', () => {
    assert.equal(filterCovered('fabric/v1/#', 'fabric/v1/+/approved'), true);
    assert.equal(filterCovered('fabric/v1/+/approved', 'fabric/v1/#'), false);
    assert.equal(filterCovered('fabric/v1/invoice/+', 'fabric/v1/invoice/posted'), true);
    assert.equal(filterCovered('fabric/v1/invoice/posted', 'fabric/v1/invoice/+'), false);
    assert.equal(stripShare('$share/g1/fabric/v1/#'), 'fabric/v1/#');
  });
  it('substitutes %u and %c and strips $share', () => {
    const rights = { publish: ['devices/%c/out'], subscribe: ['users/%u/#'] };
    assert.equal(mayPublish(rights, 'devices/dev-1/out', 'u', 'dev-1'), true);
    assert.equal(mayPublish(rights, 'devices/dev-2/out', 'u', 'dev-1'), false);
    assert.equal(maySubscribe(rights, '$share/g/users/u/in', 'u', 'c'), true);
    assert.equal(maySubscribe(rights, 'users/other/in', 'u', 'c'), false);
  });
  it('rejects malformed configuration with a clear message', () => {
    assert.throws(() => parseAuthConfig('{', 'x.json'), /x\.json: not valid JSON/);
    assert.throws(() => parseAuthConfig('{"users":[{"username":"a"}]}', 'x.json'), /needs "password" or "passwordHash"/);
    assert.throws(() => parseAuthConfig('{"users":[{"username":"a","password":"p","publish":["a/#/b"]}]}', 'x.json'), /topic filters/);
    const ok = parseAuthConfig('{"users":[{"username":"a","password":"p","publish":["a/#"]}]}', 'x.json');
    assert.deepEqual(ok.users[0].publish, ['a/#']);
  });
});

describe('MQTT frame scanner', () => {
  it('follows packet boundaries across chunks', () => {
    const s = new FrameScanner(10);
    // two packets of 2 + 3 bytes and 2 + 0, split awkwardly
    s.scan(Buffer.from([0x30, 0x03, 0x01]));
    s.scan(Buffer.from([0x02, 0x03, 0xc0]));
    s.scan(Buffer.from([0x00, 0x30, 0x08]));
    s.scan(Buffer.alloc(8));
    assert.throws(() => s.scan(Buffer.from([0x30, 0x09])), PacketTooLargeError);
  });
  it('decodes multi-byte remaining lengths', () => {
    const s = new FrameScanner(200);
    assert.throws(() => s.scan(Buffer.from([0x30, 0xc8, 0x01])), /exceeds the broker limit of 200/); // 200 + 3
  });
});
