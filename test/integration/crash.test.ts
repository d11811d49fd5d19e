/**
 * A real SIGKILL of a real server process at each step of the pipeline
 * (FAULT_CRASH_AT), then a restart without the fault: the work must finish,
 * exactly once. Each test gets its own tables and queue.
 */
import { spawnServer, serverEnv, type ServerProcess } from '../../harness/child-server';
import { checkInvariants, failedChecks, settleInvariants } from '../../harness/invariants';
import { demoExpense } from '../../src/expenses/demo-data';
import type { User } from '../../src/auth/users';
import type { Services } from '../../src/services';
import { approvedExpenses } from '../support/approved';
import { azuriteConnectionString, queueDepth, testClients, testServices, uniqueNames } from '../support/storage';
import { basic, testUsers } from '../support/users';

let users: User[];
const children: ServerProcess[] = [];

beforeAll(async () => {
  users = await testUsers();
});
afterAll(() => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
});

async function fresh(): Promise<{ s: Services; env: (extra?: Record<string, string>) => Record<string, string> }> {
  const names = uniqueNames();
  const s = await testServices({ clients: await testClients(names) });
  // One message at a time, so "the first message reached the step" is exactly what storage shows at the crash.
  return { s, env: (extra = {}) => serverEnv(azuriteConnectionString(), names, users, { CONSUMER_CONCURRENCY: '1', ...extra }) };
}

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const p = await spawnServer({ env });
  children.push(p);
  return p;
}

describe('SIGKILL of the consumer at each step, then a restart', () => {
  // What storage must show at the moment of the crash: proof that the process died at that step and not elsewhere.
  test.each([
    ['after-receive', { exportRows: 0, processing: 0 }],
    ['after-insert', { exportRows: 1, processing: 0 }],
    ['after-update', { exportRows: 1, processing: 1 }],
    ['before-delete', { exportRows: 1, processing: 1 }],
  ] as const)('crash %s: every approved expense ends exported exactly once and processing, queue empty', async (point, atCrash) => {
    const { s, env } = await fresh();
    const ids = await approvedExpenses(s, 3);

    const crashing = await start(env({ FAULT_CRASH_AT: point }));
    expect(await crashing.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const mid = await checkInvariants(s.clients, ids, []);
    expect(mid.counts).toMatchObject({ approved: 3, mainQueue: 3, ...atCrash });

    const healthy = await start(env());
    try {
      const report = await settleInvariants(s.clients, ids, [], 20_000);
      expect(failedChecks(report)).toEqual([]);
      expect(report.counts).toMatchObject({ approved: 3, exportRows: 3, processing: 3, mainQueue: 0, poison: 0 });
    } finally {
      expect((await healthy.terminate()).code).toBe(0);
    }
  });
});

test('crash after the approval is saved and before it is enqueued: after a restart the sweeper gets it exported once', async () => {
  const { s, env } = await fresh();
  const { id } = await s.store.create(demoExpense(7), new Date());

  const crashing = await start(env({ FAULT_CRASH_AT: 'after-approve-save' }));
  const answer = await fetch(`${crashing.url}/expenses/${id}/approve`, {
    method: 'POST',
    headers: { authorization: basic('approver') },
  }).catch((err: Error) => err);
  // The process died mid-request: no answer at all, only a dropped connection.
  expect(answer).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  expect(await crashing.exited).toEqual({ code: null, signal: 'SIGKILL' });
  // The state was saved, the message never sent: only the outbox row remembers the approval.
  expect((await s.store.get(id))?.value.state).toBe('approved');
  expect(await queueDepth(s.clients.queue)).toBe(0);
  expect((await s.outbox.list('approval')).map((r) => r.id)).toEqual([id]);

  const healthy = await start(env());
  try {
    const report = await settleInvariants(s.clients, [id], [], 20_000);
    expect(failedChecks(report)).toEqual([]);
    expect(report.counts).toMatchObject({ approved: 1, exportRows: 1, processing: 1, mainQueue: 0 });
    expect(await s.outbox.list('approval')).toEqual([]);
  } finally {
    expect((await healthy.terminate()).code).toBe(0);
  }
});
