import type { Totals } from '../export/manifest';

/**
 * Where delivered bytes come from: exactly the bytes (and ETag) of
 * `GET /exports/{date}?after=..&through=..&layout=NAME`. Delivery depends on
 * this shape only; layout-file-source.ts makes it from the layouts'
 * openLayoutFile, the function the route streams from.
 */
export interface DeliveryFile {
  etag: string;
  rowCount: number;
  totals: Totals;
  fileName: string;
  /** The seq range the bytes hold: rows (after, through]. */
  snapshot: { after: number; through: number };
  /** The bytes, streamed with back-pressure; each call starts a new read. A failure part-way throws. */
  body: () => AsyncIterable<Buffer>;
}

export type FileSource = (
  date: string,
  range: { after?: number; through?: number },
  layoutName: string,
  signal?: AbortSignal,
) => Promise<DeliveryFile>;

/** The layout a FileSource does not know: a target configured with it cannot deliver (a permanent failure). */
