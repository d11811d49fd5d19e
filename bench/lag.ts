import { isNotFound } from '../src/storage/errors';
import type { TableClient } from '@azure/data-tables';
import { benchClients, benchNames, benchServices, percentile, sleep, type BenchContext } from './support';

export interface LagResult {
  p50_ms: number;
  p99_ms: number;
}

const SPACING_MS = 200;
const POLL_MS = 10;

/**
 * Approval-to-export lag at idle, with the default consumer settings: the
 * consumer has backed off to its longest idle sleep before the first approval.
 * Measured from the start of the approve call to the export row being readable.
 */
export async function benchLag(ctx: BenchContext): Promise<LagResult> {
  const n = ctx.quick ? 10 : 100;
  const names = benchNames('l');
  const clients = await benchClients(ctx.connectionString, names);
  const { config, services: s } = benchServices(clients);
  const expenses = [];
  for (let i = 0; i < n; i++) {
    expenses.push(
      await s.store.create(
        {
          employee: 'Ada Lovelace',
          costCenter: 'CC-100',
          reimbursementMethod: 'direct_deposit',
          currency: 'USD',
          items: [{ description: 'Taxi', amountMinor: 1230n }],
        },
        new Date(),
      ),
    );
  }
  s.consumer.start();
  try {
    await sleep(Math.max(3000, config.CONSUMER_MAX_IDLE_MS * 3)); // let the idle backoff reach its ceiling
    const lags: Promise<number>[] = [];
    const t0 = performance.now();
    for (const [i, e] of expenses.entries()) {
      const wait = t0 + i * SPACING_MS - performance.now();
      if (wait > 0) await sleep(wait);
      const started = performance.now();
      lags.push(
        s.approvals.approve(e.id, 'bench').then(async ({ expense }) => {
          await visible(clients.exports, expense.approvalDate!, e.id);
          return performance.now() - started;
        }),
      );
    }
    const all = await Promise.all(lags);
    return { p50_ms: percentile(all, 50), p99_ms: percentile(all, 99) };
  } finally {
    await s.consumer.stop(5000);
  }
}

async function visible(exports: TableClient, date: string, id: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      await exports.getEntity(date, id, { queryOptions: { select: ['RowKey'] } });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (performance.now() > deadline) throw new Error(`expense ${id} not exported within 30 s`);
    await sleep(POLL_MS);
  }
}
