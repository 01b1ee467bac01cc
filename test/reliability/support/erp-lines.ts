/**
 * Which time entries the ERPs billed, read from what the vendors booked: NetSuite invoice lines
 * (`custcol_psf_source_refs`), Business Central sales invoice lines (`description2`, one entry per line) and the
 * legacy FR01 ERP's IL lines (`sourceEntryId`). PSA entries are referenced as `KAN-TE-<id>` (expenses `KAN-EX-<id>`,
 * left out here); legacy entries by their own id.
 */
export interface BilledOn {
  erp: string;
  invoice: string;
}

const KANTATA_TIME = /^KAN-TE-/;
const KANTATA_EXPENSE = /^KAN-EX-/;

/** Entry id -> every invoice line that bills it (more than one = billed twice). */
export function billedEntries(
  netsuiteInvoices: Record<string, any> | any[],
  bcHeaders: Record<string, any> | any[],
  bcLines: Record<string, any> | any[],
  legacyInvoices: Array<{ invoice: { invoiceNo: string; lines: Array<{ sourceEntryId: string }> } }>,
): Map<string, BilledOn[]> {
  const out = new Map<string, BilledOn[]>();
  const add = (refs: unknown, erp: string, invoice: string) => {
    for (const ref of String(refs ?? '').split(/[,\s]+/).filter(Boolean)) {
      if (KANTATA_EXPENSE.test(ref)) continue;
      const id = ref.replace(KANTATA_TIME, '');
      let on = out.get(id);
      if (!on) out.set(id, (on = []));
      on.push({ erp, invoice });
    }
  };
  for (const inv of Object.values(netsuiteInvoices)) for (const l of inv.item?.items ?? []) add(l.custcol_psf_source_refs, 'netsuite', inv.externalId ?? inv.id);
  const headers = new Map<string, any>(Object.values(bcHeaders).map((h: any) => [h.id, h]));
  for (const l of Object.values(bcLines)) {
    const h = headers.get(l.documentId);
    add(l.description2, `bc:${h?._companyId ?? '?'}`, h?.externalDocumentNumber ?? l.documentId);
  }
  for (const inv of legacyInvoices) for (const l of inv.invoice.lines) add(l.sourceEntryId, 'legacy:FR01', inv.invoice.invoiceNo);
  return out;
}
