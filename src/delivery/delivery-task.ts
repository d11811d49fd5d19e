import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import { dateInZone, dateMinusDays } from '../expenses/dates';
import type { ExportTable } from '../export/export-table';
import type { Manifest } from '../export/manifest';
import { mapLimit } from '../map-limit';
import { isDue, type Deliverer, type DeliveryOutcome } from './deliverer';
import type { DeliveryLedger, DeliveryRecord, DeliveryState, StoredDelivery } from './ledger';
import type { DeliveryTarget } from './targets';

export interface DeliveryServiceDeps {
  exportTable: Pick<ExportTable, 'days' | 'manifest'>;
  ledger: DeliveryLedger;
  deliverer: Deliverer;
  targets: readonly DeliveryTarget[];
  timeZone: string;
  lookbackDays: number;
  intervalMs: number;
  logger: Logger;
  /**
   * Files delivered at once (each streams one). One by default: a delivery's memory is flat whatever the
   * file's size, but two at once cost the heap far more than twice one (BENCHMARKS.md, delivery memory).
   */
  concurrency?: number;
  /** Each run's closed days (the webhooks' day events) and the failed count per target (the gauge). */
  observe?: { days?: (closed: readonly Manifest[]) => Promise<void>; failed?: (byTarget: Record<string, number>) => void };
  now?: () => Date;
}

export class UnknownTargetError extends Error {
  readonly code = 'unknown_target';
}

/**
 * Delivery: every closed day's file to every target, once. Each run plans
 * what is missing — a day's first file (rows 1..closedSeq), and once every
 * earlier file of the day is settled, a supplementary file of the rows that
 * landed after it — then runs the deliveries that are due. Every instance
 * runs it; the ledger's keys and leases make each file one delivery.
 */
export class DeliveryTask extends PeriodicTask {
  private readonly now: () => Date;

  constructor(private readonly d: DeliveryServiceDeps) {
    super({ name: 'delivery', intervalMs: d.intervalMs, logger: d.logger });
    this.now = d.now ?? (() => new Date());
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    try {
      await this.runDue(signal);
    } catch (err) {
      if (!signal.aborted) this.d.logger.warn({ err }, 'delivery run failed; will retry');
    }
  }

  private window(): { from: string; to: string } {
    const to = dateInZone(this.now(), this.d.timeZone);
    return { from: dateMinusDays(to, this.d.lookbackDays - 1), to };
  }

  /** Plans what is missing and runs what is due; returns the settled attempts (for tests and the CLI). */
  async runDue(signal?: AbortSignal): Promise<Array<{ outcome: string; record: DeliveryRecord }>> {
    const { from, to } = this.window();
    const closed = (await this.d.exportTable.days(from, to, signal)).filter((m) => m.closedSeq !== undefined);
    await this.d.observe?.days?.(closed).catch((err: unknown) => this.d.logger.warn({ err }, 'day events not recorded; next run retries'));
    if (this.d.targets.length === 0) return [];
    const existing = await this.d.ledger.list({ from, to }, signal);
    const failed: Record<string, number> = Object.fromEntries(this.d.targets.map((t) => [t.name, 0]));
    for (const s of existing) if (s.record.state === 'failed' && s.record.target in failed) failed[s.record.target]++;
    this.d.observe?.failed?.(failed);
    const now = this.now();
    const due = existing.filter((s) => isDue(s.record, now) && this.d.targets.some((t) => t.name === s.record.target));
    const ctl = signal ?? new AbortController().signal;
    const work: Array<() => Promise<DeliveryOutcome>> = [
      ...due.map((s) => () => this.d.deliverer.attempt(s, ctl)),
      ...this.missing(closed, existing).map((r) => async () => {
        const { created, outcome } = await this.d.deliverer.deliverNew(r, ctl);
        if (created) this.d.logger.info({ target: r.target, date: r.date, after: r.after, through: r.through }, 'delivery planned');
        return outcome;
      }),
    ];
    const results = await mapLimit(work, this.d.concurrency ?? 1, (run) => run());
    return results.filter((r) => r.outcome !== 'lost-lease');
  }

  /** The next file of each (closed day, target), where one is missing: planned and claimed as it starts. */
  private missing(closed: readonly Manifest[], existing: readonly StoredDelivery[]): DeliveryRecord[] {
    const out: DeliveryRecord[] = [];
    for (const m of closed) {
      for (const t of this.d.targets) {
        const chain = existing.filter((s) => s.record.date === m.date && s.record.target === t.name && s.record.redelivery === 0);
        if (chain.some((s) => s.record.state === 'pending' || s.record.state === 'delivering')) continue;
        const through = chain.reduce((n, s) => Math.max(n, s.record.through), -1);
        // The first file: rows 1..closedSeq. Then rows after the last file, when more have landed.
        const next = through < 0 ? { after: 0, through: m.closedSeq! } : m.seq > through ? { after: through, through: m.seq } : undefined;
        if (!next) continue;
        out.push({
          target: t.name,
          date: m.date,
          layout: t.layout,
          ...next,
          redelivery: 0,
          state: 'pending',
          attempts: 0,
          createdAt: this.now().toISOString(),
          closedAt: next.after === 0 ? m.closedAt : undefined,
        });
      }
    }
    return out;
  }

  /** GET /deliveries: a day's (or the lookback window's) deliveries, newest day first. */
  async list(q: { date?: string; target?: string; state?: DeliveryState }, signal?: AbortSignal): Promise<DeliveryRecord[]> {
    const range = q.date ? { from: q.date, to: q.date } : this.window();
    const found = await this.d.ledger.list({ ...range, target: q.target, state: q.state }, signal);
    return found
      .map((s) => s.record)
      .sort((a, b) => b.date.localeCompare(a.date) || a.target.localeCompare(b.target) || a.after - b.after || a.redelivery - b.redelivery);
  }

  /**
   * Delivers every file of a day to a target again, each under a new name
   * (`-r<n>`): the same rows (after, through] as the file it repeats. Files
   * that are still on their way are left to finish.
   */
  async redeliver(target: string, date: string, by: string, signal?: AbortSignal): Promise<DeliveryRecord[]> {
    const t = this.d.targets.find((x) => x.name === target);
    if (!t) throw new UnknownTargetError(`no delivery target "${target}"`);
    const day = await this.d.ledger.list({ from: date, to: date, target }, signal);
    const originals = day.filter((s) => s.record.redelivery === 0 && (s.record.state === 'delivered' || s.record.state === 'failed'));
    const created: DeliveryRecord[] = [];
    for (const o of originals) {
      const n = day.filter((s) => s.record.after === o.record.after).reduce((k, s) => Math.max(k, s.record.redelivery), 0) + 1;
      const { stored } = await this.d.ledger.plan(
        {
          target,
          date,
          layout: t.layout,
          after: o.record.after,
          through: o.record.through,
          redelivery: n,
          state: 'pending',
          attempts: 0,
          createdAt: this.now().toISOString(),
          requestedBy: by,
        },
        signal,
      );
      created.push(stored.record);
    }
    if (created.length > 0) this.nudge();
    return created;
  }
}
