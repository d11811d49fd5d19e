import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import { systemClock, type Clock } from '../clock';
import { dateInZone, nextDate, startOfDayInZone } from '../expenses/dates';
import { DayUpgradingError } from './errors';
import type { ExportTable } from './export-table';

export interface DayCloserDeps {
  exportTable: ExportTable;
  timeZone: string;
  graceMs: number;
  intervalMs: number;
  logger: Logger;
  clock?: Clock;
  /** Told after a run that closed days (delivery starts on them at once rather than at its next interval). */
  closed?: (dates: readonly string[]) => void;
}

/** The oldest day the closer looks at: the index is one small partition, but not every day since 1970 needs a look each minute. */
const LOOKBACK = '1970-01-01';

/**
 * Closes days automatically: a day is closed once it has ended in
 * EXPORT_TIMEZONE and EXPORT_CLOSE_GRACE_MS has passed (rows approved just
 * before midnight get that long to land). Every instance runs it; the
 * close itself is idempotent. An admin may close a day earlier.
 */
export class DayCloser extends PeriodicTask {
  private readonly clock: Clock;

  constructor(private readonly d: DayCloserDeps) {
    super({ name: 'day-closer', intervalMs: d.intervalMs, logger: d.logger });
    this.clock = d.clock ?? systemClock;
  }

  /** Whether `date` is over (in the zone) plus the grace, at `now`. */
  isDue(date: string, now: Date): boolean {
    return now.getTime() >= startOfDayInZone(nextDate(date), this.d.timeZone) + this.d.graceMs;
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    try {
      await this.closeDue(signal);
    } catch (err) {
      if (!signal.aborted) this.d.logger.warn({ err }, 'closing days failed; will retry');
    }
  }

  /** An admin's early close: the same close, and delivery is told at once as after an automatic one. */
  async closeNow(date: string, signal?: AbortSignal): ReturnType<ExportTable['close']> {
    const result = await this.d.exportTable.close(date, new Date(this.clock.now()), signal);
    if (result.closedNow) this.d.closed?.([date]);
    return result;
  }

  async closeDue(signal?: AbortSignal): Promise<string[]> {
    const now = new Date(this.clock.now());
    const today = dateInZone(now, this.d.timeZone);
    const closed: string[] = [];
    for (const date of await this.d.exportTable.openDays(LOOKBACK, today, signal)) {
      if (!this.isDue(date, now)) continue;
      const { manifest, closedNow } = await this.d.exportTable.close(date, now, signal).catch((err: unknown) => {
        if (!(err instanceof DayUpgradingError)) throw err;
        return { manifest: undefined, closedNow: false }; // closed on a later round, once its legacy rows are numbered
      });
      if (closedNow) {
        closed.push(date);
        this.d.logger.info({ date, closedSeq: manifest?.closedSeq }, 'day closed');
      }
    }
    if (closed.length > 0) this.d.closed?.(closed);
    return closed;
  }
}
