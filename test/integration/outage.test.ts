/**
 * Storage outages while the consumer works: Azurite SIGKILLed and restarted
 * on the same ports, and Azurite hung with SIGSTOP. The consumer backs off
 * without exiting or spinning and resumes by itself; /healthz stays 200 and
 * /readyz says 503 while storage is unreachable. This file runs its own
 * Azurite (on disk, no watchdog), so killing it touches no other test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { CONSUMER_LOG } from '../../src/consumer/consumer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { AzuriteProcess } from '../../harness/azurite-process';
import { failedChecks, settleInvariants } from '../../harness/invariants';
import { approvedExpenses } from '../support/approved';
import { testClients, testServices, uniqueNames } from '../support/storage';
import { consumerProbe, expectLoopTurning, type ConsumerProbe } from '../support/consumer-probe';
import { waitFor } from '../support/wait';

let azurite: AzuriteProcess;
let dir: string;
const probes: ConsumerProbe[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'outage-'));
  azurite = await AzuriteProcess.start(dir);
});
afterAll(async () => {
  await Promise.all(probes.map((p) => p.consumer.stop(1000)));
  await azurite.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` approved expenses, seeded with the default deadline; the services returned give every storage call `storageTimeoutMs`. */
async function seed(n: number, storageTimeoutMs: number): Promise<{ s: Services; ids: string[] }> {
  const clients = await testClients(uniqueNames(), azurite.connectionString);
  const ids = await approvedExpenses(await testServices({ clients }), n, 10);
  // Only writes Azurite has saved survive its SIGKILL; this test is about us, not about Azurite's autosave.
  await azurite.persisted(Date.now());
  return { s: await testServices({ clients, config: { STORAGE_TIMEOUT_MS: storageTimeoutMs } }), ids };
}

// A backoff step is either a failed receive or a pause after a handler found storage gone (while received
// messages are still buffered, the loop works through them instead of receiving).
const BACKOFF_LINES = new Set<unknown>([CONSUMER_LOG.receiveFailed, CONSUMER_LOG.pausing]);
const backoffs = (p: ConsumerProbe) => p.lines.filter((l) => BACKOFF_LINES.has(l.msg)).length;

test('storage SIGKILLed mid-consume and restarted: the consumer backs off, /readyz is 503, /healthz 200, and it resumes by itself', async () => {
  const { s, ids } = await seed(40, 2000);
  const app = createApp(s);
  let killed: Promise<void> | undefined;
  // Killed when the first handler is done and before any delete: deletes are what an autosave could keep while losing the rows.
  const p = consumerProbe(s, {
    visibilityTimeoutSec: 2,
    maxOutageBackoffMs: 2000,
    afterHandle: () => void (killed ??= azurite.kill()),
  });
  probes.push(p);
  p.consumer.start();
  try {
    await waitFor(async () => killed !== undefined, 10_000, 10);
    await killed;

    await waitFor(async () => p.consumer.state === 'backing_off', 10_000);
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', storage: 'unreachable' });
    expect((await request(app).get('/healthz')).status).toBe(200);

    const before = backoffs(p);
    await sleep(4000);
    // Backoff, not a spin: 500 ms doubling to the 2 s cap allows a handful of attempts in 4 s, a busy loop thousands.
    expect(backoffs(p) - before).toBeGreaterThanOrEqual(1);
    expect(backoffs(p) - before).toBeLessThanOrEqual(8);
    expect(p.consumer.state).toBe('backing_off');
  } finally {
    await azurite.restart(); // also when an assertion above failed: the next test needs its storage
  }
  const report = await settleInvariants(s.clients, ids, [], 30_000);
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 40, exportRows: 40, processing: 40 });
  await expectLoopTurning(p.consumer); // neither crashed (stopped) nor stuck
  await waitFor(async () => (await request(app).get('/readyz')).status === 200, 10_000, 250);
});

test('storage hung (SIGSTOP) mid-consume: calls time out instead of hanging, /readyz is 503; after SIGCONT all is exported once', async () => {
  const { s, ids } = await seed(40, 1000); // the handler's calls (and the probe's) give up after 1 s
  const app = createApp(s);
  let paused = false;
  const p = consumerProbe(s, {
    visibilityTimeoutSec: 2,
    maxOutageBackoffMs: 2000,
    afterHandle: () => {
      if (!paused) azurite.pause();
      paused = true;
    },
  });
  probes.push(p);
  try {
    p.consumer.start();
    await waitFor(async () => paused, 10_000, 10);

    const t0 = Date.now();
    expect((await request(app).get('/readyz')).status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(5000); // the probe has a deadline: a hung storage cannot hang it
    expect((await request(app).get('/healthz')).status).toBe(200);
    // Every in-flight handler ends by its deadline; the loop goes on to back off rather than waiting forever.
    // The failing handlers pause the consumer: it backs off instead of grinding through its buffer at deadline pace.
    await waitFor(async () => p.consumer.state === 'backing_off', 10_000, 100);
    const attempts = () => p.lines.filter((l) => l.msg === CONSUMER_LOG.handlerFailed).length;
    const started = attempts();
    expect(started).toBeGreaterThan(0); // the handlers that found storage gone said so: the bound below counts real lines
    await sleep(3000);
    expect(attempts() - started).toBeLessThanOrEqual(8); // at most one more round of the 8 handler slots
    expect(p.consumer.lastError?.message).toMatch(/abort|exceeded|timed? ?out/i);
  } finally {
    azurite.resume();
  }
  const report = await settleInvariants(s.clients, ids, [], 30_000);
  expect(failedChecks(report)).toEqual([]);
  expect(report.counts).toMatchObject({ approved: 40, exportRows: 40, processing: 40 });
});
