/**
 * The connection's local concurrency cap (lib/delivery/concurrency-cap.ts): admission in the caller's turn (no
 * timer or lock between a free place and the task starting), lanes in priority order, close.
 */
import assert from 'node:assert/strict';
import { ConcurrencyCap } from '../../../lib/delivery/concurrency-cap';

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ConcurrencyCap', () => {
  it('starts every task that finds a free place in the caller turn, 64 at once', () => {
    const cap = new ConcurrencyCap(64);
    const started: number[] = [];
    const hold = deferred();
    for (let i = 0; i < 65; i++) void cap.run(5, async () => {
      started.push(i);
      await hold.promise;
    });
    // synchronously: no event-loop turn has passed
    assert.equal(started.length, 64);
    assert.equal(cap.active(), 64);
    assert.equal(cap.waiting(), 1);
    hold.resolve();
  });

  it('hands a finished task its place to the next waiting one, by priority then arrival', async () => {
    const cap = new ConcurrencyCap(1);
    const order: string[] = [];
    const blocker = deferred();
    const first = cap.run(5, async () => {
      order.push('blocker');
      await blocker.promise;
    });
    const tasks = [
      cap.run(8, async () => void order.push('low-1')),
      cap.run(5, async () => void order.push('normal-1')),
      cap.run(1, async () => void order.push('high-1')),
      cap.run(8, async () => void order.push('low-2')),
      cap.run(1, async () => void order.push('high-2')),
    ];
    assert.equal(cap.waiting(), 5);
    blocker.resolve();
    await Promise.all([first, ...tasks]);
    assert.deepEqual(order, ['blocker', 'high-1', 'high-2', 'normal-1', 'low-1', 'low-2']);
    assert.equal(cap.active(), 0);
  });

  it('frees the place of a task that throws (synchronously or not) and passes its error on', async () => {
    const cap = new ConcurrencyCap(1);
    await assert.rejects(cap.run(5, () => {
      throw new Error('sync boom');
    }), /sync boom/);
    await assert.rejects(cap.run(5, async () => {
      throw new Error('async boom');
    }), /async boom/);
    assert.equal(await cap.run(5, async () => 42), 42);
    assert.equal(cap.active(), 0);
  });

  it('close rejects the waiting tasks and new ones with its error; running ones finish', async () => {
    const cap = new ConcurrencyCap(1);
    const hold = deferred();
    const running = cap.run(5, async () => {
      await hold.promise;
      return 'done';
    });
    const waiting = cap.run(5, async () => 'never');
    cap.close(() => new Error('connection closed'));
    await assert.rejects(waiting, /connection closed/);
    await assert.rejects(cap.run(5, async () => 'late'), /connection closed/);
    hold.resolve();
    assert.equal(await running, 'done');
  });

  it('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new ConcurrencyCap(0), /capacity must be a positive integer, got 0/);
    assert.throws(() => new ConcurrencyCap(2.5), /positive integer/);
  });
});
