import { Readable, Transform } from 'node:stream';
import { stringify, type Options } from 'csv-stringify/sync';
import { EXPORT_COLUMNS, type ExportRecord } from './export-row';
import type { ExportPage } from './export-table';

// = + - @ TAB CR start a formula in Excel/LibreOffice/Sheets (OWASP "CSV Injection"), as do their
// full-width forms in some locales. (csv-stringify's own escape_formulas knows neither the full-width
// forms nor the apostrophe below, and would touch every column.)
const FORMULA_CHARS = '=+\\-@\\t\\r\\uFF1D\\uFF0B\\uFF0D\\uFF20';
/** A cell a spreadsheet would run as a formula: what we guard on the way out and refuse on the way in (results). */
export const FORMULA_START = new RegExp(`^[${FORMULA_CHARS}]`);
// A leading apostrophe is guarded too, so that stripping exactly one leading apostrophe always restores the original text.
const DANGEROUS_START = new RegExp(`^[${FORMULA_CHARS}']`);

export function neutralizeCell(value: string): string {
  return DANGEROUS_START.test(value) ? `'${value}` : value;
}

/** Inverse of neutralizeCell, for consumers (and tests) that want the original text back. */
export function unneutralizeCell(value: string): string {
  return value.startsWith("'") ? value.slice(1) : value;
}

// The file's cells in column order; text that a person typed or picked gets the formula guard, what the
// server formats (ids, timestamps, amounts) stays as it is, so numbers stay numbers. Records go to
// csv-stringify as arrays with no cast hook: its per-field cast and key lookup cost more than the
// quoting itself (3.1 against 1.9 µs per row, measured in-process on a page of 1,000 rows).
const CELLS = EXPORT_COLUMNS.map((c) =>
  c.text === 'user' ? (r: ExportRecord) => neutralizeCell(r[c.prop]) : (r: ExportRecord) => r[c.prop],
);

/** Pure: one record as the file's cells, in column order, formula-guarded. */
export function toCells(r: ExportRecord): string[] {
  return CELLS.map((cell) => cell(r));
}

const OPTIONS = {
  columns: EXPORT_COLUMNS.map((c) => c.header),
  record_delimiter: 'windows',
  // With a CRLF record delimiter csv-stringify would leave a lone CR or LF unquoted.
  quote_record_delimiter: true,
} satisfies Options;

/**
 * Table pages in, RFC 4180 text out: header first (also when there are no
 * rows), CRLF line ends, a field with a comma, a quote, a CR or a LF quoted,
 * quotes doubled. csv-stringify formats a whole page per chunk: the stream's
 * unit is the page, as the table's is, so back-pressure still reaches the
 * table a page at a time, while rows cost no chunk, callback and socket
 * write each.
 */
export interface CsvOptions {
  /** Called with each page's row count as it is formatted. */
  onPage?: (rows: number) => void;
  /** A UTF-8 byte order mark first (for spreadsheets that would otherwise guess a legacy code page). */
  bom?: boolean;
}

/** Pure: one page of the v1 file; the first page (also an empty one) carries the header row, and the BOM when asked for. */
export function v1PageText(page: readonly ExportRecord[], first: boolean, bom = false): string {
  // csv-stringify's own `bom`, on the first chunk only: each page is formatted on its own.
  return stringify(page.map(toCells), { ...OPTIONS, header: first, bom: first && bom });
}

export function csvStringifier(opts: CsvOptions = {}): Transform {
  let first = true;
  const format = (page: readonly ExportRecord[]) => {
    const text = v1PageText(page, first, opts.bom);
    first = false;
    return text;
  };
  return new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 1, // pages, not the default 16: a slow client must not make us hold 16,000 rows
    transform(page: readonly ExportRecord[], _enc, done) {
      opts.onPage?.(page.length);
      done(null, format(page));
    },
    flush(done) {
      done(null, first ? format([]) : undefined);
    },
  });
}

/**
 * The pages of a reader as an object-mode stream, one page per chunk and at
 * most one buffered (the reader itself reads one ahead). `first` is a page
 * already read: the route reads it before sending headers, so that a storage
 * failure is still a clean 503. Destroying the stream ends the reader, which
 * cancels a read ahead.
 */
export function pageStream(pages: AsyncGenerator<ExportPage>, first?: IteratorResult<ExportPage>): Readable {
  async function* all(): AsyncGenerator<ExportPage> {
    if (first?.done) return;
    if (first) yield first.value;
    yield* pages;
  }
  const stream = Readable.from(all(), { highWaterMark: 1 });
  // However the stream ends, the reader ends too: also when it is destroyed before asking for a page,
  // when all() never ran and so cannot pass the return on.
  stream.once('close', () => void pages.return(undefined));
  return stream;
}
