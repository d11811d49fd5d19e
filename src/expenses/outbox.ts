import { odata, type TableClient } from '@azure/data-tables';
import { systemClock, type Clock } from '../clock';
import { LISTING_DEADLINE_FACTOR, withDeadline } from '../storage/deadline';
import { isNotFound, isPreconditionFailed } from '../storage/errors';

/**
 * The outbox table: intents recorded before a step that spans two services
 * (a table write and a queue send), so that a crash in between leaves a row
 * for a background task to finish. Each kind of intent is one partition,
 * read with a single-partition query, never a scan. Rows are keyed by the
 * id they are about (an expense id), so recording an intent twice is one row.
 */
export const OUTBOX_PARTITIONS = {
  /** An approval whose message may not have been enqueued yet (see ApprovalService). */
  approval: 'pending',
  /** A day whose acknowledgement has not yet moved all its expenses to `exported` (see AckApplier). */
  acknowledgement: 'ack',
} as const;
export type OutboxKind = keyof typeof OUTBOX_PARTITIONS;

export interface OutboxEntry {
  id: string;
  etag: string;
  /** Since the row was last written, by the table's own clock. */
  ageMs: number;
  props: Record<string, unknown>;
}

export class Outbox {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Upsert: recording the same intent again replaces it (and restarts its age). */
  async record(kind: OutboxKind, id: string, props: Record<string, string>, signal?: AbortSignal): Promise<void> {
    await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.table.upsertEntity({ partitionKey: OUTBOX_PARTITIONS[kind], rowKey: id, ...props }, 'Replace', { abortSignal }),
    );
  }

  /**
   * Deletes the intent. With an etag, only the version that was read: a row
   * re-written meanwhile by a newer attempt is not ours to delete. Already
   * gone, or re-written, is not an error.
   */
  async clear(kind: OutboxKind, id: string, etag?: string, signal?: AbortSignal): Promise<void> {
    try {
      await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.table.deleteEntity(OUTBOX_PARTITIONS[kind], id, { etag, abortSignal }),
      );
    } catch (err) {
      if (!isNotFound(err) && !isPreconditionFailed(err)) throw err;
    }
  }

  /** Every intent of a kind: one partition, many pages, under one longer deadline. */
  async list(kind: OutboxKind, signal?: AbortSignal): Promise<OutboxEntry[]> {
    return withDeadline(this.timeoutMs * LISTING_DEADLINE_FACTOR, signal, async (abortSignal) => {
      const out: OutboxEntry[] = [];
      const rows = this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${OUTBOX_PARTITIONS[kind]}` },
        abortSignal,
      });
      for await (const e of rows) {
        const { partitionKey: _pk, rowKey, etag, timestamp, ...props } = e;
        out.push({ id: rowKey!, etag, ageMs: this.clock.now() - Date.parse(timestamp ?? ''), props });
      }
      return out;
    });
  }

  /** How many intents of a kind are pending, counted up to `cap` (for status reports). */
  async count(kind: OutboxKind, cap: number, signal?: AbortSignal): Promise<number> {
    return withDeadline(this.timeoutMs * LISTING_DEADLINE_FACTOR, signal, async (abortSignal) => {
      let n = 0;
      const rows = this.table.listEntities({
        queryOptions: { filter: odata`PartitionKey eq ${OUTBOX_PARTITIONS[kind]}`, select: ['RowKey'] },
        abortSignal,
      });
      for await (const page of rows.byPage({ maxPageSize: Math.min(cap, 1000) })) {
        n += page.length;
        if (n >= cap) return cap;
      }
      return n;
    });
  }
}
