import { stringify, type Stringifier } from 'csv-stringify';

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

/** Columns whose text we format ourselves; they are never user text, so they stay numbers/timestamps. */
const SERVER_FORMATTED = new Set<string>(['amount', 'approvedAt']);

// = + - @ TAB CR start a formula in Excel/LibreOffice/Sheets (OWASP "CSV Injection"), as do their
// full-width forms in some locales. A leading apostrophe is guarded too, so that stripping exactly
// one leading apostrophe always restores the original text.
const DANGEROUS_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20']/;

export function neutralizeCell(value: string): string {
  return DANGEROUS_START.test(value) ? `'${value}` : value;
}

/** Inverse of neutralizeCell, for consumers (and tests) that want the original text back. */
export function unneutralizeCell(value: string): string {
  return value.startsWith("'") ? value.slice(1) : value;
}

/** RFC 4180: header row, CRLF line ends, quotes only where needed. */
export function csvStringifier(): Stringifier {
  return stringify({
    header: true,
    columns: CSV_COLUMNS.map((c) => ({ key: c.key, header: c.header })),
    record_delimiter: 'windows',
    cast: { string: (value, ctx) => (ctx.column !== undefined && SERVER_FORMATTED.has(String(ctx.column)) ? value : neutralizeCell(value)) },
  });
}
