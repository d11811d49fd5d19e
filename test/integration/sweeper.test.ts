/**
 * The approval sweeper, run by several instances at once over the same
 * outbox: at worst they enqueue an approval twice, and the consumer still
 * writes one export row per expense.
 */
import { demoExpense } from '../../src/expenses/demo-data';
import { dateInZone } from '../../src/expenses/dates';
import type { Services } from '../../src/services';
import { failedChecks, settleInvariants } from '../../harness/invariants';
import { queueDepth, testClients, testServices } from '../support/storage';

let instances: Services[];
afterAll(() => Promise.all(instances.map((s) => s.consumer.stop(2000))));

test('three sweepers racing over the same outbox rows give one export row per approval and clear the outbox', async () => {
  const clients = await testClients();
  instances = await Promise.all([0, 1, 2].map(() => testServices({ clients, config: { APPROVAL_SWEEP_GRACE_MS: 0 } })));
  const [a] = instances;
  // What "crash after the approval was saved, before it was enqueued" leaves: approved, an outbox row, no message.
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const e = await a.store.create(demoExpense(i), new Date());
    const found = (await a.store.get(e.id))!;
    const now = new Date();
    await a.outbox.record('approval', e.id, { approvalDate: dateInZone(now, 'UTC') });
    await a.store.replace(
      { ...found.value, state: 'approved', approvedAt: now.toISOString(), approver: 'approver', approvalDate: dateInZone(now, 'UTC') },
      found.etag,
    );
    ids.push(e.id);
  }
  expect(await queueDepth(clients.queue)).toBe(0);

  const results = await Promise.all(instances.map((s) => s.sweeper.sweepOnce()));
  const enqueued = results.reduce((n, r) => n + r.enqueued, 0);
  expect(enqueued).toBeGreaterThanOrEqual(ids.length); // each approval at least once, duplicates allowed
  expect(await a.outbox.list('approval')).toEqual([]);

  for (const s of instances) s.consumer.start();
  const report = await settleInvariants(clients, ids, [], 15_000);
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 6, exportRows: 6, processing: 6, mainQueue: 0 });
});
