/**
 * SIGTERM of a real server process: stop receiving, drain handlers
 * (bounded), finish streaming exports (bounded), exit 0 within 10 s. What is
 * still in flight at the deadline stays in the queue for redelivery. Own
 * Azurite, since one test hangs it with SIGSTOP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { CONSUMER_LOG } from '../../src/consumer/consumer';
import { SHUTDOWN_LOG } from '../../src/server';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { User } from '../../src/auth/users';
import type { Services } from '../../src/services';
import { AzuriteProcess } from '../../harness/azurite-process';
import { spawnServer, serverEnv, type ServerProcess } from '../../harness/child-server';
import { checkInvariants, failedChecks, settleInvariants } from '../../harness/invariants';
import { approvedExpenses } from '../support/approved';
import { seedExportRows, testClients, testServices, uniqueNames } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { waitFor } from '../support/wait';

let azurite: AzuriteProcess;
let dir: string;
let users: User[];
const children: ServerProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shutdown-'));
  azurite = await AzuriteProcess.start(dir);
  users = await testUsers();
});
afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await azurite.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function setup(approvals: number) {
  const names = uniqueNames();
  const s: Services = await testServices({ clients: await testClients(names, azurite.connectionString) });
  const ids = await approvedExpenses(s, approvals, 10);
  const start = async (extra: Record<string, string> = {}) => {
    const p = await spawnServer({ env: serverEnv(azurite.connectionString, names, users, extra) });
    children.push(p);
    return p;
  };
  return { s, ids, start };
}

const firstDelete = (p: ServerProcess) => waitFor(async () => p.output().includes('"outcome":"deleted"'), 15_000, 5);

test('SIGTERM while consuming: exit 0 within 10 s, unstarted messages handed back at once, a restart finishes the rest exactly once', async () => {
  const { s, ids, start } = await setup(80);
  // A long visibility timeout: anything left invisible instead of handed back would stall the restart below.
  const first = await start({ QUEUE_VISIBILITY_TIMEOUT_S: '60' });
  await firstDelete(first);
  const exit = await first.terminate('SIGTERM');
  expect(exit).toMatchObject({ code: 0, signal: null });
  expect(exit.ms).toBeLessThan(10_000);
  expect(first.logs().filter((l) => l.msg === SHUTDOWN_LOG.complete)).toHaveLength(1);

  const mid = await checkInvariants(s.clients, ids, []);
  expect(mid.counts.mainQueue).toBeGreaterThan(0); // it really was stopped mid-work
  expect(mid.counts.exportRows).toBe(mid.counts.processing); // and whatever it finished, it finished whole

  const second = await start({ QUEUE_VISIBILITY_TIMEOUT_S: '60' });
  const report = await settleInvariants(s.clients, ids, [], 15_000); // well under the 60 s a stranded message would wait
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 80, exportRows: 80, processing: 80 });
  expect((await second.terminate()).code).toBe(0);
});

test('SIGTERM while storage hangs under in-flight handlers: still exit 0 within 10 s; the in-flight messages are redelivered later', async () => {
  const { s, ids, start } = await setup(40);
  const first = await start();
  await firstDelete(first);
  azurite.pause();
  let exit;
  try {
    await sleep(200);
    exit = await first.terminate('SIGTERM');
  } finally {
    azurite.resume();
  }
  expect(exit).toMatchObject({ code: 0, signal: null });
  expect(exit.ms).toBeLessThan(10_000);
  expect(first.logs().filter((l) => l.msg === CONSUMER_LOG.drainDeadline)).toHaveLength(1);
  expect(first.logs().some((l) => l.outcome === 'abandoned')).toBe(true);

  const second = await start();
  const report = await settleInvariants(s.clients, ids, [], 20_000);
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 40, exportRows: 40, processing: 40 });
  expect((await second.terminate()).code).toBe(0);
});

test('SIGTERM during a streaming export: new connections are refused, the export in progress completes, then exit 0', async () => {
  const { s, start } = await setup(0);
  const date = '2026-05-01';
  await seedExportRows(s.exportTable, date, 3000, (i) => ({
    expenseId: `r${String(i).padStart(5, '0')}`,
    approvedAt: `${date}T09:00:00.000Z`,
    approver: 'a',
    employee: 'E',
    costCenter: 'C',
    reimbursementMethod: 'cash',
    currency: 'USD',
    amount: '1.00',
  }));
  const server = await start();
  let exit: Promise<{ code: number | null; ms: number }> | undefined;
  let newConnection: Promise<string> | undefined;
  const body = await new Promise<{ text: string; complete: boolean }>((resolve, reject) => {
    get(`${server.url}/exports/${date}`, { headers: { authorization: basic('exporter') } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (!exit) {
          res.pause(); // a slow client, mid-file, when the signal comes
          exit = server.terminate('SIGTERM');
          setTimeout(() => {
            // No messages to drain, so the listener is closed by now, while this response is still open.
            newConnection = fetch(`${server.url}/healthz`).then(
              (r) => `answered ${r.status}`,
              () => 'refused',
            );
            void newConnection.then(() => res.resume());
          }, 2000);
        }
      });
      res.on('close', () => resolve({ text, complete: res.complete }));
    }).on('error', reject);
  });
  expect(body.complete).toBe(true);
  expect(body.text.split('\r\n').filter(Boolean)).toHaveLength(3001);
  const done = await exit!;
  expect(done.code).toBe(0);
  expect(done.ms).toBeLessThan(10_000);
  expect(await newConnection).toBe('refused');
});
