import type { TableClient, TransactionAction } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { ROWS_PER_TRANSACTION } from '../src/export/day-writer';
import { emptyManifest, encodeTotals, withRow, type Manifest } from '../src/export/manifest';
import { manifestEntity, ROWS_END } from '../src/export/manifest-store';
import { benchClients, benchExportTable, benchNames, fakeExportRow, median, timed, type BenchContext } from './support';

export interface UpgradeResult {
  rows_per_s: number;
  raw_rows_per_s: number;
  ratio: number;
}

/**
 * Numbering a day of an earlier release (rows without seq, no manifest):
 * A: the service's legacy numbering (LegacyRows.number: adopt, lease, one
 *    scan, 99 rows + the manifest per transaction, progress, the index);
 * B: a raw loop of the same entity-group transactions: the same scan, then
 *    99 conditional Merges and the manifest per transaction, one after another.
 * Each numbers its own fresh day of the same size (a day is numbered once).
 */
export async function benchUpgrade(ctx: BenchContext): Promise<UpgradeResult> {
  const rows = ctx.quick ? 1_000 : 20_000;
  // Two rounds, the second in the other order: Azurite's conditional Merges run at about 110-300 rows/s in a
  // 20,000-row partition (each checks the whole partition) and drift within a run, so whichever goes second gains;
  // with ours always first, full runs gave 1.024, 0.767 and 0.759 on unchanged code (BENCHMARKS.md).
  const rounds = ctx.quick ? 1 : 2;
  const clients = await benchClients(ctx.connectionString, benchNames('up'));
  const table = clients.exports;
  const owner = benchExportTable(clients);
  let day = 0;
  const fresh = async (n = rows) => {
    const date = `2020-01-${String(++day).padStart(2, '0')}`;
    await seedLegacy(table, date, n);
    return date;
  };
  // Warm both paths (JIT, connections) on small days first: the first calls of a process cost more than the rest.
  await owner.legacy.number(await fresh(200));
  await rawNumber(table, await fresh(200));
  const ours = async () => {
    const date = await fresh();
    const { value: n, seconds } = await timed(() => owner.legacy.number(date));
    if (n !== rows) throw new Error(`numbered ${n} rows, expected ${rows}`);
    return n / seconds;
  };
  const raw = async () => {
    const date = await fresh();
    const { value: n, seconds } = await timed(() => rawNumber(table, date));
    if (n !== rows) throw new Error(`raw loop numbered ${n} rows, expected ${rows}`);
    return n / seconds;
  };
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let x: number, y: number;
    if (r % 2 === 0) {
      x = await ours();
      y = await raw();
    } else {
      y = await raw();
      x = await ours();
    }
    a.push(x);
    b.push(y);
    ratios.push(x / y);
    ctx.say(
      `upgrade round ${r + 1} (${r % 2 === 0 ? 'ours first' : 'raw first'}): ${Math.round(x)} rows/s, raw ${Math.round(y)} rows/s (${(x / y).toFixed(3)})`,
    );
  }
  return { rows_per_s: median(a), raw_rows_per_s: median(b), ratio: median(ratios) };
}

/** Rows as a release before the day-file contract wrote them: RowKey = expense id, no seq, no manifest. */
async function seedLegacy(table: TableClient, date: string, count: number): Promise<void> {
  const batches: TransactionAction[][] = [];
  for (let i = 0; i < count; i += 100) {
    batches.push(
      Array.from({ length: Math.min(100, count - i) }, (_, k): TransactionAction => {
        const { expenseId, partitionKey: _p, rowKey: _r, attempt: _a, ...cells } = fakeExportRow(date, i + k);
        return ['create', { ...cells, partitionKey: date, rowKey: expenseId }];
      }),
    );
  }
  for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map((b) => table.submitTransaction(b)));
}

/** The baseline: the same scan and the same transactions, with nothing around them. */
async function rawNumber(table: TableClient, date: string): Promise<number> {
  const query = {
    filter: odata`PartitionKey eq ${date} and RowKey lt ${ROWS_END}`,
    select: ['RowKey', 'Timestamp', 'seq', 'currency', 'amount'],
  };
  const found: Array<{ rowKey: string; etag: string; currency: string; amount: string }> = [];
  for await (const page of table
    .listEntities<{ currency: string; amount: string }>({ queryOptions: query })
    .byPage({ maxPageSize: 1000 })) {
    for (const r of page) found.push({ rowKey: r.rowKey!, etag: r.etag, currency: r.currency, amount: r.amount });
  }
  let m: Manifest = emptyManifest(date);
  let etag = '';
  for (let i = 0; i < found.length; i += ROWS_PER_TRANSACTION) {
    const actions: TransactionAction[] = [];
    for (const r of found.slice(i, i + ROWS_PER_TRANSACTION)) {
      m = withRow(m, r);
      actions.push([
        'update',
        { partitionKey: date, rowKey: r.rowKey, seq: m.seq, totalsThrough: encodeTotals(m.totals), expenseId: r.rowKey },
        'Merge',
        { etag: r.etag },
      ]);
    }
    actions.push(etag ? ['update', manifestEntity(m), 'Replace', { etag }] : ['create', manifestEntity(m)]);
    const res = await table.submitTransaction(actions);
    etag = res.subResponses.at(-1)?.etag ?? '';
  }
  return found.length;
}
