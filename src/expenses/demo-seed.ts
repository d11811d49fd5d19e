import type { Logger } from 'pino';
import type { Services } from '../services';
import { seedExpenses } from './demo-data';

const MARKER = { partitionKey: '~demo', rowKey: 'seeded' };

/** First start against empty embedded storage: a few expenses approved today and yesterday, so the banner's curl returns a real file. */
export async function seedDemoData(s: Services, log: Logger): Promise<void> {
  const { expenses } = s.clients;
  try {
    await expenses.getEntity(MARKER.partitionKey, MARKER.rowKey);
    return; // seeded on an earlier start
  } catch {
    // not seeded yet
  }
  const approvalDeps = {
    store: s.store,
    outbox: s.clients.outbox,
    queue: s.clients.queue,
    timeoutMs: s.config.STORAGE_TIMEOUT_MS,
    timeZone: s.config.EXPORT_TIMEZONE,
    crash: () => undefined,
  };
  const yesterday = new Date(Date.now() - 24 * 3600_000);
  await seedExpenses({ store: s.store, approvalDeps, count: 4, approve: true, approver: 'demo-manager', at: yesterday });
  await seedExpenses({ store: s.store, approvalDeps, count: 6, approve: true, approver: 'demo-manager' });
  await seedExpenses({ store: s.store, approvalDeps, count: 2, approve: false, approver: 'demo-manager' });
  await expenses.upsertEntity({ ...MARKER, at: new Date().toISOString() });
  log.info('demo data seeded: 4 approved yesterday, 6 today, 2 awaiting approval');
}
