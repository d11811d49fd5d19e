import { demoExpense } from '../../src/expenses/demo-data';
import type { Services } from '../../src/services';

/**
 * Creates and approves `n` demo expenses through the same code paths as the API,
 * `batchSize` at a time (one by one unless a test needs many quickly); ids in index order.
 */
export async function approvedExpenses(s: Services, n: number, batchSize = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, n - i) }, async (_, k) => {
      const e = await s.store.create(demoExpense(i + k), new Date());
      await s.approvals.approve(e.id, 'approver');
      return e.id;
    });
    ids.push(...(await Promise.all(batch)));
  }
  return ids;
}
