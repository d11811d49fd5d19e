/**
 * Deadlines for storage calls. The Azure SDKs set none, so a hung storage
 * account (or a SIGSTOPped Azurite) would hang the caller forever.
 *
 * Hand-rolled rather than AbortSignal.any: we create one per storage call
 * against a long-lived shutdown signal, and the listener must be removed
 * when the call ends or it accumulates on the parent.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onParentAbort = () => this.controller.abort(this.parent?.reason);

  constructor(
    private readonly ms: number,
    private readonly parent?: AbortSignal,
  ) {
    if (parent?.aborted) this.controller.abort(parent.reason);
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Start (or restart) the clock, e.g. before each page request of a long listing. */
  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      const err = new Error(`storage call exceeded ${this.ms} ms`);
      err.name = 'TimeoutError';
      this.controller.abort(err);
    }, this.ms);
    this.timer.unref();
  }

  /** Stop the clock while we wait on something that is not storage, e.g. a slow client. */
  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.disarm();
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

/**
 * STORAGE_TIMEOUT_MS bounds one storage call. Two kinds of work are many
 * calls under one deadline, so they get a named multiple of it:
 * - a listing of a whole partition (the outbox): several page requests;
 * - provisioning at start (create tables and queues): the first calls on a
 *   cold account or a just-started Azurite are slower than steady state.
 */
export const LISTING_DEADLINE_FACTOR = 4;
export const PROVISION_DEADLINE_FACTOR = 3;

/** Runs one storage call with its own deadline, chained to an optional parent signal. */
export async function withDeadline<T>(
  ms: number,
  parent: AbortSignal | undefined,
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const d = new Deadline(ms, parent);
  d.arm();
  try {
    return await call(d.signal);
  } finally {
    d.dispose();
  }
}
