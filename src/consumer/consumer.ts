import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { BackgroundTask } from '../background/task';
import { withDeadline } from '../storage/deadline';
import { Backoff, retryDelaySec } from './backoff';
import type { Clock } from '../clock';
import { isExpectedFailure, type FailureKind } from './errors';
import { MessageLease } from './lease';
import type { ConsumerQueue, PoisonSink, QueueMessage } from './queue';

export type ConsumerState = 'created' | 'running' | 'idle' | 'backing_off' | 'stopping' | 'stopped';
/** How a message ends: exactly one of these, every time. */
export type Outcome = 'deleted' | 'retried' | 'poisoned' | 'lost' | 'abandoned';
export const OUTCOMES: readonly Outcome[] = ['deleted', 'retried', 'poisoned', 'lost', 'abandoned'];

export type Decoded<T> = { ok: true; message: T } | { ok: false; code: string; reason: string };

export interface ConsumerObserver<R> {
  settled(outcome: Outcome, durationMs: number, result?: R): void;
}

export interface ConsumerOptions<T, R> {
  queue: ConsumerQueue;
  poison: PoisonSink;
  /** Body text → message, or the poison code and reason why it cannot be one. Pure. */
  decode: (text: string) => Decoded<T>;
  /** `log` carries the message's ids (messageId, dequeueCount, describe's names), for what the handler has to say. */
  handle: (msg: T, signal: AbortSignal, log: Logger) => Promise<R>;
  /** What a handler's failure means for its message (see FailureKind). */
  classify: (err: unknown) => FailureKind;
  /** Log bindings that name a decoded message, e.g. its expense id. */
  describe?: (msg: T) => Record<string, unknown>;
  clock: Clock;
  logger: Logger;
  concurrency: number;
  visibilityTimeoutSec: number;
  maxDequeueCount: number;
  maxIdleMs: number;
  maxOutageBackoffMs: number;
  /** Deadline of each queue call. */
  timeoutMs: number;
  observer?: ConsumerObserver<R>;
}

const BATCH = 32; // the queue service's maximum per receive

/** A received message: our lease on it, its body decoded once, and a logger that names it. */
interface Received<T> {
  lease: MessageLease;
  decoded: Decoded<T>;
  log: Logger;
}

/**
 * The consumer's log messages, one per event. Tests and log queries match
 * these constants (or the line's fields: outcome, kind, delayMs), never a
 * copy of the wording, so rewording a line breaks nothing silently.
 */
export const CONSUMER_LOG = {
  drainDeadline: 'drain deadline reached; in-flight messages are left for redelivery',
  receiveFailed: 'receive failed; backing off',
  unexpected: 'unexpected consumer error',
  deleteFailedAfterWork: 'delete failed after the work was done; the redelivery will be a no-op',
  handlerFailed: 'handler failed; leaving the message for redelivery',
  pausing: 'storage unreachable under a handler; pausing new handlers',
  poisonWriteFailed: 'could not write to the poison queue; leaving the message for redelivery',
} as const;

/** The one line each message ends with; its `outcome` field is the outcome. */
export const settledLog = (outcome: Outcome): string => `message ${outcome}`;

/**
 * One async loop, BullMQ-Worker style: receive a batch when a slot is free and
 * nothing is buffered, run at most `concurrency` handlers, sleep (abortably)
 * with jittered backoff when the queue is empty or storage is down. Every
 * message ends exactly one way: deleted, retried (left for redelivery) or
 * poisoned, as in the WebJobs QueueProcessor; or lost (another consumer owns
 * it now) or abandoned (a hard stop).
 */
export class QueueConsumer<T, R> implements BackgroundTask {
  readonly name = 'consumer';
  state: ConsumerState = 'created';
  lastError: { at: string; message: string } | undefined;
  lastLoopAt = 0;
  private readonly loopStop = new AbortController();
  private readonly hardStop = new AbortController();
  private readonly active = new Set<Promise<void>>();
  private buffer: Array<Received<T>> = [];
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly outage: Backoff;
  /** Set when a handler found storage unreachable: no new handler starts before this (clock ms). */
  private pausedUntil = 0;

  constructor(private readonly o: ConsumerOptions<T, R>) {
    this.outage = new Backoff(500, o.maxOutageBackoffMs);
    // Every in-flight storage call's deadline listens on this signal: at CONSUMER_CONCURRENCY above ~8
    // that passes Node's default of 10 listeners, whose leak warning would fire under normal load.
    setMaxListeners(0, this.hardStop.signal);
  }

