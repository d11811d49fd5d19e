import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { QueueConsumer, type Outcome } from '../../src/consumer/consumer';
import { handleApproval, type HandlerResult } from '../../src/consumer/export-handler';
import type { ApprovalMessage } from '../../src/expenses/model';
import type { Services } from '../../src/services';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A real consumer on a test's queue whose log lines and outcomes the test can read. */
export interface ConsumerProbe {
  consumer: QueueConsumer;
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
  timeoutMs?: number;
  maxOutageBackoffMs?: number;
}

export function consumerProbe(s: Services, o: ProbeOptions): ConsumerProbe {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const outcomes: ConsumerProbe['outcomes'] = [];
  const timeoutMs = o.timeoutMs ?? 5000;
  const deps = { store: s.store, exports: s.clients.exports, timeoutMs, crash: () => undefined };
  const consumer = new QueueConsumer({
    queue: s.clients.queue,
    poison: s.poison,
    handle: async (msg: ApprovalMessage, signal: AbortSignal) => {
      if (o.handlerDelayMs) await sleep(o.handlerDelayMs, undefined, { signal });
      const result = await handleApproval(deps, msg, signal);
      o.afterHandle?.();
      return result;
    },
    logger: pino({ level: 'debug' }, sink),
    concurrency: o.concurrency ?? 8,
    visibilityTimeoutSec: o.visibilityTimeoutSec,
    maxDequeueCount: 5,
    maxIdleMs: 200,
    maxOutageBackoffMs: o.maxOutageBackoffMs ?? 1000,
    timeoutMs,
    crash: () => undefined,
    observer: { settled: (outcome, _ms, result) => outcomes.push({ outcome, result }) },
  });
  return { consumer, outcomes, lines };
}
