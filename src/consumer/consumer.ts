import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ApprovalMessage } from '../expenses/model';
import type { CrashHook } from '../faults';
import { withDeadline } from '../storage/deadline';
import { isTransientStorageError } from '../storage/errors';
import { Backoff, retryDelaySec } from './backoff';
import { classifyFailure, type HandlerResult } from './export-handler';
import { MessageLease } from './lease';
import { decodeApproval, type DecodeResult } from './message-codec';
import type { PoisonQueue } from './poison';

export type ConsumerState = 'created' | 'running' | 'idle' | 'backing_off' | 'stopping' | 'stopped';
export type Outcome = 'deleted' | 'retried' | 'poisoned' | 'lost' | 'abandoned';

export interface ConsumerObserver {
  settled(outcome: Outcome, durationMs: number, result?: HandlerResult): void;
}

export interface ConsumerOptions {
  queue: QueueClient;
  poison: PoisonQueue;
  handle: (msg: ApprovalMessage, signal: AbortSignal) => Promise<HandlerResult>;
  logger: Logger;
  concurrency: number;
  visibilityTimeoutSec: number;
  maxDequeueCount: number;
  maxIdleMs: number;
  maxOutageBackoffMs: number;
  timeoutMs: number;
  crash: CrashHook;
  observer?: ConsumerObserver;
}

const BATCH = 32; // the queue service's maximum per receive

/** A received message: our lease on it, its body decoded once, and a logger that names it. */
interface Received {
  lease: MessageLease;
  decoded: DecodeResult;
  log: Logger;
}

/**
 * One async loop, BullMQ-Worker style: receive a batch when a slot is free and
 * nothing is buffered, run at most `concurrency` handlers, sleep (abortably)
 * with jittered backoff when the queue is empty or storage is down. Every
 * message ends exactly one way: deleted, retried (left for redelivery) or
 * poisoned — as in the WebJobs QueueProcessor.
 */
export class QueueConsumer {
  state: ConsumerState = 'created';
  lastError: { at: string; message: string } | undefined;
  lastLoopAt = 0;
  private readonly loopStop = new AbortController();
  private readonly hardStop = new AbortController();
  private readonly active = new Set<Promise<void>>();
  private buffer: Received[] = [];
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly outage: Backoff;
  /** Set when a handler found storage unreachable: no new handler starts before this (ms epoch). */
  private pausedUntil = 0;

  constructor(private readonly o: ConsumerOptions) {
    this.outage = new Backoff(500, o.maxOutageBackoffMs);
    // Every in-flight storage call's deadline listens on this signal: at CONSUMER_CONCURRENCY above ~8
    // that passes Node's default of 10 listeners, whose leak warning would fire under normal load.
    setMaxListeners(0, this.hardStop.signal);
  }

  start(): void {
    if (this.loop) return;
    this.state = 'running';
    this.loop = this.run();
  }

  get inFlight(): number {
    return this.active.size + this.buffer.length;
  }