  start(): void {
    if (this.loop) return;
    this.state = 'running';
    this.loop = this.run().catch((err) => {
      // A bug in the loop itself: say so loudly and show it as stopped, so /readyz turns 503.
      this.lastError = { at: new Date(this.o.clock.now()).toISOString(), message: (err as Error).message };
      this.o.logger.fatal({ err }, 'consumer loop crashed');
      this.state = 'stopped';
    });
  }

  get inFlight(): number {
    return this.active.size + this.buffer.length;
  }

  /**
   * The longest the loop may go without turning while it works: its longest
   * sleep, a receive at its deadline, and a handler's few storage calls.
   * Past this it is stuck (/readyz says so).
   */
  get stallLimitMs(): number {
    return Math.max(90_000, 3 * (Math.max(this.o.maxIdleMs, this.o.maxOutageBackoffMs) + 4 * this.o.timeoutMs));
  }

  /** Idempotent. Stops receiving, drains handlers for up to `drainMs`, then aborts the rest (left undeleted). */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    if (!this.loop) {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.loopStop.abort();
    await this.loop;
    // Never started: hand them back at once, bounded by the same drain deadline, since storage may be what hangs.
    const unstarted = this.buffer.splice(0).map((r) => r.lease.release(0, this.hardStop.signal));
    const drained = Promise.allSettled([...this.active, ...unstarted]).then(() => true);
    const deadline = new AbortController();
    const timer = this.o.clock.sleep(drainMs, deadline.signal).then(() => false);
    const finished = await Promise.race([drained, timer]);
    deadline.abort();
    if (!finished) {
      this.o.logger.warn({ inFlight: this.active.size }, CONSUMER_LOG.drainDeadline);
      this.hardStop.abort();
      await Promise.race([drained, this.o.clock.sleep(1000)]);
    }
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    const { clock } = this.o;
    const idle = new Backoff(100, this.o.maxIdleMs);
    const outage = this.outage;
    const signal = this.loopStop.signal;
    // Waiting on handlers must not delay a shutdown: the drain deadline belongs to stop(), not to the slowest handler.
    const stopped = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    while (!signal.aborted) {
      this.lastLoopAt = clock.now();
      // Storage failed under a handler: starting the buffered ones now would only grind through them at deadline pace.
      const pause = this.pausedUntil - clock.now();
      if (pause > 0) {
        this.state = 'backing_off';
        await clock.sleep(pause, signal);
        continue;
      }
      if (this.buffer.length === 0 && this.active.size < this.o.concurrency) {
        let received: QueueMessage[];
        try {
          received = await withDeadline(this.o.timeoutMs, signal, (abortSignal) =>
            this.o.queue.receive(BATCH, this.o.visibilityTimeoutSec, abortSignal),
          );
          outage.reset();
        } catch (err) {
          if (signal.aborted) break;
          this.state = 'backing_off';
          this.lastError = { at: new Date(clock.now()).toISOString(), message: (err as Error).message };
          const delay = outage.next();
          this.o.logger.warn({ err, delayMs: delay }, CONSUMER_LOG.receiveFailed);
          await clock.sleep(delay, signal);
          continue;
        }
        if (received.length === 0 && this.active.size === 0) {
          this.state = 'idle';
          await clock.sleep(idle.next(), signal);
          continue;
        }
        if (received.length > 0) idle.reset();
        this.state = 'running';
        for (const m of received) this.buffer.push(this.received(m));
      }
      while (this.buffer.length > 0 && this.active.size < this.o.concurrency) this.spawn(this.buffer.shift()!);
      if (this.active.size > 0 && (this.buffer.length > 0 || this.active.size >= this.o.concurrency)) {
        await Promise.race([...this.active, stopped]);
      } else if (this.active.size > 0) {
        // Queue looked empty but work is running: poll again soon without spinning.
        await Promise.race([...this.active, clock.sleep(idle.next(), signal)]);
      }
    }
  }

