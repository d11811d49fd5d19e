import type { Logger } from 'pino';
import type { FileSource } from './file-source';
import { LayoutRefusedError, UnknownLayoutError } from '../layouts/errors';
import type { AttemptRecord, DeliveryLedger, DeliveryRecord, StoredDelivery } from './ledger';
import { retryDelayMs } from './naming';
import { deliverFile } from './deliver-file';
import { PermanentDeliveryError, type Sink } from './sink';
import type { DeliveryTarget } from './targets';

export interface DeliveryOutcome {
  outcome: 'delivered' | 'retry' | 'failed' | 'lost-lease';
  record: DeliveryRecord;
  error?: string;
}

export interface DelivererDeps {
  ledger: DeliveryLedger;
  source: FileSource;
  sinkFor: (t: DeliveryTarget) => Sink;
  targets: readonly DeliveryTarget[];
  /** This process, in the ledger's lease and attempt records. */
  instance: string;
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  logger: Logger;
  /** Told of every settled attempt (metrics, webhooks). */
  settled?: (o: DeliveryOutcome) => void;
  now?: () => Date;
}

/** Whether a delivery is someone's work now: pending and due, or held by a lease that ran out (its holder died). */
export function isDue(r: DeliveryRecord, now: Date): boolean {
  if (r.state === 'pending') return !r.nextAttemptAt || Date.parse(r.nextAttemptAt) <= now.getTime();
  if (r.state === 'delivering') return !r.leaseUntil || Date.parse(r.leaseUntil) <= now.getTime();
  return false;
}

class LeaseLost extends Error {}

/** This process's hold on one attempt: the claimed record, and the attempt's record at each of its ends. */
interface Claim {
  r: DeliveryRecord;
  attemptOf: (rest: Pick<AttemptRecord, 'outcome'> & Partial<AttemptRecord>) => AttemptRecord;
  running: AttemptRecord;
}

/**
 * One attempt at one delivery: claim it in the ledger (If-Match, with the
 * attempt's record in the same transaction), read the file from the
 * source, hash it, encrypt it if the target says so, put it under its final
 * name atomically, then its sidecar, then record the end (again with the
 * attempt's record). For an encrypted file, the plaintext hash goes into
 * the ledger just before the file is made visible, so that a resumed
 * attempt that finds a file there knows whether it is its own; a plain
 * file is compared with the bytes it should hold.
 */
export class Deliverer {
  private readonly now: () => Date;

  constructor(private readonly d: DelivererDeps) {
    this.now = d.now ?? (() => new Date());
  }

  /** A delivery someone planned (pending, or a dead holder's): claimed with If-Match, then run. */
  async attempt(stored: StoredDelivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const c = this.claimOf(stored.record);
    // The claim and the attempt's "running" record are one transaction: a crash mid-attempt leaves both.
    const held = await this.d.ledger.update(c.r, stored.etag, signal, c.running);
    if (!held) return { outcome: 'lost-lease', record: stored.record };
    return this.run(c, held, signal);
  }

  /**
   * A file nobody has planned yet: created already claimed by us, with its first attempt's record, in one
   * transaction (a round trip less than planning it and then claiming it), then run. When another
   * instance created it first, it is theirs, unless it is due (then it is claimed as any other).
   */
  async deliverNew(planned: DeliveryRecord, signal: AbortSignal): Promise<{ created: boolean; outcome: DeliveryOutcome }> {
    const c = this.claimOf(planned);
    const { stored, created } = await this.d.ledger.plan(c.r, signal, c.running);
    if (created) return { created, outcome: await this.run(c, stored, signal) };
    if (isDue(stored.record, this.now())) return { created, outcome: await this.attempt(stored, signal) };
    return { created, outcome: { outcome: 'lost-lease', record: stored.record } };
  }

  private claimOf(base: DeliveryRecord): Claim {
    const startedAt = this.now();
    const r: DeliveryRecord = {
      ...base,
      state: 'delivering',
      attempts: base.attempts + 1,
      leaseOwner: this.d.instance,
      leaseUntil: new Date(startedAt.getTime() + this.d.leaseMs).toISOString(),
    };
    const attemptOf: Claim['attemptOf'] = (rest) => ({
      target: r.target,
      date: r.date,
      after: r.after,
      through: r.through,
      redelivery: r.redelivery,
      attempt: r.attempts,
      instance: this.d.instance,
      startedAt: startedAt.toISOString(),
      ...rest,
    });
    return { r, attemptOf, running: attemptOf({ outcome: 'running' }) };
  }

