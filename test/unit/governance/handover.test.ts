/** lib/governance/handover: an accepted experience-API write as the requested CloudEvent and the caller's 202. */
import assert from 'node:assert/strict';
import { requestedHandOver } from '../../../lib/governance/handover';

describe('governance/handover', () => {
  it('a v2 time entry: converted to v1 for the process layer, its work location kept as an extension; 202 with the status URL', () => {
    const data = { id: 'TE-1', version: 3, workLocation: 'remote' };
    const h = requestedHandOver({ entity: 'timeentry', schemaVersion: 2, data, trackingId: 'trk-1', consumerId: 'portal' });
    assert.equal(h.publish.topic, 'fabric/v1/timeentry/requested');
    const ev = h.publish.payload;
    assert.deepEqual([ev.id, ev.correlationid, ev.type, ev.subject, ev.source, ev.idempotencykey, ev.requestedby, ev.worklocation], ['trk-1', 'trk-1', 'com.psfabric.timeentry.requested.v1', 'TE-1', '/ps-fabric/experience-api', 'timeentry:TE-1:v3', 'portal', 'remote']);
    assert.deepEqual(ev.data, { id: 'TE-1', version: 3 });
    assert.equal(ev.dataschema, 'https://schemas.psfabric.dev/v1/time-entry.json');
    assert.deepEqual(data, { id: 'TE-1', version: 3, workLocation: 'remote' }, 'the request body is not changed');
    assert.deepEqual(h.response, { statusCode: 202, headers: { Location: '/api/v1/requests/trk-1' }, payload: { trackingId: 'trk-1', status: 'accepted', statusUrl: '/api/v1/requests/trk-1' } });
  });

  it('a v1 project goes as it came, without a work location', () => {
    const h = requestedHandOver({ entity: 'project', schemaVersion: 1, data: { id: 'PRJ-9', version: 1 }, trackingId: 'trk-2', consumerId: 'pmo' });
    assert.equal(h.publish.topic, 'fabric/v1/project/requested');
    assert.equal('worklocation' in h.publish.payload, false);
    assert.deepEqual([h.publish.payload.type, h.publish.payload.dataschema, h.publish.payload.data], ['com.psfabric.project.requested.v1', 'https://schemas.psfabric.dev/v1/project.json', { id: 'PRJ-9', version: 1 }]);
  });
});
