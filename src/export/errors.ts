/**
 * Domain errors of the export feature; the HTTP layer maps them to problem
 * codes (src/http/error-middleware.ts), the CLI prints their message.
 */

/** A client named rows the day does not have (yet): a snapshot, an increment or an acknowledgement beyond the day's last seq. */
export class SeqOutOfRangeError extends Error {
  override name = 'SeqOutOfRangeError';
  constructor(
    readonly date: string,
    readonly asked: number,
    readonly seq: number,
    what: string,
  ) {
    super(`${what}: ${date} has rows 1..${seq}; ${asked} is beyond its last seq.`);
  }
}

/**
 * A snapshot's rows did not come out as its manifest said: fewer or more
 * than promised. Thrown at the end of the stream, so the response is cut
 * rather than ended cleanly with a file that does not match its headers.
 */
export class SnapshotIncompleteError extends Error {
  override name = 'SnapshotIncompleteError';
  constructor(date: string, expected: number, got: number, unnumbered = 0) {
    super(
      `the snapshot of ${date} promised ${expected} rows and the table gave ${got}` +
        (unnumbered > 0 ? `, and ${unnumbered} rows of an earlier release without seq that are not in it yet` : ''),
    );
  }
}

/**
 * The day holds rows an earlier release wrote without a seq, and they are
 * being numbered (src/export/legacy/). Until they all are, the whole day is
 * not served, closed or acknowledged: part of it would look like all of it.
 */
export class DayUpgradingError extends Error {
  override name = 'DayUpgradingError';
  constructor(
    readonly date: string,
    /** Rows numbered so far (the day's seq), and rows without seq the numbering found (0: not scanned yet). */
    readonly progress: { numbered: number; found: number },
  ) {
    super(
      `${date} holds rows written by an earlier release that are being numbered` +
        (progress.found > 0 ? ` (${progress.numbered} of about ${progress.numbered + progress.found} so far)` : '') +
        '; try again shortly.',
    );
  }
}