  private received(m: QueueMessage): Received<T> {
    const decoded = this.o.decode(m.messageText);
    // Every line about a message carries its ids, so one grep follows an expense through retries.
    const names = decoded.ok ? (this.o.describe?.(decoded.message) ?? {}) : {};
    const log = this.o.logger.child({ messageId: m.messageId, dequeueCount: m.dequeueCount, ...names });
    const lease = new MessageLease(m, {
      queue: this.o.queue,
      visibilitySec: this.o.visibilityTimeoutSec,
      timeoutMs: this.o.timeoutMs,
      clock: this.o.clock,
      log,
      signal: this.hardStop.signal,
    });
    return { lease, decoded, log };
  }

  private spawn(r: Received<T>): void {
    const p: Promise<void> = this.process(r)
      .catch((err) => r.log.error({ err }, CONSUMER_LOG.unexpected))
      .finally(() => this.active.delete(p));
    this.active.add(p);
  }

  private async process({ lease, decoded, log }: Received<T>): Promise<void> {
    const started = this.o.clock.now();
    const m = lease.message;
    const finish = (outcome: Outcome, result?: R) => {
      const ms = this.o.clock.now() - started;
      this.o.observer?.settled(outcome, ms, result);
      log.info({ outcome, ms: Math.round(ms) }, settledLog(outcome));
    };
    // Its visibility lapsed while it waited in the buffer (e.g. storage was down) and someone else has it now.
    if (lease.lost) return finish('lost');

    // Before the handler: a message that keeps killing its consumer must not get to run it once more.
    if (m.dequeueCount > this.o.maxDequeueCount) {
      return finish(await this.poison(lease, log, 'max_dequeue', `dequeued ${m.dequeueCount} times (limit ${this.o.maxDequeueCount})`));
    }
    if (!decoded.ok) return finish(await this.poison(lease, log, decoded.code, decoded.reason));

    let result: R;
    try {
      result = await this.o.handle(decoded.message, this.hardStop.signal, log);
    } catch (err) {
      return finish(await this.failed(lease, err, log));
    }
    this.outage.reset();
    try {
      finish((await lease.delete()) ? 'deleted' : 'lost', result);
    } catch (err) {
      // The work is done and stored; the redelivery finds it done and only deletes.
      log.warn({ err }, CONSUMER_LOG.deleteFailedAfterWork);
      finish('retried', result);
    }
  }

  /** Transient, outage and unknown failures wait for another delivery (with backoff) up to the dequeue limit; permanent ones poison now. */
  private async failed(lease: MessageLease, err: unknown, log: Logger): Promise<Outcome> {
    const m = lease.message;
    if (this.hardStop.signal.aborted) {
      lease.abandon();
      return 'abandoned';
    }
    const message = (err as Error).message;
    this.lastError = { at: new Date(this.o.clock.now()).toISOString(), message };
    const kind = this.o.classify(err);
    try {
      if (kind === 'permanent') return await this.poison(lease, log, 'permanent', message);
      if (m.dequeueCount >= this.o.maxDequeueCount) {
        return await this.poison(lease, log, 'retries_exhausted', `failed ${m.dequeueCount} times; last error (${kind}): ${message}`);
      }
      const delaySec = retryDelaySec(m.dequeueCount);
      // An expected wait is one line with its reason; a stack trace is for the unexpected.
      log.warn({ ...(isExpectedFailure(kind) ? { reason: message } : { err }), kind, delaySec }, CONSUMER_LOG.handlerFailed);
      await lease.release(delaySec);
      return 'retried';
    } finally {
      // The pause starts when this handler is done, not when it failed: its release may wait out a deadline
      // of its own, and a pause that expired meanwhile would let the loop start the buffered messages at once.
      // One pause per outage step, not one per failed handler: eight failing at once must not jump the backoff eight steps.
      if (kind === 'outage' && this.o.clock.now() >= this.pausedUntil) {
        const delayMs = this.outage.next();
        this.pausedUntil = this.o.clock.now() + delayMs;
        log.warn({ delayMs }, CONSUMER_LOG.pausing);
      }
    }
  }

  /** Copy to poison first, delete second: a crash in between duplicates into poison, never loses. */
  private async poison(lease: MessageLease, log: Logger, code: string, reason: string): Promise<Outcome> {
    const m = lease.message;
    try {
      await this.o.poison.add({ body: m.messageText, reason, code, dequeueCount: m.dequeueCount, originalMessageId: m.messageId });
    } catch (err) {
      log.warn({ err }, CONSUMER_LOG.poisonWriteFailed);
      await lease.release(retryDelaySec(m.dequeueCount));
      return 'retried';
    }
    return (await lease.delete()) ? 'poisoned' : 'lost';
  }
}
