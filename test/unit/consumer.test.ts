/**
 * The consumer loop without storage: a fake queue with the service's lease
 * rules and a fake clock, so every way a message ends and the backoff and
 * pause rules are pinned down deterministically. (The same behaviours run
 * against a real Azurite, with real faults, in test/integration.)
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { CONSUMER_LOG, QueueConsumer, settledLog, type Decoded, type Outcome } from '../../src/consumer/consumer';
import { LEASE_LOG } from '../../src/consumer/lease';
import { classifyFailure, PermanentError, RetryableError } from '../../src/consumer/errors';
import { FakeClock, settle } from '../support/fake-clock';
import { FakePoison, FakeQueue, unreachable } from '../support/fake-queue';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A message body is the name of what its handler does: ok, fail:<kind>, hang, slow:<ms>, or garbage. */
type Script = string;

function harness(
  opts: { concurrency?: number; maxDequeueCount?: number; visibilityTimeoutSec?: number; maxOutageBackoffMs?: number } = {},
) {
  const clock = new FakeClock();
  const queue = new FakeQueue(clock);
  const poison = new FakePoison();
  const lines: Line[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line);
        done();
      },
    }),
  );
  const outcomes: Array<{ body: string; outcome: Outcome }> = [];
  const handled: string[] = [];
  const failures: Record<string, () => Error> = {
    retryable: () => new RetryableError('expense x is not approved'),
    permanent: () => new PermanentError('expense x has no line items'),
    outage: unreachable,
    bug: () => new TypeError('cannot read properties of undefined'),
  };
  let current = '';
  const consumer = new QueueConsumer<Script, string>({
    queue,
    poison,
    decode: (text): Decoded<Script> =>
      text.startsWith('garbage') ? { ok: false, code: 'bad_json', reason: 'message body is not valid JSON' } : { ok: true, message: text },
    handle: async (script, signal) => {
      handled.push(script);
      current = script;
      const [what, arg] = script.split(':');
      if (what === 'fail') throw failures[arg]();
      if (what === 'hang')
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      if (what === 'slow') await clock.sleep(Number(arg));
      return script;
    },
    classify: classifyFailure,
    describe: (script) => ({ script }),
    clock,
    logger,
    concurrency: opts.concurrency ?? 1,
    visibilityTimeoutSec: opts.visibilityTimeoutSec ?? 30,
    maxDequeueCount: opts.maxDequeueCount ?? 5,
    maxIdleMs: 1000,
    maxOutageBackoffMs: opts.maxOutageBackoffMs ?? 8000,
    timeoutMs: 5000,
    observer: { settled: (outcome) => outcomes.push({ body: current, outcome }) },
  });
  const outcomeOf = (body: string) => lines.find((l) => l.outcome && l.script === body)?.outcome;
  return { clock, queue, poison, consumer, lines, outcomes, handled, outcomeOf };
}

let running: Array<ReturnType<typeof harness>> = [];
afterEach(async () => {
  // A hard stop at once: whatever a test left running is abandoned, never left looping.
  await Promise.all(
    running.map(async (h) => {
      const stopped = h.consumer.stop(0);
      await h.clock.advance(2000);
      await stopped;
    }),
  );
  running = [];
});
function start(h: ReturnType<typeof harness>) {
  running.push(h);
  h.consumer.start();
}

