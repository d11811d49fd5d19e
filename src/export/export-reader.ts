import { odata, type TableClient, type TableEntityQueryOptions } from '@azure/data-tables';
import { Deadline } from '../storage/deadline';
import { EXPORT_SELECT, type ExportRow } from './export-row';

export type ExportRecord = Pick<
  ExportRow,
  'rowKey' | 'approvedAt' | 'approver' | 'employee' | 'costCenter' | 'reimbursementMethod' | 'currency' | 'amount'
>;
/** A page as the SDK returns it: a continuation token means more pages follow. */
export type ExportPage = ExportRecord[] & { continuationToken?: string };

export const EXPORT_PAGE_SIZE = 1000; // the Table service's maximum page

/**
 * The query of every export read (the bench's raw baseline sends exactly
 * this too). `$format=nometadata`: every selected property is a string, so
 * the per-entity odata annotations of the default format carry nothing we
 * use; dropping them makes pages smaller for the service to write and for
 * the SDK to parse. The SDK passes `format` through to the REST call but
 * does not declare it; if it ever stopped, we would get the default format,
 * which is slower but equally correct.
 */
export function exportQuery(date: string): TableEntityQueryOptions {
  const query: TableEntityQueryOptions & { format: string } = {
    filter: odata`PartitionKey eq ${date}`,
    select: [...EXPORT_SELECT],
    format: 'application/json;odata=nometadata',
  };
  return query;
}

/**
 * Reads one date partition page by page, in RowKey order, with `$select`.
 *
 * One page is read ahead: while the caller writes page n, page n+1 is on
 * its way, so the table and our CSV work overlap instead of taking turns.
 * Never more than one: a caller that stops asking (a slow client) stops the
 * reads, so back-pressure still reaches the table and memory stays at two
 * pages. Each page request has its own deadline, which runs only while that
 * request is in flight (a slow client is not a slow storage).
 */
export async function* readExportPages(
  table: TableClient,
  date: string,
  timeoutMs: number,
  signal?: AbortSignal,
): AsyncGenerator<ExportPage> {
  // Our own signal, so that a caller who stops early also cancels the page read ahead.
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = new Deadline(timeoutMs, stop.signal);
  let inFlight = false;
  try {
    const pages = table
      .listEntities<ExportRecord>({ queryOptions: exportQuery(date), abortSignal: deadline.signal })
      .byPage({ maxPageSize: EXPORT_PAGE_SIZE });
    const fetch = () => {
      deadline.arm();
      inFlight = true;
      const next = pages.next() as Promise<IteratorResult<ExportPage>>;
      // Also marks a rejection as handled: a read ahead that nobody awaits must not crash the process.
      next.then(settle, settle);
      return next;
    };
    const settle = () => {
      inFlight = false;
      deadline.disarm();
    };
    let pending = fetch();
    for (;;) {
      const page = await pending;
      if (page.done) return;
      if (page.value.continuationToken) pending = fetch();
      else pending = Promise.resolve({ done: true, value: undefined });
      yield page.value;
    }
  } finally {
    if (inFlight) stop.abort(); // the caller left with a read ahead still running
    deadline.dispose();
    signal?.removeEventListener('abort', onAbort);
  }
}
