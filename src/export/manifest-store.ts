import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { withDeadline } from '../storage/deadline';
import { isNotFound } from '../storage/errors';
import { decodeTotals, encodeTotals, type Manifest } from './manifest';

/**
 * Where the manifest and the day index live in the export table. Part of
 * the table's owner (export-table.ts); nothing else uses these keys.
 *
 * - The manifest is RowKey `~manifest` in its day's partition: `~` sorts
 *   after every row key (ids are [A-Za-z0-9_-], attempts add `.n`), and
 *   every row read asks for `RowKey lt '~'`, so it is never a CSV line.
 * - The day index is the partition `~index`, one row per day that has a
 *   manifest (RowKey = date), so that listing days is one partition query,
 *   never a scan. Manifests stay the truth; the index only says where to look.
 */
export const MANIFEST_ROW = '~manifest';
export const INDEX_PARTITION = '~index';
/** Every row key of a day sorts below this. */
export const ROWS_END = '~';

export interface StoredManifest {
  manifest: Manifest;
  etag: string;
}

type Entity = TableEntity<Record<string, unknown>>;

export function manifestEntity(m: Manifest): Entity {
  const e: Entity = {
    partitionKey: m.date,
    rowKey: MANIFEST_ROW,
    seq: m.seq,
    rowCount: m.rowCount,
    totals: encodeTotals(m.totals),
    acknowledgedThrough: m.acknowledgedThrough,
    ackAppliedThrough: m.ackAppliedThrough,
  };
  for (const k of ['firstRowAt', 'lastRowAt', 'closedAt', 'closedSeq', 'acknowledgedAt', 'acknowledgedBy'] as const) {
    if (m[k] !== undefined) e[k] = m[k];
  }
  return e;
}

/** The manifest's part of a transaction: moved, conditional on the ETag read, or created when the day had none (no etag). */
export function manifestWrite(m: Manifest, etag: string): TransactionAction {
  return etag ? ['update', manifestEntity(m), 'Replace', { etag }] : ['create', manifestEntity(m)];
}

function fromEntity(e: Record<string, unknown>): Manifest {
  const num = (k: string) => (typeof e[k] === 'number' ? e[k] : undefined);
  const str = (k: string) => (typeof e[k] === 'string' ? e[k] : undefined);
  return {
    date: e.partitionKey as string,
    seq: num('seq') ?? 0,
    rowCount: num('rowCount') ?? 0,
    totals: decodeTotals(e.totals),
    firstRowAt: str('firstRowAt'),
    lastRowAt: str('lastRowAt'),
    closedAt: str('closedAt'),
    closedSeq: num('closedSeq'),
    acknowledgedThrough: num('acknowledgedThrough') ?? 0,
    acknowledgedAt: str('acknowledgedAt'),
    acknowledgedBy: str('acknowledgedBy'),
    ackAppliedThrough: num('ackAppliedThrough') ?? 0,
  };
}

export class ManifestStore {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
  ) {}

  /** One point read; undefined when the day has no manifest (yet). */
  async read(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    try {
      const e = await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.table.getEntity<Record<string, unknown>>(date, MANIFEST_ROW, { abortSignal }),
      );
      return { manifest: fromEntity(e), etag: e.etag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Conditional on the etag read: a 412 means another writer moved it. Returns the new etag. */
  async replace(m: Manifest, etag: string, signal?: AbortSignal): Promise<string> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.table.updateEntity(manifestEntity(m), 'Replace', { etag, abortSignal }),
    );
    return res.etag ?? etag;
  }

  /** Create only: a 409 means another writer created it first. */
  async create(m: Manifest, signal?: AbortSignal): Promise<string> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.createEntity(manifestEntity(m), { abortSignal }));
    return res.etag ?? '';
  }

  /** Records that `date` has a manifest (before the manifest is created: an index row without one is skipped, never the reverse). */
  async index(date: string, closed: boolean, signal?: AbortSignal): Promise<void> {
    await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.table.upsertEntity({ partitionKey: INDEX_PARTITION, rowKey: date, closed }, 'Replace', { abortSignal }),
    );
  }

  /** Days in the index from `from` to `to` (one partition query); `openOnly` leaves out days marked closed. */
  async indexedDays(from: string, to: string, opts: { openOnly?: boolean } = {}, signal?: AbortSignal): Promise<string[]> {
    const filter = opts.openOnly
      ? odata`PartitionKey eq ${INDEX_PARTITION} and RowKey ge ${from} and RowKey le ${to} and closed eq false`
      : odata`PartitionKey eq ${INDEX_PARTITION} and RowKey ge ${from} and RowKey le ${to}`;
    return withDeadline(this.timeoutMs * 4, signal, async (abortSignal) => {
      const days: string[] = [];
      for await (const e of this.table.listEntities({ queryOptions: { filter, select: ['RowKey'] }, abortSignal })) days.push(e.rowKey!);
      return days;
    });
  }
}