describe('how a message ends', () => {
  test('deleted: the handler succeeds, the message is deleted with the popReceipt that holds it', async () => {
    const h = harness();
    h.queue.add('ok');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes).toEqual([{ body: 'ok', outcome: 'deleted' }]);
    expect(h.queue.messages.size).toBe(0);
    expect(h.lines.find((l) => l.msg === settledLog('deleted'))).toMatchObject({ outcome: 'deleted', script: 'ok', dequeueCount: 1 });
  });

  test('retried: a transient failure leaves the message for redelivery after 1 s, then 2 s, with a one-line reason', async () => {
    const h = harness();
    const id = h.queue.add('fail:retryable');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes).toEqual([{ body: 'fail:retryable', outcome: 'retried' }]);
    expect(h.queue.calls.filter((c) => c.op === 'update')).toEqual([{ op: 'update', messageId: id, visibilitySec: 1 }]);
    const warn = h.lines.find((l) => l.msg === CONSUMER_LOG.handlerFailed)!;
    expect(warn).toMatchObject({ kind: 'transient', delaySec: 1, reason: 'expense x is not approved' });
    expect(warn.err).toBeUndefined(); // an expected wait carries no stack trace

    await h.clock.advance(1000); // visible again: the second delivery backs off twice as long
    await h.clock.advance(1000);
    expect(h.handled).toEqual(['fail:retryable', 'fail:retryable']);
    expect(h.queue.calls.filter((c) => c.op === 'update').map((c) => c.visibilitySec)).toEqual([1, 2]);
  });

  test('an unexpected failure is retried too, and logged with its stack', async () => {
    const h = harness();
    h.queue.add('fail:bug');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['retried']);
    const warn = h.lines.find((l) => l.msg === CONSUMER_LOG.handlerFailed)!;
    expect(warn).toMatchObject({ kind: 'unknown', err: { type: 'TypeError', stack: expect.stringContaining('TypeError') } });
  });

  test('poisoned: an undecodable body goes to poison at its first delivery, byte for byte, without running the handler', async () => {
    const h = harness();
    h.queue.add('garbage \u00e9\u00e9 {');
    start(h);
    await h.clock.advance(0);
    expect(h.handled).toEqual([]);
    expect(h.poison.entries).toEqual([expect.objectContaining({ body: 'garbage \u00e9\u00e9 {', code: 'bad_json', dequeueCount: 1 })]);
    expect(h.queue.messages.size).toBe(0);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['poisoned']);
  });

  test('poisoned: a permanent failure goes to poison at once', async () => {
    const h = harness();
    h.queue.add('fail:permanent');
    start(h);
    await h.clock.advance(0);
    expect(h.poison.entries).toEqual([
      expect.objectContaining({ body: 'fail:permanent', code: 'permanent', reason: 'expense x has no line items' }),
    ]);
    expect(h.queue.messages.size).toBe(0);
  });

  test('poisoned: a message that fails at every delivery is poisoned at the dequeue limit', async () => {
    const h = harness({ maxDequeueCount: 3 });
    h.queue.add('fail:retryable');
    start(h);
    for (let i = 0; i < 4; i++) await h.clock.advance(4000);
    expect(h.handled).toHaveLength(3);
    expect(h.poison.entries).toEqual([
      expect.objectContaining({
        code: 'retries_exhausted',
        dequeueCount: 3,
        reason: expect.stringMatching(/^failed 3 times; last error \(transient\)/),
      }),
    ]);
    expect(h.queue.messages.size).toBe(0);
  });

  test('poisoned before the handler: a message delivered more often than the limit (it kept killing its consumer)', async () => {
    const h = harness({ maxDequeueCount: 3 });
    h.queue.add('ok', 3); // three deliveries that never finished; this receive makes it four
    start(h);
    await h.clock.advance(0);
    expect(h.handled).toEqual([]);
    expect(h.poison.entries).toEqual([
      expect.objectContaining({ code: 'max_dequeue', dequeueCount: 4, reason: 'dequeued 4 times (limit 3)' }),
    ]);
  });

  test('retried, not poisoned, when the poison queue cannot be written: nothing is dropped', async () => {
    const h = harness();
    h.poison.failing = unreachable;
    const id = h.queue.add('garbage');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['retried']);
    expect(h.queue.messages.has(id)).toBe(true);
  });

  test('lost: another consumer took the message while the handler ran; the delete finds out, nothing crashes', async () => {
    const h = harness({ visibilityTimeoutSec: 30 });
    const id = h.queue.add('slow:500');
    start(h);
    await h.clock.advance(100);
    h.queue.steal(id);
    await h.clock.advance(500);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['lost']);
    expect(h.lines.filter((l) => l.level === 40 && l.msg === LEASE_LOG.lostOnDelete)).toHaveLength(1);
    expect(h.lines.some((l) => l.level >= 50)).toBe(false);
  });

  test('lost: a lease renewal finds the message gone and stops renewing; the delete is skipped', async () => {
    const h = harness({ visibilityTimeoutSec: 2 });
    const id = h.queue.add('slow:3000');
    start(h);
    await h.clock.advance(500);
    h.queue.steal(id);
    await h.clock.advance(3000); // the renewal at 1 s fails; none after it
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['lost']);
    expect(h.lines.filter((l) => l.msg === LEASE_LOG.lostWhileRenewing)).toHaveLength(1);
    expect(h.queue.calls.filter((c) => c.op === 'delete')).toEqual([]);
  });

  test('a long handler keeps its message: renewals at half the visibility timeout, each with the newest popReceipt', async () => {
    const h = harness({ visibilityTimeoutSec: 2 });
    h.queue.add('slow:3500');
    start(h);
    await h.clock.advance(3500);
    // Renewed at 1 s, 2 s and 3 s; a delete with anything but the newest popReceipt would have been refused.
    expect(h.queue.calls.filter((c) => c.op === 'update').map((c) => c.visibilitySec)).toEqual([2, 2, 2]);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['deleted']);
  });

  test('abandoned: a handler still running at the drain deadline is aborted, its message neither deleted nor released', async () => {
    const h = harness();
    const id = h.queue.add('hang');
    start(h);
    await h.clock.advance(0);
    const stopped = h.consumer.stop(2000);
    await h.clock.advance(1999);
    expect(h.consumer.state).toBe('stopping');
    await h.clock.advance(1);
    await stopped;
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['abandoned']);
    expect(h.lines.some((l) => l.msg === CONSUMER_LOG.drainDeadline)).toBe(true);
    expect(h.queue.messages.has(id)).toBe(true);
    expect(h.queue.calls.filter((c) => c.op !== 'receive')).toEqual([]);
    expect(h.consumer.state).toBe('stopped');
  });

  test('stop hands back received messages that never started at once, and is idempotent', async () => {
    const h = harness({ concurrency: 1 });
    h.queue.add('hang');
    const waiting = [h.queue.add('ok'), h.queue.add('ok')];
    start(h);
    await h.clock.advance(0);
    const first = h.consumer.stop(5000);
    expect(h.consumer.stop(1)).toBe(first);
    await settle();
    const released = h.queue.calls.filter((c) => c.op === 'update');
    expect(released).toEqual(waiting.map((messageId) => ({ op: 'update', messageId, visibilitySec: 0 })));
    await h.clock.advance(5000);
    await first;
  });
});

