import type { TransactionAction } from '@azure/data-tables';
import type { Clock } from '../clock';
import { isConflict, isNotFound, isPreconditionFailed } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import type { ExportRow } from './export-row';
import type { ExportStore } from './export-store';
import type { LegacyRows } from './legacy/legacy-rows';
import { emptyManifest, encodeTotals, withRow, type Manifest } from './manifest';
import { manifestWrite, type ManifestStore, type StoredManifest } from './manifest-store';

/** Rows per transaction: the service allows 100 entities, and the manifest is one of them. */
export const ROWS_PER_TRANSACTION = 99;

export type AppendResult = { outcome: 'inserted'; seq: number; late: boolean } | { outcome: 'already-present' };

export interface DayWriterEvents {
  /** Another writer moved the manifest between our read and our write (a 412): we re-read and retry. */
  conflict(date: string): void;
  /** Rows appended to a day that was already closed. */
  late(date: string, rows: ReadonlyArray<{ seq: number; expenseId: string }>): void;
}

interface Pending {
  row: ExportRow;
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

const MAX_CACHED_DAYS = 16;

/** Another writer created the day's manifest between our read and our create: a race like a 412. */
class LostCreate extends Error {
  override name = 'LostCreate';
  constructor(date: string) {
    super(`the manifest of ${date} was created by another writer first`);
  }
}

/**
 * Appends rows to a day and moves its manifest in the same entity-group
 * transaction, conditional on the manifest's ETag, so the seq, count and
 * totals can never disagree with the rows. Rows for the same day that
 * arrive while a transaction is in flight wait and go together in the next
 * one (group commit, up to 99 rows with the manifest): the one hot entity
 * is written once per batch, not once per row.
 *
 * - 409: a row is there already (an earlier attempt wrote it). Alone, that
 *   is the answer; in a batch it fails the whole batch, which is then
 *   written one row at a time.
 * - 412: another writer (an instance, an acknowledgement, a close) moved the
 *   manifest. Re-read it and retry after a jittered pause.
 * - No manifest yet: a new day (or, once, a day an earlier release wrote:
 *   see LegacyRows.adopt).
 */
export class DayWriter {
  private readonly queues = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  private readonly cache = new Map<string, StoredManifest>();

  constructor(
    private readonly store: ExportStore,
    private readonly manifests: ManifestStore,
    private readonly legacy: Pick<LegacyRows, 'adopt' | 'found'>,
    private readonly events: DayWriterEvents,
    private readonly clock: Clock,
  ) {}

  append(row: ExportRow, signal?: AbortSignal): Promise<AppendResult> {
    const done = new Promise<AppendResult>((resolve, reject) => {
      const queue = this.queues.get(row.partitionKey) ?? [];
      queue.push({ row, resolve, reject });
      this.queues.set(row.partitionKey, queue);
    });
    if (!this.busy.has(row.partitionKey)) void this.drain(row.partitionKey);
    if (!signal) return done;
    // The caller may give up (a hard stop); the batch it joined goes on, and a retry finds its row (409) or writes it.
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async drain(date: string): Promise<void> {
    this.busy.add(date);
    try {
      for (;;) {
        const queue = this.queues.get(date);
        if (!queue || queue.length === 0) break;
        const batch = takeBatch(queue);
        try {
          const results = await this.write(
            date,
            batch.map((p) => p.row),
          );
          batch.forEach((p, i) => p.resolve(results[i]));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.queues.delete(date);
      this.busy.delete(date);
    }
  }

  /** Writes rows (distinct keys) of one day; one result per row, in order. */
  private async write(date: string, rows: readonly ExportRow[]): Promise<AppendResult[]> {
    return retryOnRace(
      CONFLICTS.DAY_MANIFEST,
      async () => {
        const stored = this.cache.get(date) ?? (await this.load(date));
        try {
          return await this.commit(stored, rows);
        } catch (err) {
          this.cache.delete(date);
          // Creating a day's manifest, another writer may have created it first: write against theirs (a retry).
          if (isConflict(err) && !stored.etag && (await this.manifests.read(date))) throw new LostCreate(date);
          if (!isConflict(err)) throw err;
          if (rows.length === 1) return [await this.alreadyThere(rows[0])];
          // One of them is there already, and a failed transaction names no row: one at a time, then.
          const out: AppendResult[] = [];
          for (const row of rows) out.push(...(await this.write(date, [row])));
          return out;
        }
      },
      {
        retryOn: (err) => err instanceof LostCreate || isPreconditionFailed(err) || isNotFound(err),
        onRace: () => this.events.conflict(date),
      },
    );
  }

  /**
   * The row is there: written by an earlier attempt, or, during a rolling
   * upgrade, by an instance of the previous release, without a seq. Such a
   * row is handed to the legacy numbering, which gives it the next seq.
   */
  private async alreadyThere(row: ExportRow): Promise<AppendResult> {
    const existing = await this.store.get<{ seq?: number }>(row.partitionKey, row.rowKey, ['seq']);
    if (existing && typeof existing.seq !== 'number') this.legacy.found(row.partitionKey);
    return { outcome: 'already-present' };
  }

  /** The manifest to write against: read it; a day without one is new (starts empty, no etag) unless an earlier release wrote it. */
  private async load(date: string): Promise<StoredManifest> {
    const stored = (await this.manifests.read(date)) ?? (await this.legacy.adopt(date));
    if (stored) return stored;
    await this.manifests.index(date, { closed: false });
    return { manifest: emptyManifest(date), etag: '' };
  }

  private async commit(stored: StoredManifest, rows: readonly ExportRow[]): Promise<AppendResult[]> {
    const at = new Date(this.clock.now()).toISOString();
    let m: Manifest = stored.manifest;
    const actions: TransactionAction[] = [];
    for (const row of rows) {
      m = withRow(m, row);
      actions.push(['create', { ...row, seq: m.seq, totalsThrough: encodeTotals(m.totals) }]);
    }
    m = { ...m, firstRowAt: m.firstRowAt ?? at, lastRowAt: at };
    actions.push(manifestWrite(m, stored.etag));
    const etags = await this.store.transaction(actions);
    this.remember({ manifest: m, etag: etags.at(-1) ?? '' });
    const first = stored.manifest.seq + 1;
    const late = m.closedSeq !== undefined;
    if (late)
      this.events.late(
        m.date,
        rows.map((r, i) => ({ seq: first + i, expenseId: r.expenseId })),
      );
    return rows.map((_, i) => ({ outcome: 'inserted', seq: first + i, late }));
  }

  private remember(s: StoredManifest): void {
    this.cache.delete(s.manifest.date);
    this.cache.set(s.manifest.date, s);
    if (this.cache.size > MAX_CACHED_DAYS) this.cache.delete(this.cache.keys().next().value!);
  }
}

/**
 * The next batch: up to 99 rows with distinct keys. A second row with a key
 * already in the batch (the same approval twice in one receive) waits for
 * the next batch, where it meets its twin's row: a 409, already present.
 */
function takeBatch(queue: Pending[]): Pending[] {
  const batch: Pending[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < queue.length && batch.length < ROWS_PER_TRANSACTION;) {
    const p = queue[i];
    if (keys.has(p.row.rowKey)) {
      i++;
      continue;
    }
    keys.add(p.row.rowKey);
    batch.push(p);
    queue.splice(i, 1);
  }
  return batch;
}
