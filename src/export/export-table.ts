import { odata, type TableClient, type TableEntityQueryOptions } from '@azure/data-tables';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock';
import { mapLimit } from '../map-limit';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import { DayWriter, type AppendResult, type DayWriterEvents } from './day-writer';
import { DayUpgradingError, SeqOutOfRangeError } from './errors';
import type { ExportRow } from './export-row';
import { ExportStore } from './export-store';
import { LegacyFinder } from './legacy/legacy-finder';
import { LegacyRows } from './legacy/legacy-rows';
import { emptyManifest, type Manifest } from './manifest';
import { ManifestStore, ROWS_END, type StoredManifest } from './manifest-store';
import { fileQuery, SnapshotReader, type FileRecord, type Snapshot } from './snapshot-reader';

export interface ExportTableOptions {
  logger: Logger;
  /** The system clock unless a test drives time. */
  clock?: Clock;
  events?: Partial<DayWriterEvents> & { numbered?: (rows: number) => void };
}

/**
 * The ExpenseExport table's one owner: nothing else reads or writes it.
 * PartitionKey = approval date (YYYY-MM-DD); RowKey = the approval's key
 * (rowKeyFor), each row numbered `seq` 1, 2, 3 … per day; the day's
 * manifest (RowKey `~manifest`) is written in the same transaction as the
 * rows it counts; the partition `~index` lists the days that have one.
 *
 * Its parts share one storage layer (ExportStore, the only holder of the
 * client): the day writer, the manifest store, the snapshot reader, and the
 * legacy rows of earlier releases (legacy/), which the background task
 * LegacyUpgrade numbers.
 */
export class ExportTable {
  private readonly store: ExportStore;
  private readonly manifests: ManifestStore;
  private readonly writer: DayWriter;
  private readonly snapshots: SnapshotReader;
  /** Rows of earlier releases: for the LegacyUpgrade task (services.ts) and `expense-export days upgrade`. */
  readonly legacy: LegacyRows;
  readonly legacyFinder: LegacyFinder;

  constructor(table: TableClient, timeoutMs: number, opts: ExportTableOptions) {
    const clock = opts.clock ?? systemClock;
    this.store = new ExportStore(table, timeoutMs);
    this.manifests = new ManifestStore(this.store);
    this.legacy = new LegacyRows(this.store, this.manifests, {
      logger: opts.logger.child({ component: 'legacy-upgrade' }),
      clock,
      numbered: opts.events?.numbered,
    });
    this.legacyFinder = new LegacyFinder(this.store, this.manifests);
    this.snapshots = new SnapshotReader(this.store, this.manifests, this.legacy);
    this.writer = new DayWriter(
      this.store,
      this.manifests,
      this.legacy,
      {
        conflict: opts.events?.conflict ?? (() => undefined),
        late: (date, rows) => {
          for (const r of rows)
            opts.logger.warn({ date, seq: r.seq, expenseId: r.expenseId }, 'late export row: its day was already closed');
          opts.events?.late?.(date, rows);
        },
      },
      clock,
    );
  }

  /** The query of a file read (see fileQuery; the bench's raw baseline sends exactly this). */
  static query(date: string, range?: { after: number; through: number }): TableEntityQueryOptions {
    return fileQuery(date, range);
  }

  /** Appends an approval's row with the next seq, atomically with the manifest (see DayWriter). */
  append(row: ExportRow, signal?: AbortSignal): Promise<AppendResult> {
    return this.writer.append(row, signal);
  }

  /** The day's manifest: one point read. Undefined: the day has no rows (or only rows of an earlier release, not numbered yet). */
  async manifest(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    return this.snapshots.manifest(date, false, signal);
  }

  /**
   * Names rows (after, through] of a day: by default all of them. Asking
   * beyond the day's seq is a SeqOutOfRangeError; the whole of a day still
   * being upgraded is a DayUpgradingError (see SnapshotReader).
   */
  snapshot(date: string, range: { after?: number; through?: number }, signal?: AbortSignal): Promise<Snapshot> {
    return this.snapshots.snapshot(date, range, signal);
  }

  /**
   * Closes a day (idempotent): records closedSeq and closedAt. A day whose
   * rows of an earlier release are still being numbered is not closed yet
   * (DayUpgradingError): the close would leave them outside it. A day with
   * no rows gets a manifest, closed at 0.
   */
  async close(date: string, at: Date, signal?: AbortSignal): Promise<{ manifest: Manifest; closedNow: boolean }> {
    return retryOnRace(
      CONFLICTS.MANIFEST_UPDATE,
      async () => {
        const stored = await this.snapshots.manifest(date, true, signal);
        const m = stored?.manifest ?? emptyManifest(date);
        if (m.closedSeq !== undefined) return { manifest: m, closedNow: false };
        const closed: Manifest = { ...m, closedAt: at.toISOString(), closedSeq: m.seq };
        // The index row goes before a manifest is created (see ManifestStore.index), after one is moved.
        if (stored) {
          await this.manifests.replace(closed, stored.etag, signal);
          await this.manifests.index(date, { closed: true }, signal);
        } else {
          await this.manifests.index(date, { closed: true }, signal);
          await this.manifests.create(closed, signal);
        }
        return { manifest: closed, closedNow: true };
      },
      { signal },
    );
  }

