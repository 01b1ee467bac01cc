/**
 * Backpressure from the flows to the broker.
 *
 * A trigger acknowledges a message once it is in the inbox and hands it to the flow; Node-RED queues every message
 * passed between nodes in memory, with no limit. When the broker runs on its own thread (broker-thread.ts) it can
 * deliver faster than the flows consume, and that queue grew to gigabytes in bench scenario 1 (100,000 entries:
 * peak RSS 1.1 GB, p99 9.6 s). The flows' queue shows up as event-loop delay (a turn that delivers thousands of
 * queued messages makes every timer late), so while the delay is above a limit the MQTT connections stop reading
 * new packets: the broker keeps the rest in its persistent session queue on disk, and TCP slows the broker down.
 * Reading resumes when the delay is back under half the limit. It needs no cooperation from the flow (a flow
 * that never hands a message over cannot stall it), and it never holds a PUBACK.
 *
 * A pause is bounded: after `maxPauseMs` the gate opens for a burst of `burstMs` even if the loop is still late.
 * A connection that reads nothing makes the broker's socket to it stop draining, and a broker disconnects a client
 * whose socket does not drain within its drain timeout as it would a dead one (the embedded broker waits for the
 * runtime's own connections instead, broker.ts "Slow internal clients"; an external broker in scale-out does not);
 * mqtt.js would likewise miss its PINGRESP after the keepalive. A bounded pause reads at a reduced rate instead, and
 * the broker still keeps what is not read.
 */
import { performance } from 'node:perf_hooks';
import { maxLoopDelayFromEnv } from './env';


export class EventLoopGate {
  private busy = false;
  private users = 0;
  private timer: NodeJS.Timeout | undefined;
  private expectedAt = 0;
  private waiters: Array<() => void> = [];
  private pausedAt = 0;
  private burstUntil = 0;
  /** How many times reading was paused, how many pauses ended in a burst, and the largest delay seen (status, bench). */
  readonly stats = { pauses: 0, bursts: 0, maxLagMs: 0 };

  /**
   * `sampleMs`: how often the delay is measured (default 10 ms); `maxPauseMs`: the longest a pause lasts before a burst
   * of reading (default 2 s: well under the drain timeouts and keepalives above); `burstMs`: how long a burst reads
   * (default 100 ms).
   */
  constructor(
    readonly maxLagMs: number,
    private readonly sampleMs = 10,
    readonly maxPauseMs = 2000,
    private readonly burstMs = 100,
  ) {}

  /** Samples the delay while at least one user holds the gate; the returned function releases it. */
  use(): () => void {
    this.users += 1;
    if (this.users === 1) this.schedule();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.users -= 1;
      if (this.users === 0) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.open();
      }
    };
  }

  /** Runs `next` now, or once the event-loop delay is back under the limit. */
  pass(next: () => void): void {
    if (!this.busy) next();
    else this.waiters.push(next);
  }

  private schedule(): void {
    this.expectedAt = performance.now() + this.sampleMs;
    this.timer = setTimeout(() => this.sample(), this.sampleMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
    const lag = Math.max(0, now - this.expectedAt);
    if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
    if (!this.busy && lag > this.maxLagMs && now >= this.burstUntil) {
      this.busy = true;
      this.pausedAt = now;
      this.stats.pauses += 1;
    } else if (this.busy && lag <= this.maxLagMs / 2) {
      this.open();
    } else if (this.busy && now - this.pausedAt >= this.maxPauseMs) {
      this.burstUntil = now + this.burstMs;
      this.stats.bursts += 1;
      this.open();
    }
    if (this.users > 0) this.schedule();
  }

  private open(): void {
    this.busy = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const next of waiters) next();
  }
}

let shared: EventLoopGate | undefined;

/** The gate every FabricMqttConnection of this process shares (one event loop, one measure); undefined when off. */
export function sharedEventLoopGate(env: NodeJS.ProcessEnv = process.env): EventLoopGate | undefined {
  const limit = maxLoopDelayFromEnv(env);
  if (limit === 0) return undefined;
  if (!shared || shared.maxLagMs !== limit) shared = new EventLoopGate(limit);
  return shared;
}
