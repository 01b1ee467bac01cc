/**
 * The audit trail: who or what did what to which business record, when, from which process run.
 * Append-only; details are redacted before they are stored.
 */
import { redact } from '../redaction';
import type { AuditEntry, AuditRecord, Store } from '../store/store';

export type AuditInput = Omit<AuditEntry, 'at'> & { at?: number };
export type AuditFilter = Parameters<Store['auditList']>[0];

export class AuditTrail {
  constructor(private readonly store: Pick<Store, 'auditAppend' | 'auditList'>, private readonly now: () => number = Date.now) {}

  async append(entry: AuditInput): Promise<void> {
    const stored: AuditEntry = { ...entry, at: entry.at ?? this.now() };
    if (entry.details !== undefined) stored.details = redact(entry.details);
    await this.store.auditAppend(stored);
  }

  /** The AuditSink shape lib/delivery/services.ts expects. */
  record(entry: AuditEntry): Promise<void> {
    return this.append(entry);
  }

  /** Newest first. */
  list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return this.store.auditList(filter);
  }
}
