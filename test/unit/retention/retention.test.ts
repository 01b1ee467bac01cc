import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULT_RETENTION, RetentionService, retentionCutoffs, retentionFromEnv } from '../../../lib/retention';
import { openFabric } from '../../../lib/fabric/services';
import { SqliteStore } from '../../../lib/store/sqlite-store';
import { tempDir } from '../../support/tmp';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

describe('retention settings', () => {
  it('defaults: audit kept longest, payloads of closed exceptions shortest, retention on', () => {
    const s = retentionFromEnv({});
    assert.equal(s.enabled, true);
    assert.deepEqual(s.policy, DEFAULT_RETENTION);
    assert.ok(s.policy.auditDays > s.policy.exceptionDays && s.policy.exceptionDays > s.policy.exceptionPayloadDays);
    assert.equal(s.intervalMs, 600_000);
    assert.equal(s.batchSize, 500);
  });

  it('reads every FABRIC_RETENTION_* variable; 0 keeps for ever; off switches it off', () => {
    const s = retentionFromEnv({ FABRIC_RETENTION_INBOX_DAYS: '7', FABRIC_RETENTION_AUDIT_DAYS: '0', FABRIC_RETENTION_BATCH: '50', FABRIC_RETENTION_INTERVAL_S: '60' });
    assert.equal(s.policy.inboxDays, 7);
    assert.equal(s.policy.auditDays, 0);
    assert.equal(s.batchSize, 50);
    assert.equal(s.intervalMs, 60_000);
    assert.equal(retentionCutoffs(s.policy, NOW).audit, undefined, 'audit kept for ever');
    assert.equal(retentionCutoffs(s.policy, NOW)['inbox-processed'], NOW - 7 * DAY);
    assert.equal(retentionCutoffs(s.policy, NOW)['idempotency-expired'], NOW, 'keys go only once their own window ended');
    assert.equal(retentionFromEnv({ FABRIC_RETENTION: 'off' }).enabled, false);
  });

  it('refuses a malformed value, naming the variable', () => {
    assert.throws(() => retentionFromEnv({ FABRIC_RETENTION_OUTBOX_DAYS: '-1' }), /FABRIC_RETENTION_OUTBOX_DAYS must be a number of days >= 0 \(fractions allowed\), got "-1"/);
    assert.throws(() => retentionFromEnv({ FABRIC_RETENTION_EXCEPTION_DAYS: 'a week' }), /FABRIC_RETENTION_EXCEPTION_DAYS/);
    assert.equal(retentionFromEnv({ FABRIC_RETENTION_EXCEPTION_DAYS: '0.5' }).policy.exceptionDays, 0.5, 'fractions of a day (12 h)');
    assert.equal(retentionCutoffs(retentionFromEnv({ FABRIC_RETENTION_INBOX_DAYS: '0.25' }).policy, NOW)['inbox-processed'], NOW - DAY / 4);
    assert.throws(() => retentionFromEnv({ FABRIC_RETENTION_BATCH: '0' }), /FABRIC_RETENTION_BATCH must be a whole number >= 1/);
    assert.throws(() => retentionFromEnv({ FABRIC_RETENTION: 'sometimes' }), /FABRIC_RETENTION must be on or off/);
  });
});

describe('RetentionService on a real SQLite store', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  beforeEach(() => {
    tmp = tempDir('psfabric-retention-');
    store = new SqliteStore({ path: path.join(tmp.dir, 'store.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  async function seedInbox(n: number, receivedAt: number, prefix: string): Promise<void> {
    await store.inboxAddMany(Array.from({ length: n }, (_, i) => ({ source: 'mqtt:t', messageId: `${prefix}-${i}`, payload: { i }, receivedAt })));
    for (let i = 0; i < n; i++) await store.inboxMarkProcessed('mqtt:t', `${prefix}-${i}`);
  }

  it('removes what is due in batches of batchSize and reports it; a later run finds nothing', async () => {
    await seedInbox(1200, NOW - 60 * DAY, 'old');
    await seedInbox(10, NOW - DAY, 'new');
    await store.auditAppend({ at: NOW - 3000 * DAY, actor: 'a', action: 'x' });
    const batches: number[] = [];
    const counting = { retentionPurge: async (...args: Parameters<SqliteStore['retentionPurge']>) => { const n = await store.retentionPurge(...args); if (args[0] === 'inbox-processed') batches.push(n); return n; } };
    const service = new RetentionService(counting, DEFAULT_RETENTION, { batchSize: 500, now: () => NOW });
    const run = await service.runOnce();
    assert.deepEqual(run.purged, { 'inbox-processed': 1200, audit: 1 });
    assert.equal(run.complete, true);
    assert.deepEqual(batches, [500, 500, 200]);
    assert.equal(service.lastRun, run);
    assert.deepEqual((await service.runOnce()).purged, {});
    assert.ok(await store.inboxGet('mqtt:t', 'new-9'));
  });

  it('stops after maxBatchesPerRun and says the run is incomplete; the next run goes on', async () => {
    await seedInbox(30, NOW - 60 * DAY, 'old');
    const service = new RetentionService(store, DEFAULT_RETENTION, { batchSize: 10, maxBatchesPerRun: 2, now: () => NOW });
    const first = await service.runOnce();
    assert.equal(first.purged['inbox-processed'], 20);
    assert.equal(first.complete, false);
    const second = await service.runOnce();
    assert.equal(second.purged['inbox-processed'], 10);
    assert.equal(second.complete, true);
  });

  it('0 days keeps a table for ever', async () => {
    await seedInbox(5, NOW - 3000 * DAY, 'ancient');
    const service = new RetentionService(store, { ...DEFAULT_RETENTION, inboxDays: 0 }, { now: () => NOW });
    assert.equal((await service.runOnce()).purged['inbox-processed'], undefined);
    assert.ok(await store.inboxGet('mqtt:t', 'ancient-0'));
  });
});

describe('retention in the services bundle', () => {
  it('runs with the FABRIC_RETENTION_* settings given to openFabric and stops with the last release', async () => {
    const tmp = tempDir('psfabric-retention-');
    const settings = { ...retentionFromEnv({ FABRIC_RETENTION_INBOX_DAYS: '1' }) };
    const handle = openFabric({ kind: 'sqlite', path: path.join(tmp.dir, 'store.sqlite') }, { retention: settings });
    try {
      assert.ok(handle.services.retention, 'retention is on by default');
      await handle.store.inboxAdd({ source: 's', messageId: 'm', payload: null, receivedAt: Date.now() - 2 * DAY });
      await handle.store.inboxMarkProcessed('s', 'm');
      assert.equal((await handle.services.retention!.runOnce()).purged['inbox-processed'], 1);
    } finally {
      await handle.release();
      tmp.cleanup();
    }
    const off = openFabric({ kind: 'sqlite', path: path.join(tempDir('psfabric-retention-').dir, 's.sqlite') }, { retention: retentionFromEnv({ FABRIC_RETENTION: 'off' }) });
    assert.equal(off.services.retention, undefined);
    await off.release();
  });
});
