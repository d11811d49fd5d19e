/** Exponential backoff with jitter (half fixed, half random), so instances don't poll in lockstep. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Redelivery delay for a failed message: 1 s, 2 s, 4 s ... capped at a minute. */
export function retryDelaySec(dequeueCount: number): number {
  return Math.min(60, 2 ** Math.max(0, dequeueCount - 1));
}
