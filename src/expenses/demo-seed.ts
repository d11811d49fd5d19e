import type { Logger } from 'pino';
import type { TableClient } from '@azure/data-tables';
import { withDeadline } from '../storage/deadline';
import { isNotFound } from '../storage/errors';
import type { ApprovalDeps } from './approval';
import { seedExpenses } from './demo-data';

const MARKER = { partitionKey: '~demo', rowKey: 'seeded' };

/** First start against empty embedded storage: a few expenses approved today and yesterday, so the banner's curl returns a real file. */
export async function seedDemoData(expenses: TableClient, approvalDeps: ApprovalDeps, log: Logger): Promise<void> {
  const t = approvalDeps.timeoutMs;
  const { store } = approvalDeps;
  try {
    await withDeadline(t, undefined, (abortSignal) => expenses.getEntity(MARKER.partitionKey, MARKER.rowKey, { abortSignal }));
    return; // seeded on an earlier start
  } catch (err) {
    if (!isNotFound(err)) throw err; // storage trouble is not "never seeded"
  }
  const yesterday = new Date(Date.now() - 24 * 3600_000);
  await seedExpenses({ store, approvalDeps, count: 4, approve: true, approver: 'demo-manager', at: yesterday });
  await seedExpenses({ store, approvalDeps, count: 6, approve: true, approver: 'demo-manager' });
  await seedExpenses({ store, approvalDeps, count: 2, approve: false, approver: 'demo-manager' });
  await withDeadline(t, undefined, (abortSignal) =>
    expenses.upsertEntity({ ...MARKER, at: new Date().toISOString() }, 'Merge', { abortSignal }),
  );
  log.info('demo data seeded: 4 approved yesterday, 6 today, 2 awaiting approval');
}
