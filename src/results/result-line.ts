import { isResultStatus, type ResultStatus } from '../expenses/lifecycle';
import { isCalendarDate } from '../expenses/dates';
import { isValidKey } from '../expenses/model';
import { FORMULA_START } from '../export/csv';
import { formatMinor, isCurrency, parseAmount } from '../money/money';

/**
 * A line of the results file payroll sends back, and the rules one line is
 * judged by on its own. Pure.
 */
export const RESULT_COLUMNS = ['expense_id', 'status', 'amount', 'currency', 'status_at', 'reference', 'message'] as const;
export type ResultColumn = (typeof RESULT_COLUMNS)[number];

export interface ResultLine {
  /** CSV: the file line the record starts on (the header is line 1). JSON: its 1-based position in the array. */
  line: number;
  expenseId: string;
  status: ResultStatus;
  currency: string;
  amountMinor: bigint;
  /** As written by the sender (ISO 8601), and as an instant. */
  statusAt: string;
  statusAtMs: number;
  reference: string;
  message: string;
}

export type ParsedLine = { ok: true; value: ResultLine } | { ok: false; line: number; expenseId?: string; message: string };

export const MAX_REFERENCE = 100;
export const MAX_MESSAGE = 500;

// ISO 8601 date-time with a zone (Z or ±hh:mm), or a calendar date alone.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** The instant of a status_at, or NaN. Date.parse alone rolls 2026-02-30 over to 2 March and takes 24:00 as the next day. */
function instantOf(value: string): number {
  const m = ISO_8601.exec(value);
  if (!m || !isCalendarDate(value.slice(0, 10))) return NaN;
  if (m[1] !== undefined && Number(value.slice(11, 13)) > 23) return NaN;
  return Date.parse(value);
}
const CONTROL = /\p{Cc}/u;

/** One line's cells by column, as given: CSV cells are strings; JSON values may be numbers (an amount) or missing. */
export type ResultCells = Partial<Record<ResultColumn, unknown>>;

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Judges one record on its own: a ResultLine, or why it is a bad row. */
export function parseResultLine(raw: ResultCells, line: number): ParsedLine {
  const cells: Partial<Record<ResultColumn, string>> = {};
  for (const c of RESULT_COLUMNS) {
    const v = text(raw[c]);
    if (v === undefined) return { ok: false, line, message: `${c}: must be a string` };
    cells[c] = v.trim();
  }
  const id = cells.expense_id!;
  const bad = (message: string): ParsedLine => ({ ok: false, line, ...(isValidKey(id) ? { expenseId: id } : {}), message });
  for (const c of RESULT_COLUMNS) {
    if (CONTROL.test(cells[c]!)) return bad(`${c}: must not contain control characters`);
    if (FORMULA_START.test(cells[c]!)) return bad(`${c}: starts with a spreadsheet formula character`);
  }
  if (!isValidKey(id)) return bad('expense_id: must be 1-128 of A-Z a-z 0-9 _ -');
  if (!isResultStatus(cells.status)) return bad('status: must be posted, paid or rejected');
  if (!isCurrency(cells.currency!)) return bad('currency: must be an ISO 4217 code');
  const amount = parseAmount(cells.amount, cells.currency!);
  if (!amount.ok) return bad(`amount: ${amount.reason}`);
  const statusAtMs = instantOf(cells.status_at!);
  if (!Number.isFinite(statusAtMs)) return bad('status_at: must be an ISO 8601 date or date-time with a zone, e.g. 2026-11-30T17:05:00Z');
  if (cells.reference!.length > MAX_REFERENCE) return bad(`reference: at most ${MAX_REFERENCE} characters`);
  if (cells.message!.length > MAX_MESSAGE) return bad(`message: at most ${MAX_MESSAGE} characters`);
  return {
    ok: true,
    value: {
      line,
      expenseId: id,
      status: cells.status,
      currency: cells.currency!,
      amountMinor: amount.minor,
      statusAt: cells.status_at!,
      statusAtMs,
      reference: cells.reference!,
      message: cells.message!,
    },
  };
}

/** A header row is this file's if it names exactly the result columns (in any order). */
export function headerProblem(header: readonly string[]): string | undefined {
  const names = header.map((h) => h.trim());
  const missing = RESULT_COLUMNS.filter((c) => !names.includes(c));
  const extra = names.filter((n) => !(RESULT_COLUMNS as readonly string[]).includes(n));
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (missing.length === 0 && extra.length === 0 && twice.length === 0) return undefined;
  const shown = (xs: string[]) => xs.map((x) => JSON.stringify(x.slice(0, 40))).join(', ');
  return [
    `the header row must be ${RESULT_COLUMNS.join(',')}`,
    missing.length ? `missing ${shown(missing)}` : '',
    extra.length ? `unknown ${shown(extra)}` : '',
    twice.length ? `twice ${shown(twice)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

export const lineAmount = (l: ResultLine): string => formatMinor(l.amountMinor, l.currency);
