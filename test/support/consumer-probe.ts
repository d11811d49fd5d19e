import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { QueueConsumer, type Outcome } from '../../src/consumer/consumer';
import { systemClock } from '../../src/clock';
import { classifyFailure } from '../../src/consumer/errors';
import { handleApproval, type HandlerResult } from '../../src/consumer/export-handler';
import { decodeApproval } from '../../src/expenses/approval-message';
import type { ApprovalMessage } from '../../src/expenses/approval-message';
import type { Services } from '../../src/services';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A real consumer on a test's queue whose log lines and outcomes the test can read. */
export interface ConsumerProbe {
  consumer: QueueConsumer<ApprovalMessage, HandlerResult>;
  outcomes: Array<{ outcome: Outcome; result?: HandlerResult }>;
  lines: LogLine[];
}

export interface ProbeOptions {
  visibilityTimeoutSec: number;
  /** The handler waits this long first: a slow handler without slowing storage. */
  handlerDelayMs?: number;
  /** Runs after the real handler, before the consumer deletes the message: where a test injects a storage fault. */
  afterHandle?: () => void;
  concurrency?: number;
  maxOutageBackoffMs?: number;
}

/** The services' own wiring (store, export table, queue, poison, deadline), with a test's timings and eyes. */
export function consumerProbe(s: Services, o: ProbeOptions): ConsumerProbe {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const outcomes: ConsumerProbe['outcomes'] = [];
  const deps = { store: s.store, exports: s.exportTable };
  const consumer = new QueueConsumer<ApprovalMessage, HandlerResult>({
    queue: s.queues.main,
    poison: s.poison,
    decode: decodeApproval,
    handle: async (msg, signal) => {
      if (o.handlerDelayMs) await sleep(o.handlerDelayMs, undefined, { signal });
      const result = await handleApproval(deps, msg, signal);
      o.afterHandle?.();
      return result;
    },
    classify: classifyFailure,
    describe: (msg) => ({ expenseId: msg.expenseId }),
    clock: systemClock,
    logger: pino({ level: 'debug' }, sink),
    concurrency: o.concurrency ?? 8,
    visibilityTimeoutSec: o.visibilityTimeoutSec,
    maxDequeueCount: 5,
    maxIdleMs: 200,
    maxOutageBackoffMs: o.maxOutageBackoffMs ?? 1000,
    timeoutMs: s.config.STORAGE_TIMEOUT_MS,
    observer: { settled: (outcome, _ms, result) => outcomes.push({ outcome, result }) },
  });
  return { consumer, outcomes, lines };
}

/**
 * The loop is alive: it turns again after now. (A crashed loop shows as
 * `stopped`; one that is stuck stops turning.) Waits at most `withinMs`.
 */
export async function expectLoopTurning(
  consumer: Pick<QueueConsumer<unknown, unknown>, 'lastLoopAt' | 'state'>,
  withinMs = 5000,
): Promise<void> {
  const since = Date.now();
  const end = since + withinMs;
  while (consumer.lastLoopAt <= since) {
    if (Date.now() > end) throw new Error(`the consumer loop did not turn within ${withinMs} ms (state ${consumer.state})`);
    await sleep(20);
  }
  expect(['running', 'idle', 'backing_off']).toContain(consumer.state);
}
