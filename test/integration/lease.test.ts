/**
 * Leases: a long handler keeps its message by renewing the visibility with
 * the newest popReceipt; a lease taken away is logged, not a crash; and when
 * two consumers end up with the same approval, it is still exported once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LEASE_LOG } from '../../src/consumer/lease';
import type { QueueConsumer } from '../../src/consumer/consumer';
import { encodeApproval } from '../../src/expenses/approval-message';
import type { Services } from '../../src/services';
import { spawnServer, serverEnv, type ServerProcess } from '../../harness/child-server';
import { failedChecks, settleInvariants } from '../../harness/invariants';
import { approvedExpenses } from '../support/approved';
import { azuriteConnectionString, queueDepth, testClients, testServices, uniqueNames } from '../support/storage';
import { testUsers } from '../support/users';
import { consumerProbe, expectLoopTurning, type ConsumerProbe, type ProbeOptions } from '../support/consumer-probe';
import { waitFor } from '../support/wait';

const consumers: Array<Pick<QueueConsumer<unknown, unknown>, 'stop'>> = [];
let child: ServerProcess | undefined;
afterAll(async () => {
  if (child && child.child.exitCode === null && child.child.signalCode === null) {
    child.child.kill('SIGCONT');
    child.child.kill('SIGKILL');
  }
  await Promise.all(consumers.map((c) => c.stop(2000)));
});

function probe(s: Services, opts: ProbeOptions): ConsumerProbe {
  const p = consumerProbe(s, opts);
  consumers.push(p.consumer);
  return p;
}

const LEASE_LINES = new Set<unknown>(Object.values(LEASE_LOG));
const LEASE_LOST = new Set<unknown>([LEASE_LOG.lostWhileRenewing, LEASE_LOG.lostOnDelete]);

test('a handler that outlives the visibility timeout keeps its message, renews with the newest popReceipt and deletes cleanly', async () => {
  const s = await testServices();
  const [id] = await approvedExpenses(s, 1);
  // Renewal timing and the newest popReceipt are pinned by test/unit/consumer.test.ts with a fake clock; here, Azurite's
  // side of it: an update hands out a new popReceipt, the message stays invisible past its first timeout, and a delete
  // with the newest popReceipt succeeds.
  const p = probe(s, { visibilityTimeoutSec: 2, handlerDelayMs: 3000 });
  p.consumer.start();
  await waitFor(async () => p.consumer.inFlight === 1, 5000, 20);
  await sleep(2500); // past the first visibility timeout: only the renewal keeps it hidden
  expect((await s.clients.queue.receiveMessages({ visibilityTimeout: 1 })).receivedMessageItems).toHaveLength(0);
  await waitFor(async () => p.outcomes.length === 1, 5000);
  // A delete with the first popReceipt would fail once the message was updated: "deleted" proves the newest was used.
  expect(p.outcomes[0]).toMatchObject({ outcome: 'deleted', result: { exported: 'inserted', transitioned: true } });
  expect(p.lines.filter((l) => l.outcome)).toHaveLength(1); // the lines were captured: the next check has lines to look at
  expect(p.lines.filter((l) => LEASE_LINES.has(l.msg))).toEqual([]);
  const report = await settleInvariants(s.clients, [id], [], 5000);
  expect(failedChecks(report)).toEqual([]);
});

test('a lease taken away while the handler runs is logged as lost, not a crash, and the consumer goes on', async () => {
  const s = await testServices();
  const [first] = await approvedExpenses(s, 1);
  const p = probe(s, { visibilityTimeoutSec: 2, handlerDelayMs: 1800 }); // the renewal at 1 s finds the message gone
  p.consumer.start();
  await waitFor(async () => p.consumer.inFlight === 1, 5000, 20);
  await s.clients.queue.clearMessages(); // as if another consumer had finished and deleted it

  await waitFor(async () => p.outcomes.length === 1, 8000);
  expect(p.outcomes[0].outcome).toBe('lost');
  expect(p.lines.some((l) => l.level === 40 && LEASE_LOST.has(l.msg))).toBe(true);
  expect(p.lines.some((l) => l.level >= 50)).toBe(false);
  await expectLoopTurning(p.consumer); // neither crashed (stopped) nor stuck
  expect((await s.store.get(first))?.value.state).toBe('processing'); // the work itself was done, once

  const [second] = await approvedExpenses(s, 1);
  await waitFor(async () => p.outcomes.length === 2, 8000);
  expect(p.outcomes[1].outcome).toBe('deleted');
  expect((await s.store.get(second))?.value.state).toBe('processing');
});

test('duplicate deliveries to two competing consumers give one export row per expense', async () => {
  const s = await testServices();
  const ids = await approvedExpenses(s, 10);
  // The same approval twice more, as a sweeper and an admin re-export would send it.
  for (const id of ids) {
    const e = (await s.store.get(id))!.value;
    for (let k = 0; k < 2; k++) await s.clients.queue.sendMessage(encodeApproval({ expenseId: id, approvalDate: e.approvalDate! }));
  }
  const a = probe(s, { visibilityTimeoutSec: 30 });
  const b = probe(s, { visibilityTimeoutSec: 30 });
  a.consumer.start();
  b.consumer.start();

  const report = await settleInvariants(s.clients, ids, [], 15_000);
  expect(failedChecks(report)).toEqual([]);
  const all = [...a.outcomes, ...b.outcomes];
  expect(all).toHaveLength(30);
  expect(all.every((o) => o.outcome === 'deleted')).toBe(true);
  expect(all.filter((o) => o.result?.exported === 'inserted')).toHaveLength(10);
  expect(all.filter((o) => o.result?.transitioned)).toHaveLength(10);
});

test('two consumers take the same messages: one paused (SIGSTOP) past the timeout, the other finishes; the first resumes, logs lost leases, and lives', async () => {
  const names = uniqueNames();
  const s = await testServices({ clients: await testClients(names) });
  const ids = await approvedExpenses(s, 30);
  // One message at a time, so that the paused process is holding many received messages.
  child = await spawnServer({
    env: serverEnv(azuriteConnectionString(), names, await testUsers(), { CONSUMER_CONCURRENCY: '1', LOG_LEVEL: 'debug' }),
  });
  await waitFor(async () => child!.output().includes('"outcome":"deleted"'), 10_000, 5);
  child.child.kill('SIGSTOP');
  await sleep(2500); // past the 2 s visibility timeout of everything it holds

  const other = probe(s, { visibilityTimeoutSec: 30 });
  other.consumer.start();
  await waitFor(async () => (await queueDepth(s.clients.queue)) === 0, 15_000, 100);
  expect(other.outcomes.length).toBeGreaterThan(10);
  expect(other.outcomes.every((o) => o.outcome === 'deleted')).toBe(true);

  child.child.kill('SIGCONT');
  await waitFor(async () => child!.logs().some((l) => l.outcome === 'lost' || LEASE_LOST.has(l.msg)), 10_000);
  await sleep(500);
  expect(child.child.exitCode).toBeNull();
  expect((await fetch(`${child.url}/healthz`)).status).toBe(200);
  expect(child.logs().length).toBeGreaterThan(0);
  expect(child.logs().filter((l) => (l.level as number) >= 50)).toEqual([]);

  const report = await settleInvariants(s.clients, ids, [], 10_000);
  expect(failedChecks(report)).toEqual([]);
  expect((await child.terminate()).code).toBe(0);
});
