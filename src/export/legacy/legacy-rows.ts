import { odata, type TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock';
import { isConflict } from '../../storage/errors';
import { CONFLICTS, retryOnRace } from '../../storage/optimistic';
import { ROWS_PER_TRANSACTION } from '../day-writer';
import type { ExportStore } from '../export-store';
import { addToTotals, emptyManifest, encodeTotals, minorOf, withRow, type Manifest } from '../manifest';
import { manifestWrite, ROWS_END, type ManifestStore, type StoredManifest } from '../manifest-store';

/**
 * Rows an earlier release wrote: no `seq`, no manifest (releases before the
 * day-file contract, 5692da7 and older), and, during a rolling upgrade,
 * rows its still-running instances go on writing. This folder is the only
 * code that knows they exist; the hot paths (the day writer, the snapshot
 * reader, the close) assume numbered rows and call in here only for a day
 * without a manifest (`adopt`, one query of at most one row) or a row
 * without a seq met by chance (`found`).
 *
 * Delete this folder (and its calls) once every installation has run a
 * release with it, with no instance older than the day-file contract left,
 * and `expense-export days upgrade` has reported nothing to number.
 *
 * Numbering gives each such row the next seq, in RowKey order, with its
 * running totals, 99 rows and the manifest per entity-group transaction,
 * conditional on the manifest's and each row's ETag. While it runs the
 * manifest carries `upgrade` (with a lease), and a pull of the whole day is
 * refused with `day_upgrading` (503, Retry-After): never served in part,
 * never held waiting. One instance numbers a day at a time (the lease, 60 s,
 * renewed with every transaction); after a crash the lease runs out and the
 * next one resumes from the rows still without seq.
 */

const LEASE_MS = 60_000;
/** Log progress every this many rows (a 20,000-row day: 10 lines). */
const PROGRESS_EVERY = 2_000;

interface LegacyRow {
  rowKey: string;
  etag: string;
  timestamp?: string;
  seq?: number;
  currency: string;
  amount: string;
}

export interface LegacyRowsOptions {
  logger: Logger;
  clock: Clock;
  /** Rows numbered (a metric). */
  numbered?: (rows: number) => void;
  /** A day needs numbering: wakes the background task that does it (LegacyUpgrade). */
  wake?: () => void;
}

export class LegacyRows {
  /** This process, as the holder of numbering leases. */
  private readonly id = `instance-${randomUUID()}`;
  private readonly pending = new Set<string>();
  wake: () => void;

  constructor(
    private readonly store: ExportStore,
    private readonly manifests: ManifestStore,
    private readonly opts: LegacyRowsOptions,
  ) {
    this.wake = opts.wake ?? (() => undefined);
  }

  /**
   * A day without a manifest. Undefined: it has no rows (a new day). Rows
   * without one were written by an earlier release: the day gets a manifest
   * marked upgrading, and the background task numbers its rows.
   */
  async adopt(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    if (!(await this.store.any(odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`, signal))) return undefined;
    const adopted: Manifest = { ...emptyManifest(date), upgrade: { found: 0 } };
    await this.manifests.index(date, { closed: false, upgrading: true }, signal);
    this.found(date);
    try {
      return { manifest: adopted, etag: await this.manifests.create(adopted, signal) };
    } catch (err) {
      if (!isConflict(err)) throw err;
      return this.manifests.read(date, signal); // another instance adopted it first
    }
  }

  /** Rows without seq were seen on `date` (while streaming, or as a 409): number them soon, in the background. */
  found(date: string): void {
    this.pending.add(date);
    this.wake();
  }

  /** Days reported by `found` since the last call. */
  takePending(): string[] {
    const days = [...this.pending];
    this.pending.clear();
    return days;
  }

  /**
   * Numbers the rows of `date` that have no seq; returns how many it
   * numbered (0 also when another instance holds the day's lease).
   */
  async number(date: string, signal?: AbortSignal): Promise<number> {
    // A day not marked upgrading is whole as far as any pull knows: look before marking it, so a look that
    // finds nothing (a second nudge, a periodic check) never refuses its pulls, not even for a moment.
    const before = await this.manifests.read(date, signal);
    if (before && !before.manifest.upgrade && (await this.scan(date, signal)).rows.length === 0) return 0;
    const held = await this.lease(date, signal);
    if (!held) return 0;
    const { rows, numbered } = await this.scan(date, signal);
    let current = held;
    // Adopted with no manifest but numbered rows (the manifest was deleted): go on after their highest seq.
    if (current.manifest.seq === 0 && numbered.seq > 0) current = { ...current, manifest: { ...current.manifest, ...numbered } };
    // Nothing (left) to number: the day is whole; drop the mark.
    if (rows.length === 0) await this.commit(current, [], { found: 0, last: true }, signal);
    let done = 0;
    for (let i = 0; i < rows.length; i += ROWS_PER_TRANSACTION) {
      const chunk = rows.slice(i, i + ROWS_PER_TRANSACTION);
      current = await this.commit(current, chunk, { found: rows.length, last: i + ROWS_PER_TRANSACTION >= rows.length }, signal);
      done += chunk.length;
      this.opts.numbered?.(chunk.length);
      if (done % PROGRESS_EVERY < chunk.length || done === rows.length)
        this.opts.logger.info({ date, numbered: done, found: rows.length, seq: current.manifest.seq }, 'numbering rows without seq');
    }
    await this.manifests.index(date, { upgrading: false }, signal);
    return done;
  }

  /** Takes (or renews) the day's numbering lease, marking it upgrading; undefined when another instance holds it or the day has no rows. */
  private async lease(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    return retryOnRace(
      CONFLICTS.MANIFEST_UPDATE,
      async () => {
        const stored = (await this.manifests.read(date, signal)) ?? (await this.adopt(date, signal));
        if (!stored) return undefined;
        const up = stored.manifest.upgrade;
        const now = this.opts.clock.now();
        if (up?.by && up.by !== this.id && up.leaseUntil && Date.parse(up.leaseUntil) > now) return undefined;
        // The index first: a crash between the two leaves a day the task looks at again, never one it forgets.
        if (!up) await this.manifests.index(date, { upgrading: true }, signal);
        const manifest: Manifest = { ...stored.manifest, upgrade: { found: up?.found ?? 0, by: this.id, leaseUntil: this.until() } };
        return { manifest, etag: await this.manifests.replace(manifest, stored.etag, signal) };
      },
      { signal },
    );
  }

  /**
   * One transaction: these rows get the next seqs and running totals, the
   * manifest moves with them and renews the lease (or, with the last rows,
   * drops `upgrade`: the day is whole). Another writer moving the manifest
   * meanwhile (a consumer's row, an acknowledgement) is a 412: re-read, and
   * go on if the lease is still ours.
   */
  private async commit(
    held: StoredManifest,
    rows: readonly LegacyRow[],
    step: { found: number; last: boolean },
    signal?: AbortSignal,
  ): Promise<StoredManifest> {
    let current = held;
    return retryOnRace(
      CONFLICTS.DAY_MANIFEST,
      async (n) => {
        if (n > 0) {
          const again = await this.manifests.read(held.manifest.date, signal);
          if (!again || again.manifest.upgrade?.by !== this.id) throw new LeaseLost(held.manifest.date);
          current = again;
        }
        let m = current.manifest;
        const actions: TransactionAction[] = [];
        for (const r of rows) {
          const at = r.timestamp ?? new Date(this.opts.clock.now()).toISOString();
          m = withRow(m, r);
          m = { ...m, firstRowAt: min(m.firstRowAt, at), lastRowAt: max(m.lastRowAt, at) };
          // The file's expense_id comes from `expenseId`; rows of the earlier release had it only as their RowKey.
          const entity = { partitionKey: m.date, rowKey: r.rowKey, seq: m.seq, totalsThrough: encodeTotals(m.totals), expenseId: r.rowKey };
          actions.push(['update', entity, 'Merge', { etag: r.etag }]);
        }
        const { upgrade: _done, ...whole } = m;
        m = step.last ? whole : { ...m, upgrade: { found: step.found, by: this.id, leaseUntil: this.until() } };
        actions.push(manifestWrite(m, current.etag));
        const etags = await this.store.transaction(actions, signal);
        return { manifest: m, etag: etags.at(-1) ?? '' };
      },
      { signal },
    );
  }

  /** The day's rows without seq, in RowKey order, and what the numbered ones add up to (for a manifest that was lost). */
  private async scan(date: string, signal?: AbortSignal) {
    const query = {
      filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`,
      select: ['RowKey', 'Timestamp', 'seq', 'currency', 'amount'],
    };
    const rows: LegacyRow[] = [];
    const numbered = { seq: 0, rowCount: 0, totals: {} as Manifest['totals'] };
    for await (const page of this.store.pages<LegacyRow>(query, signal)) {
      for (const r of page) {
        if (typeof r.seq !== 'number') rows.push(r);
        else {
          numbered.seq = Math.max(numbered.seq, r.seq);
          numbered.rowCount++;
          numbered.totals = addToTotals(numbered.totals, r.currency, minorOf(r.amount, r.currency));
        }
      }
    }
    return { rows, numbered };
  }

  private until(): string {
    return new Date(this.opts.clock.now() + LEASE_MS).toISOString();
  }
}

/** Another instance took the day's numbering over (our lease ran out): it carries on, we stop. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
  constructor(date: string) {
    super(`the numbering lease of ${date} is held by another instance now`);
  }
}

const min = (a: string | undefined, b: string) => (a !== undefined && a < b ? a : b);
const max = (a: string | undefined, b: string) => (a !== undefined && a > b ? a : b);
