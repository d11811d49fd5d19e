import { Readable } from 'node:stream';
import { stringify, type Stringifier } from 'csv-stringify';
import type { ExportPage, ExportRecord } from './export-reader';

export const CSV_COLUMNS = [
  { key: 'rowKey', header: 'expense_id' },
  { key: 'approvedAt', header: 'approved_at' },
  { key: 'approver', header: 'approver' },
  { key: 'employee', header: 'employee' },
  { key: 'costCenter', header: 'cost_center' },
  { key: 'reimbursementMethod', header: 'reimbursement_method' },
  { key: 'currency', header: 'currency' },
  { key: 'amount', header: 'amount' },
] as const satisfies ReadonlyArray<{ key: keyof ExportRecord; header: string }>;

// Text that a person typed or picked. `rowKey`, `approvedAt` and `amount` are
// formatted by the server and stay as they are, so numbers remain numbers.
const USER_TEXT: ReadonlySet<string> = new Set<keyof ExportRecord>(['approver', 'employee', 'costCenter', 'reimbursementMethod', 'currency']);

// = + - @ TAB CR start a formula in Excel/LibreOffice/Sheets (OWASP "CSV Injection"), as do their
// full-width forms in some locales. A leading apostrophe is guarded too, so that stripping exactly
// one leading apostrophe always restores the original text. (csv-stringify's own escape_formulas
// knows neither the full-width forms nor the apostrophe, and would touch every column.)
const DANGEROUS_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20']/;

export function neutralizeCell(value: string): string {
  return DANGEROUS_START.test(value) ? `'${value}` : value;
}

/** Inverse of neutralizeCell, for consumers (and tests) that want the original text back. */
export function unneutralizeCell(value: string): string {
  return value.startsWith("'") ? value.slice(1) : value;
}

/**
 * Records in, RFC 4180 text out: header first (also when there are no
 * records), CRLF line ends, and a field with a comma, a quote, a CR or a LF
 * quoted, quotes doubled. With a CRLF record delimiter csv-stringify would
 * leave a lone LF unquoted, hence `quote_record_delimiter`.
 */
export function csvStringifier(): Stringifier {
  return stringify({
    header: true,
    columns: CSV_COLUMNS.map((c) => ({ key: c.key, header: c.header })),
    record_delimiter: 'windows',
    quote_record_delimiter: true,
    cast: { string: (value, ctx) => (ctx.column !== undefined && USER_TEXT.has(String(ctx.column)) ? neutralizeCell(value) : value) },
  });
}

/**
 * Object-mode stream of the records of a page iterator. A page is pushed
 * whole and synchronously, so rows cost no promise each; the next page is
 * asked for only when the stream's consumer wants more, so back-pressure from
 * the client reaches the table. `first` is a page already read (the route
 * reads it before sending headers, to answer a storage failure with a clean
 * 503). Destroying the stream ends the iterator, which cancels a read ahead.
 */
export function recordStream(
  pages: AsyncIterator<ExportPage>,
  first?: IteratorResult<ExportPage>,
  onPage: (rows: number) => void = () => {},
): Readable {
  let pending = first;
  // The service may answer a page with no rows and a continuation token; keep reading then, since a
  // read() that pushes nothing is never called again.
  const nextRows = async (): Promise<ExportPage | undefined> => {
    for (;;) {
      const page = pending ?? (await pages.next());
      pending = undefined;
      if (page.done) return undefined;
      if (page.value.length > 0 || !page.value.continuationToken) return page.value;
    }
  };
  return new Readable({
    objectMode: true,
    highWaterMark: 1000,
    read() {
      nextRows().then(
        (rows) => {
          if (!rows) return void this.push(null);
          onPage(rows.length);
          for (const record of rows) this.push(record);
          if (!rows.continuationToken) this.push(null);
        },
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, done) {
      Promise.resolve(pages.return?.(undefined)).then(
        () => done(err),
        () => done(err),
      );
    },
  });
}