import { odata, type TableClient, type TableEntityQueryOptions } from '@azure/data-tables';
import { withDeadline } from '../storage/deadline';
import { isConflict } from '../storage/errors';
import { readPages, type Page } from './export-pages';
import { EXPORT_SELECT, type ExportRecord, type ExportRow } from './export-row';

export type ExportPage = Page<ExportRecord>;

/**
 * The ExpenseExport table's one owner: nothing else reads or writes it.
 * PartitionKey = approval date (YYYY-MM-DD), RowKey = expense id; a
 * partition is exactly one day's file.
 */
export class ExportTable {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
  ) {}

  /**
   * The query of every export read (the bench's raw baseline sends exactly
   * this too). `$format=nometadata`: every selected property is a string, so
   * the per-entity odata annotations of the default format carry nothing we
   * use; dropping them makes pages smaller for the service to write and for
   * the SDK to parse. The SDK passes `format` through to the REST call but
   * does not declare it; if it ever stopped, we would get the default format,
   * which is slower but equally correct.
   */
  static query(date: string): TableEntityQueryOptions {
    const query: TableEntityQueryOptions & { format: string } = {
      filter: odata`PartitionKey eq ${date}`,
      select: [...EXPORT_SELECT],
      format: 'application/json;odata=nometadata',
    };
    return query;
  }

  /**
   * Writes an expense's row. The key (date, expense id) makes it idempotent:
   * a row already there (409) means an earlier attempt wrote it.
   */
  async append(row: ExportRow, signal?: AbortSignal): Promise<'inserted' | 'already-present'> {
    try {
      await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.createEntity(row, { abortSignal }));
      return 'inserted';
    } catch (err) {
      if (!isConflict(err)) throw err;
      return 'already-present';
    }
  }

  /** One day's rows, page by page in RowKey order (file order), with back-pressure: see readPages. */
  pages(date: string, signal?: AbortSignal): AsyncGenerator<ExportPage> {
    return readPages<ExportRecord>(this.table, ExportTable.query(date), this.timeoutMs, signal);
  }

  /** The expense ids with a row on `date` (for `seed --wait` and the chaos invariants). */
  async *expenseIds(date: string, signal?: AbortSignal): AsyncGenerator<string> {
    const query = { filter: odata`PartitionKey eq ${date}`, select: ['RowKey'] };
    for await (const page of readPages<{ rowKey: string }>(this.table, query, this.timeoutMs, signal)) for (const r of page) yield r.rowKey;
  }
}
