import { systemClock, type Clock } from '../clock';
import type { Outbox } from '../expenses/outbox';
import type { ExportTable } from './export-table';
import type { Manifest } from './manifest';

export interface AcknowledgementDeps {
  exportTable: ExportTable;
  outbox: Outbox;
  /** The background task that moves the acknowledged expenses; nudged so it starts at once. */
  applier: { nudge(): void };
  clock?: Clock;
}

/**
 * The on-premises system's "exported" mark: it imported rows 1..n of a day.
 * The intent goes to the outbox first, then the acknowledgement into the
 * day's manifest; the AckApplier moves the expenses, in the background,
 * resumably. Pulling a file never marks anything.
 */
export class AcknowledgementService {
  private readonly clock: Clock;
  constructor(private readonly d: AcknowledgementDeps) {
    this.clock = d.clock ?? systemClock;
  }

  async acknowledge(
    date: string,
    through: number,
    by: string,
    signal?: AbortSignal,
  ): Promise<{ manifest: Manifest; newlyAcknowledged: number }> {
    await this.d.outbox.record('acknowledgement', date, { through: String(through) }, signal);
    const result = await this.d.exportTable.acknowledge(date, through, by, new Date(this.clock.now()), signal);
    this.d.applier.nudge();
    return result;
  }
}
