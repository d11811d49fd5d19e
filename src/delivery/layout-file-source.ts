import type { ExportTable } from '../export/export-table';
import { openLayoutFile } from '../layouts/open-file';
import type { LayoutRegistry } from '../layouts/registry';
import type { FileSource } from './file-source';

/**
 * A delivered file is a layout's named snapshot: exactly the bytes and ETag
 * of `GET /exports/{date}?through=&after=&layout=` (no BOM, no gzip), from
 * the same function the route streams from.
 */
export function layoutFileSource(exportTable: Pick<ExportTable, 'snapshot'>, layouts: LayoutRegistry): FileSource {
  return (date, range, layout, signal) => openLayoutFile({ exportTable, layouts }, date, range, layout, {}, signal);
}
