import { odata, type TableClient, type TableEntityQueryOptions } from '@azure/data-tables';
import type { Logger } from 'pino';
import { mapLimit } from '../map-limit';
import { withDeadline } from '../storage/deadline';
import { isConflict, isNotFound, isPreconditionFailed } from '../storage/errors';
import { DayWriter, type AppendResult, type DayWriterEvents } from './day-writer';
import { SeqOutOfRangeError } from './errors';
import { readPages } from './export-pages';
import type { ExportRow } from './export-row';
import { emptyManifest, type Manifest } from './manifest';
import { INDEX_PARTITION, ManifestStore, ROWS_END, type StoredManifest } from './manifest-store';
import { Sequencer } from './sequencer';
import { fileQuery, SnapshotReader, type FileRecord, type Snapshot } from './snapshot-reader';

export interface ExportTableOptions {
  logger: Logger;
  events?: Partial<DayWriterEvents>;
}

const UPGRADE_MARKER = '~upgraded-seq';

/**
 * The ExpenseExport table's one owner: nothing else reads or writes it.
 * PartitionKey = approval date (YYYY-MM-DD); RowKey = the approval's key
 * (rowKeyFor), each row numbered `seq` 1, 2, 3 … per day; the day's
 * manifest (RowKey `~manifest`) is written in the same transaction as the
 * rows it counts; the partition `~index` lists the days that have one.
 */
