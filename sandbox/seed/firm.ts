/**
 * What every sandbox is seeded with: the demo firm (lib/demo/firm.ts, shared with the template builders) and the
 * time its consultants booked, derived from it.
 */
import { BILLING_ENTITIES, type BillingEntity, type FirmTimeEntry } from '../../lib/demo/firm';

export * from '../../lib/demo/firm';

/** Approved, unapproved and already-invoiced time on the delivered projects, deterministic. */
export function seedTimeEntries(): FirmTimeEntry[] {
  const entries: FirmTimeEntry[] = [];
  const staffing: Record<string, string[]> = {
    '006Hs00000AcmeWMS01': ['CON-002', 'CON-003', 'CON-004'],
    '006Hs00000BritRailS': ['CON-006', 'CON-007'],
    '006Hs00000RheinSAP1': ['CON-009', 'CON-010'],
  };
  let n = 0;
  for (const [opp, people] of Object.entries(staffing)) {
    for (let day = 2; day <= 20; day++) {
      const date = `2026-11-${String(day).padStart(2, '0')}`;
      const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
      if (weekday === 0 || weekday === 6) continue;
      for (const person of people) {
        n += 1;
        entries.push({
          id: `TE-${String(n).padStart(5, '0')}`,
          opportunitySfId: opp,
          consultantId: person,
          date,
          hours: [8, 7.5, 6, 8, 4][n % 5],
          notes: ['Workshop with client team', 'Build and unit test', 'Status meeting and follow-ups', 'Data mapping', 'Documentation'][n % 5],
          billable: n % 11 !== 0,
          approved: day <= 16,
          invoiced: day <= 6,
        });
      }
    }
  }
  return entries;
}

export function entityByCode(code: string): BillingEntity {
  const entity = BILLING_ENTITIES.find((e) => e.code === code);
  if (!entity) throw new Error(`unknown billing entity ${code}`);
  return entity;
}
