import { odata } from '@azure/data-tables';
import type { ExportStore } from '../export-store';
import { INDEX_PARTITION, ROWS_END, type ManifestStore } from '../manifest-store';

const UPGRADE_MARKER = '~upgraded-seq';
/** Rows are looked for again this long after the last look: Timestamps are the service's clock, and a write may land late. */
const OVERLAP_MS = 5 * 60_000;

/**
 * Finds the days that hold rows without seq (see legacy-rows.ts for why
 * they exist and when this folder can go):
 *
 * - once per table, the whole table, with one scan (a marker row remembers
 *   it was done; `rescan` ignores the marker, for after the last instance
 *   of an earlier release has stopped);
 * - the days whose numbering did not finish (marked in the day index);
 * - while instances of an earlier release may still run, the rows written
 *   lately to the days still open: a query per day on `Timestamp`, so each
 *   look reads only what landed since the last one.
 */
export class LegacyFinder {
  private readonly lookedAt = new Map<string, number>();

  constructor(
    private readonly store: ExportStore,
    private readonly manifests: ManifestStore,
  ) {}

  /** The days an earlier release wrote (rows without seq, or rows in a day without manifest), once per table unless `rescan`. */
  async wholeTable(opts: { rescan?: boolean }, signal?: AbortSignal): Promise<{ scanned: boolean; days: string[] }> {
    if (!opts.rescan && (await this.store.get(INDEX_PARTITION, UPGRADE_MARKER, ['RowKey'], signal))) return { scanned: false, days: [] };
    const needs = new Map<string, { manifest: boolean; unnumbered: boolean }>();
    const query = { filter: odata`PartitionKey lt ${INDEX_PARTITION}`, select: ['PartitionKey', 'RowKey', 'seq'] };
    for await (const page of this.store.pages<{ partitionKey: string; rowKey: string; seq?: number }>(query, signal)) {
      for (const e of page) {
        const day = needs.get(e.partitionKey) ?? { manifest: false, unnumbered: false };
        if (e.rowKey.startsWith(ROWS_END)) day.manifest = true;
        else if (typeof e.seq !== 'number') day.unnumbered = true;
        needs.set(e.partitionKey, day);
      }
    }
    return { scanned: true, days: [...needs].filter(([, d]) => d.unnumbered || !d.manifest).map(([date]) => date) };
  }

  /** Records that the whole-table scan has been done and what it found (after the days it found are numbered). */
  async markScanned(result: { days: number; numbered: number }, at: Date, signal?: AbortSignal): Promise<void> {
    await this.store.upsert({ partitionKey: INDEX_PARTITION, rowKey: UPGRADE_MARKER, at: at.toISOString(), ...result }, 'Replace', signal);
  }

  /** Days whose numbering started and has not finished (the instance doing it may have died). */
  unfinished(signal?: AbortSignal): Promise<string[]> {
    return this.manifests.indexedDays('0000-00-00', '9999-99-99', { upgradingOnly: true }, signal);
  }

  /** Of `days`, those with a row without seq written since the last look (the first look reads the whole day). */
  async lately(days: readonly string[], now: number, signal?: AbortSignal): Promise<string[]> {
    const found: string[] = [];
    for (const date of days) {
      const since = this.lookedAt.get(date);
      const filter =
        since === undefined
          ? odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`
          : odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END} and Timestamp ge ${new Date(since - OVERLAP_MS)}`;
      let unnumbered = false;
      for await (const page of this.store.pages<{ seq?: number }>({ filter, select: ['seq'] }, signal)) {
        if (page.some((r) => typeof r.seq !== 'number')) unnumbered = true;
      }
      this.lookedAt.set(date, now);
      if (unnumbered) found.push(date);
    }
    for (const date of this.lookedAt.keys()) if (!days.includes(date)) this.lookedAt.delete(date);
    return found;
  }
}
