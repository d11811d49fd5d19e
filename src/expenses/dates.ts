/** A real calendar date in strict YYYY-MM-DD form (2026-02-30 and 26-1-1 are not). */
export function isCalendarDate(value: unknown): value is string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const [y, m, d] = value.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return y >= 1970 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of an instant in an IANA zone, as YYYY-MM-DD. */
export function dateInZone(instant: Date, timeZone: string): string {
  let f = formatters.get(timeZone);
  if (!f) {
    // en-CA formats dates as YYYY-MM-DD.
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f.format(instant);
}

/** The calendar date after `date` (YYYY-MM-DD). */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The calendar date `days` before `date` (YYYY-MM-DD). */
export function dateMinusDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d - days)).toISOString().slice(0, 10);
}

/** Days from `from` to `to`, both included (0 when `to` is before `from`). */
export function daysBetween(from: string, to: string): number {
  return Math.max(0, Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1);
}

/**
 * The instant `date` begins in `timeZone`: the first millisecond whose
 * calendar date there is `date`. Found by search, not by offset arithmetic,
 * so that DST changes (and zones whose midnight is skipped) come out right.
 */
export function startOfDayInZone(date: string, timeZone: string): number {
  // The day begins somewhere within 14 h of UTC midnight (UTC-12 .. UTC+14).
  let lo = Date.parse(`${date}T00:00:00Z`) - 15 * 3_600_000;
  let hi = lo + 30 * 3_600_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (dateInZone(new Date(mid), timeZone) < date) lo = mid;
    else hi = mid;
  }
  return hi;
}
