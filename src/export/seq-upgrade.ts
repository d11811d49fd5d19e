import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import type { ExportTable } from './export-table';

/**
 * The start-up step of the upgrade to numbered export rows (see
 * ExportTable.upgrade): runs in the background once the server is up,
 * retried every minute while storage fails, and then done. Until it has run,
 * a day of the earlier release is numbered anyway on its first touch.
 */
export class SeqUpgrade extends PeriodicTask {
  done = false;

  constructor(
    private readonly exportTable: Pick<ExportTable, 'upgrade'>,
    private readonly logger: Logger,
  ) {
    super({ name: 'seq-upgrade', intervalMs: 60_000, logger });
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    if (this.done) return;
    try {
      const r = await this.exportTable.upgrade({}, signal);
      this.done = true;
      if (r.days > 0) this.logger.warn(r, 'export table upgrade: days of an earlier release numbered');
      else if (r.scanned) this.logger.info(r, 'export table upgrade: scanned once, nothing of an earlier release to number');
    } catch (err) {
      if (!signal.aborted) this.logger.warn({ err }, 'export table upgrade failed; will retry');
    }
  }
}
