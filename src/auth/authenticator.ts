import { createHmac, randomBytes } from 'node:crypto';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { parsePasswordHash, verifyPassword } from './password';
import type { User } from './users';

export type AuthResult = { ok: true; user: User } | { ok: false; retryAfterSec?: number };

export interface AuthenticatorOptions {
  maxFailures: number;
  failureWindowSec: number;
  cacheTtlMs?: number;
  cacheMax?: number;
}

/**
 * Verifies Basic credentials. scrypt is slow on purpose, so successful
 * verifications are cached under an HMAC of the credentials (keyed by a
 * per-process secret, so the cache itself holds nothing reusable). Failures
 * are never cached, and count against the client and the user name.
 */
export class Authenticator {
  private readonly users: Map<string, { user: User; hash: NonNullable<ReturnType<typeof parsePasswordHash>> }>;
  private readonly cache = new Map<string, { user: User; expires: number }>();
  private readonly verifying = new Map<string, Promise<AuthResult>>();
  private readonly secret = randomBytes(32);
  private readonly byClient: RateLimiterMemory;
  private readonly byName: RateLimiterMemory;
  private readonly ttl: number;
  private readonly cacheMax: number;
  // Unknown names are checked against this, so a miss costs the same as a wrong password.
  private readonly decoy = parsePasswordHash('scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')!;

  constructor(users: readonly User[], opts: AuthenticatorOptions) {
    this.users = new Map(users.map((u) => [u.name, { user: u, hash: parsePasswordHash(u.passwordHash)! }]));
    this.byClient = new RateLimiterMemory({ points: opts.maxFailures, duration: opts.failureWindowSec });
    this.byName = new RateLimiterMemory({ points: opts.maxFailures, duration: opts.failureWindowSec });
    this.ttl = opts.cacheTtlMs ?? 60_000;
    this.cacheMax = opts.cacheMax ?? 10_000;
  }

  get userCount(): number {
    return this.users.size;
  }

  async verify(name: string, password: string, client: string, now = Date.now()): Promise<AuthResult> {
    const key = createHmac('sha256', this.secret).update(name).update('\0').update(password).digest('base64');
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return { ok: true, user: hit.user };

    // The same credentials arrive many at once (a client's connection pool at start, or every request in
    // flight when the cache entry expires under load): one scrypt answers them all, instead of one each
    // queueing on the thread pool. Only a success is shared; a failure is re-checked and counted per request.
    const running = this.verifying.get(key);
    if (running) {
      const shared = await running;
      if (shared.ok) return shared;
    }
    const mine = this.verifyUncached(key, name, password, client, now);
    this.verifying.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.verifying.get(key) === mine) this.verifying.delete(key);
    }
  }

  private async verifyUncached(key: string, name: string, password: string, client: string, now: number): Promise<AuthResult> {
    const blocked = await this.blockedFor(client, name);
    if (blocked) return { ok: false, retryAfterSec: blocked };

    const entry = this.users.get(name);
    const valid = await verifyPassword(password, entry?.hash ?? this.decoy);
    if (valid && entry) {
      if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { user: entry.user, expires: now + this.ttl });
      return { ok: true, user: entry.user };
    }
    await Promise.all([this.byClient.penalty(client, 1), this.byName.penalty(name, 1)]);
    return { ok: false };
  }

  /** Seconds until the client or the name may try again, or 0. */
  private async blockedFor(client: string, name: string): Promise<number> {
    const [c, n] = await Promise.all([this.byClient.get(client), this.byName.get(name)]);
    const limit = this.byClient.points;
    const wait = (r: typeof c) => (r && r.consumedPoints >= limit ? Math.ceil(r.msBeforeNext / 1000) : 0);
    return Math.max(wait(c), wait(n));
  }
}
