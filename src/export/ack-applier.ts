import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import type { ExpenseStore } from '../expenses/expense-store';
import { acknowledged, takesAcknowledgement } from '../expenses/lifecycle';
import type { Outbox } from '../expenses/outbox';
import { mapLimit } from '../map-limit';
import { isPreconditionFailed } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import type { ExportTable } from './export-table';

export interface AckApplierDeps {
  exportTable: ExportTable;
  store: ExpenseStore;
  outbox: Outbox;
  intervalMs: number;
  logger: Logger;
}

/** Seqs per step: one query for them, then their expenses, then the progress is recorded. */
const STEP = 1000;

/**
 * Applies acknowledgements: moves the expenses of acknowledged rows to
 * `exported`, from `processing` (or from `approved`, when the consumer that
 * wrote the row died before its next step: see takesAcknowledgement). An acknowledgement is recorded in the day's
 * manifest and as an outbox intent first (AcknowledgementService); this
 * task works through the intents at start, every ACK_APPLY_INTERVAL_MS,
 * and at once when nudged. Progress is recorded in the manifest
 * (exportedThrough) every STEP rows, so after a crash it resumes there;
 * every step is idempotent (a state already moved is left alone), and the
 * intent is cleared only when the day is done, and only if no newer
 * acknowledgement re-recorded it meanwhile.
 */
export class AckApplier extends PeriodicTask {
  constructor(private readonly d: AckApplierDeps) {
    super({ name: 'ack-applier', intervalMs: d.intervalMs, logger: d.logger });
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    let intents;
    try {
      intents = await this.d.outbox.list('acknowledgement', signal);
    } catch (err) {
      if (!signal.aborted) this.d.logger.warn({ err }, 'listing pending acknowledgements failed; will retry');
      return;
    }
    for (const intent of intents) {
      if (signal.aborted) return;
      try {
        const exported = await this.applyDay(intent.id, signal);
        await this.d.outbox.clear('acknowledgement', intent.id, intent.etag, signal);
        if (exported > 0) this.d.logger.info({ date: intent.id, exported }, 'acknowledged expenses moved to exported');
      } catch (err) {
        if (!signal.aborted) this.d.logger.warn({ err, date: intent.id }, 'applying an acknowledgement failed; will retry');
      }
    }
  }

  /** Brings the day's applied progress up to its acknowledgement; returns how many expenses moved. */
  async applyDay(date: string, signal?: AbortSignal): Promise<number> {
    const m = (await this.d.exportTable.manifest(date, signal))?.manifest;
    if (!m) return 0;
    let moved = 0;
    for (let from = m.exportedThrough; from < m.acknowledgedThrough;) {
      const to = Math.min(from + STEP, m.acknowledgedThrough);
      for await (const rows of this.d.exportTable.rowIdentities(date, from, to, signal)) {
        const results = await mapLimit(rows, 8, (r) => this.markExported(r.expenseId, r.attempt, signal));
        moved += results.filter(Boolean).length;
      }
      await this.d.exportTable.recordExported(date, to, signal);
      from = to;
    }
    return moved;
  }

  /** → exported, for the approval this row belongs to (a later approval of the same expense has rows of its own). */
  private async markExported(expenseId: string, attempt: number, signal?: AbortSignal): Promise<boolean> {
    return retryOnRace(
      CONFLICTS.EXPENSE,
      async () => {
        const found = await this.d.store.get(expenseId, signal);
        if (!found) return false;
        const { value: e, etag } = found;
        if ((e.approvalAttempt ?? 1) !== attempt || !takesAcknowledgement(e.state)) return false;
        await this.d.store.replace(acknowledged(e), etag, signal);
        return true;
      },
      { retryOn: isPreconditionFailed, signal },
    );
  }
}
