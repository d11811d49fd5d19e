import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import type { ApprovalService } from './approval';
import type { ExpenseStore } from './expense-store';
import { awaitsExport, isApprovedOrExported } from './lifecycle';
import type { Outbox } from './outbox';

export interface SweeperDeps {
  outbox: Outbox;
  store: ExpenseStore;
  approvals: ApprovalService;
  graceMs: number;
  intervalMs: number;
  logger: Logger;
}

export interface SweepResult {
  scanned: number;
  enqueued: number;
  discarded: number;
}

/** Outbox rows for approvals that never completed (no state change) are kept this long, then dropped. */
const ABANDONED_AFTER_MS = 10 * 60_000;

/**
 * Finishes approvals whose process died between saving the state and
 * enqueuing. Runs at start and every APPROVAL_SWEEP_INTERVAL_MS. Safe in
 * many instances at once: at worst two instances both enqueue, and the
 * consumer turns the duplicate into a no-op.
 */
export class ApprovalSweeper extends PeriodicTask {
  lastRun: { at: string; result?: SweepResult; error?: string } | undefined;

  constructor(private readonly d: SweeperDeps) {
    super({ name: 'approval-sweeper', intervalMs: d.intervalMs, logger: d.logger });
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    try {
      const result = await this.sweepOnce(signal);
      this.lastRun = { at: new Date().toISOString(), result };
      if (result.enqueued || result.discarded) this.d.logger.info({ ...result }, 'approval sweeper recovered outbox rows');
    } catch (err) {
      if (signal.aborted) return;
      this.lastRun = { at: new Date().toISOString(), error: (err as Error).message };
      this.d.logger.warn({ err }, 'approval sweep failed; will retry');
    }
  }

  async sweepOnce(signal?: AbortSignal): Promise<SweepResult> {
    const result: SweepResult = { scanned: 0, enqueued: 0, discarded: 0 };
    for (const row of await this.d.outbox.list('approval', signal)) {
      result.scanned++;
      if (!(row.ageMs >= this.d.graceMs)) continue; // likely still in flight in some instance
      const current = (await this.d.store.get(row.id, signal))?.value;
      if (current && isApprovedOrExported(current.state)) {
        // Exported already: only the outbox row is left to clear.
        if (awaitsExport(current.state)) {
          await this.d.approvals.enqueue({ expenseId: row.id, approvalDate: current.approvalDate! }, signal);
          result.enqueued++;
        }
        await this.d.outbox.clear('approval', row.id, row.etag, signal);
      } else if (row.ageMs >= ABANDONED_AFTER_MS) {
        await this.d.outbox.clear('approval', row.id, row.etag, signal);
        result.discarded++;
      }
    }
    return result;
  }
}
