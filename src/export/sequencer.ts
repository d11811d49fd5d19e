import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import type { Logger } from 'pino';
import { withDeadline } from '../storage/deadline';
import { isConflict, isPreconditionFailed } from '../storage/errors';
import { readPages } from './export-pages';
import { addToTotals, emptyManifest, encodeTotals, minorOf, withRow, type Manifest } from './manifest';
import { manifestWrite, ROWS_END, type ManifestStore, type StoredManifest } from './manifest-store';

/** Rows per transaction: the service allows 100 entities, and the manifest is one of them. */
export const ROWS_PER_TRANSACTION = 99;

interface ScannedRow {
  rowKey: string;
  etag: string;
  timestamp?: string;
  seq?: number;
  currency: string;
  amount: string;
}

export interface SequenceResult {
  stored: StoredManifest | undefined;
  /** Rows that had no seq and were given one now. */
  numbered: number;
}

/**
 * Gives every row of a day that has no `seq` one, in RowKey order after the
 * last seq handed out, and builds (or moves) the manifest with them: rows
 * written by the previous release, and by instances of it still running
 * during a rolling upgrade. Each chunk of rows is one transaction with the
 * manifest, conditional on the manifest's and every row's ETag, so it is
 * safe to run twice and from several instances at once: whoever loses a
 * race re-reads and carries on from where the winner left off. Nothing is
 * lost or numbered twice, and a day with no rows gets no manifest.
 */
export class Sequencer {
  constructor(
    private readonly table: TableClient,
    private readonly manifests: ManifestStore,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** The day's manifest: one point read, or, the first time an earlier release's day is touched, its rows numbered. Undefined: no rows. */
  async manifest(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    return (await this.manifests.read(date, signal)) ?? (await this.sequence(date, signal)).stored;
  }

  async sequence(date: string, signal?: AbortSignal): Promise<SequenceResult> {
    let numbered = 0;
    for (let attempt = 0; ; attempt++) {
      // Rows first, manifest second: a row numbered by someone else between the two reads shows in the
      // manifest we act on; the reverse order could return a manifest older than the rows it has.
      const rows = await this.scan(date, signal);
      const stored = await this.manifests.read(date, signal);
      const unnumbered = rows.filter((r) => r.seq === undefined);
      if (unnumbered.length === 0) return { stored, numbered };
      try {
        let current = stored ?? { manifest: rebuilt(date, rows), etag: '' };
        if (!stored) await this.manifests.index(date, false, signal);
        for (let i = 0; i < unnumbered.length; i += ROWS_PER_TRANSACTION) {
          current = await this.commit(current, unnumbered.slice(i, i + ROWS_PER_TRANSACTION), signal);
          numbered += Math.min(ROWS_PER_TRANSACTION, unnumbered.length - i);
        }
        this.logger.warn({ date, numbered, seq: current.manifest.seq }, 'export rows without seq (written by an earlier release) numbered');
        return { stored: current, numbered };
      } catch (err) {
        // Someone else numbered or wrote meanwhile: look again. Bounded, since every loss means their progress.
        if ((isPreconditionFailed(err) || isConflict(err)) && attempt < 20) continue;
        throw err;
      }
    }
  }

  /** One transaction: these rows get the next seqs and their running totals, and the manifest moves (or is created) with them. */
  private async commit(current: StoredManifest, rows: ScannedRow[], signal?: AbortSignal): Promise<StoredManifest> {
    let m = current.manifest;
    const actions: TransactionAction[] = [];
    for (const r of rows) {
      const at = r.timestamp ?? new Date().toISOString();
      m = { ...withRow(m, r), firstRowAt: m.firstRowAt ?? at, lastRowAt: at };
      // The CSV's expense_id comes from `expenseId`; rows of the previous release had it only as their RowKey.
      const entity = { partitionKey: m.date, rowKey: r.rowKey, seq: m.seq, totalsThrough: encodeTotals(m.totals), expenseId: r.rowKey };
      actions.push(['update', entity, 'Merge', { etag: r.etag }]);
    }
    actions.push(manifestWrite(m, current.etag));
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.submitTransaction(actions, { abortSignal }));
    return { manifest: m, etag: res.subResponses.at(-1)?.etag ?? '' };
  }

  private async scan(date: string, signal?: AbortSignal): Promise<ScannedRow[]> {
    const query = {
      filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`,
      select: ['RowKey', 'Timestamp', 'seq', 'currency', 'amount'],
    };
    const out: ScannedRow[] = [];
    for await (const page of readPages<ScannedRow>(this.table, query, this.timeoutMs, signal)) {
      for (const r of page) out.push({ ...r, seq: typeof r.seq === 'number' ? r.seq : undefined });
    }
    return out;
  }
}

/**
 * A day whose rows have seqs but whose manifest is missing (only if someone
 * deleted it): rebuild it from the numbered rows, so numbering continues
 * after their highest seq instead of reusing one.
 */
function rebuilt(date: string, rows: readonly ScannedRow[]): Manifest {
  const numbered = rows.filter((r) => r.seq !== undefined);
  if (numbered.length === 0) return emptyManifest(date);
  let totals = {};
  for (const r of numbered) totals = addToTotals(totals, r.currency, minorOf(r.amount, r.currency));
  const seq = numbered.reduce((max, r) => Math.max(max, r.seq!), 0); // not Math.max(...): a day may hold more rows than a call takes arguments
  return { ...emptyManifest(date), seq, rowCount: numbered.length, totals };
}
