import { v1PageText } from '../export/csv';
import type { ExportTable, Snapshot } from '../export/export-table';
import { snapshotEtag, type Totals } from '../export/manifest';
import { charsetOf, isSingleByte, TRANSLITERATION } from './encoding';
import { LayoutOptionError, LayoutRefusedError, UnknownLayoutError } from './errors';
import type { CompiledLayout, LayoutRegistry } from './registry';
import { ValueTooWideError } from './render';

/**
 * One day's file in one layout: what GET /exports/{date}?layout=NAME sends
 * and what delivery writes, from this one function, so they cannot
 * disagree. The body is the snapshot's pages, each rendered and encoded as
 * it comes, with back-pressure; it fails (never ends early) when the rows
 * do not add up to the snapshot.
 */
export interface LayoutFileDeps {
  exportTable: Pick<ExportTable, 'snapshot'>;
  layouts: LayoutRegistry;
}

export interface LayoutFileOptions {
  /** A UTF-8 BOM first (v1 and UTF-8 layouts only; `utf-8-bom` layouts have one anyway). */
  bom?: boolean;
  /** Called with each page's record count as it is rendered (metrics). */
  onRecords?: (n: number) => void;
}

/** A named file, known from the manifest alone: enough for an ETag, a 304 and most headers. */
export interface NamedLayoutFile {
  /** Without a content coding: the route adds `.gzip` for a gzip response. */
  etag: string;
  /** The layout's tag in the ETag; undefined for v1 (whose ETags are as they always were). */
  layoutTag: string | undefined;
  variant: string[];
  layout: CompiledLayout;
  snapshot: Snapshot;
  totals: Totals;
  contentType: string;
  fileName: string;
  /** Set for a single-byte encoding: the transliteration rules that apply (docs/layouts.md). */
  transliteration: string | undefined;
  /** Records in the body, when known from the manifest alone (expense grain: one per row). */
  knownRowCount: number | undefined;
}

export interface LayoutFile extends NamedLayoutFile {
  /** Records in the body (item grain: item lines, counted by a first read). */
  rowCount: number;
  body: () => AsyncIterable<Buffer>;
  /** Characters transliterated so far in the body (final once the body is done). */
  transliterated: () => number;
}

/** Names the file (one manifest read). Throws UnknownLayoutError, LayoutOptionError, SeqOutOfRangeError. */
export async function nameLayoutFile(
  deps: LayoutFileDeps,
  date: string,
  range: { after?: number; through?: number },
  layoutName: string,
  opts: LayoutFileOptions = {},
  signal?: AbortSignal,
): Promise<NamedLayoutFile> {
  const layout = deps.layouts.get(layoutName);
  if (!layout) throw new UnknownLayoutError(layoutName, deps.layouts.names());
  const l = layout.layout;
  if (opts.bom && isSingleByte(l.encoding))
    throw new LayoutOptionError(`bom: layout ${l.name} is ${l.encoding}, and a byte order mark is UTF-8's`);
  const snapshot = await deps.exportTable.snapshot(date, range, signal);
  const v1 = l.name === 'v1';
  const bom = !!opts.bom && l.encoding === 'utf-8'; // a utf-8-bom layout has its BOM in every variant
  const variant = [...(v1 ? [] : [layout.tag]), ...(bom ? ['bom'] : [])];
  return {
    etag: snapshotEtag(snapshot.date, snapshot.after, snapshot.through, variant),
    layoutTag: v1 ? undefined : layout.tag,
    variant,
    layout,
    snapshot,
    totals: snapshot.totals,
    contentType: `${l.kind === 'fixed' ? 'text/plain' : 'text/csv'}; charset=${charsetOf(l.encoding)}`,
    fileName: l.fileName.replaceAll('{date}', snapshot.date).replaceAll('{layout}', l.name).replaceAll('{seq}', String(snapshot.through)),
    transliteration: isSingleByte(l.encoding) ? TRANSLITERATION : undefined,
    knownRowCount: l.grain === 'expense' ? snapshot.rowCount : undefined,
  };
}

/**
 * Makes a named file ready to send: for a layout that needs it (item grain,
 * or a fixed-width column a value might not fit) the snapshot is read and
 * rendered once first, so that the record count is known and a value too
 * wide is refused before the first byte. The snapshot never changes, so
 * the second read renders the same records.
 */
export async function openNamedFile(named: NamedLayoutFile, opts: LayoutFileOptions = {}, signal?: AbortSignal): Promise<LayoutFile> {
  const { layout, snapshot } = named;
  const v1 = layout.layout.name === 'v1';
  const bom = named.variant.includes('bom');
  let rowCount = named.knownRowCount;
  if (layout.prepass) rowCount = await countRecords(named, signal);
  let transliterated = 0;
  async function* body(): AsyncGenerator<Buffer> {
    let first = true;
    for await (const page of snapshot.pages(signal)) {
      if (v1) {
        opts.onRecords?.(page.length);
        yield Buffer.from(v1PageText(page, first, bom), 'utf8');
      } else {
        const out = layout.renderer.page(page, snapshot.date, first);
        transliterated += out.transliterated;
        opts.onRecords?.(out.records);
        yield bom && first ? Buffer.concat([Buffer.from('\uFEFF'), out.bytes]) : out.bytes;
      }
      first = false;
    }
    if (first) {
      // A day without rows in this range: the header alone (and the BOM).
      yield v1 ? Buffer.from(v1PageText([], true, bom), 'utf8') : layout.renderer.page([], snapshot.date, true).bytes;
    }
  }
  return { ...named, rowCount: rowCount!, body, transliterated: () => transliterated };
}

async function countRecords(named: NamedLayoutFile, signal?: AbortSignal): Promise<number> {
  let n = 0;
  try {
    for await (const page of named.snapshot.pages(signal)) n += named.layout.renderer.count(page, named.snapshot.date);
  } catch (err) {
    if (err instanceof ValueTooWideError)
      throw new LayoutRefusedError(
        `Layout ${named.layout.layout.name} cannot hold this file: ${err.message}. Nothing was cut; widen the column.`,
      );
    throw err;
  }
  return n;
}

/** The contract delivery builds on: GET /exports/{date}?through=n&layout=NAME, exactly. */
export async function openLayoutFile(
  deps: LayoutFileDeps,
  date: string,
  range: { after?: number; through?: number },
  layoutName: string,
  opts: LayoutFileOptions = {},
  signal?: AbortSignal,
): Promise<LayoutFile> {
  return openNamedFile(await nameLayoutFile(deps, date, range, layoutName, opts, signal), opts, signal);
}
