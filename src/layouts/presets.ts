import type { LayoutInput } from './layout-schema';

/**
 * The built-in layouts (docs/layouts.md shows each with a sample of its
 * bytes). `v1` is today's file, the default, forever: the route serves it
 * through the v1 writer (csv.ts), and a test holds this definition to the
 * same bytes.
 */
export const PRESETS: readonly LayoutInput[] = [
  {
    name: 'v1',
    version: 1,
    description: 'The original file: RFC 4180 CSV, UTF-8, comma, decimal point, ISO 8601 UTC timestamps. The default.',
    fileName: 'expenses-{date}.csv',
    columns: [
      { header: 'expense_id', field: 'expense.id' },
      { header: 'approved_at', field: 'expense.approvedAt', format: 'iso8601' },
      { header: 'approver', field: 'expense.approver' },
      { header: 'employee', field: 'expense.employee' },
      { header: 'cost_center', field: 'expense.costCenter' },
      { header: 'reimbursement_method', field: 'expense.reimbursementMethod' },
      { header: 'currency', field: 'expense.currency' },
      { header: 'amount', field: 'expense.amount', format: 'decimal' },
    ],
  },
  {
    name: 'excel-de',
    version: 1,
    description:
      'For German or French Excel and DATEV-style imports: semicolon, decimal comma, DD.MM.YYYY in EXPORT_TIMEZONE, Windows-1252.',
    delimiter: ';',
    decimal: ',',
    dateFormat: 'DD.MM.YYYY',
    timeZone: 'export',
    encoding: 'windows-1252',
    fileName: 'expenses-{date}-excel-de.csv',
    columns: [
      { header: 'Belegnummer', field: 'expense.id' },
      { header: 'Datum', field: 'expense.approvedAt' },
      { header: 'Personalnummer', field: 'expense.employeeNumber' },
      { header: 'Mitarbeiter', field: 'expense.employee' },
      { header: 'Kostenstelle', field: 'expense.costCenter' },
      { header: 'Genehmigt von', field: 'expense.approver' },
      { header: 'Erstattung', field: 'expense.reimbursementMethod' },
      { header: 'Währung', field: 'expense.currency' },
      { header: 'Betrag', field: 'expense.amount' },
    ],
  },
  {
    name: 'fixed-width-payroll',
    version: 1,
    description:
      'Fixed-width records for payroll: employee number, export date, amount in minor units zero-padded, currency, and the row number of the day. ISO-8859-1, CRLF, no header.',
    kind: 'fixed',
    header: false,
    encoding: 'iso-8859-1',
    fileName: 'payroll-{date}.txt',
    columns: [
      { header: 'EMPNO', field: 'expense.employeeNumber', width: 20, align: 'left', pad: ' ' },
      { header: 'DATE', field: 'export.date', format: 'YYYYMMDD', width: 8, align: 'left', pad: ' ' },
      { header: 'AMOUNT', field: 'expense.amount', format: 'minor', width: 15, align: 'right', pad: '0' },
      { header: 'CUR', field: 'expense.currency', width: 3, align: 'left', pad: ' ' },
      { header: 'SEQ', field: 'expense.seq', width: 10, align: 'right', pad: '0' },
    ],
  },
  {
    name: 'gl-lines',
    version: 1,
    description: 'One line per line item with its GL account (from the category), for AP and journal imports. UTF-8 CSV.',
    grain: 'item',
    fileName: 'gl-lines-{date}.csv',
    accounts: {
      map: { TRAVEL: '6100', LODGING: '6110', MEALS: '6120', MILEAGE: '6130', TRAINING: '6200', OFFICE: '6300' },
      default: '6999',
    },
    columns: [
      { header: 'gl_account', field: 'item.account' },
      { header: 'expense_id', field: 'expense.id' },
      { header: 'line', field: 'item.line' },
      { header: 'employee_number', field: 'expense.employeeNumber' },
      { header: 'cost_center', field: 'expense.costCenter' },
      { header: 'category', field: 'item.category' },
      { header: 'currency', field: 'expense.currency' },
      { header: 'amount', field: 'item.amount' },
      { header: 'posting_date', field: 'export.date' },
    ],
  },
];
