/**
 * The fixed sets of date and time formats a layout may name, and their
 * pure formatting. A timestamp is rendered in UTC or in EXPORT_TIMEZONE.
 */
export const DATE_FORMATS = ['YYYY-MM-DD', 'DD.MM.YYYY', 'MM/DD/YYYY', 'DD/MM/YYYY', 'YYYYMMDD', 'DDMMYYYY', 'YYMMDD', 'DDMM'] as const;
export const TIME_FORMATS = ['HH:mm:ss', 'HHmmss', 'HH:mm'] as const;
/** ISO 8601 date-time: in UTC exactly as stored (`2026-11-23T09:00:00.000Z`), in a zone with its offset (`…T10:00:00.000+01:00`). */
export const ISO8601 = 'iso8601';
export type DateFormat = (typeof DATE_FORMATS)[number];
export type TimeFormat = (typeof TIME_FORMATS)[number];
export type TimestampFormat = DateFormat | TimeFormat | typeof ISO8601;

export interface Parts {
  y: string;
  mo: string;
  d: string;
  h: string;
  mi: string;
  s: string;
  ms: string;
  /** '' in UTC (the stored Z form is used), else `+01:00`. */
  offset: string;
}

const TOKEN = /YYYY|YY|MM|DD|HH|mm|ss/g;

/** A format string as a function of the parts, built once per column. */
export function partsFormatter(format: DateFormat | TimeFormat): (p: Parts) => string {
  const pieces: string[] = []; // a part name, or a literal after an apostrophe
  let last = 0;
  for (const m of format.matchAll(TOKEN)) {
    if (m.index > last) pieces.push(`'${format.slice(last, m.index)}`);
    pieces.push(({ YYYY: 'y', YY: 'yy', MM: 'mo', DD: 'd', HH: 'h', mm: 'mi', ss: 's' } as const)[m[0] as 'YYYY']);
    last = m.index + m[0].length;
  }
  if (last < format.length) pieces.push(`'${format.slice(last)}`);
  const get = pieces.map((p) =>
    p.startsWith("'") ? () => p.slice(1) : p === 'yy' ? (x: Parts) => x.y.slice(2) : (x: Parts) => x[p as keyof Parts],
  );
  return (x) => get.map((g) => g(x)).join('');
}

/** A calendar date `YYYY-MM-DD` as parts (no time). */
export function dateParts(date: string): Parts {
  return { y: date.slice(0, 4), mo: date.slice(5, 7), d: date.slice(8, 10), h: '00', mi: '00', s: '00', ms: '000', offset: '' };
}

const QUARTER_HOUR = 15 * 60_000;

/**
 * Splits stored ISO timestamps (`toISOString` form) into parts in UTC or in
 * a zone. Every real zone changes its offset on a quarter hour, so one
 * Intl lookup per quarter hour serves every timestamp in it.
 */
export class TimestampParts {
  private readonly offsets = new Map<number, number>();
  private readonly dtf: Intl.DateTimeFormat | undefined;

  constructor(readonly timeZone: string) {
    this.dtf =
      timeZone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }); // prettier-ignore
  }

  of(iso: string): Parts {
    if (!this.dtf) return isoParts(iso, '');
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) throw new Error(`stored timestamp "${iso}" is not ISO 8601`);
    const offsetMin = this.offsetAt(ms);
    const local = new Date(ms + offsetMin * 60_000).toISOString();
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    return isoParts(local, `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`);
  }

  private offsetAt(ms: number): number {
    const bucket = Math.floor(ms / QUARTER_HOUR);
    let off = this.offsets.get(bucket);
    if (off === undefined) {
      const at = bucket * QUARTER_HOUR;
      const p = Object.fromEntries(this.dtf!.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
      const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
      off = Math.round((asUtc - at) / 60_000);
      if (this.offsets.size > 10_000) this.offsets.clear();
      this.offsets.set(bucket, off);
    }
    return off;
  }
}

function isoParts(iso: string, offset: string): Parts {
  return { y: iso.slice(0, 4), mo: iso.slice(5, 7), d: iso.slice(8, 10), h: iso.slice(11, 13), mi: iso.slice(14, 16), s: iso.slice(17, 19), ms: iso.slice(20, 23), offset }; // prettier-ignore
}

/** ISO 8601 from parts: the stored form in UTC, with the zone's offset elsewhere. */
export function iso8601(iso: string, p: Parts): string {
  return p.offset === '' ? iso : `${p.y}-${p.mo}-${p.d}T${p.h}:${p.mi}:${p.s}.${p.ms}${p.offset}`;
}
