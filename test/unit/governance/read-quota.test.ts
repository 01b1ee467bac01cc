import assert from 'node:assert/strict';
import { ReadQuota } from '../../../lib/governance/read-quota';
import type { ReadAnswer, ReadRequest, ReadSources } from '../../../lib/governance/reads';

describe('read quota (lib/governance/read-quota)', () => {
  let now = 0;
  let kantataCalls = 0;
  const src: ReadSources = { kantata: { page: async () => ((kantataCalls += 1), { records: [], count: 0 } as never), customFieldNames: async () => ({}) }, erps: [] };
  /** A read that costs `calls` Kantata calls. */
  const reader = (calls: number) => async (s: ReadSources, _req: ReadRequest): Promise<ReadAnswer> => {
    for (let i = 0; i < calls; i++) await s.kantata!.page('workspaces', {});
    return { statusCode: 200, payload: { items: [], n: calls } };
  };
  const req = (limit: number): ReadRequest => ({ resource: 'projects', kind: 'list', query: { limit: String(limit) } });

  beforeEach(() => {
    now = 0;
    kantataCalls = 0;
  });

  it('charges vendor calls to the consumer and refuses with a wait once the budget is spent', async () => {
    const q = new ReadQuota({ cacheTtlMs: 0, budget: { perSecond: 1, burst: 20 }, now: () => now });
    assert.equal((await q.serve('a', req(1), src, reader(13))).cost, 13);
    assert.equal((await q.serve('a', req(2), src, reader(13))).statusCode, 200); // 7 left: let through, 6 in debt
    const refused = await q.serve('a', req(3), src, reader(13));
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.retryAfterSeconds, 7);
    assert.equal(kantataCalls, 26, 'the refused read made no vendor call');
    assert.equal((await q.serve('b', req(3), src, reader(13))).statusCode, 200, 'another consumer has its own budget');
    now = 7000;
    assert.equal((await q.serve('a', req(3), src, reader(1))).statusCode, 200);
  });

  it('serves identical reads from the cache, and joins one in flight, at no cost', async () => {
    const q = new ReadQuota({ cacheTtlMs: 5000, budget: { perSecond: 1, burst: 20 }, now: () => now });
    const [x, y] = await Promise.all([q.serve('a', req(1), src, reader(13)), q.serve('b', req(1), src, reader(13))]);
    assert.deepEqual([x.cache, y.cache], ['miss', 'hit']);
    assert.equal(kantataCalls, 13);
    now = 4999;
    assert.equal((await q.serve('a', req(1), src, reader(13))).cache, 'hit');
    now = 5000;
    assert.equal((await q.serve('a', req(1), src, reader(13))).cache, 'miss');
    assert.equal(kantataCalls, 26);
  });
});