  /** Idempotent. Stops receiving, drains handlers for up to `drainMs`, then aborts the rest (left undeleted). */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.state = 'stopping';
    this.loopStop.abort();
    await this.loop;
    // Never started: hand them back at once, bounded by the same drain deadline, since storage may be what hangs.
    const unstarted = this.buffer.splice(0).map((r) => r.lease.release(0, this.hardStop.signal));
    const drained = Promise.allSettled([...this.active, ...unstarted]).then(() => true);
    const timer = sleep(drainMs, false, { ref: false });
    if (!(await Promise.race([drained, timer]))) {
      this.o.logger.warn({ inFlight: this.active.size }, 'drain deadline reached; in-flight messages are left for redelivery');
      this.hardStop.abort();
      await Promise.race([drained, sleep(1000, false, { ref: false })]);
    }
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    const idle = new Backoff(100, this.o.maxIdleMs);
    const outage = this.outage;
    const signal = this.loopStop.signal;
    // Waiting on handlers must not delay a shutdown: the drain deadline belongs to stop(), not to the slowest handler.
    const stopped = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    while (!signal.aborted) {
      this.lastLoopAt = Date.now();
      // Storage failed under a handler: starting the buffered ones now would only grind through them at deadline pace.
      const pause = this.pausedUntil - Date.now();
      if (pause > 0) {
        this.state = 'backing_off';
        await sleep(pause, undefined, { signal }).catch(() => undefined);
        continue;
      }
      if (this.buffer.length === 0 && this.active.size < this.o.concurrency) {
        let received;
        try {
          received = await withDeadline(this.o.timeoutMs, signal, (abortSignal) =>
            this.o.queue.receiveMessages({ numberOfMessages: BATCH, visibilityTimeout: this.o.visibilityTimeoutSec, abortSignal }),
          );
          outage.reset();
        } catch (err) {
          if (signal.aborted) break;
          this.state = 'backing_off';
          this.lastError = { at: new Date().toISOString(), message: (err as Error).message };
          const delay = outage.next();
          this.o.logger.warn({ err, delayMs: delay }, 'receive failed; backing off');
          await sleep(delay, undefined, { signal }).catch(() => undefined);
          continue;
        }
        const items = received.receivedMessageItems;
        if (items.length === 0 && this.active.size === 0) {
          this.state = 'idle';
          await sleep(idle.next(), undefined, { signal }).catch(() => undefined);
          continue;
        }
        if (items.length > 0) idle.reset();
        this.state = 'running';
        for (const m of items) this.buffer.push(this.received(m));
      }
      while (this.buffer.length > 0 && this.active.size < this.o.concurrency) this.spawn(this.buffer.shift()!);
      if (this.active.size > 0 && (this.buffer.length > 0 || this.active.size >= this.o.concurrency)) {
        await Promise.race([...this.active, stopped]);
      } else if (this.active.size > 0) {
        // Queue looked empty but work is running: poll again soon without spinning.
        await Promise.race([...this.active, sleep(idle.next(), undefined, { signal }).catch(() => undefined)]);
      }
    }
  }

  private received(m: DequeuedMessageItem): Received {
    const decoded = decodeApproval(m.messageText);
    // Every line about a message carries its ids, so one grep follows an expense through retries.
    const log = this.o.logger.child({
      messageId: m.messageId,
      dequeueCount: m.dequeueCount,
      ...(decoded.ok ? { expenseId: decoded.message.expenseId } : {}),
    });
    return { lease: new MessageLease(m, this.o.queue, this.o.visibilityTimeoutSec, this.o.timeoutMs, log), decoded, log };
  }

  private spawn(r: Received): void {
    const p: Promise<void> = this.process(r)
      .catch((err) => r.log.error({ err }, 'unexpected consumer error'))
      .finally(() => this.active.delete(p));
    this.active.add(p);
  }

  private async process({ lease, decoded, log }: Received): Promise<void> {
    const started = performance.now();
    const m = lease.message;
    const finish = (outcome: Outcome, result?: HandlerResult) => {
      this.o.observer?.settled(outcome, performance.now() - started, result);
      log.info({ outcome, ms: Math.round(performance.now() - started) }, `message ${outcome}`);
    };
    this.o.crash('after-receive');
    // Its visibility lapsed while it waited in the buffer (e.g. storage was down) and someone else has it now.
    if (lease.lost) return finish('lost');

    // Before the handler: a message that keeps killing its consumer must not get to run it once more.
    if (m.dequeueCount > this.o.maxDequeueCount) {
      return finish(await this.poison(lease, log, 'max_dequeue', `dequeued ${m.dequeueCount} times (limit ${this.o.maxDequeueCount})`));
    }
    if (!decoded.ok) return finish(await this.poison(lease, log, decoded.code, decoded.reason));

    let result: HandlerResult;
    try {
      result = await this.o.handle(decoded.message, this.hardStop.signal);
    } catch (err) {
      return finish(await this.failed(lease, err, log));
    }
    this.o.crash('before-delete');
    this.outage.reset();
    try {
      finish((await lease.delete()) ? 'deleted' : 'lost', result);
    } catch (err) {
      // The work is done and stored; the redelivery finds the row (409) and the state, and only deletes.
      log.warn({ err }, 'delete failed after the work was done; the redelivery will be a no-op');
      finish('retried', result);
    }
  }

  /** Transient and unknown failures wait for another delivery (with backoff) up to the dequeue limit; permanent ones poison now. */
  private async failed(lease: MessageLease, err: unknown, log: Logger): Promise<Outcome> {
    const m = lease.message;
    if (this.hardStop.signal.aborted) {
      lease.abandon();
      return 'abandoned';
    }
    const message = (err as Error).message;
    this.lastError = { at: new Date().toISOString(), message };
    const kind = classifyFailure(err);
    try {
      if (kind === 'permanent') return await this.poison(lease, log, 'permanent', message);
      if (m.dequeueCount >= this.o.maxDequeueCount) {
        return await this.poison(lease, log, 'retries_exhausted', `failed ${m.dequeueCount} times; last error (${kind}): ${message}`);
      }
      const delaySec = retryDelaySec(m.dequeueCount);
      log.warn({ err, kind, delaySec }, 'handler failed; leaving the message for redelivery');
      await lease.release(delaySec);
      return 'retried';
    } finally {
      // The pause starts when this handler is done, not when it failed: its release may wait out a deadline
      // of its own, and a pause that expired meanwhile would let the loop start the buffered messages at once.
      // One pause per outage step, not one per failed handler: eight failing at once must not jump the backoff eight steps.
      if (isTransientStorageError(err) && Date.now() >= this.pausedUntil) {
        const delayMs = this.outage.next();
        this.pausedUntil = Date.now() + delayMs;
        log.warn({ delayMs }, 'storage unreachable under a handler; pausing new handlers');
      }
    }
  }

  /** Copy to poison first, delete second: a crash in between duplicates into poison, never loses. */
  private async poison(lease: MessageLease, log: Logger, code: string, reason: string): Promise<Outcome> {
    const m = lease.message;
    try {
      await this.o.poison.add({ body: m.messageText, reason, code, dequeueCount: m.dequeueCount, originalMessageId: m.messageId });
    } catch (err) {
      log.warn({ err }, 'could not write to the poison queue; leaving the message for redelivery');
      await lease.release(retryDelaySec(m.dequeueCount));
      return 'retried';
    }
    return (await lease.delete()) ? 'poisoned' : 'lost';
  }
}
