import type { StorageClients } from '../src/storage/clients';
import { benchClients, benchExportTable, benchNames, seedPartition, timed, type BenchContext, type BenchNames } from './support';

export const DATE = '2026-11-23';
/** One page on another date, to warm a fresh server without touching the measured partition. */
export const WARM_DATE = '2026-11-22';
export const PAGE = 1000;

/**
 * The one export partition every export step reads, grown between steps
 * (10k for memory, 20k for throughput, 40k for memory again) rather than
 * seeded three times. Azurite checks each insert against the whole
 * partition, so seeding costs grow with the square of its size; reusing
 * the rows keeps the bench inside its time budget.
 */
export interface ExportFixture {
  names: BenchNames;
  clients: StorageClients;
  /** Seeds rows until the partition has `rows` of them (never shrinks). */
  grow(rows: number): Promise<void>;
}

export async function exportFixture(ctx: BenchContext): Promise<ExportFixture> {
  const names = benchNames('x');
  const clients = await benchClients(ctx.connectionString, names);
  const table = benchExportTable(clients);
  await seedPartition(table, WARM_DATE, PAGE);
  let rows = 0;
  return {
    names,
    clients,
    async grow(to: number) {
      if (to <= rows) return;
      const { seconds } = await timed(() => seedPartition(table, DATE, to - rows, rows));
      ctx.say(`export partition: ${rows} → ${to} rows at ${Math.round((to - rows) / seconds)} rows/s`);
      rows = to;
    },
  };
}
