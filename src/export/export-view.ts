import { daysBetween } from '../expenses/dates';
import { dayState, snapshotEtag, totalsHeader, totalsJson, unacknowledgedRows, type Manifest } from './manifest';
import type { Snapshot } from './export-table';

/**
 * What clients see of a day: the response headers of a file, and a
 * manifest as JSON. Pure, so the route, the CLI and the tests agree.
 */

/** Headers that name a file response (GET, HEAD and 304 alike). */
export function snapshotHeaders(s: Snapshot, variant: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {
    ETag: snapshotEtag(s.date, s.after, s.through, variant),
    'Export-Seq': String(s.through),
    'Export-Row-Count': String(s.rowCount),
    'Export-State': s.state,
  };
  const totals = totalsHeader(s.totals);
  if (totals) headers['Export-Totals'] = totals;
  return headers;
}

/**
 * Headers that name a file in a layout: the snapshot's, with its layout's
 * ETag, `Export-Row-Count` counting the records of the body (item lines in
 * an item-grain layout; left out where not known, as on its 304), and the
 * layout and transliteration rules used.
 */
export interface FileNaming {
  snapshot: Snapshot;
  /** What changes the bytes beyond the rows (the layout's tag, a BOM): part of the ETag. */
  variant: readonly string[];
  layout: { layout: { name: string; version: number } };
  transliteration: string | undefined;
}

export function fileHeaders(f: FileNaming, rowCount: number | undefined, coding: readonly string[]): Record<string, string> {
  const headers = snapshotHeaders(f.snapshot, [...f.variant, ...coding]);
  if (rowCount === undefined) delete headers['Export-Row-Count'];
  else headers['Export-Row-Count'] = String(rowCount);
  headers['Export-Layout'] = `${f.layout.layout.name}; version=${f.layout.layout.version}`;
  if (f.transliteration) headers['Export-Transliteration'] = f.transliteration;
  return headers;
}

export function manifestView(m: Manifest) {
  return {
    date: m.date,
    state: dayState(m),
    seq: m.seq,
    rowCount: m.rowCount,
    totals: totalsJson(m.totals),
    firstRowAt: m.firstRowAt ?? null,
    lastRowAt: m.lastRowAt ?? null,
    closedAt: m.closedAt ?? null,
    closedSeq: m.closedSeq ?? null,
    acknowledgedThrough: m.acknowledgedThrough,
    acknowledgedAt: m.acknowledgedAt ?? null,
    acknowledgedBy: m.acknowledgedBy ?? null,
    exportedThrough: m.exportedThrough,
    /** While rows of an earlier release are numbered (the whole day answers 503 day_upgrading meanwhile): rows numbered so far, rows found without seq. */
    upgrading: m.upgrade ? { numbered: m.seq, found: m.upgrade.found } : null,
    /** The ETag of the whole day's file as it stands: what If-None-Match compares. */
    etag: snapshotEtag(m.date, 0, m.seq),
  };
}

export type ManifestView = ReturnType<typeof manifestView>;

/** At most this many days per list call (GET /exports, `expense-export days`). */
export const MAX_LIST_DAYS = 366;

/** Why from..to is not a range one list call takes; undefined when it is. */
export function dayRangeProblem(from: string, to: string): string | undefined {
  if (to < from) return `to (${to}) is before from (${from}).`;
  const n = daysBetween(from, to);
  return n > MAX_LIST_DAYS ? `At most ${MAX_LIST_DAYS} days per call; ${from}..${to} is ${n}.` : undefined;
}

/** The list of days as GET /exports and `expense-export days` answer it. */
export function dayListView(from: string, to: string, unacknowledgedOnly: boolean, days: readonly Manifest[]) {
  const listed = unacknowledgedOnly ? days.filter((m) => unacknowledgedRows(m) > 0) : days;
  return { from, to, unacknowledged: unacknowledgedOnly, days: listed.map(manifestView) };
}
