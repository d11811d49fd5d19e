/**
 * Messages that can never succeed go to `<queue>-poison` at their first
 * delivery, with the original body and the reason; messages that fail too
 * often go there after QUEUE_MAX_DEQUEUE_COUNT deliveries. An admin lists and
 * replays them over HTTP.
 */
import request from 'supertest';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../../src/app';
import { encodeApproval } from '../../src/expenses/approval-message';
import { demoExpense } from '../../src/expenses/demo-data';
import { dateInZone } from '../../src/expenses/dates';
import type { PoisonEntry } from '../../src/consumer/poison';
import type { User } from '../../src/auth/users';
import type { Services } from '../../src/services';
import { checkInvariants, failedChecks, readPoison, settleInvariants } from '../../harness/invariants';
import { queueDepth, testServices } from '../support/storage';
import { asUser } from '../support/http';
import { basic, testUsers } from '../support/users';
import { waitFor } from '../support/wait';
import { expectLoopTurning } from '../support/consumer-probe';

let users: User[];
const running: Services[] = [];

beforeAll(async () => {
  users = await testUsers();
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.consumer.stop(2000)));
});

/** Own tables and queues per test; at most 2 deliveries, so the retry paths end within a test. */
async function fresh(): Promise<Services> {
  const s = await testServices({ users, config: { QUEUE_MAX_DEQUEUE_COUNT: 2, QUEUE_VISIBILITY_TIMEOUT_S: 2 } });
  running.push(s);
  return s;
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const today = dateInZone(new Date(), 'UTC');

async function approvedWithoutMessage(s: Services, i: number): Promise<string> {
  const e = await s.store.create(demoExpense(i), new Date());
  const found = (await s.store.get(e.id))!;
  await s.store.replace(
    { ...found.value, state: 'approved', approvedAt: new Date().toISOString(), approver: 'approver', approvalDate: today },
    found.etag,
  );
  return e.id;
}

const MALFORMED: Array<[string, string, string]> = [
  ['truncated JSON', '{"expenseId": "abc", "approvalDate": ', 'bad_json'],
  ['truncated JSON, base64', b64('{"expenseId": '), 'bad_json'],
  ['plain text', 'please export expense 42', 'bad_json'],
  ['missing approvalDate', JSON.stringify({ expenseId: 'abc' }), 'bad_schema'],
  ['an array, base64', b64(JSON.stringify([{ expenseId: 'abc', approvalDate: today }])), 'bad_schema'],
  ['impossible date', JSON.stringify({ expenseId: 'abc', approvalDate: '2026-02-30' }), 'bad_schema'],
  ['id with a slash (key rules)', JSON.stringify({ expenseId: 'a/b', approvalDate: today }), 'bad_schema'],
  [
    'id that would inject OData (key rules)',
    b64(JSON.stringify({ expenseId: "x' or PartitionKey ne '", approvalDate: today })),
    'bad_schema',
  ],
  ['id longer than 128 (key rules)', JSON.stringify({ expenseId: 'a'.repeat(129), approvalDate: today }), 'bad_schema'],
  ['base64 of Latin-1, not UTF-8', b64(Buffer.from(`{"expenseId":"caf\u00e9","approvalDate":"${today}"}`, 'latin1')), 'bad_encoding'],
  ['base64 of UTF-16', b64(Buffer.from(JSON.stringify({ expenseId: 'abc', approvalDate: today }), 'utf16le')), 'bad_json'],
];

test('every kind of malformed message is poisoned at its first delivery with a reason; good base64 and raw JSON messages around them are exported', async () => {
  const s = await fresh();
  const viaBase64 = await approvedWithoutMessage(s, 1);
  const viaRaw = await approvedWithoutMessage(s, 2);
  await s.clients.queue.sendMessage(encodeApproval({ expenseId: viaBase64, approvalDate: today }));
  for (const [, body] of MALFORMED.slice(0, 6)) await s.clients.queue.sendMessage(body);
  await s.clients.queue.sendMessage(JSON.stringify({ expenseId: viaRaw, approvalDate: today }));
  for (const [, body] of MALFORMED.slice(6)) await s.clients.queue.sendMessage(body);

  s.consumer.start();
  const report = await settleInvariants(
    s.clients,
    [viaBase64, viaRaw],
    MALFORMED.map(([, body]) => body),
    20_000,
  );
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 2, exportRows: 2, processing: 2, mainQueue: 0, poison: MALFORMED.length });

  const byBody = new Map(report.poison.map((p) => [p.body, p]));
  for (const [label, body, code] of MALFORMED) {
    expect({ ...byBody.get(body), label }).toMatchObject({ label, code, dequeueCount: 1, reason: expect.stringMatching(/\w/) });
  }
  expect(byBody.get(MALFORMED[6][1])!.reason).toMatch(/key rules/);
  await expectLoopTurning(s.consumer); // neither crashed (stopped) nor stuck

  // Still consuming after all that.
  const later = await approvedWithoutMessage(s, 3);
  await s.clients.queue.sendMessage(encodeApproval({ expenseId: later, approvalDate: today }));
  await waitFor(async () => (await s.store.get(later))?.value.state === 'processing', 10_000);
});

