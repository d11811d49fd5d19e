import { odata, type TableClient } from '@azure/data-tables';
import type { Logger } from 'pino';
import { withDeadline } from '../storage/deadline';
import { OUTBOX_PARTITION, type ApprovalService } from './approval';
import type { ExpenseStore } from './expense-store';

export interface SweeperDeps {
  outbox: TableClient;
  store: ExpenseStore;
  approvals: ApprovalService;
  timeoutMs: number;
  graceMs: number;
  intervalMs: number;
  logger: Logger;
  now?: () => number;
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
 * enqueuing. Safe in many instances at once: at worst two instances both
 * enqueue, and the consumer turns the duplicate into a no-op.
 */
export class ApprovalSweeper {
  lastRun: { at: string; result?: SweepResult; error?: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly controller = new AbortController();
  private readonly now: () => number;

  constructor(private readonly d: SweeperDeps) {
    this.now = d.now ?? Date.now;
  }

  start(): void {
    const tick = () => {
      this.running = this.runLogged().finally(() => {
        this.running = undefined;
        if (!this.controller.signal.aborted) this.timer = setTimeout(tick, this.d.intervalMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    clearTimeout(this.timer);
    await this.running;
  }

  private async runLogged(): Promise<void> {
    try {
      const result = await this.sweepOnce(this.controller.signal);
      this.lastRun = { at: new Date(this.now()).toISOString(), result };
      if (result.enqueued || result.discarded) this.d.logger.info({ ...result }, 'approval sweeper recovered outbox rows');
    } catch (err) {
      if (this.controller.signal.aborted) return;
      this.lastRun = { at: new Date(this.now()).toISOString(), error: (err as Error).message };
      this.d.logger.warn({ err }, 'approval sweep failed; will retry');
    }
  }

  async sweepOnce(signal?: AbortSignal): Promise<SweepResult> {
    const result: SweepResult = { scanned: 0, enqueued: 0, discarded: 0 };
    const rows = await withDeadline(this.d.timeoutMs * 4, signal, async (abortSignal) => {
      const out: Array<{ id: string; etag: string; age: number }> = [];
      const iter = this.d.outbox.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${OUTBOX_PARTITION}` }, abortSignal });
      for await (const e of iter) out.push({ id: e.rowKey!, etag: e.etag, age: this.now() - Date.parse(e.timestamp ?? '') });
      return out;
    });
    for (const row of rows) {
      result.scanned++;
      if (!(row.age >= this.d.graceMs)) continue; // likely still in flight in some instance
      const current = await this.d.store.get(row.id, signal);
      const state = current?.value.state;
      if (state === 'approved' || state === 'processing') {
        // "processing" means the consumer already exported it; only the outbox row is left to clear.
        if (state === 'approved') {
          await this.d.approvals.enqueue({ expenseId: row.id, approvalDate: current!.value.approvalDate! }, signal);
          result.enqueued++;
        }
        await this.d.approvals.clearOutbox(row.id, row.etag, signal);
      } else if (row.age >= ABANDONED_AFTER_MS) {
        await this.d.approvals.clearOutbox(row.id, row.etag, signal);
        result.discarded++;
      }
    }
    return result;
  }
}
