import { demoExpense } from '../../src/expenses/demo-data';
import type { Services } from '../../src/services';

/** Creates and approves `n` demo expenses through the same code paths as the API. */
export async function approvedExpenses(s: Services, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = await s.store.create(demoExpense(i), new Date());
    await s.approvals.approve(e.id, 'approver');
    ids.push(e.id);
  }
  return ids;
}
