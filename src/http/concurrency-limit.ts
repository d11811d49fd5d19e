/** Caps concurrent long-running requests overall and per user (OWASP API4). */
export class ConcurrencyLimit {
  private total = 0;
  private readonly perUser = new Map<string, number>();
  constructor(
    private readonly maxTotal: number,
    private readonly maxPerUser: number,
  ) {}

  /** Returns a release function (idempotent), or undefined when a cap is reached. */
  acquire(user: string): (() => void) | undefined {
    const mine = this.perUser.get(user) ?? 0;
    if (this.total >= this.maxTotal || mine >= this.maxPerUser) return undefined;
    this.total++;
    this.perUser.set(user, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perUser.get(user) ?? 1) - 1;
      if (n === 0) this.perUser.delete(user);
      else this.perUser.set(user, n);
    };
  }
}
