import type { Manifest } from '../export/manifest';
import { totalsJson } from '../export/manifest';
import { messageId, type WebhookOutbox } from './outbox';

/**
 * day.closed and day.late, found by looking at the closed days (each
 * delivery run): whichever instance looks first records the event, under
 * an id fixed by the day (and, for late rows, the day's seq), so that
 * every instance, and every restart, records the same message once.
 */
export class DayEvents {
  /** Ids this process has recorded: not asked about again. */
  private readonly recorded = new Set<string>();

  constructor(private readonly outbox: WebhookOutbox) {}

  async observe(closed: readonly Manifest[], signal?: AbortSignal): Promise<void> {
    if (this.outbox.endpoints.length === 0) return;
    for (const m of closed) {
      const closedId = messageId('day.closed', m.date);
      if (!this.recorded.has(closedId)) {
        await this.outbox.emit(
          'day.closed',
          closedId,
          {
            date: m.date,
            closedAt: m.closedAt,
            closedSeq: m.closedSeq,
            // The manifest's totals are the whole day's: the close's own only while no late row has landed.
            ...(m.seq === m.closedSeq ? { totals: totalsJson(m.totals) } : {}),
          },
          signal,
        );
        this.recorded.add(closedId);
      }
      if (m.closedSeq !== undefined && m.seq > m.closedSeq) {
        const lateId = messageId('day.late', m.date, m.seq);
        if (this.recorded.has(lateId)) continue;
        await this.outbox.emit(
          'day.late',
          lateId,
          { date: m.date, closedSeq: m.closedSeq, seq: m.seq, lateRows: m.seq - m.closedSeq },
          signal,
        );
        this.recorded.add(lateId);
      }
    }
  }
}