test('a message delivered more than QUEUE_MAX_DEQUEUE_COUNT times is poisoned before the handler runs', async () => {
  const s = await fresh();
  const id = await approvedWithoutMessage(s, 4);
  const body = encodeApproval({ expenseId: id, approvalDate: today });
  await s.clients.queue.sendMessage(body);
  // Two deliveries that never finish (as if their consumers died), so the third is over the limit of 2.
  for (let i = 0; i < 2; i++) {
    const got = await waitFor(
      async () => (await s.clients.queue.receiveMessages({ visibilityTimeout: 1 })).receivedMessageItems[0],
      5000,
      100,
    );
    expect(got.dequeueCount).toBe(i + 1);
  }
  await sleep(1100);

  s.consumer.start();
  const [entry] = await waitFor(async () => {
    const p = await readPoison(s.clients);
    return p.length > 0 ? p : undefined;
  });
  expect(entry).toMatchObject({ body, code: 'max_dequeue', dequeueCount: 3, reason: 'dequeued 3 times (limit 2)' });
  expect(await queueDepth(s.clients.queue)).toBe(0);
  // The handler never ran: no export row and the expense is still approved.
  const report = await checkInvariants(s.clients, [id], [body]);
  expect(report.counts).toMatchObject({ approved: 1, exportRows: 0, processing: 0 });
});

test('a missing expense is retried with backoff, then poisoned; an expense that can never be exported is poisoned at once', async () => {
  const s = await fresh();
  const ghost = encodeApproval({ expenseId: 'ghost-expense-1', approvalDate: today });
  await s.clients.queue.sendMessage(ghost);
  // Approved, but with no approval recorded: no number of retries can make a row of it.
  const e = await s.store.create(demoExpense(5), new Date());
  const found = (await s.store.get(e.id))!;
  await s.store.replace({ ...found.value, state: 'approved' }, found.etag);
  const broken = encodeApproval({ expenseId: e.id, approvalDate: today });
  await s.clients.queue.sendMessage(broken);

  s.consumer.start();
  const entries = await waitFor(async () => {
    const p = await readPoison(s.clients);
    return p.length === 2 ? p : undefined;
  }, 15_000);
  const byBody = new Map(entries.map((p) => [p.body, p]));
  expect(byBody.get(broken)).toMatchObject({ code: 'permanent', dequeueCount: 1, reason: expect.stringMatching(/no approval recorded/) });
  expect(byBody.get(ghost)).toMatchObject({ code: 'retries_exhausted', dequeueCount: 2, reason: expect.stringMatching(/does not exist/) });
  expect(await queueDepth(s.clients.queue)).toBe(0);
});

describe('admin poison endpoints', () => {
  let s: Services;
  let app: ReturnType<typeof createApp>;
  let as: ReturnType<typeof asUser>;
  let entries: PoisonEntry[];
  const lateId = 'late-expense-1';
  const late = encodeApproval({ expenseId: lateId, approvalDate: today });

  beforeAll(async () => {
    s = await fresh();
    app = createApp(s);
    as = asUser(app);
    // A message that came before its expense existed, and two that are garbage.
    for (const body of [late, 'garbage one', 'garbage two']) await s.clients.queue.sendMessage(body);
    s.consumer.start();
    await waitFor(async () => (await readPoison(s.clients)).length === 3, 15_000);
  });

  test('only an admin may list or replay', async () => {
    expect((await request(app).get('/admin/poison')).status).toBe(401);
    expect((await as('exporter').get('/admin/poison')).status).toBe(403);
    expect((await as('approver').post('/admin/poison/replay', {})).status).toBe(403);
    expect(await queueDepth(s.clients.queue)).toBe(0); // the refused replay moved nothing
  });

  test('GET /admin/poison lists each message with its original body, reason, code and time', async () => {
    const res = await as('admin').get('/admin/poison');
    expect(res.status).toBe(200);
    expect(res.body.approximateCount).toBe(3);
    entries = res.body.messages as PoisonEntry[];
    expect(entries.map((e) => e.body).sort()).toEqual([late, 'garbage one', 'garbage two'].sort());
    for (const e of entries) {
      expect(e).toMatchObject({
        messageId: expect.any(String),
        reason: expect.stringMatching(/\w/),
        code: expect.any(String),
        dequeueCount: expect.any(Number),
      });
      expect(Date.parse(e.failedAt)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(entries.find((e) => e.body === late)).toMatchObject({ code: 'retries_exhausted' });
    const limited = await as('admin').get('/admin/poison?limit=1');
    expect(limited.body.messages).toHaveLength(1);
  });

  test('POST /admin/poison/replay with messageIds sends back exactly those, and the fixed message is exported', async () => {
    // The admin fixes the cause (the expense now exists) and replays that one message.
    const e = await s.store.create(demoExpense(6), new Date(), undefined, lateId);
    const found = (await s.store.get(e.id))!;
    await s.store.replace(
      { ...found.value, state: 'approved', approvedAt: new Date().toISOString(), approver: 'approver', approvalDate: today },
      found.etag,
    );
    const target = entries.find((x) => x.body === late)!;

    const res = await request(app)
      .post('/admin/poison/replay')
      .set('Authorization', basic('admin'))
      .send({ messageIds: [target.messageId] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ replayed: [target.messageId], skipped: 2 });

    const report = await settleInvariants(s.clients, [lateId], ['garbage one', 'garbage two'], 15_000);
    expect(failedChecks(report)).toEqual([]);
    expect(report.counts).toMatchObject({ approved: 1, exportRows: 1, processing: 1, poison: 2 });
  });

  test('POST /admin/poison/replay with max replays that many, and garbage comes straight back to poison', async () => {
    const res = await as('admin').post('/admin/poison/replay', { max: 1 });
    expect(res.status).toBe(200);
    expect(res.body.replayed).toHaveLength(1);
    await waitFor(async () => (await queueDepth(s.clients.queue)) === 0 && (await readPoison(s.clients)).length === 2, 10_000);
    const bodies = (await readPoison(s.clients)).map((p) => p.body).sort();
    expect(bodies).toEqual(['garbage one', 'garbage two']);
  });
});
