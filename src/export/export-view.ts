import { dayState, snapshotEtag, totalsHeader, totalsJson, type Manifest } from './manifest';
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
    exportedThrough: m.ackAppliedThrough,
    /** The ETag of the whole day's file as it stands: what If-None-Match compares. */
    etag: snapshotEtag(m.date, 0, m.seq),
  };
}

export type ManifestView = ReturnType<typeof manifestView>;
