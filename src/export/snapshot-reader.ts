import { odata, type TableEntityQueryOptions } from '@azure/data-tables';
import { DayUpgradingError, SeqOutOfRangeError, SnapshotIncompleteError } from './errors';
import type { Page } from './export-pages';
import { EXPORT_SELECT, type ExportRecord } from './export-row';
import type { ExportStore } from './export-store';
import type { LegacyRows } from './legacy/legacy-rows';
import { dayState, decodeTotals, emptyManifest, subtractTotals, type DayState, type Manifest, type Totals } from './manifest';
import { ROWS_END, type ManifestStore, type StoredManifest } from './manifest-store';

/** A row as the file needs it: its cells, and its seq (absent only on a row an earlier release wrote and nobody numbered yet). */
export type FileRecord = ExportRecord & { seq?: number };
export type ExportPage = Page<FileRecord>;

/** One response's worth of a day: rows (after, through], and what its headers say about them. */
export interface Snapshot {
  date: string;
  after: number;
  through: number;
  /** Rows in this snapshot: through - after. */
  rowCount: number;
  /** Of the rows in this snapshot. */
  totals: Totals;
  state: DayState;
  manifest: Manifest;
  /** The rows, page by page in RowKey order, with back-pressure; the stream fails if they do not add up to rowCount. */
  pages(signal?: AbortSignal): AsyncGenerator<ExportPage>;
}

/**
 * The query of a file read (the bench's raw baseline sends exactly this
 * too): the day's rows, never its manifest; an increment (`after` > 0)
 * asks the service for its seqs only. `$format=nometadata`: every selected
 * property is a string or a number, so the per-entity odata annotations
 * carry nothing we use, and dropping them makes pages smaller for the
 * service to write and the SDK to parse. (The SDK passes `format` through
 * to the REST call without declaring it; were it to stop, we would get the
 * default format: slower, equally correct.)
 */
export function fileQuery(date: string, range: { after: number; through: number } = { after: 0, through: 0 }): TableEntityQueryOptions {
  const filter =
    range.after > 0
      ? odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END} and seq gt ${range.after} and seq le ${range.through}`
      : odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`;
  const query: TableEntityQueryOptions & { format: string } = {
    filter,
    select: [...EXPORT_SELECT, 'seq'],
    format: 'application/json;odata=nometadata',
  };
  return query;
}

/** Reads named snapshots of a day for ExportTable (the table's owner, which hands it its storage layer). */
export class SnapshotReader {
  constructor(
    private readonly store: ExportStore,
    private readonly manifests: ManifestStore,
    private readonly legacy: Pick<LegacyRows, 'adopt' | 'found'>,
  ) {}

  /**
   * The manifest a snapshot is named from: one point read (a day without
   * one is empty, unless an earlier release wrote it). The whole of a day
   * whose legacy rows are still being numbered is refused (DayUpgradingError),
   * at once: a pull never waits for numbering, and never gets part of such a day.
   */
  async manifest(date: string, whole: boolean, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    const stored = (await this.manifests.read(date, signal)) ?? (await this.legacy.adopt(date, signal));
    const up = stored?.manifest.upgrade;
    if (whole && up) throw new DayUpgradingError(date, { numbered: stored.manifest.seq, found: up.found });
    return stored;
  }

  /**
   * Names rows (after, through] of a day: by default all of them (through =
   * the day's seq). Asking beyond the day's seq is a SeqOutOfRangeError.
   * Totals come from the manifest, or for a part of the day from the
   * running totals its rows carry, all written with the rows themselves.
   */
  async snapshot(date: string, range: { after?: number; through?: number }, signal?: AbortSignal): Promise<Snapshot> {
    const stored = await this.manifest(date, range.through === undefined, signal);
    const m = stored?.manifest ?? emptyManifest(date);
    const through = range.through ?? m.seq;
    const after = range.after ?? 0;
    if (through > m.seq) throw new SeqOutOfRangeError(date, through, m.seq, 'through');
    if (after > through) throw new SeqOutOfRangeError(date, after, through, 'after');
    const totals =
      after === 0 && through === m.seq
        ? m.totals
        : subtractTotals(...(await Promise.all([this.totalsThrough(date, through, signal), this.totalsThrough(date, after, signal)])));
    return {
      date,
      after,
      through,
      rowCount: through - after,
      totals,
      state: dayState(m),
      manifest: m,
      pages: (s) => this.snapshotPages(date, after, through, range.through === undefined, s),
    };
  }

  private async *snapshotPages(
    date: string,
    after: number,
    through: number,
    whole: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<ExportPage> {
    let count = 0;
    let unnumbered = 0;
    if (through > after) {
      for await (const page of this.store.pages<FileRecord>(fileQuery(date, { after, through }), signal)) {
        const kept = page.filter((r) => {
          if (typeof r.seq === 'number') return r.seq > after && r.seq <= through; // rows landing while we stream wait for the next pull
          unnumbered++;
          return false;
        });
        count += kept.length;
        yield kept;
      }
    }
    if (unnumbered > 0) {
      // An instance of an earlier release wrote them (a rolling upgrade): they are numbered in the background,
      // and until then this is not the whole day, so a pull of the whole day is cut, never ended cleanly.
      this.legacy.found(date);
      if (whole) throw new SnapshotIncompleteError(date, through - after, count, unnumbered);
    }
    if (count !== through - after) throw new SnapshotIncompleteError(date, through - after, count);
  }

  /** The day's running totals after row `seq` (row `seq` carries them; 0 is before any row). */
  private async totalsThrough(date: string, seq: number, signal?: AbortSignal): Promise<Totals> {
    if (seq === 0) return {};
    const query = { filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END} and seq eq ${seq}`, select: ['totalsThrough'] };
    for await (const page of this.store.pages<{ totalsThrough?: string }>(query, signal)) {
      if (page[0]) return decodeTotals(page[0].totalsThrough);
    }
    throw new SnapshotIncompleteError(date, seq, seq - 1);
  }
}
