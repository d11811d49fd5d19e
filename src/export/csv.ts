import { Transform } from 'node:stream';
import type { ExportRecord } from './export-reader';

export const CSV_COLUMNS = [
  { key: 'rowKey', header: 'expense_id' },
  { key: 'approvedAt', header: 'approved_at' },
  { key: 'approver', header: 'approver' },
  { key: 'employee', header: 'employee' },
  { key: 'costCenter', header: 'cost_center' },
  { key: 'reimbursementMethod', header: 'reimbursement_method' },
  { key: 'currency', header: 'currency' },
  { key: 'amount', header: 'amount' },
] as const;

const CRLF = '\r\n';
export const CSV_HEADER = CSV_COLUMNS.map((c) => c.header).join(',') + CRLF;

// = + - @ TAB CR start a formula in Excel/LibreOffice/Sheets (OWASP "CSV Injection"), as do their
// full-width forms in some locales. A leading apostrophe is guarded too, so that stripping exactly
// one leading apostrophe always restores the original text.
const DANGEROUS_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20']/;
// RFC 4180: a cell with a delimiter, a quote or a line break is quoted, quotes doubled.
const NEEDS_QUOTES = /[",\r\n]/;

export function neutralizeCell(value: string): string {
  return DANGEROUS_START.test(value) ? `'${value}` : value;
}

/** Inverse of neutralizeCell, for consumers (and tests) that want the original text back. */
export function unneutralizeCell(value: string): string {
  return value.startsWith("'") ? value.slice(1) : value;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const quote = (v: string): string => (NEEDS_QUOTES.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
/** User text: guarded against formulas, then quoted if needed. */
const text = (v: unknown): string => quote(neutralizeCell(str(v)));

/**
 * One CSV line per record, concatenated: the export writes a whole table
 * page with one call instead of pushing every row through a stream (which
 * cost a chunk, a callback and a socket write per row). `amount` and
 * `approvedAt` are formatted by us, never user text, so they are not guarded.
 */
export function csvLines(records: readonly ExportRecord[]): string {
  let out = '';
  for (const r of records) {
    out +=
      quote(str(r.rowKey)) + ',' + quote(str(r.approvedAt)) + ',' + text(r.approver) + ',' + text(r.employee) + ',' +
      text(r.costCenter) + ',' + text(r.reimbursementMethod) + ',' + text(r.currency) + ',' + quote(str(r.amount)) + CRLF;
  }
  return out;
}

/** RFC 4180 as a stream of records in, CSV text out (header first, even with no records), for pipelines. */
export function csvStringifier(): Transform {
  let headed = false;
  const head = () => {
    if (headed) return '';
    headed = true;
    return CSV_HEADER;
  };
  return new Transform({
    writableObjectMode: true,
    transform(record: ExportRecord, _enc, done) {
      done(null, head() + csvLines([record]));
    },
    flush(done) {
      done(null, head() || undefined);
    },
  });
}
