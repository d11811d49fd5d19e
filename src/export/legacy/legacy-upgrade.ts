import type { Logger } from 'pino';
import { PeriodicTask } from '../../background/periodic-task';
import type { Clock } from '../../clock';
import { dateInZone, dateMinusDays } from '../../expenses/dates';
import type { LegacyFinder } from './legacy-finder';
import { LeaseLost, type LegacyRows } from './legacy-rows';

export interface LegacyUpgradeDeps {
  rows: LegacyRows;
  finder: LegacyFinder;
  /** The days still open (the day index): where instances of an earlier release may still be writing. */
  openDays: (signal: AbortSignal) => Promise<string[]>;
  timeZone: string;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
}

/**
 * The background work of the upgrade to numbered rows (see legacy-rows.ts):
 * at start, the whole table once; then every minute, and at once when a
 * pull, a close or a consumer meets such a row, the days that need it. One
 * day at a time: numbering is one partition's transactions in a row, and a
 * second day at once would only share the same storage account.
 */
export class LegacyUpgrade extends PeriodicTask {
  private scanned = false;

  constructor(private readonly d: LegacyUpgradeDeps) {
    super({ name: 'legacy-upgrade', intervalMs: d.intervalMs ?? 60_000, logger: d.logger });
    d.rows.wake = () => this.nudge();
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    try {
      await this.work(signal);
    } catch (err) {
      if (!signal.aborted) this.d.logger.warn({ err }, 'numbering rows without seq failed; will retry');
    }
  }

  /** One round; returns the days it numbered rows in (tests call it directly). */
  async work(signal: AbortSignal): Promise<Map<string, number>> {
    const done = new Map<string, number>();
    const number = async (date: string) => {
      if (done.has(date) || signal.aborted) return;
      try {
        done.set(date, await this.d.rows.number(date, signal));
      } catch (err) {
        if (!(err instanceof LeaseLost)) throw err;
      }
    };
    for (const date of this.d.rows.takePending()) await number(date);
    if (!this.scanned) {
      const whole = await this.d.finder.wholeTable({}, signal);
      for (const date of whole.days) await number(date);
      if (whole.scanned) {
        const numbered = whole.days.reduce((n, date) => n + (done.get(date) ?? 0), 0);
        await this.d.finder.markScanned({ days: whole.days.length, numbered }, new Date(this.d.clock.now()), signal);
        this.d.logger.info({ days: whole.days.length, numbered }, 'export table scanned once for rows of an earlier release');
      }
      this.scanned = true;
    }
    for (const date of await this.d.finder.unfinished(signal)) await number(date);
    const today = dateInZone(new Date(this.d.clock.now()), this.d.timeZone);
    const recent = new Set([...(await this.d.openDays(signal)), today, dateMinusDays(today, 1)]);
    for (const date of await this.d.finder.lately([...recent].sort(), this.d.clock.now(), signal)) await number(date);
    return done;
  }

  /** The whole-table scan again, ignoring its marker (`expense-export days upgrade`). */
  async rescan(signal: AbortSignal): Promise<{ days: number; numbered: number }> {
    const whole = await this.d.finder.wholeTable({ rescan: true }, signal);
    let numbered = 0;
    for (const date of whole.days) numbered += await this.d.rows.number(date, signal);
    await this.d.finder.markScanned({ days: whole.days.length, numbered }, new Date(this.d.clock.now()), signal);
    return { days: whole.days.length, numbered };
  }
}
