import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  defaultIdempotencyKey,
  eventType,
  isValidTopic,
  parseEventType,
  parseTopic,
  subscriptionFor,
  toEnvelope,
  topicFor,
  validateEnvelope,
} from '../../../lib/model';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'canonical');
const timeEntry = (): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'time-entry.json'), 'utf8'))[0];

describe('canonical model: CloudEvents envelope', () => {
  it('wraps a record with all CloudEvents 1.0 attributes and the PS Fabric extensions', () => {
    const data = timeEntry();
    const env = toEnvelope({ entity: 'TimeEntry', event: 'approved', source: '/psfabric/flows/time-to-cash', data, correlationid: 'corr-1' });
    assert.equal(env.specversion, '1.0');
    assert.match(env.id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(env.type, 'com.psfabric.timeentry.approved.v1');
    assert.equal(env.source, '/psfabric/flows/time-to-cash');
    assert.equal(env.subject, 'TE-00001');
    assert.ok(!Number.isNaN(Date.parse(env.time)) && env.time.endsWith('Z'));
    assert.equal(env.datacontenttype, 'application/json');
    assert.equal(env.dataschema, 'https://schemas.psfabric.dev/v1/time-entry.json');
    assert.equal(env.correlationid, 'corr-1');
    assert.equal(env.idempotencykey, 'timeentry:TE-00001:v2');
    assert.deepEqual(env.data, data);
    assert.deepEqual(validateEnvelope(env), { ok: true });
  });

  it('creates a new correlation id when none is given; the event id is the same for the same effect, distinct otherwise', () => {
    const a = toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/x', data: timeEntry() });
    const b = toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/x', data: timeEntry() });
    assert.notEqual(a.correlationid, b.correlationid);
    assert.equal(a.idempotencykey, b.idempotencykey, 'same record state, same key');
    assert.equal(a.id, b.id, 'published again (a replay, a restart): the same event, so subscribers\' inboxes drop the repeat');
    const other = [
      toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/x', data: { ...timeEntry(), version: 3 } }),
      toEnvelope({ type: 'com.psfabric.timeentry.updated.v1', source: '/x', data: timeEntry() }),
      toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/y', data: timeEntry() }),
      toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/x', data: timeEntry(), idempotencykey: 'te-1:approved' }),
    ];
    assert.equal(new Set([a.id, ...other.map((e) => e.id)]).size, 5, 'another version, type, source or key: another event');
    assert.equal(toEnvelope({ type: 'com.psfabric.timeentry.approved.v1', source: '/x', data: timeEntry(), id: 'given' }).id, 'given');
  });

  it('derives the idempotency key from id + version, else updatedAt, else a content hash', () => {
    assert.equal(defaultIdempotencyKey('invoice', { id: 'INV-1', version: 3 }), 'invoice:INV-1:v3');
    assert.equal(defaultIdempotencyKey('invoice', { id: 'INV-1', updatedAt: '2026-11-30T18:00:00Z' }), 'invoice:INV-1:2026-11-30T18:00:00Z');
    const k1 = defaultIdempotencyKey('expense', { b: 1, a: 2 });
    assert.match(k1, /^expense:sha256:[0-9a-f]{64}$/);
    assert.equal(k1, defaultIdempotencyKey('expense', { a: 2, b: 1 }), 'key order does not matter');
  });

  it('validates the data against its dataschema with /data paths', () => {
    const env = toEnvelope({ entity: 'timeentry', event: 'approved', source: '/x', data: { ...timeEntry(), hours: -2 } });
    assert.deepEqual(validateEnvelope(env), { ok: false, errors: [{ path: '/data/hours', message: 'must be >= 0 (got -2)' }] });
    assert.deepEqual(validateEnvelope(env, { data: false }), { ok: true });
  });

  it('rejects a broken envelope field by field', () => {
    const env = toEnvelope({ entity: 'timeentry', event: 'approved', source: '/x', data: timeEntry() }) as unknown as Record<string, unknown>;
    env.specversion = '0.3';
    env.id = 'not-a-uuid';
    delete env.source;
    env.type = 'timeentry.approved';
    env.extra = 1;
    const res = validateEnvelope(env);
    assert.equal(res.ok, false);
    if (res.ok) return;
    assert.deepEqual(res.errors.map((e) => e.path).sort(), ['/extra', '/id', '/source', '/specversion', '/type']);
  });

  it('refuses to build an envelope for an unknown entity or a bad event name', () => {
    assert.throws(() => toEnvelope({ entity: 'timesheet', event: 'approved', source: '/x', data: {} }), /unknown canonical entity/);
    assert.throws(() => toEnvelope({ entity: 'timeentry', event: 'Approved!', source: '/x', data: {} }), /invalid event name/);
    assert.throws(() => toEnvelope({ type: 'com.acme.x', source: '/x', data: {} }), /invalid event type/);
    assert.throws(() => toEnvelope({ entity: 'timeentry', event: 'approved', source: '', data: {} }), /needs a source/);
  });

  it('builds and parses event types', () => {
    assert.equal(eventType('RevenueEvent', 'recognized'), 'com.psfabric.revenueevent.recognized.v1');
    assert.deepEqual(parseEventType('com.psfabric.invoice.posted.v1'), { entity: 'invoice', event: 'posted', version: 1 });
    assert.equal(parseEventType('com.psfabric.nope.posted.v1'), undefined);
  });
});

describe('canonical model: topic taxonomy', () => {
  it('builds fabric/v1/<entity>/<event> with the entity lower case and without dashes', () => {
    assert.equal(topicFor('TimeEntry', 'approved'), 'fabric/v1/timeentry/approved');
    assert.equal(topicFor('resource-assignment', 'status-changed'), 'fabric/v1/resourceassignment/status-changed');
    assert.equal(topicFor('project', 'created', 2), 'fabric/v2/project/created');
  });
  it('refuses unknown entities, wildcards and bad event names', () => {
    assert.throws(() => topicFor('timesheet', 'approved'), /unknown canonical entity/);
    for (const ev of ['+', '#', 'Approved', 'a/b', '', 'approved ', '-x']) assert.throws(() => topicFor('timeentry', ev), /invalid event name/, ev);
  });
  it('parses and validates topics', () => {
    assert.deepEqual(parseTopic('fabric/v1/timeentry/approved'), { version: 1, entity: 'timeentry', event: 'approved' });
    for (const t of ['fabric/v1/time-entry/approved', 'fabric/v1/timesheet/approved', 'fabric/1/timeentry/approved', 'fabric/v1/timeentry', 'fabric/v1/timeentry/approved/x', 'x/v1/timeentry/approved']) {
      assert.equal(isValidTopic(t), false, t);
    }
  });
  it('builds subscription filters', () => {
    assert.equal(subscriptionFor('invoice'), 'fabric/v1/invoice/+');
    assert.equal(subscriptionFor(), 'fabric/v1/+/+');
  });
});