describe('storage outages', () => {
  test('a failed receive backs off with growing, capped delays, then resumes by itself', async () => {
    const h = harness({ maxOutageBackoffMs: 2000 });
    h.queue.failing.receive = unreachable;
    start(h);
    await h.clock.advance(0);
    expect(h.consumer.state).toBe('backing_off');
    const receivesIn = async (ms: number) => {
      const before = h.queue.calls.length;
      await h.clock.advance(ms);
      return h.queue.calls.length - before;
    };
    // Backoff 500 ms doubling to the 2 s cap, each half fixed and half jitter: in 10 s at least 5 tries and at
    // most 1 + 10 000 / 250 for the first steps; a spin would be thousands.
    const tries = await receivesIn(10_000);
    expect(tries).toBeGreaterThanOrEqual(5);
    expect(tries).toBeLessThanOrEqual(12);
    const backoffs = h.lines.filter((l) => l.msg === CONSUMER_LOG.receiveFailed).map((l) => l.delayMs as number);
    expect(backoffs.length).toBeGreaterThanOrEqual(5); // one line per failed receive: the check below has lines to check
    expect(Math.max(...backoffs)).toBeLessThanOrEqual(2000);

    h.queue.failing.receive = undefined;
    h.queue.add('ok');
    await h.clock.advance(2000);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['deleted']);
    expect(h.consumer.state).not.toBe('backing_off');
  });

  test('storage failing under a handler pauses new handlers for one backoff step, then the buffered ones run', async () => {
    const h = harness({ concurrency: 1 });
    h.queue.add('fail:outage');
    h.queue.add('ok');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['retried']);
    const pause = h.lines.find((l) => l.msg === CONSUMER_LOG.pausing)!;
    expect(pause.delayMs).toBeGreaterThanOrEqual(250); // the first step: 500 ms, half of it jitter
    expect(pause.delayMs).toBeLessThanOrEqual(500);
    expect(h.consumer.state).toBe('backing_off');

    await h.clock.advance((pause.delayMs as number) - 1);
    expect(h.handled).toEqual(['fail:outage']); // the buffered message waits out the pause
    await h.clock.advance(1);
    expect(h.handled).toEqual(['fail:outage', 'ok']);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['retried', 'deleted']);
  });

  test('handlers failing together take one pause, not one each', async () => {
    const h = harness({ concurrency: 4 });
    for (let i = 0; i < 4; i++) h.queue.add('fail:outage');
    start(h);
    await h.clock.advance(0);
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['retried', 'retried', 'retried', 'retried']);
    expect(h.lines.filter((l) => l.msg === CONSUMER_LOG.pausing)).toHaveLength(1);
  });

  test('a handler that succeeds after an outage resets the backoff', async () => {
    const h = harness({ concurrency: 1 });
    // One batch, so no receive in between resets it: only the success of 'ok' can.
    for (const body of ['fail:outage', 'ok', 'fail:outage']) h.queue.add(body);
    start(h);
    await h.clock.advance(0);
    await h.clock.advance(500); // past the first pause (at most 500 ms), before the first message's redelivery (1 s)
    expect(h.handled).toEqual(['fail:outage', 'ok', 'fail:outage']);
    const pauses = h.lines.filter((l) => l.msg === CONSUMER_LOG.pausing).map((l) => l.delayMs as number);
    expect(pauses).toHaveLength(2);
    expect(pauses[1]).toBeLessThanOrEqual(500); // the first step again (250-500 ms), not the second (500-1000 ms)
  });
});

describe('the loop', () => {
  test('an empty queue is polled with idle backoff up to CONSUMER_MAX_IDLE_MS, not spun', async () => {
    const h = harness();
    start(h);
    await h.clock.advance(10_000);
    const receives = h.queue.calls.filter((c) => c.op === 'receive').length;
    expect(receives).toBeGreaterThanOrEqual(10); // at least one poll per second at the 1 s cap
    expect(receives).toBeLessThanOrEqual(30);
    expect(h.consumer.state).toBe('idle');
  });

  test('at most `concurrency` handlers at once', async () => {
    const h = harness({ concurrency: 3 });
    for (let i = 0; i < 7; i++) h.queue.add('slow:100');
    start(h);
    await h.clock.advance(0);
    expect(h.consumer.inFlight).toBe(7);
    expect(h.handled).toHaveLength(3);
    await h.clock.advance(100);
    expect(h.handled).toHaveLength(6);
    await h.clock.advance(100);
    await h.clock.advance(100);
    expect(h.outcomes.filter((o) => o.outcome === 'deleted')).toHaveLength(7);
  });
});
