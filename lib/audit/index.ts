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
    await this.store.auditAppend(this.stored(entry));
  }

  private stored(entry: AuditInput): AuditEntry {
    const stored: AuditEntry = { ...entry, at: entry.at ?? this.now() };
    if (entry.details !== undefined) stored.details = redact(entry.details);
    return stored;
  }

  /** The AuditSink shape lib/delivery/services.ts expects. */
  record(entry: AuditEntry): Promise<void> {
    return this.append(entry);
  }

  /** AuditSink: the entry as `append` stores it, for a writer that puts it in its own transaction on this trail's store. */
  entryFor(store: unknown, entry: AuditEntry): AuditEntry | undefined {
    return store === this.store ? this.stored(entry) : undefined;
  }

  /** Newest first. */
  list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return this.store.auditList(filter);
  }
}
