/**
 * What an admin does with reviewed poison entries: sees why at a glance
 * (code and reason first in the raw message), and discards garbage by id,
 * with an audit line, instead of clearing the whole queue.
 */
import { createHash } from 'node:crypto';
import { POISON_DISCARDED_LOG } from '../../src/consumer/poison';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { createServices, type Services } from '../../src/services';
import type { PoisonEntry } from '../../src/consumer/poison';
import { readPoison } from '../../harness/invariants';
import { testClients, testConfig } from '../support/storage';
import { asUser } from '../support/http';
import { testUsers } from '../support/users';
import { waitFor } from '../support/wait';

let s: Services;
let app: ReturnType<typeof createApp>;
let as: ReturnType<typeof asUser>;
const lines: Array<Record<string, unknown>> = [];
const BODIES = ['garbage one', '{\r\n  "garbage": "two"\r\n}', 'keep me'];
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ level: 'info', pretty: false, destination: sink });
  s = createServices(testConfig(), await testClients(), await testUsers(), logger, createMetrics({ defaultMetrics: false }));
  app = createApp(s);
  as = asUser(app);
  for (const b of BODIES) await s.queues.main.send(b);
  s.consumer.start();
  await waitFor(async () => (await readPoison(s.clients)).length === BODIES.length, 15_000);
  await s.consumer.stop(2000);
});

test('the raw poison message starts with its code and reason, so a tool that shows its start shows why', async () => {
  for (const m of await s.queues.poison.peek(32)) {
    expect(m.messageText).toMatch(/^\{"code":"bad_(json|schema)","reason":"[^"]+","kind":"expense-export.poison\/v1",/);
    // The body, of any length, last.
    expect(Object.keys(JSON.parse(m.messageText) as object)).toEqual([
      'code',
      'reason',
      'kind',
      'failedAt',
      'dequeueCount',
      'originalMessageId',
      'body',
    ]);
  }
});

test('POST /admin/poison/discard deletes the given entries, reports unknown ids, and logs who, which and a hash of each body', async () => {
  const listed = (await as('admin').get('/admin/poison').expect(200)).body.messages as PoisonEntry[];
  const drop = listed.filter((e) => e.body !== 'keep me');
  expect(drop.map((e) => e.body).sort()).toEqual([BODIES[0], BODIES[1]].sort());

  const ids = [...drop.map((e) => e.messageId), 'no-such-poison-id'];
  expect((await as('approver').post('/admin/poison/discard', { messageIds: ids })).status).toBe(403);
  const res = await as('admin').post('/admin/poison/discard', { messageIds: ids });
  expect(res.status).toBe(200);
  const discarded = drop.map((e) => ({ messageId: e.messageId, code: e.code, bodySha256: sha256(e.body) }));
  expect(res.body.discarded).toEqual(expect.arrayContaining(discarded));
  expect(res.body).toEqual({ discarded: expect.any(Array), notFound: ['no-such-poison-id'] });
  expect(res.body.discarded).toHaveLength(2);

  expect((await readPoison(s.clients)).map((p) => p.body)).toEqual(['keep me']);
  expect(lines.find((l) => l.msg === POISON_DISCARDED_LOG)).toMatchObject({
    level: 30,
    principal: 'admin',
    discarded: expect.arrayContaining(discarded),
    notFound: ['no-such-poison-id'],
  });
});

test('an empty or missing list of ids is a 400, and nothing is deleted', async () => {
  for (const body of [{}, { messageIds: [] }, { messageIds: ['a', 'a'] }]) {
    const res = await as('admin').post('/admin/poison/discard', body);
    expect({ body, status: res.status }).toEqual({ body, status: 400 });
  }
  expect(await readPoison(s.clients)).toHaveLength(1);
});