  /** Records that the on-premises system imported rows 1..through. Beyond the day's seq is a SeqOutOfRangeError; not more than before is a no-op. */
  async acknowledge(
    date: string,
    through: number,
    by: string,
    at: Date,
    signal?: AbortSignal,
  ): Promise<{ manifest: Manifest; newlyAcknowledged: number }> {
    return retryOnRace(
      CONFLICTS.MANIFEST_UPDATE,
      async () => {
        const stored = await this.snapshots.manifest(date, false, signal);
        const m = stored?.manifest ?? emptyManifest(date);
        if (through > m.seq) throw new SeqOutOfRangeError(date, through, m.seq, 'acknowledgement');
        if (!stored || through <= m.acknowledgedThrough) return { manifest: m, newlyAcknowledged: 0 };
        const acked: Manifest = { ...m, acknowledgedThrough: through, acknowledgedAt: at.toISOString(), acknowledgedBy: by };
        await this.manifests.replace(acked, stored.etag, signal);
        return { manifest: acked, newlyAcknowledged: through - m.acknowledgedThrough };
      },
      { signal },
    );
  }

  /** Background progress of an acknowledgement: expenses of rows 1..through are exported. Never moves backwards. */
  async recordExported(date: string, through: number, signal?: AbortSignal): Promise<Manifest | undefined> {
    return retryOnRace(
      CONFLICTS.MANIFEST_UPDATE,
      async () => {
        const stored = await this.manifests.read(date, signal);
        if (!stored || stored.manifest.exportedThrough >= through) return stored?.manifest;
        const next = { ...stored.manifest, exportedThrough: through };
        await this.manifests.replace(next, stored.etag, signal);
        return next;
      },
      { signal },
    );
  }

  /** One approval's row: what was exported for it (one point read; undefined when there is none). */
  async approvalRow(
    date: string,
    rowKey: string,
    signal?: AbortSignal,
  ): Promise<{ currency: string; amount: string; seq?: number } | undefined> {
    return this.store.get<{ currency: string; amount: string; seq?: number }>(date, rowKey, ['currency', 'amount', 'seq'], signal);
  }

  /** Rows (after, through] of a day: which approval (expense and attempt) each one is, for applying an acknowledgement. */
  async *rowIdentities(
    date: string,
    after: number,
    through: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Array<{ expenseId: string; attempt: number; seq: number }>> {
    const query = {
      filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END} and seq gt ${after} and seq le ${through}`,
      select: ['expenseId', 'attempt', 'seq'],
    };
    for await (const page of this.store.pages<{ expenseId: string; attempt?: number; seq: number }>(query, signal)) {
      yield page.map((r) => ({ expenseId: r.expenseId, attempt: r.attempt ?? 1, seq: r.seq }));
    }
  }

  /** The manifests of the days from..to that have rows (the index says which; manifests are read, never scanned for). */
  async days(from: string, to: string, signal?: AbortSignal): Promise<Manifest[]> {
    const dates = await this.manifests.indexedDays(from, to, {}, signal);
    const read = await mapLimit(dates, 16, (date) => this.manifests.read(date, signal));
    return read.flatMap((s) => (s ? [s.manifest] : []));
  }

  /** Days up to `through` that are in the index and not closed yet (the auto-closer's work list). */
  openDays(from: string, through: string, signal?: AbortSignal): Promise<string[]> {
    return this.manifests.indexedDays(from, through, { openOnly: true }, signal);
  }

  /** The expense ids with a row on `date`, numbered or not (for `seed --wait` and the chaos invariants). */
  async *expenseIds(date: string, signal?: AbortSignal): AsyncGenerator<string> {
    const query = { filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`, select: ['RowKey', 'expenseId'] };
    for await (const page of this.store.pages<{ rowKey: string; expenseId?: string }>(query, signal)) {
      for (const r of page) yield r.expenseId ?? r.rowKey;
    }
  }

  /** Every row of a day as stored, with its seq and running totals (for the chaos invariants and tests of the contract). */
  async *storedRows(date: string, signal?: AbortSignal): AsyncGenerator<FileRecord & { rowKey: string; totalsThrough?: string }> {
    const query = { filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}` };
    for await (const page of this.store.pages<FileRecord & { rowKey: string; totalsThrough?: string }>(query, signal)) yield* page;
  }
}

export type { AppendResult, StoredManifest };
export { DayUpgradingError };
export type { ExportPage, FileRecord, Snapshot } from './snapshot-reader';
