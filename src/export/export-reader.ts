import { odata, type TableClient } from '@azure/data-tables';
import { Deadline } from '../storage/deadline';
import { EXPORT_SELECT, type ExportRow } from './export-row';

export type ExportRecord = Pick<ExportRow, 'rowKey' | 'approvedAt' | 'approver' | 'employee' | 'costCenter' | 'reimbursementMethod' | 'currency' | 'amount'>;

export const EXPORT_PAGE_SIZE = 1000; // the Table service's maximum page

/**
 * Reads one date partition page by page, in RowKey order, with `$select`.
 * Each page request has its own deadline; the clock is stopped while the
 * caller holds a page (a slow client is not a slow storage). Pages are
 * requested only when the caller asks, so back-pressure reaches the table.
 */
export async function* readExportPages(table: TableClient, date: string, timeoutMs: number, signal?: AbortSignal): AsyncGenerator<ExportRecord[]> {
  const deadline = new Deadline(timeoutMs, signal);
  try {
    const pages = table
      .listEntities<ExportRecord>({ queryOptions: { filter: odata`PartitionKey eq ${date}`, select: [...EXPORT_SELECT] }, abortSignal: deadline.signal })
      .byPage({ maxPageSize: EXPORT_PAGE_SIZE });
    for (;;) {
      deadline.arm();
      const next = await pages.next();
      deadline.disarm();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    deadline.dispose();
  }
}
