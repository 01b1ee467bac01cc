/**
 * Which priority lane a flow message's vendor request takes (docs/delivery.md, "Priority lanes"): `msg.lane` when set;
 * otherwise month-end time-to-cash goes first and reporting last, since a reporting read can wait and an invoice
 * write holds up cash.
 */
import type { Lane } from '../store/store';

const BY_PROCESS: Record<string, Lane> = { 'time-to-cash': 'high', 'performance-to-reporting': 'low' };

export function laneFor(msg: { lane?: unknown; process?: unknown }): Lane | undefined {
  if (msg.lane !== undefined && msg.lane !== null && msg.lane !== '') return msg.lane as Lane; // the engine refuses an unknown lane by name
  return typeof msg.process === 'string' ? BY_PROCESS[msg.process] : undefined;
}
