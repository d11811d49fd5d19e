import { odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { ExportStore } from './export-store';
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
    exportedThrough: m.exportedThrough,
  };
  for (const k of ['firstRowAt', 'lastRowAt', 'closedAt', 'closedSeq', 'acknowledgedAt', 'acknowledgedBy'] as const) {
    if (m[k] !== undefined) e[k] = m[k];
  }
  if (m.upgrade) {
    e.upgradeFound = m.upgrade.found;
    if (m.upgrade.by !== undefined) e.upgradeBy = m.upgrade.by;
    if (m.upgrade.leaseUntil !== undefined) e.upgradeLeaseUntil = m.upgrade.leaseUntil;
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
    // `ackAppliedThrough` is the name releases before 0.2 stored it under; a Replace of the manifest writes the new one.
    exportedThrough: num('exportedThrough') ?? num('ackAppliedThrough') ?? 0,
    ...(num('upgradeFound') !== undefined
      ? { upgrade: { found: num('upgradeFound')!, by: str('upgradeBy'), leaseUntil: str('upgradeLeaseUntil') } }
      : {}),
  };
}

/** The manifests and the day index: one point read per manifest, conditional writes, one partition query per list. */
export class ManifestStore {
  constructor(private readonly store: ExportStore) {}

  /** One point read; undefined when the day has no manifest (yet). The one read path of a manifest. */
  async read(date: string, signal?: AbortSignal): Promise<StoredManifest | undefined> {
    const e = await this.store.get<Record<string, unknown>>(date, MANIFEST_ROW, undefined, signal);
    return e && { manifest: fromEntity({ ...e, partitionKey: date }), etag: e.etag };
  }

  /** Conditional on the etag read: a 412 means another writer moved it. Returns the new etag. */
  replace(m: Manifest, etag: string, signal?: AbortSignal): Promise<string> {
    return this.store.update(manifestEntity(m), 'Replace', etag, signal);
  }

  /** Create only: a 409 means another writer created it first. */
  create(m: Manifest, signal?: AbortSignal): Promise<string> {
    return this.store.create(manifestEntity(m), signal);
  }

  /**
   * Records that `date` has a manifest (before the manifest is created: an
   * index row without one is skipped, never the reverse), and whether it is
   * closed and whether its legacy rows are still being numbered.
   */
  async index(date: string, state: { closed?: boolean; upgrading?: boolean }, signal?: AbortSignal): Promise<void> {
    await this.store.upsert({ partitionKey: INDEX_PARTITION, rowKey: date, ...state }, 'Merge', signal);
  }

  /** Days in the index from `from` to `to` (one partition query); `openOnly` leaves out days marked closed. */
  async indexedDays(
    from: string,
    to: string,
    opts: { openOnly?: boolean; upgradingOnly?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<string[]> {
    const range = odata`PartitionKey eq ${INDEX_PARTITION} and RowKey ge ${from} and RowKey le ${to}`;
    const filter = opts.openOnly ? `${range} and closed eq false` : opts.upgradingOnly ? `${range} and upgrading eq true` : range;
    return (await this.store.list<object>({ filter, select: ['RowKey'] }, signal)).map((e) => e.rowKey!);
  }
}
