import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/observability/logger';
import { CONSUMER_LOG, QueueConsumer } from '../../src/consumer/consumer';
import { LEASE_LOG } from '../../src/consumer/lease';
import { PoisonQueue } from '../../src/consumer/poison';
import type { HandlerResult } from '../../src/consumer/export-handler';
import { RetryableError, classifyFailure } from '../../src/consumer/errors';
import { systemClock } from '../../src/clock';
import { AzureQueue } from '../../src/storage/azure-queue';
import { decodeApproval, encodeApproval } from '../../src/expenses/approval-message';
import type { ApprovalMessage } from '../../src/expenses/approval-message';
import type { StorageClients } from '../../src/storage/clients';
import { createServices } from '../../src/services';
import { createMetrics } from '../../src/observability/metrics';
import { demoExpense } from '../../src/expenses/demo-data';
import { putForeign } from '../support/foreign-producer';
import { testClients, testConfig } from '../support/storage';
import { waitFor } from '../support/wait';

interface Line {
  msg: string;
  messageId?: string;
  expenseId?: string;
  dequeueCount?: number;
  outcome?: string;
  messageApprovalDate?: string;
}

function capture() {
  const lines: Line[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) {
        if (!l.trim()) continue;
        lines.push(JSON.parse(l) as Line);
        raw.push(l);
      }
      done();
    },
  });
  return { lines, raw, logger: createLogger({ level: 'debug', pretty: false, destination: sink }) };
}

const ok = (): HandlerResult => ({ exported: 'inserted', transitioned: true, approvedAt: new Date().toISOString() });
const msg = (expenseId: string): string => encodeApproval({ expenseId, approvalDate: '2026-01-02' });

async function run(handle: (m: ApprovalMessage) => Promise<HandlerResult>, bodies: string[], settled: number, clients?: StorageClients) {
  clients ??= await testClients();
  const { lines, logger } = capture();
  const queue = new AzureQueue(clients.queue, 5000);
  const consumer = new QueueConsumer<ApprovalMessage, HandlerResult>({
    queue,
    poison: new PoisonQueue(queue, new AzureQueue(clients.poison, 5000), 5000),
    decode: decodeApproval,
    handle: (m) => handle(m),
    classify: classifyFailure,
    describe: (m) => ({ expenseId: m.expenseId }),
    clock: systemClock,
    logger,
    concurrency: 4,
    // The shortest the config allows: the lease renews every second.
    visibilityTimeoutSec: 2,
    // One delivery, so a failing message is poisoned within the test.
    maxDequeueCount: 1,
    maxIdleMs: 200,
    maxOutageBackoffMs: 1000,
    timeoutMs: 5000,
  });
  for (const b of bodies) await clients.queue.sendMessage(b);
  consumer.start();
  try {
    await waitFor(async () => lines.filter((l) => l.outcome).length >= settled, 15000);
  } finally {
    await consumer.stop(2000);
  }
  return lines;
}

/** The ids that make a log line traceable; an unreadable body has no expense id to give. */
function expectTraceable(lines: Line[], unreadable: ReadonlySet<string> = new Set()) {
  const about = lines.filter((l) => l.messageId);
  expect(about.length).toBeGreaterThan(0);
  for (const l of about) {
    expect({ msg: l.msg, dequeueCount: l.dequeueCount }).toEqual({ msg: l.msg, dequeueCount: expect.any(Number) });
    if (!unreadable.has(l.messageId!))
      expect({ msg: l.msg, expenseId: l.expenseId }).toEqual({ msg: l.msg, expenseId: expect.any(String) });
  }
}

test('outcome lines carry messageId, dequeueCount and expenseId', async () => {
  const handle = async (m: ApprovalMessage) => {
    if (m.expenseId === 'fails') throw new RetryableError('expense fails does not exist');
    return ok();
  };
  const lines = await run(handle, [msg('works'), msg('fails'), 'not json at all'], 3);
  const outcome = (expenseId: string | undefined) => lines.find((l) => l.outcome && l.expenseId === expenseId);
  expect(outcome('works')).toMatchObject({ outcome: 'deleted', dequeueCount: 1 });
  expect(outcome('fails')).toMatchObject({ outcome: 'poisoned', dequeueCount: 1 });
  expect(outcome(undefined)).toMatchObject({ outcome: 'poisoned', dequeueCount: 1 });
  expectTraceable(lines, new Set([outcome(undefined)!.messageId!]));
});

test('lease lines (renewal found the message gone) carry them too', async () => {
  const clients = await testClients();
  const handle = async () => {
    // Someone else takes the message away while we hold it: the next renewal finds it gone.
    await clients.queue.clearMessages();
    await sleep(1500);
    return ok();
  };
  const lines = await run(handle, [msg('taken-away')], 1, clients);
  expect(lines.find((l) => l.msg === LEASE_LOG.lostWhileRenewing)).toMatchObject({ expenseId: 'taken-away', dequeueCount: 1 });
  expect(lines.find((l) => l.outcome)).toMatchObject({ outcome: 'lost', expenseId: 'taken-away' });
  expectTraceable(lines);
});

test('through the service wiring: an expense not yet approved is a one-line wait; a date that differs is a warning with both dates', async () => {
  const { lines, raw, logger } = capture();
  const clients = await testClients();
  const s = createServices(testConfig({ QUEUE_VISIBILITY_TIMEOUT_S: 2 }), clients, [], logger, createMetrics({ defaultMetrics: false }));
  const waiting = await s.store.create(demoExpense(1), new Date()); // submitted: its approval has not happened yet
  const approved = await s.store.create(demoExpense(2), new Date());
  await s.approvals.approve(approved.id, 'approver');
  const stored = (await s.store.get(approved.id))!.value.approvalDate!;
  // As a .NET producer writes them (Newtonsoft names, a DateTime), one with CRLF line ends.
  await putForeign(clients.queue, JSON.stringify({ ExpenseId: waiting.id, ApprovalDate: `${stored}T08:00:00Z` }));
  await putForeign(clients.queue, `{\r\n  "ExpenseId": "${approved.id}",\r\n  "ApprovalDate": "2020-01-02T10:00:00"\r\n}`);
  const isWait = (l: Line) => l.msg === CONSUMER_LOG.handlerFailed && l.expenseId === waiting.id;
  const isDiffers = (l: Line) => l.messageApprovalDate !== undefined; // the warning's fields, not its wording
  s.consumer.start();
  try {
    await waitFor(async () => lines.some(isWait) && lines.some(isDiffers), 15000);
  } finally {
    await s.consumer.stop(2000);
  }
  const wait = raw[lines.findIndex(isWait)];
  const differs = raw[lines.findIndex(isDiffers)];
  expect(differs.match(/"expenseId":/g)).toHaveLength(1); // named once, by the message's logger
  expect(JSON.parse(wait)).toMatchObject({ level: 40, kind: 'transient', reason: `expense ${waiting.id} is not approved` });
  expect(wait).not.toMatch(/stack|"err"/); // an expected condition: its reason, no stack trace
  expect(wait.length).toBeLessThan(400); // one short line, not the ~850 bytes a stack made
  expect(lines.find(isDiffers)).toMatchObject({
    level: 40,
    component: 'consumer',
    messageId: expect.any(String),
    dequeueCount: 1,
    expenseId: approved.id,
    messageApprovalDate: '2020-01-02T10:00:00',
    storedApprovalDate: stored,
  });
  expect((await s.store.get(approved.id))!.value.state).toBe('processing');
});