export class ExportTable {
  private readonly manifests: ManifestStore;
  private readonly sequencer: Sequencer;
  private readonly writer: DayWriter;
  private readonly snapshots: SnapshotReader;

  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
    opts: ExportTableOptions,
  ) {
    this.manifests = new ManifestStore(table, timeoutMs);
    this.sequencer = new Sequencer(table, this.manifests, timeoutMs, opts.logger);
    this.snapshots = new SnapshotReader(table, timeoutMs, this.sequencer, opts.logger);
    this.writer = new DayWriter(table, this.manifests, this.sequencer, timeoutMs, {
      conflict: opts.events?.conflict ?? (() => undefined),
      late: (date, rows) => {
        for (const r of rows) opts.logger.warn({ date, seq: r.seq, expenseId: r.expenseId }, 'late export row: its day was already closed');
        opts.events?.late?.(date, rows);
      },
    });
  }

  /** The query of a file read (see fileQuery). */
  static query(date: string, range?: { after: number; through: number }): TableEntityQueryOptions {
    return fileQuery(date, range);
  }

  /** Appends an approval's row with the next seq, atomically with the manifest (see DayWriter). */
  append(row: ExportRow, signal?: AbortSignal): Promise<AppendResult> {
    return this.writer.append(row, signal);
  }

  /** The day's manifest: one point read, or, the first time an earlier release's day is touched, its rows numbered. Undefined: no rows. */
  manifest(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    return this.sequencer.manifest(date, signal);
  }

  /** Numbers rows that have no seq (see Sequencer); returns how many. */
  async sequence(date: string, signal?: AbortSignal): Promise<number> {
    return (await this.sequencer.sequence(date, signal)).numbered;
  }

  /**
   * Names rows (after, through] of a day: by default all of them. Asking
   * beyond the day's seq is a SeqOutOfRangeError (see SnapshotReader).
   */
  snapshot(date: string, range: { after?: number; through?: number }, signal?: AbortSignal): Promise<Snapshot> {
    return this.snapshots.snapshot(date, range, signal);
  }

  /**
   * Closes a day (idempotent): records closedSeq and closedAt. Rows without
   * seq are numbered first, so that a close never leaves an earlier
   * release's row outside the day. A day with no rows gets a manifest, closed at 0.
   */
  async close(date: string, at: Date, signal?: AbortSignal): Promise<{ manifest: Manifest; closedNow: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const stored = (await this.sequencer.sequence(date, signal)).stored;
      const m = stored?.manifest ?? emptyManifest(date);
      if (m.closedSeq !== undefined) return { manifest: m, closedNow: false };
      const closed: Manifest = { ...m, closedAt: at.toISOString(), closedSeq: m.seq };
      try {
        // The index row goes before a manifest is created (see ManifestStore.index), after one is moved.
        if (stored) {
          await this.manifests.replace(closed, stored.etag, signal);
          await this.manifests.index(date, true, signal);
        } else {
          await this.manifests.index(date, true, signal);
          await this.manifests.create(closed, signal);
        }
        return { manifest: closed, closedNow: true };
      } catch (err) {
        if (!(isPreconditionFailed(err) || isConflict(err)) || attempt >= 20) throw err;
      }
    }
  }

  /** Records that the on-premises system imported rows 1..through. Beyond the day's seq is a SeqOutOfRangeError; not more than before is a no-op. */
  async acknowledge(
    date: string,
    through: number,
    by: string,
    at: Date,
    signal?: AbortSignal,
  ): Promise<{ manifest: Manifest; newlyAcknowledged: number }> {
    for (let attempt = 0; ; attempt++) {
      const stored = await this.manifest(date, signal);
      const m = stored?.manifest ?? emptyManifest(date);
      if (through > m.seq) throw new SeqOutOfRangeError(date, through, m.seq, 'acknowledgement');
      if (!stored || through <= m.acknowledgedThrough) return { manifest: m, newlyAcknowledged: 0 };
      const acked: Manifest = { ...m, acknowledgedThrough: through, acknowledgedAt: at.toISOString(), acknowledgedBy: by };
      try {
        await this.manifests.replace(acked, stored.etag, signal);
        return { manifest: acked, newlyAcknowledged: through - m.acknowledgedThrough };
      } catch (err) {
        if (!isPreconditionFailed(err) || attempt >= 20) throw err;
      }
    }
  }

  /** Background progress of an acknowledgement: expenses of rows 1..through are exported. Never moves backwards. */
  async recordAckApplied(date: string, through: number, signal?: AbortSignal): Promise<Manifest | undefined> {
    for (let attempt = 0; ; attempt++) {
      const stored = await this.manifests.read(date, signal);
      if (!stored || stored.manifest.ackAppliedThrough >= through) return stored?.manifest;
      const next = { ...stored.manifest, ackAppliedThrough: through };
      try {
        await this.manifests.replace(next, stored.etag, signal);
        return next;
      } catch (err) {
        if (!isPreconditionFailed(err) || attempt >= 20) throw err;
      }
    }
  }

  /** One approval's row: what was exported for it (one point read; undefined when there is none). */
  async approvalRow(
    date: string,
    rowKey: string,
    signal?: AbortSignal,
  ): Promise<{ currency: string; amount: string; seq?: number } | undefined> {
    try {
      return await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.table.getEntity<{ currency: string; amount: string; seq?: number }>(date, rowKey, {
          queryOptions: { select: ['currency', 'amount', 'seq'] },
          abortSignal,
        }),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Rows (after, through] of a day: which approval each one is (for applying an acknowledgement). */
  async *approvals(
    date: string,
    after: number,
    through: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Array<{ expenseId: string; attempt: number; seq: number }>> {
    const query = {
      filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END} and seq gt ${after} and seq le ${through}`,
      select: ['expenseId', 'attempt', 'seq'],
    };
    for await (const page of readPages<{ expenseId: string; attempt?: number; seq: number }>(this.table, query, this.timeoutMs, signal)) {
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

  /**
   * The start-up step of the upgrade to numbered rows: once per table (a
   * marker row remembers it), find the days an earlier release wrote (rows
   * without seq, days without a manifest) with one scan, and number them.
   * Safe from several instances at once. `rescan` ignores the marker: run
   * it after the last instance of the earlier release has stopped.
   */
  async upgrade(opts: { rescan?: boolean } = {}, signal?: AbortSignal): Promise<{ scanned: boolean; days: number; numbered: number }> {
    if (!opts.rescan) {
      try {
        await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.getEntity(INDEX_PARTITION, UPGRADE_MARKER, { abortSignal }));
        return { scanned: false, days: 0, numbered: 0 };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const needs = new Map<string, { manifest: boolean; unnumbered: boolean }>();
    const query = { filter: odata`PartitionKey lt ${INDEX_PARTITION}`, select: ['PartitionKey', 'RowKey', 'seq'] };
    for await (const page of readPages<{ partitionKey: string; rowKey: string; seq?: number }>(this.table, query, this.timeoutMs, signal)) {
      for (const e of page) {
        const day = needs.get(e.partitionKey) ?? { manifest: false, unnumbered: false };
        if (e.rowKey.startsWith(ROWS_END)) day.manifest = true;
        else if (typeof e.seq !== 'number') day.unnumbered = true;
        needs.set(e.partitionKey, day);
      }
    }
    let days = 0;
    let numbered = 0;
    for (const [date, day] of needs) {
      if (day.manifest && !day.unnumbered) continue;
      numbered += (await this.sequencer.sequence(date, signal)).numbered;
      days++;
    }
    await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.table.upsertEntity(
        { partitionKey: INDEX_PARTITION, rowKey: UPGRADE_MARKER, at: new Date().toISOString(), days, numbered },
        'Replace',
        { abortSignal },
      ),
    );
    return { scanned: true, days, numbered };
  }

  /** The expense ids with a row on `date`, numbered or not (for `seed --wait` and the chaos invariants). */
  async *expenseIds(date: string, signal?: AbortSignal): AsyncGenerator<string> {
    const query = { filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`, select: ['RowKey', 'expenseId'] };
    for await (const page of readPages<{ rowKey: string; expenseId?: string }>(this.table, query, this.timeoutMs, signal)) {
      for (const r of page) yield r.expenseId ?? r.rowKey;
    }
  }

  /** Every row of a day as stored, with its seq and running totals (for the chaos invariants and tests of the contract). */
  async *storedRows(date: string, signal?: AbortSignal): AsyncGenerator<FileRecord & { rowKey: string; totalsThrough?: string }> {
    const query = { filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}` };
    for await (const page of readPages<FileRecord & { rowKey: string; totalsThrough?: string }>(this.table, query, this.timeoutMs, signal))
      yield* page;
  }
}

export type { AppendResult, StoredManifest };
export type { ExportPage, FileRecord, Snapshot } from './snapshot-reader';
