import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { csvStringifier, pageStream } from '../export/csv';
import type { ExportTable } from '../export/export-table';
import { snapshotHeaders } from '../export/export-view';
import { UnknownLayoutError, type FileSource } from './file-source';

/**
 * The v1-only FileSource: today's `GET /exports/{date}` bytes (no BOM, no
 * gzip) and ETag, built as routes/exports.ts builds them. Only layout `v1`;
 * any other is an UnknownLayoutError. (To be replaced by the layouts'
 * openLayoutFile, which has this shape and knows every layout.)
 */
export function v1FileSource(exportTable: Pick<ExportTable, 'snapshot'>): FileSource {
  return async (date, range, layoutName, signal) => {
    if (layoutName !== 'v1') throw new UnknownLayoutError(layoutName);
    const snap = await exportTable.snapshot(date, range, signal);
    return {
      etag: snapshotHeaders(snap, []).ETag,
      rowCount: snap.rowCount,
      totals: snap.totals,
      fileName: `expenses-${date}.csv`,
      snapshot: { after: snap.after, through: snap.through },
      body: () => {
        const out = new PassThrough();
        pipeline(pageStream(snap.pages(signal)), csvStringifier(), out).catch((err: Error) => out.destroy(err));
        return out;
      },
    };
  };
}
