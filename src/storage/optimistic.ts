import { setTimeout as sleep } from 'node:timers/promises';
import { isConflict, isNotFound, isPreconditionFailed } from './errors';

/**
 * Optimistic concurrency, once: read, decide, write conditionally on what
 * was read (an ETag, or create-only), and when another writer got there
 * first (412, or 409 on a create), read again and decide again. Every loss
 * is another writer's committed progress, so the loop ends; the limit only
 * stops a livelock (or a bug) from spinning for ever, and then the last
 * conflict is thrown to the caller, who retries the whole step later (a
 * message goes back to the queue, a request gets 409, a task runs again).
 */
export interface ConflictPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Pause before attempt n+1 (jittered): spreads writers that collide on one hot entity. 0: none. */
  readonly pauseMs: number;
}

/**
 * Every limit in one place, each with its reason.
 *
 * - DAY_MANIFEST: a day's manifest is the one hot entity (every instance's
 *   writer appends to it in group-committed batches, and acknowledgements,
 *   the close, the ack applier and the legacy numbering move it too). With a
 *   dozen instances a writer may lose about once per other writer before it
 *   wins, so 25 with a jittered pause (up to 200 ms) leaves a wide margin
 *   and still gives a message back within about 5 s of a real livelock.
 * - MANIFEST_UPDATE: a single field of the manifest (acknowledgement,
 *   close, exported-through): few writers, no pause needed; 20 as above.
 * - EXPENSE: one expense entity, written by at most a handful of actors at
 *   once (the consumer, a results line, an approval, an acknowledgement
 *   applier); 5 tries means four others got there first, which only happens
 *   when something is wrong, so give up and let the caller's retry decide.
 * - LEDGER: an import's idempotency record, claimed by requests with the
 *   same key: one wins, the others read its state and answer at once
 *   (replay, in progress, another body). A retry happens only when the
 *   record changed between our read and our write (a lease taken over);
 *   six in a row means a client firing the same upload in a tight loop.
 */
export const CONFLICTS = {
  DAY_MANIFEST: { attempts: 25, pauseMs: 200 },
  MANIFEST_UPDATE: { attempts: 20, pauseMs: 0 },
  EXPENSE: { attempts: 5, pauseMs: 0 },
  LEDGER: { attempts: 6, pauseMs: 0 },
} as const satisfies Record<string, ConflictPolicy>;

/** 412 (an ETag moved), 409 (created first by someone else) or 404 (deleted meanwhile): read again. */
export const isRace = (err: unknown): boolean => isPreconditionFailed(err) || isConflict(err) || isNotFound(err);

/**
 * Runs `attempt` until it returns, retrying only the races `retryOn` names
 * (412 and 409 by default). `onRace` sees each lost race (metrics).
 */
export async function retryOnRace<T>(
  policy: ConflictPolicy,
  attempt: (n: number) => Promise<T>,
  opts: { retryOn?: (err: unknown) => boolean; onRace?: (err: unknown) => void; signal?: AbortSignal } = {},
): Promise<T> {
  const retryOn = opts.retryOn ?? ((err: unknown) => isPreconditionFailed(err) || isConflict(err));
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!retryOn(err) || n + 1 >= policy.attempts) throw err;
      opts.onRace?.(err);
      if (policy.pauseMs > 0) await sleep(Math.random() * Math.min(policy.pauseMs, 10 * 2 ** (n + 1)), undefined, { signal: opts.signal });
    }
  }
}
