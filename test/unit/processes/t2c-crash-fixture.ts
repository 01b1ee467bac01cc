/** Entries and projects shared by the time-to-cash SIGKILL test and its child process. */
import type { ProjectContext, TimeEntry } from '../../../lib/processes/time-to-cash';

export const T2C_CRASH_BATCH = 200;

export const t2cCrashProjects: Record<string, ProjectContext> = {
  'KAN-WS-1': { projectId: 'KAN-WS-1', accountId: 'ACC-1001', billingEntity: 'NWA-US', currency: 'USD', status: 'active', psaWorkspaceId: '1' },
  'KAN-WS-2': { projectId: 'KAN-WS-2', accountId: 'ACC-2001', billingEntity: 'NWA-UK', currency: 'GBP', status: 'active', psaWorkspaceId: '2' },
};

/** 1,000 approved entries over two projects and two months, in the order the first run receives them. */
export function t2cCrashEntries(): TimeEntry[] {
  return Array.from({ length: 1000 }, (_, n) => {
    const projectId = n % 4 === 0 ? 'KAN-WS-2' : 'KAN-WS-1';
    return {
      id: `KAN-TE-${5000 + n}`, version: 1, person: { id: `CON-${n % 9}` }, projectId, date: `2026-${n % 3 === 0 ? '10' : '11'}-${String(1 + (n % 28)).padStart(2, '0')}`,
      hours: 1 + (n % 6), role: 'Consultant', billable: true, rate: { amount: 150, currency: t2cCrashProjects[projectId].currency!, unit: 'hour' }, status: 'approved',
      approvedAt: '2026-11-29T09:00:00Z', externalIds: { kantata: String(5000 + n) },
    };
  });
}