  private async run({ r, attemptOf }: Claim, claimed: StoredDelivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const target = this.d.targets.find((t) => t.name === r.target);
    let held = claimed;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // One ledger write at a time: the renewal and the steps below each move the entity's ETag.
    let chain: Promise<unknown> = Promise.resolve();
    const write = (next: DeliveryRecord, attempt?: AttemptRecord): Promise<void> => {
      const p = chain.then(async () => {
        const res = await this.d.ledger.update(next, held.etag, controller.signal, attempt);
        if (!res) {
          controller.abort(new LeaseLost('lease lost'));
          throw new LeaseLost('another instance took this delivery over');
        }
        held = res;
      });
      chain = p.catch(() => undefined);
      return p;
    };
    const renew = setInterval(
      () => {
        void write({ ...held.record, leaseUntil: new Date(this.now().getTime() + this.d.leaseMs).toISOString() }).catch(() => undefined);
      },
      Math.max(500, this.d.leaseMs / 3),
    );
    const sink = target ? this.d.sinkFor(target) : undefined;
    try {
      if (!target || !sink) throw new PermanentDeliveryError('unknown_target', `target "${r.target}" is not configured`);
      const done = await deliverFile(this.d.source, target, sink, held.record, write, controller.signal);
      clearInterval(renew);
      const finished: DeliveryRecord = {
        ...held.record,
        ...done,
        state: 'delivered',
        deliveredAt: this.now().toISOString(),
        leaseOwner: undefined,
        leaseUntil: undefined,
        nextAttemptAt: undefined,
        lastError: undefined,
        errorCode: undefined,
      };
      const delivered = attemptOf({ ...done, endedAt: finished.deliveredAt, outcome: 'delivered' });
      try {
        await write(finished, delivered);
      } catch (err) {
        // The file is there: its attempt record says so even if the lease was lost just now (whoever took over finds it).
        if (err instanceof LeaseLost) await this.d.ledger.recordAttempt(delivered).catch((e: unknown) => this.notRecorded(e));
        throw err;
      }
      this.d.logger.info({ target: r.target, date: r.date, after: r.after, through: r.through, path: done.path }, 'file delivered');
      return this.report({ outcome: 'delivered', record: finished });
    } catch (err) {
      clearInterval(renew);
      if (err instanceof LeaseLost || controller.signal.reason instanceof LeaseLost) return { outcome: 'lost-lease', record: held.record };
      if (signal.aborted) throw err; // stopping: the lease runs out and the next run resumes
      // A layout that cannot render this snapshot (a value too wide for its column) will not render it next time either.
      const permanent = err instanceof PermanentDeliveryError || err instanceof UnknownLayoutError || err instanceof LayoutRefusedError;
      const code = (err as { code?: unknown }).code;
      const errorCode = typeof code === 'string' ? code : 'error';
      const message = (err as Error).message ?? String(err);
      const giveUp = permanent || r.attempts >= this.d.maxAttempts;
      const next: DeliveryRecord = {
        ...held.record,
        state: giveUp ? 'failed' : 'pending',
        leaseOwner: undefined,
        leaseUntil: undefined,
        nextAttemptAt: giveUp ? undefined : new Date(this.now().getTime() + retryDelayMs(r.attempts, this.d.retryBaseMs)).toISOString(),
        lastError: message.slice(0, 2000),
        errorCode,
      };
      const log = giveUp ? this.d.logger.error.bind(this.d.logger) : this.d.logger.warn.bind(this.d.logger);
      log(
        { target: r.target, date: r.date, after: r.after, through: r.through, attempt: r.attempts, errorCode, err: message },
        giveUp ? 'delivery failed; giving up' : 'delivery attempt failed; will retry',
      );
      const ended = attemptOf({
        endedAt: this.now().toISOString(),
        outcome: giveUp ? 'failed' : 'retry',
        error: `${errorCode}: ${message}`.slice(0, 2000),
      });
      let recorded: StoredDelivery | undefined;
      try {
        await chain; // a renewal in flight moves the ETag first
        recorded = await this.d.ledger.update(next, held.etag, undefined, ended);
      } catch (e) {
        this.d.logger.warn({ err: e }, 'delivery failure not recorded; the lease runs out and the next run retries');
      }
      if (!recorded) await this.d.ledger.recordAttempt(ended).catch((e: unknown) => this.notRecorded(e));
      return this.report({ outcome: giveUp ? 'failed' : 'retry', record: next, error: message });
    } finally {
      signal.removeEventListener('abort', onAbort);
      await sink?.close();
    }
  }

  private notRecorded(err: unknown): void {
    this.d.logger.warn({ err }, 'delivery attempt record not written');
  }

  private report(o: DeliveryOutcome): DeliveryOutcome {
    try {
      this.d.settled?.(o);
    } catch (err) {
      this.d.logger.warn({ err }, 'delivery observer failed');
    }
    return o;
  }
}
