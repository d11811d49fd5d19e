/**
 * The one shape of background work in the server process: the queue
 * consumer, the outbox sweeper, the queue-depth monitor, and whatever comes
 * next. server.ts starts them after the port is open and stops them all in
 * shutdown(), each within its share of SHUTDOWN_TIMEOUT_MS.
 */
export interface BackgroundTask {
  readonly name: string;
  /** Starts the work; idempotent. Never throws: failures are the task's to log and retry. */
  start(): void;
  /**
   * Stops the work, idempotent. Resolves once the task has stopped, or once
   * `budgetMs` has passed: what still runs then is abandoned, and must be
   * safe to abandon (a message left for redelivery, a sweep done next time).
   */
  stop(budgetMs: number): Promise<void>;
}

/** Stops every task at once, each within the same budget. */
export async function stopAll(tasks: readonly BackgroundTask[], budgetMs: number): Promise<void> {
  await Promise.all(tasks.map((t) => t.stop(budgetMs)));
}
