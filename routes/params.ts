import type { Request } from 'express';
import { AppError } from '../src/http/app-error';
import { isCalendarDate } from '../src/expenses/dates';
import { isValidKey } from '../src/expenses/model';

/*
 * The checks of what a client put in a path, a query or a header, each once,
 * for every router: a bad value is a clear problem (400), never a crash.
 */

/** A date a client named (a path or query parameter), or the invalid_date problem. */
export function calendarDate(value: unknown): string {
  if (!isCalendarDate(value))
    throw new AppError('invalid_date', `"${String(value).slice(0, 40)}" is not a real calendar date in YYYY-MM-DD form.`);
  return value;
}

export const calendarDateParam = (req: Request): string => calendarDate(req.params.date);

/** An optional non-negative integer query parameter (the OpenAPI validator has checked its form, and may have made it a number). */
export function seqParam(req: Request, name: string): number | undefined {
  const v: unknown = req.query[name];
  if (typeof v === 'number') return v;
  return typeof v === 'string' && v !== '' ? Number(v) : undefined;
}

/** The `:id` of an expense: what a table key may hold, checked before it reaches a query. */
export function expenseIdParam(req: Request): string {
  const id: unknown = req.params.id;
  if (!isValidKey(id)) throw new AppError('bad_request', 'Expense id may contain only A-Z a-z 0-9 _ - (1-128 characters).');
  return id;
}

/** Printable ASCII, 1-255: what the IETF Idempotency-Key draft's keys look like (a UUID, a file's SHA-256 …). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The Idempotency-Key header, required. */
export function idempotencyKeyHeader(req: Request): string {
  const key = req.get('Idempotency-Key');
  if (key === undefined)
    throw new AppError(
      'idempotency_key_required',
      "Send an Idempotency-Key header (a UUID, or the file's SHA-256): a retry with the same key is then harmless.",
    );
  if (!IDEMPOTENCY_KEY.test(key)) throw new AppError('bad_request', 'Idempotency-Key must be 1-255 printable ASCII characters.');
  return key;
}

/** The optional Result-Row-Count header: how many lines the sender says its file has. */
export function rowCountHeader(req: Request): number | undefined {
  const v = req.get('Result-Row-Count');
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v.trim())) throw new AppError('bad_request', 'Result-Row-Count must be a whole number of lines.');
  return Number(v);
}
